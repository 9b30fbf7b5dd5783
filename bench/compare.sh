#!/usr/bin/env bash
# Side-by-side benchmark: govledger (SQLite, PostgreSQL) vs the LiteLLM proxy vs the
# Portkey gateway, all in front of ONE fake OpenAI upstream (nginx, 127.0.0.1:18080).
#
# Each system is started, warmed up, measured with wrk and stopped in turn, so only one
# gateway runs at a time. Per system: req/s at $CONNECTIONS connections ($THREADS wrk
# threads) and p50/p99 latency at 1 connection, each for $DURATION. A table goes to
# stdout and to bench/out/compare-<timestamp>.txt; wrk output and server logs go to
# bench/out/run-<timestamp>/. See bench/README.md.
#
# Env (defaults in brackets):
#   DURATION [10s]  WARMUP [3s]  CONNECTIONS [64]  THREADS [2]  WRK_TIMEOUT [10s]
#   SYSTEMS ["upstream passthrough govledger-sqlite govledger-postgres govledger-sqlite-after
#            govledger-postgres-after litellm portkey"]  (-after: ledger.durability
#            "after_response", the latency mode; CFG with that one setting added;
#            passthrough: bench/passthrough.py, the Python ceiling, no governance)
#   SKIP_SETUP [0]       1 = do not run bench/setup.sh first
#   VENV [<repo>/.venv]  where `govledger` is installed; the repo's own venv is built
#                        (`make .venv/.installed`) when it is missing
#
# Exit status: 0 when every system in SYSTEMS was measured without errors; 1 (after the
# table, which says why) when any could not be measured or answered non-2xx / socket errors.
#   CFG [bench/govledger-bench.json]
#   GOVLEDGER_BENCH_SQLITE_URL [sqlite:///<run dir>/govledger.db, a fresh file per run]
#   GOVLEDGER_BENCH_PG_URL [a fresh database govledger_bench, recreated per run with psql;
#                           if psql cannot, postgresql://postgres@127.0.0.1:5432/test]
#   BENCH_HOME [/opt/bench]  where setup.sh put the LiteLLM venv and the Portkey package
#   START_TIMEOUT [90]  seconds to wait for a system to become ready
#   GOVLEDGER_PORT [18100]  LITELLM_PORT [18200]  PORTKEY_PORT [18787]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
SYSTEMS=${SYSTEMS:-upstream passthrough govledger-sqlite govledger-postgres govledger-sqlite-after govledger-postgres-after litellm portkey}
SKIP_SETUP=${SKIP_SETUP:-0}
VENV=${VENV:-$REPO_DIR/.venv}
CFG=${CFG:-$BENCH_DIR/govledger-bench.json}
BENCH_HOME=${BENCH_HOME:-/opt/bench}
START_TIMEOUT=${START_TIMEOUT:-90}
GOVLEDGER_PORT=${GOVLEDGER_PORT:-18100}
LITELLM_PORT=${LITELLM_PORT:-18200}
PORTKEY_PORT=${PORTKEY_PORT:-18787}
PASSTHROUGH_PORT=${PASSTHROUGH_PORT:-18500}

# The upstream port is written into nginx-upstream.conf, litellm-config.yaml and
# govledger-bench.json, so it is fixed here.
UPSTREAM_PORT=18080
UPSTREAM_KEY=sk-upstream-bench                # what the gateways send upstream
GOVLEDGER_KEY=sk-bf-bench-0000000000000000    # virtual key in govledger-bench.json
LITELLM_KEY=sk-litellm-bench                  # master_key in litellm-config.yaml
LITELLM_VENV=$BENCH_HOME/litellm-venv
PORTKEY_SERVER=$BENCH_HOME/portkey/node_modules/@portkey-ai/gateway/build/start-server.js
LUA=$BENCH_DIR/wrk-post.lua
BODY='{"model":"bench-model","messages":[{"role":"user","content":"hi"}],"max_tokens":16}'
PG_ADMIN_URL=postgresql://postgres@127.0.0.1:5432/postgres
PG_FALLBACK_URL=postgresql://postgres@127.0.0.1:5432/test

TS=$(date +%Y%m%d-%H%M%S)
OUT_DIR=$BENCH_DIR/out
RUN_DIR=$OUT_DIR/run-$TS
RESULT_FILE=$OUT_DIR/compare-$TS.txt

