"""The fault suite's process-level harness: a private PostgreSQL, the gateway as a real
process, a bounded load generator, and reconciliation of the ledger with what clients saw."""

from tests.faults.harness.deadline import DeadlineExceededError, alarm, wait_for
from tests.faults.harness.load import BackgroundLoad, LoadPlan, LoadResult, RequestRecord, run_load
from tests.faults.harness.postgres import PrivatePostgres, unavailable
from tests.faults.harness.reconcile import (
    LedgerFigures,
    Reconciliation,
    read_ledger,
    reconcile,
    view_lags,
    view_request_statuses,
    wait_drained,
)
from tests.faults.harness.served import MockUpstreamProcess, ServedGateway, group_members

__all__ = [
    "BackgroundLoad",
    "DeadlineExceededError",
    "LedgerFigures",
    "LoadPlan",
    "LoadResult",
    "MockUpstreamProcess",
    "PrivatePostgres",
    "Reconciliation",
    "RequestRecord",
    "ServedGateway",
    "alarm",
    "group_members",
    "read_ledger",
    "reconcile",
    "run_load",
    "unavailable",
    "view_lags",
    "view_request_statuses",
    "wait_drained",
    "wait_for",
]
