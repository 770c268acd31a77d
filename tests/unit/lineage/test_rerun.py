from __future__ import annotations

import pytest

from roar.errors import UsageError
from roar.lineage.rerun import apply_overrides, parse_overrides


def test_overrides_replace_both_spellings_or_append() -> None:
    argv = ["python", "train.py", "--epochs=10", "--lr", "0.1", "--seed", "1"]
    pairs = parse_overrides(["--epochs=20", "--lr", "0.5", "--batch=64"])
    assert apply_overrides(argv, pairs) == [
        "python", "train.py", "--epochs=20", "--lr", "0.5", "--seed", "1", "--batch=64",
    ]  # fmt: skip


@pytest.mark.parametrize("tokens", [["epochs=3"], ["--lr"], ["-x", "1"]])
def test_bad_overrides(tokens: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_overrides(tokens)
