"""The pure comparison behind `roar diff`."""

from __future__ import annotations

from roar.lineage.diff import _argv_changes, unified


def test_options_are_compared_by_name_whatever_their_spelling() -> None:
    changes = _argv_changes(
        ["python", "train.py", "--lr", "0.1", "--epochs=5", "-v"],
        ["python", "train.py", "--epochs", "5", "--lr=0.01", "--shuffle"],
    )
    assert [(c.name, c.a, c.b) for c in changes] == [
        ("--lr", "0.1", "0.01"),
        ("--shuffle", None, ""),
        ("-v", "", None),
    ]


def test_positional_arguments_and_negative_numbers() -> None:
    changes = _argv_changes(
        ["python", "a.py", "--shift", "-3"], ["python", "b.py", "--shift", "-3"]
    )
    assert [(c.name, c.a, c.b) for c in changes] == [("argument 2", "a.py", "b.py")]


def test_unified_diff_of_text() -> None:
    assert unified("a\nb\n", "a\nc\n", "f.py").splitlines()[-2:] == ["-b", "+c"]
    assert unified("same\n", "same\n", "f.py") == ""
