#!/usr/bin/env bash
# Install what bench/compare.sh needs, idempotently (a second run changes nothing):
#   - Debian packages: wrk, nginx-light (the fake upstream), curl, nodejs/npm if node is missing
#   - the LiteLLM proxy in its own venv:  $BENCH_HOME/litellm-venv
#   - the Portkey gateway from npm:       $BENCH_HOME/portkey
# Env: BENCH_HOME (default /opt/bench), LITELLM_SPEC (default 'litellm[proxy]'),
#      PORTKEY_SPEC (default '@portkey-ai/gateway'), PYTHON (default python3).
# govledger itself is not installed here: compare.sh uses the repo's venv ($VENV, default .venv).
set -euo pipefail

BENCH_HOME=${BENCH_HOME:-/opt/bench}
LITELLM_VENV=$BENCH_HOME/litellm-venv
PORTKEY_DIR=$BENCH_HOME/portkey
LITELLM_SPEC=${LITELLM_SPEC:-litellm[proxy]}
PORTKEY_SPEC=${PORTKEY_SPEC:-@portkey-ai/gateway}
PYTHON=${PYTHON:-python3}

log() { printf '[setup] %s\n' "$*"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

# --- Debian packages ---------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    log "apt packages present (wrk, nginx, curl, node, npm)"
fi

if [[ ! -d $BENCH_HOME ]]; then
    as_root mkdir -p "$BENCH_HOME"
    [[ $(id -u) -eq 0 ]] || as_root chown "$(id -u):$(id -g)" "$BENCH_HOME"
fi

# --- LiteLLM proxy, in its own venv --------------------------------------------
if [[ -x $LITELLM_VENV/bin/litellm ]] &&
    "$LITELLM_VENV/bin/python" -c 'import litellm, fastapi, uvicorn' >/dev/null 2>&1; then
    log "LiteLLM present in $LITELLM_VENV"
else
    log "installing $LITELLM_SPEC into $LITELLM_VENV"
    [[ -x $LITELLM_VENV/bin/python ]] || "$PYTHON" -m venv "$LITELLM_VENV"
    "$LITELLM_VENV/bin/pip" install --quiet --upgrade pip
    "$LITELLM_VENV/bin/pip" install --quiet "$LITELLM_SPEC"
fi

# --- Portkey gateway, from npm -------------------------------------------------
if [[ -f $PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js ]]; then
    log "Portkey gateway present in $PORTKEY_DIR"
else
    log "installing $PORTKEY_SPEC into $PORTKEY_DIR"
    mkdir -p "$PORTKEY_DIR"
    [[ -f $PORTKEY_DIR/package.json ]] || (cd "$PORTKEY_DIR" && npm init -y >/dev/null)
    # The package's postinstall (patch-package) has no patches to apply in the
    # published tarball, so it does not matter whether npm runs install scripts.
    (cd "$PORTKEY_DIR" && npm install --no-audit --no-fund "$PORTKEY_SPEC")
fi

log "versions: $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2);" \
    "$(/usr/sbin/nginx -v 2>&1);" \
    "litellm $("$LITELLM_VENV/bin/pip" show litellm 2>/dev/null | awk '/^Version:/{print $2}');" \
    "portkey $(node -p "require('$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version");" \
    "node $(node --version)"
