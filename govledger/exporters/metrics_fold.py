"""Prometheus counters and histograms folded from the usage stream into `gl_metrics`.

Counters derived from events survive restarts and equal what the ledger says: the fold
is a tracked consumer, so each event is counted once (its batch and its position commit
together). The server reads the table on each scrape; any number of processes serve the
same figures. Each sample adds its events' amounts one at a time in log order onto the
stored value, so a figure never depends on how the log was cut into batches (float
addition is not associative): a rebuild's refold gives exactly the figures of the live fold.

Label values are bounded (`bounded_label`): a value past 128 characters is cut and tagged
with a hash of the whole, so no client-chosen string reaches the table's primary key
unbounded. Spend and requests by user are capped too: the first `user_cap` users seen in
log order get their own `user` label (stable: a labelled user keeps it), later ones are
counted under `user="_other"`, and requests of keys without a user under `user="none"`.
An event that cannot be folded is counted in
`govledger_unrenderable_events_total` by type, and the fold moves on.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

import orjson
from eventsourcing.persistence import Notification

from govledger.exporters.consumer import Decode
from govledger.ledger import events as ev
from govledger.projections.database import Cursor, OnRebuild, ViewDatabase, add_missing_columns

log = logging.getLogger("govledger.metrics")
LABEL_CHARS = 128  # a longer label value is cut and tagged with a hash of the whole
USER_CAP = 200  # users with their own series in the by-user counters; the rest are `_other`
NO_USER = "none"  # the `user` label of requests whose key has no user
OTHER_USERS = "_other"  # the `user` label of the users past the cap

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS gl_metrics (
        name TEXT NOT NULL, labels TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (name, labels))""",
    """CREATE TABLE IF NOT EXISTS gl_metric_open (
        request_id TEXT PRIMARY KEY, surface TEXT NOT NULL, model TEXT NOT NULL,
        user_id TEXT)""",
]

UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
HISTOGRAMS = {
    "govledger_upstream_latency_seconds": UPSTREAM_BUCKETS,
    "govledger_gateway_overhead_seconds": OVERHEAD_BUCKETS,
}
COUNTERS = {
    "govledger_requests": "Requests by surface, provider, model and outcome.",
    "govledger_tokens": "Tokens by provider, model and direction.",
    "govledger_cost_usd": "Actual cost in USD by provider and model.",
    "govledger_rejections": "Requests refused before admission, by reason.",
    "govledger_upstream_attempts": "Upstream attempts by provider and outcome.",
    "govledger_user_requests": "Closed requests (settled or abandoned) by user, capped.",
    "govledger_user_cost_usd": "Actual cost in USD of settled requests by user, capped.",
    "govledger_guardrail_decisions": "Guardrail decisions by policy, check, category, action.",
    "govledger_unrenderable_events": "Events the fold could not read, by type (set aside).",
}
HISTOGRAM_HELP = {
    "govledger_upstream_latency_seconds": "Upstream attempt latency by provider.",
    "govledger_gateway_overhead_seconds": "Time a request spent in the gateway, not upstream.",
}

Key = tuple[str, str]  # (sample name, labels as JSON)
Open = tuple[str, str, str | None]  # an admitted request's surface, model and user
Add = Callable[[str, dict[str, str], float], None]


def create_tables(db: ViewDatabase) -> None:
    """Create the fold's tables if they are missing."""
    with db.transaction() as cur:
        for statement in SCHEMA:
            cur.execute(statement)
        add_missing_columns(cur, "gl_metric_open", {"user_id": "TEXT"}, db.is_postgres)


def bounded_label(value: object) -> str:
    """A label value of at most LABEL_CHARS + 17 characters: long ones cut, then `~` and
    16 hex digits of the whole value's SHA-256 (so distinct values stay distinct)."""
    text = str(value)
    if len(text) <= LABEL_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[:LABEL_CHARS]}~{digest}"


def labels_text(labels: dict[str, str]) -> str:
    """Labels as canonical JSON (sorted keys, values bounded), the table's key."""
    if all(type(value) is str for value in labels.values()):  # 1 == True: str keys only
        return _labels_text(tuple(labels.items()))
    return _render_labels(labels.items())


def _render_labels(items: Iterable[tuple[str, object]]) -> str:
    bounded = {name: bounded_label(value) for name, value in items}
    return orjson.dumps(bounded, option=orjson.OPT_SORT_KEYS).decode()


# Each settlement observes three histograms of ~15 buckets: the same few label sets, rendered
# once each instead of ~50 times per event (the projection process's flame graph).
@functools.lru_cache(maxsize=8192)
def _labels_text(items: tuple[tuple[str, str], ...]) -> str:
    return _render_labels(items)


