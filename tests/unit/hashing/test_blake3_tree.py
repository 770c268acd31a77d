"""Whole-object BLAKE3 from part subtrees, checked against the blake3 package on real bytes."""

from __future__ import annotations

import os
import random

import blake3
import pytest

import roar.hashing._b3tree as _b3tree
from roar.hashing.tree import combine, subtree_sized


@pytest.mark.parametrize(
    "size", [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 3071, 65_537, 1_000_003]
)
def test_a_subtree_at_offset_zero_is_plain_blake3(size: int) -> None:
    data = os.urandom(size)
    whole = _b3tree.Subtree()
    whole.update(data)
    pieces = _b3tree.Subtree()
    for start in range(0, size, 777):
        pieces.update(data[start : start + 777])
    expected = blake3.blake3(data).digest()
    assert _b3tree.root_hash(whole.output()) == expected
    assert _b3tree.root_hash(pieces.output()) == expected
    assert pieces.total == size


@pytest.mark.parametrize(
    ("part", "count", "last"),
    [
        (1024, 2, 1024),
        (1024, 3, 1),
        (4096, 5, 4000),
        (8192, 8, 8192),
        (16384, 7, 10000),
        (65536, 1, 30000),
        (2048, 13, 2048),
        (1024 * 64, 3, 1024 * 64 - 1),
    ],
)
def test_parts_hashed_apart_and_out_of_order_combine_to_the_objects_blake3(
    part: int, count: int, last: int
) -> None:
    sizes = [part] * (count - 1) + [last]
    data = os.urandom(sum(sizes))
    outputs: dict[int, bytes] = {}
    order = list(range(count))
    random.shuffle(order)  # parts arrive in any order, each knowing only its own place
    for index in order:
        start = index * part
        hasher = _b3tree.Subtree(chunk_offset=start // 1024)
        hasher.update(data[start : start + sizes[index]])
        outputs[index] = hasher.output()
    digest = combine([outputs[i] for i in range(count)], sizes)
    assert digest == blake3.blake3(data).hexdigest()


def test_parts_that_are_not_subtrees_are_refused() -> None:
    assert subtree_sized(8 * 1024 * 1024) and not subtree_sized(5_000_000)
    assert not subtree_sized(3 * 1024) and not subtree_sized(0)
    out = _b3tree.Subtree().output()
    with pytest.raises(ValueError, match="power-of-two"):
        combine([out, out, out], [3072, 3072, 10])
    with pytest.raises(ValueError, match="last part"):
        combine([out, out], [1024, 2048])
    with pytest.raises(ValueError):
        _b3tree.root_hash(b"short")


def test_where_a_part_is_hashed_depends_on_what_is_known_of_the_upload() -> None:
    from roar.proxy._multipart import PartHashing, plan_part

    mib = 1024 * 1024
    assert plan_part(1, 8 * mib, None) == PartHashing(True, 0, 8 * mib)
    assert plan_part(1, 6 * mib, None) == PartHashing(True, 0, None)
    assert plan_part(4, 1000, 8 * mib) == PartHashing(True, 3 * 8 * 1024, 8 * mib)
    # A power-of-two last part is placed by part 1's size, not its own.
    assert plan_part(3, 4 * mib, 8 * mib) == PartHashing(True, 2 * 8 * 1024, 8 * mib)
    assert plan_part(2, 6 * mib, None) == PartHashing(False)  # part 1 was not power-of-two
    assert plan_part(2, 16 * mib, 8 * mib) == PartHashing(False)  # larger than the part size
    # Part 1 never seen: a power-of-two part is taken for a full one, the rest hashed alone.
    unseen = {"first_part_seen": False}
    assert plan_part(3, 8 * mib, None, **unseen) == PartHashing(True, 2 * 8 * 1024, 8 * mib)
    assert plan_part(4, 1000, None, **unseen) == PartHashing(False)
