"""docs/events.md is the vocabulary rendered from govledger/ledger/events.py, and stays so."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from govledger.ledger import events as ev
from govledger.ledger.vocabulary import REGENERATE, field_comments, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"


def test_docs_events_md_is_the_generated_vocabulary() -> None:
    assert DOC.read_text() == render(), f"docs/events.md is stale: run `{REGENERATE}`"


def test_the_rendering_says_how_to_regenerate_it() -> None:
    assert REGENERATE in "\n".join(render().splitlines()[2:4])


def test_every_event_and_each_of_its_fields_is_listed() -> None:
    text = render()

    for cls in ev.ALL_EVENTS:
        section = text.split(f"### {cls.__name__}\n", 1)[1].split("\n### ", 1)[0]
        assert cls.__doc__ is not None and cls.__doc__ in section
        for item in dataclasses.fields(cls):
            if item.name not in ("originator_id", "originator_version", "timestamp"):
                assert f"| `{item.name}` |" in section


def test_each_event_names_its_application() -> None:
    text = render()

    for cls in ev.GOVERNANCE_EVENTS:
        assert f"### {cls.__name__}\n\nApplication `governance`" in text
    for usage in ev.USAGE_EVENTS:
        assert f"### {usage.__name__}\n\nApplication `usage`" in text


def test_field_meanings_come_from_the_comments_on_their_lines() -> None:
    comments = field_comments()

    assert comments[("GovernanceEvent", "source")] == "api | cli | config | ui | system"
    assert ("RequestAdmitted", "key_id") not in comments
    assert "| `source` | `str` | api \\| cli \\| config \\| ui \\| system |" in render()
