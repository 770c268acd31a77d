from __future__ import annotations

import pytest

from roar.errors import UsageError
from roar.lineage import labels


def test_parse_pairs_types() -> None:
    doc = labels.parse_pairs(
        ["model.name=resnet50", "lr=0.001", "epochs=10", "ok=true", "id=007", "tag2=v1.2"]
    )
    assert doc == {
        "model": {"name": "resnet50"}, "lr": 0.001, "epochs": 10, "ok": True, "id": "007",
        "tag2": "v1.2",
    }  # fmt: skip


def test_merge_unset_flatten() -> None:
    doc = labels.merge({"a": {"b": 1, "c": 2}, "x": 1}, {"a": {"b": 5}, "y": "z"})
    assert doc == {"a": {"b": 5, "c": 2}, "x": 1, "y": "z"}
    assert labels.unset(doc, ["a.b", "a.c"]) == {"x": 1, "y": "z"}  # empty parent pruned
    assert labels.unset(doc, ["nope.key", "a.b.deeper"]) == doc
    assert labels.flatten(doc) == [("a.b", 5), ("a.c", 2), ("x", 1), ("y", "z")]


@pytest.mark.parametrize("pair", ["roar.kind=x", "tag.v=1", "novalue", "a..b=1", "=1"])
def test_bad_pairs(pair: str) -> None:
    with pytest.raises(UsageError):
        labels.parse_pairs([pair])
