"""The metrics fold's label text is the same whether it comes from the memo or is rendered."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from govledger.exporters.metrics_fold import bounded_label, labels_text, le_text

VALUES = st.text(max_size=300) | st.integers() | st.booleans() | st.none() | st.floats()


def rendered(labels: dict[str, object]) -> str:
    """The canonical JSON of the labels, computed afresh."""
    bounded = {name: bounded_label(value) for name, value in labels.items()}
    return orjson.dumps(bounded, option=orjson.OPT_SORT_KEYS).decode()


@given(st.dictionaries(st.text(max_size=20), VALUES, max_size=4))
def test_labels_text_equals_a_fresh_rendering_twice_over(labels: dict[str, object]) -> None:
    assert labels_text(labels) == rendered(labels)  # type: ignore[arg-type]
    assert labels_text(labels) == rendered(labels)  # type: ignore[arg-type]  # memo hit


def test_values_equal_in_python_but_not_as_text_get_their_own_text() -> None:
    assert labels_text({"v": True}) == '{"v":"True"}'  # type: ignore[dict-item]
    assert labels_text({"v": 1}) == '{"v":"1"}'  # type: ignore[dict-item]
    assert labels_text({"v": "1"}) == '{"v":"1"}'


def test_a_bucket_bound_keeps_its_float_text() -> None:
    assert [le_text(b) for b in (0.005, 1, 2.5)] == ["0.005", "1.0", "2.5"]
