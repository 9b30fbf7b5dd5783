"""The README's snippets run, as written, against a gateway serving `config.example.json`
(its fake upstream on the port the example names is moved to a free one), and the models
they name are real ones that genai-prices prices."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from govledger.proxy.enforcement.cost import PriceBook
from tests.conftest import RunningGateway

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
HELLO = "Hello from the mock upstream."


def test_the_readme_shows_one_call_per_sdk() -> None:
    sdks = ["from openai import", "import anthropic", "from google import genai"]
    assert [next(i for i, s in enumerate(SNIPPETS) if sdk in s) for sdk in sdks] == [0, 1, 2]


@pytest.mark.parametrize(
    ("provider_type", "model"),
    [("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-flash")],
)
def test_the_readme_models_are_priced_by_genai_prices(provider_type: str, model: str) -> None:
    assert any(f'model="{model}"' in snippet for snippet in SNIPPETS)
    assert model in PriceBook([], False).catalogue(provider_type)
    assert (
        PriceBook([], False).price(provider_type, model, datetime.now(UTC)).source == "genai-prices"
    )


def test_each_readme_snippet_runs_against_the_example_config(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    text = (ROOT / "config.example.json").read_text().replace("http://127.0.0.1:9000", "{MOCK}")
    gateway = gateway_factory(json.loads(text))
    printed = []
    for snippet in SNIPPETS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(snippet.replace("http://127.0.0.1:8080", gateway.url), {})  # noqa: S102
        printed.append(out.getvalue())
    openai_line, models_line = printed[0].splitlines()
    assert openai_line.startswith(HELLO) and Decimal(openai_line.split()[-1]) > 0
    assert models_line.startswith("['openai/")
    assert printed[1].startswith(HELLO) and Decimal(printed[1].split()[-1]) > 0
    assert printed[2].startswith(HELLO) and int(printed[2].split()[-1]) > 0
    for line in (openai_line, printed[1]):
        assert "E" not in line.split()[-1]  # the cost in plain notation