class MetricsFold:
    """The usage consumer that folds requests, tokens, cost and latency into gl_metrics."""

    name = "metrics"
    app = "usage"
    on_rebuild: OnRebuild = "refold"  # derived from the log alone: folded again from event 1
    tables: tuple[str, ...] = ("gl_metrics", "gl_metric_open")

    def __init__(self, user_cap: int = USER_CAP) -> None:
        self.user_cap = user_cap

    def process(self, cur: Cursor, notes: Sequence[Notification], decode: Decode) -> None:
        """Fold a batch of notifications inside the caller's transaction."""
        amounts: dict[Key, list[float]] = {}
        opened: dict[str, Open] = {}
        closed: list[str] = []
        users = Users(self.user_cap, cur)

        def add(name: str, labels: dict[str, str], amount: float) -> None:
            amounts.setdefault((name, labels_text(labels)), []).append(amount)

        def observe(name: str, labels: dict[str, str], seconds: float) -> None:
            buckets, infinite = bucket_keys(name, labels)
            for bound, key in buckets:
                if seconds <= bound:
                    amounts.setdefault(key, []).append(1)
            amounts.setdefault(infinite, []).append(1)
            add(name + "_sum", labels, seconds)
            add(name + "_count", labels, 1)

        for note in notes:
            before = {key: len(added) for key, added in amounts.items()}
            try:
                self._fold(note, decode, cur, add, observe, opened, closed, users)
            except Exception as error:  # one event's data: set it aside, counted, and go on
                for key in list(amounts):  # undo what this event had added
                    if key in before:
                        del amounts[key][before[key] :]
                    else:
                        del amounts[key]
                kind = str(getattr(note, "topic", "")).rpartition(":")[2] or "unknown"
                log.warning("metrics: %s at %s set aside (%s)", kind, note.id, type(error).__name__)
                add("govledger_unrenderable_events_total", {"type": kind}, 1)
        if opened:
            cur.executemany(
                "INSERT INTO gl_metric_open (request_id, surface, model, user_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING",
                [(rid, s, m, u) for rid, (s, m, u) in opened.items()],
            )
        if closed:
            cur.executemany(
                "DELETE FROM gl_metric_open WHERE request_id = ?", [(r,) for r in closed]
            )
        if amounts:
            totals = self._stored(cur, sorted({name for name, _ in amounts}))
            for key, added in amounts.items():
                total = totals.get(key, 0.0)
                for amount in added:  # one at a time, in log order
                    total += amount
                totals[key] = total
            cur.executemany(
                "INSERT INTO gl_metrics (name, labels, value) VALUES (?, ?, ?) ON CONFLICT "
                "(name, labels) DO UPDATE SET value = excluded.value",
                [(name, labels, totals[(name, labels)]) for name, labels in sorted(amounts)],
            )

    def _fold(
        self,
        note: Notification,
        decode: Decode,
        cur: Cursor,
        add: Add,
        observe: Add,
        opened: dict[str, Open],
        closed: list[str],
        users: Users,
    ) -> None:
        event = decode(note)
        if isinstance(event, ev.RequestAdmitted):
            opened[event.request_id] = (event.surface, bounded_label(event.model), event.user_id)
        elif isinstance(event, ev.RequestSettled | ev.RequestAbandoned):
            held = opened.pop(event.request_id, None)
            surface, model, user_id = held or self._held(cur, event.request_id)
            closed.append(event.request_id)
            if isinstance(event, ev.RequestAbandoned):
                _count_request(add, surface, "none", model, "abandoned")
            else:
                _fold_settled(add, observe, event, surface)
            user = {"user": users.label(user_id)}  # last: a failure above labels no user
            add("govledger_user_requests_total", user, 1)
            if isinstance(event, ev.RequestSettled) and event.cost:
                add("govledger_user_cost_usd_total", user, float(Decimal(event.cost)))
        elif isinstance(event, ev.RequestRejected):
            _count_request(add, event.surface, "none", event.model, "rejected")
            add("govledger_rejections_total", {"reason": event.code}, 1)
        elif isinstance(event, ev.McpToolRefused):
            add("govledger_rejections_total", {"reason": event.code}, 1)
        elif isinstance(event, ev.GuardrailTriggered):
            labels = {
                "policy": bounded_label(event.policy),
                "check": event.check,
                "category": bounded_label(event.category),
                "action": event.action,
                "direction": event.direction,
            }
            add("govledger_guardrail_decisions_total", labels, 1)

    @staticmethod
    def _stored(cur: Cursor, names: Sequence[str]) -> dict[Key, float]:
        """The stored values of these samples (read under the tracking lock: no other writer)."""
        marks = ", ".join("?" for _ in names)
        cur.execute(
            f"SELECT name, labels, value FROM gl_metrics WHERE name IN ({marks})",  # noqa: S608
            names,
        )
        return {(str(r[0]), str(r[1])): float(r[2]) for r in cur.fetchall()}

    @staticmethod
    def _held(cur: Cursor, request_id: str) -> Open:
        cur.execute(
            "SELECT surface, model, user_id FROM gl_metric_open WHERE request_id = ?",
            (request_id,),
        )
        found = cur.fetchone()
        if not found:
            return ("unknown", "unknown", None)
        return (str(found[0]), str(found[1]), None if found[2] is None else str(found[2]))