declare -A LABEL=(
    [upstream]="upstream (nginx)"
    [passthrough]="Python passthrough"
    [govledger-sqlite]="govledger/sqlite"
    [govledger-postgres]="govledger/postgres"
    [govledger-sqlite-after]="govledger/sqlite, after"
    [govledger-postgres-after]="govledger/postgres, after"
    [litellm]="LiteLLM proxy"
    [portkey]="Portkey gateway"
)
ALL_SYSTEMS=(upstream passthrough govledger-sqlite govledger-postgres govledger-sqlite-after govledger-postgres-after litellm portkey)
declare -A RPS=() P50=() P99=() RSS=() ERRORS=() UNAVAILABLE=()
STARTED_PGIDS=()  # process groups we started; cleanup() ends whatever is left
HDRS=()           # request headers for the system being measured

log() { printf '[compare] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---------------------------------------------------------------------------------
# Processes: each server runs in its own session (setsid), so its process-group id
# equals its pid and stopping the group also ends any worker children it forked.
# ---------------------------------------------------------------------------------
start_group() { # LOGFILE CMD... ; sets STARTED_PID
    local logfile=$1
    shift
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    STARTED_PID=$!
    STARTED_PGIDS+=("$STARTED_PID")
}

stop_group() { # PGID
    local pgid=$1 _
    if kill -0 -- "-$pgid" 2>/dev/null; then
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 -- "-$pgid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    wait "$pgid" 2>/dev/null || true
    local keep=() p
    for p in "${STARTED_PGIDS[@]}"; do
        [[ $p == "$pgid" ]] || keep+=("$p")
    done
    STARTED_PGIDS=("${keep[@]}")
}

cleanup() {
    local p
    if [[ -n ${WRK_PID:-} ]]; then
        kill "$WRK_PID" 2>/dev/null || true
    fi
    for p in "${STARTED_PGIDS[@]}"; do
        stop_group "$p"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sum of VmRSS over every process in a process group, read from /proc.
group_rss() { # PGID -> "123.4 MiB (2 procs)"
    local pgid=$1 stat line pid pgrp kb total=0 n=0 _
    for stat in /proc/[0-9]*/stat; do
        { read -r line <"$stat"; } 2>/dev/null || continue
        # Fields after the ")" that closes the command name: state ppid pgrp ...
        read -r _ _ pgrp _ <<<"${line##*) }"
        [[ $pgrp == "$pgid" ]] || continue
        pid=${stat#/proc/}
        pid=${pid%/stat}
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${kb:-0}))
        n=$((n + 1))
    done
    awk -v kb="$total" -v n="$n" 'BEGIN { printf "%.1f MiB (%d proc%s)", kb / 1024, n, n == 1 ? "" : "s" }'
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Poll CMD until it succeeds; fail early if PID exits. Sets WAIT_REASON on failure.
wait_ready() { # PID TIMEOUT_S CMD...
    local pid=$1 timeout=$2 rc
    shift 2
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rc=0
            wait "$pid" 2>/dev/null || rc=$?
            WAIT_REASON="exited with status $rc"
            return 1
        fi
        if "$@"; then
            return 0
        fi
        sleep 0.25
    done
    WAIT_REASON="not ready after ${timeout}s"
    return 1
}

get_ok() { # URL: GET answers 200
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true) == 200 ]]
}

# POST the benchmark body once with $HDRS; 200 and a "choices" field count as success.
# Sets SMOKE_REASON on failure.
chat_ok() { # URL NAME
    local url=$1 name=$2 code args=() h
    for h in "${HDRS[@]}"; do args+=(-H "$h"); done
    code=$(curl -s -o "$RUN_DIR/$name.smoke.json" -w '%{http_code}' --max-time 30 \
        -X POST -H 'Content-Type: application/json' "${args[@]}" --data "$BODY" "$url" || true)
    if [[ $code == 200 ]] && grep -q '"choices"' "$RUN_DIR/$name.smoke.json"; then
        return 0
    fi
    SMOKE_REASON="smoke request got HTTP ${code:-none}: $(head -c 200 "$RUN_DIR/$name.smoke.json" 2>/dev/null | tr -d '\n')"
    return 1
}

