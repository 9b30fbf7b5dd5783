"""The collector's thresholds: rarer passes during a bulk fold, the caller's back after it."""

from __future__ import annotations

import gc

import pytest

from govledger.ledger.heap import BULK_THRESHOLDS, bulk_passes


def test_a_bulk_fold_runs_with_rarer_passes_and_restores_the_callers_thresholds() -> None:
    before = gc.get_threshold()
    gc.set_threshold(1234, 5, 6)
    try:
        with bulk_passes():
            assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_threshold() == (1234, 5, 6)
    finally:
        gc.set_threshold(*before)


def test_the_callers_thresholds_come_back_when_the_fold_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="store down"), bulk_passes():
        raise RuntimeError("store down")
    assert gc.get_threshold() == before


def test_bulk_passes_are_rarer_than_the_defaults() -> None:
    young, middle, old = BULK_THRESHOLDS
    assert young > 700 and middle >= 10 and old >= 10
