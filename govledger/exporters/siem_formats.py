"""One ledger event as a SIEM record: Elastic Common Schema, OCSF API Activity, or CEF.

Events carry no secret values (keys are hashes and prefixes, provider keys references or
ciphertext); the records go further and drop every field named like a credential (hashes,
ciphertext, references, token-bearing headers), so nothing derived from one leaves either.
Every record carries the event's stable id (`<stream>:<version>`) for deduplication.

An event that cannot be read or rendered (one stored before the gateway bounded its input,
with an integer past 64 bits, say) is not a reason to stop: it is exported in the degraded
form of `degraded`, action `event.unrenderable`, and the consumer moves on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from govledger import __version__
from govledger.exporters.consumer import Decode, event_id
from govledger.ledger import events as ev
from govledger.ledger.entities import kind_and_action
from govledger.ledger.money import json_default, plain
from govledger.ledger.personal import is_sealed, sealed_ref

PRODUCT = "govledger"
VERSION = __version__
SECRET_NAMES = re.compile(
    r"(^|[-_])(value|secret|token|hash|hashes|password|enc|authorization|api[-_]?key|cookie"
    r"|x-bf-vk)($|[-_])",
    re.I,
)
OCSF_ACTIVITY = {
    "created": 1,
    "read": 2,
    "updated": 3,
    "rotated": 3,
    "joined_team": 3,
    "left_team": 3,
    "deleted": 4,
}


def redact(value: Any) -> Any:
    """A copy of a JSON value without the fields whose names look like credentials; a
    provider key's `value_ref` is exported as `reference` (a reference is no secret); a
    sealed personal value as `sealed:<subject ref>`."""
    if isinstance(value, dict):
        kept = {k: redact(v) for k, v in value.items() if not SECRET_NAMES.search(str(k))}
        if isinstance(value.get("value_ref"), str):
            kept["reference"] = value["value_ref"]
        return kept
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, Decimal):
        return plain(value)
    if is_sealed(value):  # personal data: the subject's pseudonym, never its ciphertext
        return f"sealed:{sealed_ref(value) or ''}"
    return value


@dataclass(frozen=True)
class Fact:
    """What every format needs from one event, already free of secrets."""

    id: str
    position: int
    app: str
    at_ms: int
    at_iso: str
    action: str  # e.g. virtual_key.updated, request.settled
    category: str  # governance | usage
    outcome: str  # success | failure | unknown
    actor: str
    resource_type: str
    resource_id: str
    message: str
    details: dict[str, Any]
    user_id: str = ""  # a request's user (the key's owner), where the record names the key


def fact(app: str, position: int, event: ev.LedgerEvent) -> Fact:
    """The format-neutral, redacted view of one event."""
    at = event.timestamp
    base: dict[str, Any] = {"id": event_id(event), "position": position, "app": app}
    times: dict[str, Any] = {"at_ms": int(at.timestamp() * 1000), "at_iso": at.isoformat()}
    if isinstance(event, ev.EntityEvent):
        kind, action = kind_and_action(event)
        return Fact(
            **base,
            **times,
            action=f"{kind}.{action}",
            category="governance",
            outcome="success",
            actor=event.actor,
            resource_type=kind,
            resource_id=event.entity_id,
            message=f"{event.actor} {action} {kind} {event.entity_id} via {event.source}",
            details={"source": event.source, "data": redact(event.data)},
        )
    if isinstance(event, ev.AccessDenied):
        return Fact(
            **base,
            **times,
            action="access.denied",
            category="governance",
            outcome="failure",
            actor=event.actor,
            resource_type=event.permission.partition(":")[0],
            resource_id=event.path,
            message=f"{event.actor} lacked {event.permission} for {event.method} {event.path}",
            details={"permission": event.permission, "method": event.method, "path": event.path},
        )
    fields = redact(
        {k: v for k, v in vars(event).items() if not k.startswith("_") and k != "timestamp"}
    )
    fields.pop("originator_id", None)
    fields.pop("originator_version", None)
    name = _snake(type(event).__name__)
    outcome = "unknown"
    if isinstance(event, ev.RequestSettled):
        outcome = "success" if event.status == "ok" else "failure"
    elif isinstance(event, ev.RequestRejected | ev.McpToolRefused | ev.RequestAbandoned):
        outcome = "failure"
    elif isinstance(event, ev.GuardrailTriggered):
        outcome = "failure" if event.action == "block" else "success"
    elif isinstance(event, ev.RequestAdmitted | ev.McpToolExecuted):
        outcome = "success" if getattr(event, "status", "ok") == "ok" else "failure"
    key_id = str(fields.get("key_id") or "")
    return Fact(
        **base,
        **times,
        action=name.replace("_", ".", 1),
        category="usage",
        outcome=outcome,
        actor=f"virtual_key:{key_id}" if key_id else "anonymous",
        resource_type="request",
        resource_id=str(fields.get("request_id", "")),
        message=f"{name.replace('_', ' ')} {fields.get('model') or fields.get('tool') or ''}",
        details=fields,
        user_id=str(fields.get("user_id") or "") if key_id else "",
    )


def decoded(note: Notification, decode: Decode) -> ev.LedgerEvent | Exception:
    """The stored event, or the error that stops it being read."""
    try:
        return decode(note)
    except Exception as error:  # any defect of one record, never of the consumer
        return error


def degraded(app: str, note: Notification, event: ev.LedgerEvent | None, error: Exception) -> Fact:
    """The record of an event that cannot be rendered: its id, type, position, time (the
    epoch when unreadable) and `unrenderable: true` with the error's type and first line."""
    stream_id = getattr(note, "originator_id", "")
    version = getattr(note, "originator_version", "")
    kind = str(getattr(note, "topic", "")).rpartition(":")[2] or type(event).__name__
    at = event.timestamp if event is not None else datetime.fromtimestamp(0, UTC)
    reason = f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
    return Fact(
        id=f"{stream_id}:{version}",
        position=note.id,
        app=app,
        at_ms=int(at.timestamp() * 1000),
        at_iso=at.isoformat(),
        action="event.unrenderable",
        category=app,
        outcome="unknown",
        actor=PRODUCT,
        resource_type="event",
        resource_id=f"{stream_id}:{version}",
        message=f"{kind} at position {note.id} could not be rendered ({type(error).__name__})",
        details={"unrenderable": True, "event_type": kind, "error": reason},
    )