class Users:
    """The `user` labels of the by-user counters: the first `cap` users in log order by
    name, the rest `_other`, keys without a user `none` (read from the stored series)."""

    def __init__(self, cap: int, cur: Cursor) -> None:
        self.cap = cap
        self._cur = cur
        self._named: set[str] | None = None

    def label(self, user_id: str | None) -> str:
        """The label of this user's series (a new user takes a free place under the cap)."""
        if not user_id:
            return NO_USER
        named = self._load()
        label = bounded_label(user_id)
        if label in named:
            return label
        if len(named) < self.cap:
            named.add(label)
            return label
        return OTHER_USERS

    def _load(self) -> set[str]:
        if self._named is None:
            self._cur.execute(
                "SELECT labels FROM gl_metrics WHERE name = 'govledger_user_requests_total'"
            )
            found = (orjson.loads(r[0]).get("user", "") for r in self._cur.fetchall())
            self._named = {u for u in found if u not in (NO_USER, OTHER_USERS)}
        return self._named


def _count_request(add: Add, surface: str, provider: str, model: str, outcome: str) -> None:
    labels = {"surface": surface, "provider": provider, "model": model, "outcome": outcome}
    add("govledger_requests_total", labels, 1)


def _fold_settled(add: Add, observe: Add, event: ev.RequestSettled, surface: str) -> None:
    provider = event.provider or "none"
    _count_request(add, surface, provider, event.model, event.status)
    pm = {"provider": provider, "model": event.model}
    for direction in ("input", "output", "cached", "reasoning"):
        count = int(event.tokens.get(direction) or 0)
        if count:
            add("govledger_tokens_total", {**pm, "direction": direction}, count)
    if event.cost:
        add("govledger_cost_usd_total", pm, float(Decimal(event.cost)))
    upstream_ms = 0.0
    for attempt in event.attempts:
        status = attempt.get("status")
        ok = isinstance(status, int) and status < 500 and status != 429
        outcome = "ok" if ok else "error"
        add(
            "govledger_upstream_attempts_total",
            {"provider": attempt["provider"], "outcome": outcome},
            1,
        )
        ms = float(attempt.get("ms") or 0.0)
        upstream_ms += ms
        observe("govledger_upstream_latency_seconds", {"provider": attempt["provider"]}, ms / 1000)
    overhead = max(float(event.latency_ms) - upstream_ms, 0.0) / 1000
    observe("govledger_gateway_overhead_seconds", {}, overhead)


Buckets = tuple[tuple[tuple[float, Key], ...], Key]  # (bound, key) per finite bucket; +Inf's


def bucket_keys(name: str, labels: dict[str, str]) -> Buckets:
    """The sample keys of a histogram's buckets for these labels (each with its `le`)."""
    if all(type(value) is str for value in labels.values()):  # as labels_text: str only
        return _bucket_keys(name, tuple(labels.items()))
    return _render_buckets(name, labels)


# A settlement observes two or three histograms of 11-13 buckets: the keys of one label
# set are rendered once, not a label dict and a cache lookup per bucket per event.
@functools.lru_cache(maxsize=4096)
def _bucket_keys(name: str, items: tuple[tuple[str, str], ...]) -> Buckets:
    return _render_buckets(name, dict(items))


def _render_buckets(name: str, labels: dict[str, str]) -> Buckets:
    sample = name + "_bucket"
    finite = tuple(
        (bound, (sample, labels_text({**labels, "le": le_text(bound)})))
        for bound in HISTOGRAMS[name]
    )
    return finite, (sample, labels_text({**labels, "le": "+Inf"}))


@functools.lru_cache(maxsize=256)
def le_text(bound: float) -> str:
    """A bucket bound as its `le` label (`0.005`, `1.0`)."""
    return repr(float(bound))
