from __future__ import annotations

import pytest

from roar.lineage.identity import normalise_path, step_identity
from roar.lineage.refs import StepRef, parse_step_ref

ROOT = "/work/proj"
HOME = "/home/u"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/work/proj/data/x.csv", "data/x.csv"),
        ("/home/u/datasets/a.bin", "datasets/a.bin"),
        ("/mnt/big/file.parquet", "file.parquet"),
        ("/work/proj/ckpt/model_0001.pt", "ckpt/model_*.pt"),
        ("/work/proj/ckpt/model-123/x", "ckpt/model-*/x"),
        ("/work/proj/epoch12.pt", "epoch12.pt"),  # two digits, or no separator: not folded
        ("/work/proj/run_12.pt", "run_12.pt"),
        ("s3://bucket/key_0001.bin", "s3://bucket/key_*.bin"),
    ],
)
def test_normalise_path(path: str, expected: str) -> None:
    assert normalise_path(path, ROOT, HOME) == expected


def test_step_identity_folds_checkpoint_numbers_and_ignores_order() -> None:
    a = step_identity(
        ["/work/proj/b.csv", "/work/proj/a.csv"], ["/work/proj/ck_0001.pt"], "x", ROOT, HOME
    )
    b = step_identity(
        ["/work/proj/a.csv", "/work/proj/b.csv"], ["/work/proj/ck_0002.pt"], "y", ROOT, HOME
    )
    c = step_identity(["/work/proj/a.csv"], ["/work/proj/ck_0002.pt"], "y", ROOT, HOME)
    assert a == b
    assert a != c


def test_step_identity_without_io_uses_the_command() -> None:
    assert step_identity([], [], "echo 1", ROOT, HOME) != step_identity(
        [], [], "echo 2", ROOT, HOME
    )
    assert step_identity([], [], "echo 1", ROOT, HOME) == step_identity(
        [], [], "echo 1", ROOT, HOME
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("@3", StepRef(3, False)), ("@B2", StepRef(2, True)), ("@b12", StepRef(12, True))],
)
def test_parse_step_ref(text: str, expected: StepRef) -> None:
    assert parse_step_ref(text) == expected
    assert str(expected) in {text, text.replace("b", "B")}


@pytest.mark.parametrize("text", ["3", "@", "@x", "@3a", "abc"])
def test_not_step_refs(text: str) -> None:
    assert parse_step_ref(text) is None