def line_of(
    app: str, note: Notification, event: ev.LedgerEvent | Exception, fmt: str
) -> tuple[str, str]:
    """(event id, record) of one stored event in a format; degraded if it cannot be rendered."""
    render = FORMATS[fmt]
    if isinstance(event, Exception):
        f = degraded(app, note, None, event)
        return f.id, render(f)
    try:
        f = fact(app, note.id, event)
        return f.id, render(f)
    except Exception as error:  # the event's data, not the exporter: degrade and go on
        f = degraded(app, note, event, error)
        return f.id, render(f)


def ecs(f: Fact) -> str:
    """A JSON line with Elastic Common Schema fields."""
    record = {
        "@timestamp": f.at_iso,
        "ecs": {"version": "8.11.0"},
        "message": f.message.strip(),
        "event": {
            "id": f.id,
            "kind": "event",
            "category": ["configuration"] if f.category == "governance" else ["web"],
            "type": [_ecs_type(f.action)],
            "action": f.action,
            "outcome": f.outcome,
            "dataset": f"{PRODUCT}.{f.app}",
            "sequence": f.position,
        },
        "user": {"name": f.actor, **({"id": f.user_id} if f.user_id else {})},
        "observer": {"product": PRODUCT, "vendor": PRODUCT, "version": VERSION},
        "labels": {"resource_type": f.resource_type, "resource_id": f.resource_id},
        PRODUCT: f.details,
    }
    return orjson.dumps(record, default=json_default).decode()


def ocsf(f: Fact) -> str:
    """A JSON line in OCSF API Activity (class 6003); type_uid = 6003 * 100 + activity_id."""
    verb = f.action.rpartition(".")[2]
    activity = OCSF_ACTIVITY.get(verb, 99)
    status = {"success": 1, "failure": 2}.get(f.outcome, 0)
    record = {
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity,
        "activity_name": verb.capitalize() if activity != 99 else "Other",
        "type_uid": 6003 * 100 + activity,
        "severity_id": 1 if status != 2 else 3,
        "status_id": status,
        "status": {0: "Unknown", 1: "Success", 2: "Failure"}[status],
        "time": f.at_ms,
        "message": f.message.strip(),
        "actor": {"user": {"name": f.actor, **({"uid": f.user_id} if f.user_id else {})}},
        "api": {"operation": f.action, "service": {"name": PRODUCT}},
        "src_endpoint": {"name": PRODUCT},
        "resources": [{"type": f.resource_type, "uid": f.resource_id}],
        "metadata": {
            "uid": f.id,
            "sequence": f.position,
            "version": "1.1.0",
            "product": {"name": PRODUCT, "vendor_name": PRODUCT, "version": VERSION},
        },
        "unmapped": f.details,
    }
    return orjson.dumps(record, default=json_default).decode()


def cef(f: Fact) -> str:
    """One CEF line: `CEF:0|vendor|product|version|signature|name|severity|extension`."""
    severity = 7 if f.outcome == "failure" else 3
    header = [PRODUCT, PRODUCT, VERSION, f.action, f.message.strip() or f.action, str(severity)]
    extension = {
        "externalId": f.id,
        "rt": str(f.at_ms),
        "suser": f.actor,
        **({"suid": f.user_id} if f.user_id else {}),
        "act": f.action,
        "outcome": f.outcome,
        "cs1Label": "resourceType",
        "cs1": f.resource_type,
        "cs2Label": "resourceId",
        "cs2": f.resource_id,
        "cs3Label": "details",
        "cs3": orjson.dumps(f.details, default=json_default).decode(),
        "cn1Label": "position",
        "cn1": str(f.position),
    }
    head = "|".join(_cef_header(h) for h in header)
    ext = " ".join(f"{k}={_cef_value(v)}" for k, v in extension.items())
    return f"CEF:0|{head}|{ext}"


FORMATS: dict[str, Callable[[Fact], str]] = {"ecs": ecs, "ocsf": ocsf, "cef": cef}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _ecs_type(action: str) -> str:
    verb = action.rpartition(".")[2]
    return {"created": "creation", "deleted": "deletion", "denied": "denied"}.get(verb, "change")


def _cef_header(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cef_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n").replace("\r", "\\r")