last_log_line() { # FILE
    grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c1-200 || true
}

unavailable() { # NAME REASON
    UNAVAILABLE[$1]=$2
    printf '%s: not available (%s)\n' "${LABEL[$1]}" "$2"
}

wanted() { [[ " $SYSTEMS " == *" $1 "* ]]; }

bench_field() { # FILE KEY: a value from the BENCH line printed by wrk-post.lua
    awk -v k="$2" '$1 == "BENCH" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$1"
}

# ---------------------------------------------------------------------------------
# Measurement: warm-up, throughput at $CONNECTIONS, latency at 1 connection.
# ---------------------------------------------------------------------------------
run_wrk() { # NAME WHAT OUTFILE WRK_ARGS...
    local name=$1 what=$2 outfile=$3
    shift 3
    log "${LABEL[$name]}: $what"
    # In the background plus `wait`, so that a signal reaches our trap at once.
    wrk "$@" >"$outfile" 2>&1 &
    WRK_PID=$!
    local rc=0
    wait "$WRK_PID" || rc=$?
    WRK_PID=
    return "$rc"
}

measure() { # NAME URL PGID
    local name=$1 url=$2 pgid=$3 wrk_h=() h
    for h in "${HDRS[@]}"; do wrk_h+=(-H "$h"); done
    local common=(--timeout "$WRK_TIMEOUT" -s "$LUA" "${wrk_h[@]}")
    local tput=$RUN_DIR/$name.c$CONNECTIONS.txt lat=$RUN_DIR/$name.c1.txt

    if ! chat_ok "$url" "$name"; then
        unavailable "$name" "$SMOKE_REASON"
        return 0
    fi
    if ! run_wrk "$name" "warm-up, $WARMUP" "$RUN_DIR/$name.warmup.txt" \
        -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "${common[@]}" "$url" ||
        ! run_wrk "$name" "throughput, $CONNECTIONS connections, $THREADS threads, $DURATION" "$tput" \
            -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "${common[@]}" "$url" ||
        ! run_wrk "$name" "latency, 1 connection, $DURATION" "$lat" \
            -t1 -c1 -d"$DURATION" --latency "${common[@]}" "$url"; then
        unavailable "$name" "wrk failed, see $RUN_DIR/$name.*.txt"
        return 0
    fi
    RPS[$name]=$(bench_field "$tput" rps)
    P50[$name]=$(bench_field "$lat" p50_us)
    P99[$name]=$(bench_field "$lat" p99_us)
    RSS[$name]=$(group_rss "$pgid")

    local bad
    bad=$(awk '$1 == "BENCH" { for (i = 2; i <= NF; i++) { split($i, kv, "=");
              if (kv[1] == "non2xx" || kv[1] == "socket_errors") s += kv[2] } } END { print s + 0 }' \
        "$tput" "$lat")
    if ((bad > 0)); then
        ERRORS[$name]="$bad non-2xx responses or socket errors during measurement (see $RUN_DIR/$name.*.txt)"
        log "${LABEL[$name]}: warning: ${ERRORS[$name]}"
    fi
    log "${LABEL[$name]}: ${RPS[$name]} req/s, p50 ${P50[$name]} us, p99 ${P99[$name]} us, RSS ${RSS[$name]}"
}

# ---------------------------------------------------------------------------------
# The systems.
# ---------------------------------------------------------------------------------
start_upstream() {
    port_in_use "$UPSTREAM_PORT" && die "port $UPSTREAM_PORT is already in use"
    mkdir -p "$RUN_DIR/nginx/tmp"
    start_group "$RUN_DIR/nginx.log" /usr/sbin/nginx -p "$RUN_DIR/nginx/" \
        -c "$BENCH_DIR/nginx-upstream.conf" -g 'daemon off;'
    NGINX_PGID=$STARTED_PID
    HDRS=("Authorization: Bearer $UPSTREAM_KEY")
    wait_ready "$NGINX_PGID" 10 chat_ok "http://127.0.0.1:$UPSTREAM_PORT/v1/chat/completions" upstream ||
        die "nginx upstream did not start: ${WAIT_REASON}; $(last_log_line "$RUN_DIR/nginx.log")"
}

