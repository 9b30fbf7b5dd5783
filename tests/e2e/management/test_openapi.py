"""The OpenAPI document, exercised by schemathesis with valid and invalid input: no answer
is a server error, none breaks the documented schema or content type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.conftest import start_gateway
from tests.e2e.management.support import ADMIN, CONFIG


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The schema served by a running gateway (SQLite), calls going to that gateway."""
    tmp: Path = tmp_path_factory.mktemp("openapi")
    running = start_gateway(f"sqlite:///{tmp}/ledger.sqlite", CONFIG, tmp, admin_token=ADMIN)
    yield schemathesis.openapi.from_url(running.url + "/openapi.json")
    running.stop()


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_no_answer_is_a_server_error_or_breaks_the_schema(
    api_schema: Any, mode: schemathesis.GenerationMode
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=5,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            case.call_and_validate(
                headers={"authorization": f"Bearer {ADMIN}"},
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        try:
            exercise()
        except Unsatisfiable:  # nothing to make invalid (an operation without parameters)
            assert mode is schemathesis.GenerationMode.NEGATIVE
