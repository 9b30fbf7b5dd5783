"""Log lines: JSON objects with the request id when one is being handled, or plain text."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from govledger.proxy.server import logs


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What a handler configured as `serve` does writes, into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    handler = logs.configure("info", "json")
    out = io.StringIO()
    handler.setStream(out)  # type: ignore[attr-defined]
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_a_json_line_carries_time_level_logger_message_and_request_id(lines: io.StringIO) -> None:
    token = logs.request_id.set("3f1c")
    try:
        logging.getLogger("govledger.gateway").warning("upstream %s failed", "mock")
    finally:
        logs.request_id.reset(token)
    logging.getLogger("govledger").info("outside any request")
    logging.getLogger("govledger").debug("below the level")

    first, second = (json.loads(line) for line in lines.getvalue().splitlines())
    assert {k: first[k] for k in ("level", "logger", "message", "request_id")} == {
        "level": "warning",
        "logger": "govledger.gateway",
        "message": "upstream mock failed",
        "request_id": "3f1c",
    }
    assert first["time"].endswith("+00:00")
    assert "request_id" not in second


def test_an_error_carries_its_traceback_inside_the_json(lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("govledger").exception("failed")
    [line] = lines.getvalue().splitlines()
    assert "ValueError: boom" in json.loads(line)["error"]


def test_text_lines_name_the_request() -> None:
    record = logging.LogRecord("govledger", logging.INFO, __file__, 1, "hello", (), None)
    record.request_id = "abc"
    assert logs.TextFormatter().format(record).endswith("INFO govledger: hello [request abc]")
