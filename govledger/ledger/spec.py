"""The base of every config model and the id patterns they share (unknown fields refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
PROVIDER_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Spec(BaseModel):
    """Base of every config model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)
