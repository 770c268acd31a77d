"""The lossless forms of non-UTF-8 names: stored, shown, and given in JSON."""

from __future__ import annotations

import base64
import json
import os
import random

import pytest

from roar.core.fspath import (
    display,
    from_stored,
    json_safe,
    loaded_tree,
    stored_tree,
    to_stored,
)

_rng = random.Random(7)
NAMES = [
    b"plain.txt",
    b"caf\xc3\xa9.csv",  # valid UTF-8 stays as it is
    b"data-\xff\xfe.bin",
    b"\x80",
    b"back\\slash-\xe9",
    b"\\x41-literal",
    *(bytes(_rng.randrange(1, 256) for _ in range(_rng.randrange(1, 40))) for _ in range(200)),
]


@pytest.mark.parametrize("raw", NAMES)
def test_stored_form_round_trips_and_fits_sqlite_and_json(raw: bytes) -> None:
    text = os.fsdecode(raw)
    stored = to_stored(text)
    stored.encode("utf-8")  # SQLite TEXT and JSON take it
    assert os.fsencode(from_stored(stored)) == raw
    assert loaded_tree(json.loads(json.dumps(stored_tree({"p": [text]})))) == {"p": [text]}
    if raw.isascii() or raw == b"caf\xc3\xa9.csv":
        assert stored == text  # UTF-8 names are stored unchanged


@pytest.mark.parametrize("raw", NAMES)
def test_json_form_is_lossless_and_display_is_printable(raw: bytes) -> None:
    text = os.fsdecode(raw)
    shown = display(text)
    shown.encode("utf-8")
    payload = json_safe({"path": text, "argv": ["x", text]})
    json.dumps(payload, ensure_ascii=False).encode("utf-8")
    if "path_b64" in payload:
        assert base64.b64decode(payload["path_b64"]) == raw
        assert [base64.b64decode(a) for a in payload["argv_b64"]] == [b"x", raw]
    else:
        assert payload["path"] == text  # UTF-8: nothing added, nothing changed


def test_undecodable_bytes_show_as_hex_escapes() -> None:
    assert display(os.fsdecode(b"data-\xff\xfe.bin")) == "data-\\xff\\xfe.bin"
