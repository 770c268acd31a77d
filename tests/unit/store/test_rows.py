"""The store's row helpers: a shortcut must give what the general construction gives."""

from __future__ import annotations

import pytest

from roar.models import FileDigest
from roar.store._rows import _digests, _extra_digests, _normalised, _normalised_file

B3 = "ab" * 32

FILES = [
    FileDigest(path="a", hash=B3, size=1, hashes={"blake3": B3}),
    FileDigest(path="a", hash=B3, size=1),  # no hashes at all
    FileDigest(path="a", hash=B3, size=1, hashes={"blake3": B3, "sha256": "s"}),
    FileDigest(path="a", hash=B3, size=1, hashes={"sha256": "s", "blake3": B3}),  # out of order
    FileDigest(path="a", hash=B3, size=1, hashes={"md5": "m", "sha512": "x"}),  # blake3 missing
    FileDigest(path="a", hash=B3, size=1, hashes={"blake3": "other"}),  # blake3 not the hash
    FileDigest(path="s3://b/k", hash="etag:e1", size=1, hashes={}),
    FileDigest(path="s3://b/k", hash="etag:e1", size=1, hashes={"etag": "e0", "blake3": B3}),
    FileDigest(path="s3://b/k", hash="etag:e1", size=1, hashes={"blake3": "etag:e1"}),
    FileDigest(path="s3://b/k", hash="etag:e1", size=1, byte_ranges=((0, 9),)),
]


@pytest.mark.parametrize("f", FILES)
def test_normalised_file_is_the_general_construction(f: FileDigest) -> None:
    expected = FileDigest(
        path=f.path, hash=f.hash, size=f.size, hashes=dict(_digests(f)), byte_ranges=f.byte_ranges
    )
    got = _normalised_file(f)
    assert got == expected
    assert list(got.hashes.items()) == list(expected.hashes.items())  # the order is encoded too


@pytest.mark.parametrize("f", FILES)
def test_extra_digests_are_the_digests_besides_blake3(f: FileDigest) -> None:
    assert _extra_digests(f) == [(a, d) for a, d in _digests(f) if a != "blake3"]


def test_normalised_is_one_per_path_and_content_sorted() -> None:
    files = [
        FileDigest(path="b", hash=B3, size=1, hashes={"blake3": B3}),
        FileDigest(path="a", hash=B3, size=1, hashes={"sha256": "s", "blake3": B3}),
        FileDigest(path="b", hash=B3, size=2, hashes={"blake3": B3}),  # the same: the last kept
    ]
    got = _normalised(files)
    assert [(f.path, f.size) for f in got] == [("a", 1), ("b", 2)]
    assert list(got[0].hashes) == ["blake3", "sha256"]
