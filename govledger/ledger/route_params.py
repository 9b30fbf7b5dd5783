"""Adaptive routing's parameters: the health fold's (global) and the weights' (global, or a
key's own), with their defaults, built from the settings and a key's data.

The defaults are documented in docs/routing.md. The config file's `adaptive` (file-wide, every
parameter) and a virtual key's `adaptive` (the weight parameters only: health is a route's,
shared by every key) override them; absent fields keep the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class HealthParams:
    """The health fold's parameters (one set per gateway: a route's health is shared)."""

    bucket_s: float = 0.5  # width of an evidence bucket
    interval_s: float = 0.5  # recompute tick: health is computed at multiples of it
    settle_s: float = 0.5  # evidence counts from this long after its bucket ends (tail lag)
    horizon_s: float = 120.0  # buckets older than this before the tick are dropped
    decay_s: float = 10.0  # time constant of the exponential decay of every signal
    min_samples: float = 5.0  # decayed attempts needed before an error rate moves a state
    degrade_at: float = 0.10  # error rate entering Degraded
    recover_at: float = 0.03  # error rate below which Degraded returns to Healthy
    fail_at: float = 0.50  # error rate entering Failed
    cooldown_s: float = 10.0  # a Failed route waits this long (or its Retry-After) before probes
    probes_needed: int = 3  # successful probes, with no error, that end Recovering
    reference_tokens: int = 100  # a stream's latency: first byte + this many output tokens
    max_routes: int = 1000  # routes tracked at most (a new one beyond it is not counted)


@dataclass(frozen=True)
class WeightParams:
    """How health scales a configured weight (per key, if the key sets its own)."""

    error_penalty: float = 20.0  # a Degraded route's factor is exp(-error_penalty * error rate)
    latency_tolerance: float = 1.5  # latency up to this multiple of the best costs nothing
    latency_samples: float = 3.0  # decayed successes before a latency counts
    probe_floor: float = 0.10  # the factor of a Recovering route, and the least of a live one
    max_boost: float = 3.0  # no share above max_boost x the configured share


HEALTH_FIELDS = tuple(f.name for f in fields(HealthParams))
WEIGHT_FIELDS = tuple(f.name for f in fields(WeightParams))
DEFAULT_HEALTH = HealthParams()
DEFAULT_WEIGHTS = WeightParams()


def health_problems(p: HealthParams) -> list[tuple[str, str]]:
    """What is inconsistent between the health parameters, by field."""
    problems = []
    if not p.recover_at < p.degrade_at <= p.fail_at:
        problems.append(("recover_at", "needs recover_at < degrade_at <= fail_at"))
    if p.horizon_s < 2 * p.decay_s:
        problems.append(("horizon_s", "must be at least twice decay_s"))
    if p.horizon_s < p.bucket_s + p.settle_s:
        problems.append(("horizon_s", "must exceed bucket_s + settle_s"))
    return problems


def _picked(raw: Mapping[str, Any] | None, names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in (raw or {}).items() if k in names and v is not None}


def health_params(settings: Mapping[str, Any]) -> HealthParams:
    """The health parameters the settings' `adaptive` sets (defaults elsewhere)."""
    return replace(DEFAULT_HEALTH, **_picked(settings.get("adaptive"), HEALTH_FIELDS))


def weight_params(settings: Mapping[str, Any], key: Mapping[str, Any] | None) -> WeightParams:
    """A key's weight parameters: its own `adaptive`, else the settings', else defaults."""
    merged = _picked(settings.get("adaptive"), WEIGHT_FIELDS)
    merged.update(_picked((key or {}).get("adaptive"), WEIGHT_FIELDS))
    return replace(DEFAULT_WEIGHTS, **merged) if merged else DEFAULT_WEIGHTS
