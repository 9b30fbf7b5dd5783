"""Guardrails: pure detectors, policy evaluation and the stream window scanner."""