run_upstream() {
    HDRS=("Authorization: Bearer $UPSTREAM_KEY")
    measure upstream "http://127.0.0.1:$UPSTREAM_PORT/v1/chat/completions" "$NGINX_PGID"
}

# A fresh PostgreSQL database per run, unless GOVLEDGER_BENCH_PG_URL says otherwise.
postgres_url() {
    if [[ -n ${GOVLEDGER_BENCH_PG_URL:-} ]]; then
        echo "$GOVLEDGER_BENCH_PG_URL"
    elif command -v psql >/dev/null 2>&1 &&
        psql -q "$PG_ADMIN_URL" -c 'DROP DATABASE IF EXISTS govledger_bench' >/dev/null 2>&1 &&
        psql -q "$PG_ADMIN_URL" -c 'CREATE DATABASE govledger_bench' >/dev/null 2>&1; then
        echo "postgresql://postgres@127.0.0.1:5432/govledger_bench"
    else
        log "could not (re)create database govledger_bench with psql; using $PG_FALLBACK_URL"
        echo "$PG_FALLBACK_URL"
    fi
}

# The repo's venv is built on a fresh clone (the Makefile's stamp target); any other VENV
# must already hold govledger.
ensure_govledger() {
    [[ -x $VENV/bin/govledger ]] && return 0
    if [[ $VENV == "$REPO_DIR/.venv" ]]; then
        log "building $VENV (make .venv/.installed)"
        make -C "$REPO_DIR" .venv/.installed >&2 || die "could not build $VENV"
        [[ -x $VENV/bin/govledger ]] || die "$VENV/bin/govledger missing after make .venv/.installed"
    else
        die "$VENV/bin/govledger is not installed (VENV=$VENV)"
    fi
}

run_govledger() { # NAME DATABASE_URL [CONFIG]
    local name=$1 db_url=$2 cfg=${3:-$CFG} pid
    if [[ ! -x $VENV/bin/govledger ]]; then
        unavailable "$name" "$VENV/bin/govledger is not installed"
        return 0
    fi
    if port_in_use "$GOVLEDGER_PORT"; then
        unavailable "$name" "port $GOVLEDGER_PORT is already in use"
        return 0
    fi
    log "${LABEL[$name]}: starting (GOVLEDGER_DATABASE_URL=$db_url)"
    start_group "$RUN_DIR/$name.log" env GOVLEDGER_DATABASE_URL="$db_url" \
        "$VENV/bin/govledger" serve --config "$cfg" --port "$GOVLEDGER_PORT"
    pid=$STARTED_PID
    if wait_ready "$pid" "$START_TIMEOUT" get_ok "http://127.0.0.1:$GOVLEDGER_PORT/readyz"; then
        HDRS=("Authorization: Bearer $GOVLEDGER_KEY")
        measure "$name" "http://127.0.0.1:$GOVLEDGER_PORT/v1/chat/completions" "$pid"
    else
        unavailable "$name" "$WAIT_REASON: $(last_log_line "$RUN_DIR/$name.log")"
    fi
    stop_group "$pid"
}

run_passthrough() {
    local pid
    if port_in_use "$PASSTHROUGH_PORT"; then
        unavailable passthrough "port $PASSTHROUGH_PORT is already in use"
        return 0
    fi
    log "${LABEL[passthrough]}: starting"
    start_group "$RUN_DIR/passthrough.log" env \
        PASSTHROUGH_UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT/v1/chat/completions" \
        "$VENV/bin/uvicorn" --app-dir "$BENCH_DIR" passthrough:app --host 127.0.0.1 \
        --port "$PASSTHROUGH_PORT" --loop uvloop --http httptools --no-access-log \
        --log-level warning
    pid=$STARTED_PID
    HDRS=("Authorization: Bearer $UPSTREAM_KEY")
    if wait_ready "$pid" "$START_TIMEOUT" chat_ok "http://127.0.0.1:$PASSTHROUGH_PORT/v1/chat/completions" passthrough; then
        measure passthrough "http://127.0.0.1:$PASSTHROUGH_PORT/v1/chat/completions" "$pid"
    else
        unavailable passthrough "$WAIT_REASON: $(last_log_line "$RUN_DIR/passthrough.log")"
    fi
    stop_group "$pid"
}

