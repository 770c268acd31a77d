from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import blake3
import pytest

from roar.hashing import Hasher, _b3tree, _digest, digest_file, file_key
from roar.hashing._digest import (
    MMAP_THRESHOLD,
    SMALL_FILE,
    ChangedWhileHashing,
    _native_small_files,
    digest_many,
)
from roar.hashing._hasher import CACHE_MIN_BYTES
from roar.store import Store

pytestmark = pytest.mark.anyio


def test_digest_file_single_pass_matches_the_libraries(tmp_path: Path) -> None:
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(100_000))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(MMAP_THRESHOLD + 12345))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for path in (small, big, empty):
        data = path.read_bytes()
        key, digests = digest_file(str(path), ("blake3", "sha256", "md5"))
        assert digests == {
            "blake3": blake3.blake3(data).hexdigest(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "md5": hashlib.md5(data).hexdigest(),
        }
        assert key[2] == len(data)
        # blake3 alone on a big file takes the multi-threaded mmap path: same digest.
        assert digest_file(str(path))[1] == {"blake3": blake3.blake3(data).hexdigest()}


@pytest.mark.parametrize("size", [1, SMALL_FILE - 1, SMALL_FILE, SMALL_FILE + 1, 3 * SMALL_FILE])
def test_digest_file_around_the_small_file_size(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(data := os.urandom(size))
    key, digests = digest_file(str(path), ("blake3", "sha256"))
    assert digests == {
        "blake3": blake3.blake3(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert key == file_key(os.stat(path))


def test_digest_file_reads_past_a_size_of_zero() -> None:
    # Files in /proc say they are empty and are not.
    data = Path("/proc/self/cmdline").read_bytes()
    assert data
    assert digest_file("/proc/self/cmdline")[1] == {"blake3": blake3.blake3(data).hexdigest()}


def test_digest_file_fails_as_open_does(tmp_path: Path) -> None:
    for path in (tmp_path, tmp_path / "missing"):
        with pytest.raises(OSError) as opened:
            open(path, "rb")  # noqa: SIM115 - the error is the point
        with pytest.raises(OSError) as digested:
            digest_file(str(path))
        assert type(digested.value) is type(opened.value)
        assert digested.value.strerror == opened.value.strerror
        assert digested.value.filename == str(path)


async def test_hasher_uses_and_fills_the_cache(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 5000)
    (tmp_path / "dir").mkdir()
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        first = Hasher(store)
        results = await first.hash_many([str(data), str(tmp_path / "dir"), str(tmp_path / "gone")])
        assert results[str(data)].digests["blake3"] == blake3.blake3(b"x" * 5000).hexdigest()
        assert not results[str(data)].cached
        assert results[str(tmp_path / "dir")].error == "not a regular file"
        assert results[str(tmp_path / "gone")].error
        assert first.hashed_bytes == 5000

        second = Hasher(store)
        again = await second.hash_many([str(data)])
        assert again[str(data)].cached and second.hashed_bytes == 0
        assert again[str(data)].digests == results[str(data)].digests

        data.write_bytes(b"y" * 5000)  # same size, new content: mtime/ctime move
        third = Hasher(store, ["sha256"])
        changed = await third.hash_many([str(data)])
        assert not changed[str(data)].cached
        assert changed[str(data)].digests == {
            "blake3": blake3.blake3(b"y" * 5000).hexdigest(),
            "sha256": hashlib.sha256(b"y" * 5000).hexdigest(),
        }


async def test_files_too_small_to_be_worth_a_cache_row_are_not_cached(tmp_path: Path) -> None:
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"s" * (CACHE_MIN_BYTES - 1))
    big.write_bytes(b"b" * CACHE_MIN_BYTES)
    paths = [str(small), str(big)]
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        first = await Hasher(store).hash_many(paths)
        again = Hasher(store)
        second = await again.hash_many(paths)
    assert second[str(big)].cached and not second[str(small)].cached
    assert again.hashed_bytes == CACHE_MIN_BYTES - 1  # only the small file was read again
    assert {p: r.digests for p, r in second.items()} == {p: r.digests for p, r in first.items()}


SIZES = [0, 1, 63, 64, 65, 1023, 1024, 1025, 8192, 8193, 9 * 1024 + 1, 40_000, SMALL_FILE - 1]


def test_digest_many_is_digest_file_for_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C batch (small files, blake3 alone) against the Python steps, file by file: the
    same key and digest, or the same error."""
    # Even where ROAR_NO_EXTENSIONS leaves it unused (the extension is always built for tests).
    monkeypatch.setattr(_digest, "_native_small_files", lambda: _b3tree.digest_small_files)
    paths = []
    for size in [*SIZES, SMALL_FILE, SMALL_FILE + 1]:
        path = tmp_path / f"f{size}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(str(path))
    odd = tmp_path / os.fsdecode(b"caf\xe9.bin")  # a name that is not UTF-8
    odd.write_bytes(b"odd")
    # A modification time unlike its change time; one too late for 64-bit nanoseconds in C.
    os.utime(paths[1], ns=(1, 1_234_567_891))
    os.utime(paths[2], ns=(1, 10_000_000_000 * 10**9 + 7))
    paths += [str(odd), str(tmp_path), str(tmp_path / "missing"), "/proc/self/cmdline"]
    for got, path in zip(digest_many(paths), paths, strict=True):
        try:
            expected = digest_file(path)
        except OSError as exc:
            assert isinstance(got, OSError), path
            assert (type(got), got.errno, got.strerror) == (type(exc), exc.errno, exc.strerror)
            assert got.filename == path
        else:
            assert got == expected, path


def test_digest_many_with_other_algorithms_or_no_extension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    both = ("blake3", "sha256")
    assert digest_many([str(path)], both) == [digest_file(str(path), both)]
    monkeypatch.setenv("ROAR_NO_EXTENSIONS", "1")
    _native_small_files.cache_clear()
    try:
        assert _native_small_files() is None
        assert digest_many([str(path)]) == [digest_file(str(path))]
    finally:
        _native_small_files.cache_clear()


def test_digest_many_reads_each_native_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"y" * 10)
    answers = [(1, 2, 3, 4, 5, bytes(range(32))), None, False, errno.ENOENT]

    def native(paths: list[bytes], limit: int) -> list[object]:
        assert limit == SMALL_FILE
        assert paths == [b"/a", b"/b", os.fsencode(big), b"/d"]
        return answers

    monkeypatch.setattr(_digest, "_native_small_files", lambda: native)
    hashed, changed, left, failed = digest_many(["/a", "/b", str(big), "/d"])
    assert hashed == ((1, 2, 3, 4, 5), {"blake3": bytes(range(32)).hex()})
    assert isinstance(changed, ChangedWhileHashing)
    assert left == digest_file(str(big))  # left to the Python steps
    assert isinstance(failed, FileNotFoundError)
    assert (failed.strerror, failed.filename) == (os.strerror(errno.ENOENT), "/d")
