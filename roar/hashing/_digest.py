"""Blocking, single-file digests."""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import blake3

FileKey = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns

DIGEST_ALGORITHMS = ("blake3", "sha256", "sha512", "md5")

CHUNK = 8 * 1024 * 1024
# Above this size blake3 hashes a memory map on all cores; below it one read is cheapest.
MMAP_THRESHOLD = 16 * 1024 * 1024
SMALL_FILE = 64 * 1024  # below this, read in pieces of this size with no buffer kept


def file_key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _new(algorithm: str, size: int) -> Any:
    if algorithm == "blake3":
        threads = blake3.blake3.AUTO if size >= MMAP_THRESHOLD else 1
        return blake3.blake3(max_threads=threads)
    return hashlib.new(algorithm)


def digest_file(
    path: str, algorithms: Iterable[str] = ("blake3",)
) -> tuple[FileKey, dict[str, str]]:
    """Hash ``path`` once per algorithm in a single pass; return its stat key and hex digests.

    Raises OSError when the file cannot be read. The stat key is taken from the open descriptor
    before reading and checked again after, so a file that changed while being hashed raises
    ``ChangedWhileHashing`` instead of yielding a digest of mixed content.
    """
    algos = list(dict.fromkeys(algorithms))
    # A bare descriptor, not a file object: most files a job writes are a few KB, and building
    # one costs as much as reading them.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        before = os.fstat(fd)
        if stat.S_ISDIR(before.st_mode):  # what open() says of a directory
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        hashers = {alg: _new(alg, before.st_size) for alg in algos}
        b3 = hashers.get("blake3")
        others: list[Callable[[Any], Any]] = [
            h.update for alg, h in hashers.items() if alg != "blake3"
        ]
        if b3 is not None and not others and before.st_size >= MMAP_THRESHOLD:
            b3.update_mmap(path)
        elif before.st_size < SMALL_FILE:
            # Read to the end whatever the size said (a file in /proc says 0).
            while piece := os.read(fd, SMALL_FILE):
                if b3 is not None:
                    b3.update(piece)
                for update in others:
                    update(piece)
        else:
            buffer = bytearray(min(CHUNK, before.st_size))
            view = memoryview(buffer)
            while count := os.readv(fd, (view,)):
                chunk = view[:count]
                if b3 is not None:
                    b3.update(chunk)
                for update in others:
                    update(chunk)
        after = os.fstat(fd)
    finally:
        os.close(fd)
    key = file_key(before)
    if file_key(after) != key:
        raise ChangedWhileHashing(path)
    return key, {alg: h.hexdigest() for alg, h in hashers.items()}


def digest_many(
    paths: Sequence[str], algorithms: tuple[str, ...] = ("blake3",)
) -> list[tuple[FileKey, dict[str, str]] | OSError]:
    """:func:`digest_file` of each path, in order; the OSError it raised in place of a result.

    With blake3 alone, files under ``SMALL_FILE`` bytes are read and hashed by the C extension
    without the GIL, a whole batch in one call (``_b3tree.digest_small_files``, the same steps as
    :func:`digest_file`); larger ones, other algorithms, or no extension: :func:`digest_file`.
    """
    native = _native_small_files()
    if native is None or algorithms != ("blake3",):
        return [_attempt(path, algorithms) for path in paths]
    out: list[tuple[FileKey, dict[str, str]] | OSError] = []
    hashed = native([os.fsencode(path) for path in paths], SMALL_FILE)
    for path, got in zip(paths, hashed, strict=True):
        if isinstance(got, tuple):
            out.append(((got[0], got[1], got[2], got[3], got[4]), {"blake3": got[5].hex()}))
        elif got is None:
            out.append(ChangedWhileHashing(path))
        elif got is False:  # not small after all
            out.append(_attempt(path, algorithms))
        else:
            out.append(OSError(got, os.strerror(got), path))
    return out


def _attempt(path: str, algorithms: tuple[str, ...]) -> tuple[FileKey, dict[str, str]] | OSError:
    try:
        return digest_file(path, algorithms)
    except OSError as exc:
        return exc


@functools.cache
def _native_small_files() -> Callable[[Sequence[bytes], int], list[Any]] | None:
    if os.environ.get("ROAR_NO_EXTENSIONS"):
        return None
    try:
        from roar.hashing._b3tree import digest_small_files
    except ImportError:
        return None
    return digest_small_files


class ChangedWhileHashing(OSError):
    """The file's size or times moved while it was being read."""