run_litellm() {
    local pid
    if [[ ! -x $LITELLM_VENV/bin/litellm ]]; then
        unavailable litellm "$LITELLM_VENV/bin/litellm is not installed (run bench/setup.sh)"
        return 0
    fi
    if port_in_use "$LITELLM_PORT"; then
        unavailable litellm "port $LITELLM_PORT is already in use"
        return 0
    fi
    log "${LABEL[litellm]}: starting"
    # LITELLM_LOCAL_MODEL_COST_MAP: use the bundled cost map instead of fetching it
    # from the internet at start (which here retries, then falls back after a delay).
    start_group "$RUN_DIR/litellm.log" env \
        LITELLM_LOCAL_MODEL_COST_MAP=True \
        LITELLM_TELEMETRY_DISABLED=true \
        "$LITELLM_VENV/bin/litellm" --config "$BENCH_DIR/litellm-config.yaml" \
        --host 127.0.0.1 --port "$LITELLM_PORT" --num_workers 1
    pid=$STARTED_PID
    if wait_ready "$pid" "$START_TIMEOUT" get_ok "http://127.0.0.1:$LITELLM_PORT/health/liveliness"; then
        HDRS=("Authorization: Bearer $LITELLM_KEY")
        measure litellm "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" "$pid"
    else
        unavailable litellm "$WAIT_REASON: $(last_log_line "$RUN_DIR/litellm.log")"
    fi
    stop_group "$pid"
}

run_portkey() {
    local pid
    if [[ ! -f $PORTKEY_SERVER ]]; then
        unavailable portkey "$PORTKEY_SERVER not found (run bench/setup.sh)"
        return 0
    fi
    if port_in_use "$PORTKEY_PORT"; then
        unavailable portkey "port $PORTKEY_PORT is already in use"
        return 0
    fi
    log "${LABEL[portkey]}: starting"
    # --headless: no log-viewer UI.
    start_group "$RUN_DIR/portkey.log" node "$PORTKEY_SERVER" --port="$PORTKEY_PORT" --headless
    pid=$STARTED_PID
    if wait_ready "$pid" "$START_TIMEOUT" get_ok "http://127.0.0.1:$PORTKEY_PORT/"; then
        HDRS=("Authorization: Bearer $UPSTREAM_KEY"
            "x-portkey-provider: openai"
            "x-portkey-custom-host: http://127.0.0.1:$UPSTREAM_PORT/v1")
        measure portkey "http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions" "$pid"
    else
        unavailable portkey "$WAIT_REASON: $(last_log_line "$RUN_DIR/portkey.log")"
    fi
    stop_group "$pid"
}

