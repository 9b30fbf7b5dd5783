"""The audit trail of governance changes: who, when, through what, before and after.

Refused management calls are in it too (action `access.denied`; the resource is the
permission's, named as the other rows name kinds: `teams:create` is `team`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from govledger.ledger import events as ev
from govledger.ledger.entities import kind_and_action
from govledger.projections.database import Cursor, OnRebuild
from govledger.projections.usage_view import dumps


class AuditView:
    """Folds governance events into gl_audit, one row per change."""

    name = "audit"
    app = "governance"
    on_rebuild: OnRebuild = "refold"  # derived from the log alone: cleared and folded from event 1
    tables: tuple[str, ...] = ("gl_audit",)

    def process(self, cur: Cursor, items: Sequence[tuple[int, ev.LedgerEvent]]) -> None:
        """Apply a batch of (position, event) inside the caller's transaction."""
        last: dict[tuple[str, str], Any] = {}
        rows = []
        for position, event in items:
            if isinstance(event, ev.AccessDenied):
                rows.append(_denial_row(position, event))
                continue
            if isinstance(event, ev.LoginFailed):
                rows.append(_failure_row(position, event))
                continue
            if not isinstance(event, ev.EntityEvent):
                continue
            kind, action = kind_and_action(event)
            resource = (kind, event.entity_id)
            if resource not in last:
                last[resource] = self._latest(cur, kind, event.entity_id)
            before = last[resource]
            after = None if action == "deleted" else event.data
            rows.append(
                (
                    position,
                    event.timestamp.isoformat(),
                    event.actor,
                    event.source,
                    f"{kind}.{action}",
                    kind,
                    event.entity_id,
                    event.originator_version,
                    None if before is None else dumps(before),
                    None if after is None else dumps(after),
                )
            )
            last[resource] = after
        if rows:
            cur.executemany(
                "INSERT INTO gl_audit (position, at, actor, source, action, resource_type, "
                "resource_id, version, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    @staticmethod
    def _latest(cur: Cursor, kind: str, entity_id: str) -> Any:
        cur.execute(
            "SELECT after FROM gl_audit WHERE resource_type = ? AND resource_id = ? "
            "ORDER BY position DESC LIMIT 1",
            (kind, entity_id),
        )
        found = cur.fetchone()
        return None if found is None or found[0] is None else orjson.loads(found[0])


# A permission's resource as the other rows name it (the entity kind), e.g. teams -> team.
KIND_OF_RESOURCE = {
    "customers": "customer",
    "teams": "team",
    "virtual_keys": "virtual_key",
    "providers": "provider",
    "roles": "role",
    "admin_tokens": "admin_token",
    "budgets": "budget",
    "reports": "report",
}


def _failure_row(position: int, event: ev.LoginFailed) -> tuple[Any, ...]:
    after = {"method": event.method, "reason": event.reason, "path": event.path}
    return (
        position,
        event.timestamp.isoformat(),
        event.actor,
        event.source,
        "login.failed",
        "session",
        event.path,
        event.originator_version,
        None,
        dumps(after),
    )


def _denial_row(position: int, event: ev.AccessDenied) -> tuple[Any, ...]:
    named = event.permission.partition(":")[0]
    resource = KIND_OF_RESOURCE.get(named, named)
    after = {"permission": event.permission, "method": event.method, "path": event.path}
    return (
        position,
        event.timestamp.isoformat(),
        event.actor,
        event.source,
        "access.denied",
        resource,
        event.path,
        event.originator_version,
        None,
        dumps(after),
    )
