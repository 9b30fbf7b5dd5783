"""The metrics fold's label text is the same whether it comes from the memo or is rendered."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from govledger.exporters.metrics_fold import (
    HISTOGRAMS,
    bounded_label,
    bucket_keys,
    labels_text,
    le_text,
)

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


@given(
    st.sampled_from(sorted(HISTOGRAMS)),
    st.dictionaries(st.text(max_size=20).filter(lambda k: k != "le"), VALUES, max_size=3),
    st.floats(allow_nan=True) | st.sampled_from([0.0, 0.005, 0.0005, 60.0, 61.0]),
)
def test_the_bucket_keys_are_the_buckets_a_fresh_rendering_fills(
    name: str, labels: dict[str, object], seconds: float
) -> None:
    # per bucket: {**labels, "le": bound} rendered afresh, `+Inf` always (NaN fills only it)
    expected = [
        (name + "_bucket", rendered({**labels, "le": le_text(bound)}))
        for bound in HISTOGRAMS[name]
        if seconds <= bound
    ] + [(name + "_bucket", rendered({**labels, "le": "+Inf"}))]
    for _ in range(2):  # rendered, then from the memo
        finite, infinite = bucket_keys(name, labels)  # type: ignore[arg-type]
        assert [key for bound, key in finite if seconds <= bound] + [infinite] == expected