# ---------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------
versions() {
    local litellm_v portkey_v gov_rev
    litellm_v=$("$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || echo '?')
    portkey_v=$(node -p "require('${PORTKEY_SERVER%/build/start-server.js}/package.json').version" 2>/dev/null || echo '?')
    gov_rev=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')
    printf '%s; %s; litellm %s; @portkey-ai/gateway %s (node %s); govledger %s' \
        "$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)" "$(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //')" \
        "$litellm_v" "$portkey_v" "$(node --version 2>/dev/null || echo '?')" "$gov_rev"
}

report() {
    local name fmt='%-26s %11s %10s %10s %12s %14s   %s\n'
    printf 'govledger side-by-side benchmark, %s, %s, %s cores\n' "$(date '+%Y-%m-%d %H:%M:%S %Z')" "$(hostname)" "$(nproc)"
    printf 'wrk: req/s at %s connections (%s threads), latency at 1 connection (1 thread), %s each after a %s warm-up\n' \
        "$CONNECTIONS" "$THREADS" "$DURATION" "$WARMUP"
    printf 'versions: %s\n\n' "$(versions)"
    # shellcheck disable=SC2059  # fmt is a format string on purpose
    printf "$fmt" system "req/s @$CONNECTIONS" "p50 @1" "p99 @1" "vs LiteLLM" "+p50 vs up" "RSS after run"
    for name in "${ALL_SYSTEMS[@]}"; do
        wanted "$name" || continue
        if [[ -n ${UNAVAILABLE[$name]:-} ]]; then
            printf '%-26s not available (%s)\n' "${LABEL[$name]}" "${UNAVAILABLE[$name]}"
            continue
        fi
        awk -v fmt="$fmt" -v label="${LABEL[$name]}" -v rps="${RPS[$name]}" \
            -v p50="${P50[$name]}" -v p99="${P99[$name]}" -v rss="${RSS[$name]}" \
            -v ref="${RPS[litellm]:-}" -v up="${P50[upstream]:-}" -v is_up="$([[ $name == upstream ]] && echo 1 || echo 0)" '
            BEGIN {
                ratio = (ref != "" && ref > 0) ? sprintf("%.2fx", rps / ref) : "n/a"
                added = (is_up == 1) ? "-" : (up != "" ? sprintf("%+.3f ms", (p50 - up) / 1000) : "n/a")
                printf fmt, label, sprintf("%.1f", rps), sprintf("%.3f ms", p50 / 1000),
                    sprintf("%.3f ms", p99 / 1000), ratio, added, rss
            }'
    done
    for name in "${ALL_SYSTEMS[@]}"; do
        if [[ -n ${ERRORS[$name]:-} ]]; then
            printf 'warning: %s: %s\n' "${LABEL[$name]}" "${ERRORS[$name]}"
        fi
    done
    printf '\nRSS: sum of VmRSS (/proc) over the process group, read right after the latency run.\n'
    printf 'Logs and raw wrk output: %s\n' "$RUN_DIR"
}

# ---------------------------------------------------------------------------------
main() {
    local name
    for name in $SYSTEMS; do
        [[ -n ${LABEL[$name]:-} ]] || die "unknown system '$name' in SYSTEMS (known: ${ALL_SYSTEMS[*]})"
    done
    if [[ $SKIP_SETUP != 1 ]]; then
        "$BENCH_DIR/setup.sh"
    fi
    command -v wrk >/dev/null 2>&1 || die "wrk not found (run bench/setup.sh)"
    [[ -x /usr/sbin/nginx ]] || die "nginx not found (run bench/setup.sh)"
    if wanted govledger-sqlite || wanted govledger-postgres || wanted govledger-sqlite-after \
        || wanted govledger-postgres-after; then
        ensure_govledger
    fi
    mkdir -p "$RUN_DIR"

    start_upstream
    if wanted upstream; then run_upstream; fi
    if wanted passthrough; then
        ensure_govledger  # the repo's venv holds uvicorn and aiohttp
        run_passthrough
    fi
    if wanted govledger-sqlite; then
        run_govledger govledger-sqlite "${GOVLEDGER_BENCH_SQLITE_URL:-sqlite:///$RUN_DIR/govledger.db}"
    fi
    if wanted govledger-postgres; then run_govledger govledger-postgres "$(postgres_url)"; fi
    if wanted govledger-sqlite-after || wanted govledger-postgres-after; then
        after_cfg=$RUN_DIR/govledger-after-response.json
        "$VENV/bin/python" -c 'import json, sys
config = json.load(open(sys.argv[1]))
config.setdefault("ledger", {})["durability"] = "after_response"
json.dump(config, open(sys.argv[2], "w"), indent=1)' "$CFG" "$after_cfg"
    fi
    if wanted govledger-sqlite-after; then
        run_govledger govledger-sqlite-after "sqlite:///$RUN_DIR/govledger-after.db" "$after_cfg"
    fi
    if wanted govledger-postgres-after; then
        run_govledger govledger-postgres-after "$(postgres_url)" "$after_cfg"
    fi
    if wanted litellm; then run_litellm; fi
    if wanted portkey; then run_portkey; fi
    stop_group "$NGINX_PGID"

    echo
    report | tee "$RESULT_FILE"
    log "results written to $RESULT_FILE"
    if ((${#UNAVAILABLE[@]} + ${#ERRORS[@]})); then
        for name in "${ALL_SYSTEMS[@]}"; do
            if [[ -n ${UNAVAILABLE[$name]:-} ]]; then
                log "FAILED: ${LABEL[$name]} could not be measured: ${UNAVAILABLE[$name]}"
            fi
            if [[ -n ${ERRORS[$name]:-} ]]; then
                log "FAILED: ${LABEL[$name]}: ${ERRORS[$name]}"
            fi
        done
        exit 1
    fi
}

main "$@"
