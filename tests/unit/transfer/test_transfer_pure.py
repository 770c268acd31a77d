"""The pure parts of get/put: locations, the composite tree hash, disk errors."""

from __future__ import annotations

import errno
from pathlib import Path

import blake3
import pytest

from roar.errors import UsageError
from roar.hashing.composite import CompositeError, composite_digest, normalise_relpath
from roar.transfer._sink import disk_error
from roar.transfer.locations import parse


def test_locations() -> None:
    assert parse("s3://bucket/a/b.bin").key == "a/b.bin"
    assert parse("s3://bucket/a/").names_prefix and parse("s3://bucket").names_prefix
    assert not parse("s3://bucket/a").names_prefix
    assert parse("s3://bucket/a").child("x/y.csv") == "s3://bucket/a/x/y.csv"
    assert parse("https://host/w/model%20v1.pt").basename == "model v1.pt"
    assert parse("./data/").scheme == "file" and parse("./data/").basename == "data"
    for bad in ("ftp://x/y", "s3:///key", "https:///path", ""):
        with pytest.raises(UsageError):
            parse(bad)


def test_relpaths_are_normalised_and_unsafe_ones_refused() -> None:
    assert normalise_relpath("./a\\b//c.txt") == "a/b/c.txt"
    assert normalise_relpath("/lead/x") == "lead/x"
    for bad in ("", ".", "../up", "a/../../b"):
        with pytest.raises(CompositeError):
            normalise_relpath(bad)


def test_composite_digest_follows_the_reference_rule() -> None:
    a, b = "1" * 64, "2" * 64
    expected = blake3.blake3(
        b"roar:blake3-tree:v1\n" + b"a.csv\0blake3:" + a.encode() + b"\n"
        b"sub/b.csv\0blake3:" + b.encode() + b"\n"
    ).hexdigest()
    assert composite_digest([("sub/b.csv", b), ("./a.csv", a)]) == expected
    # Boilerplate is not identity; order does not matter; a changed leaf changes it.
    assert composite_digest([("a.csv", a), ("README.md", "3" * 64), ("sub/b.csv", b)]) == expected
    assert composite_digest([("a.csv", a), ("sub/b.csv", "4" * 64)]) != expected
    with pytest.raises(CompositeError):
        composite_digest([("a.csv", a), ("./a.csv", b)])


def test_a_full_disk_is_named() -> None:
    full = disk_error(OSError(errno.ENOSPC, "No space left on device"), Path("/d/x.bin"))
    assert str(full) == "no space left on the device writing /d/x.bin"
    quota = disk_error(OSError(errno.EDQUOT, "Disk quota exceeded"), Path("/d/x.bin"))
    assert "quota" in str(quota)
