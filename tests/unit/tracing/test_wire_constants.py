"""ext/events.h is the single source of truth; roar/tracing/wire.py must mirror it exactly."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from roar.tracing import wire

EVENTS_H = Path(__file__).resolve().parents[3] / "ext" / "events.h"
DEFINE = re.compile(
    r"^#define\s+ROAR_(EV[KFT]_\w+|FORK_\w+|OPEN_\w+)\s+(0x[0-9A-Fa-f]+|\d+)\b", re.M
)


def header_constants() -> dict[str, int]:
    return {name: int(value, 0) for name, value in DEFINE.findall(EVENTS_H.read_text())}


def test_header_defines_the_expected_families() -> None:
    names = header_constants()
    # A broken regex must not make the comparison below vacuous.
    for prefix in ("EVK_", "EVF_", "EVT_", "FORK_", "OPEN_"):
        assert any(n.startswith(prefix) for n in names), prefix
    assert "EVK_END" in names and "EVT_MAX_RECORD" in names


@pytest.mark.parametrize("name", sorted(header_constants()))
def test_constant_matches_header(name: str) -> None:
    assert getattr(wire, name) == header_constants()[name]


def test_no_python_only_kinds() -> None:
    """Every EVK_/EVF_/FORK_/OPEN_ constant in wire.py comes from the header."""
    header = header_constants()
    python = {
        n
        for n in vars(wire)
        if re.fullmatch(r"(EV[KFT]|FORK|OPEN)_[A-Z0-9_]+", n) and n != "EVK_NAMES"
    }
    assert python == set(header)


def test_kinds_are_distinct() -> None:
    kinds = [v for n, v in header_constants().items() if n.startswith("EVK_")]
    assert len(kinds) == len(set(kinds))


def test_header_struct_size() -> None:
    assert struct.calcsize(wire.HEADER_FORMAT) == wire.EVT_HEADER_SIZE == 32
    assert wire.HEADER.size == 32
    # The C struct's field order, as declared in events.h.
    body = re.search(r"struct roar_evt_header \{(.*?)\};", EVENTS_H.read_text(), re.S)
    assert body is not None
    fields = re.findall(r"(u?int\d+)_t\s+(\w+);", body.group(1))
    codes = {"uint8": "B", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q"}
    assert "=" + "".join(codes[t] for t, _ in fields) == wire.HEADER_FORMAT
    assert [n for _, n in fields] == [
        "size",
        "kind",
        "flags",
        "pid",
        "tid",
        "arg0",
        "arg1",
        "arg2",
        "len1",
        "len2",
    ]


def test_kind_names_cover_every_kind() -> None:
    kinds = {v for n, v in header_constants().items() if n.startswith("EVK_")}
    assert set(wire.EVK_NAMES) == kinds
    assert wire.EVK_NAMES[wire.EVK_OPEN] == "open"
