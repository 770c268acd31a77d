"""Blocking, single-file digests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Any

import blake3

FileKey = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns

DIGEST_ALGORITHMS = ("blake3", "sha256", "sha512", "md5")

CHUNK = 8 * 1024 * 1024
# Above this size blake3 hashes a memory map on all cores; below it one read is cheapest.
MMAP_THRESHOLD = 16 * 1024 * 1024


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
    with open(path, "rb", buffering=0) as handle:
        before = os.fstat(handle.fileno())
        hashers = {alg: _new(alg, before.st_size) for alg in algos}
        b3 = hashers.get("blake3")
        others: list[Callable[[Any], Any]] = [
            h.update for alg, h in hashers.items() if alg != "blake3"
        ]
        if b3 is not None and not others and before.st_size >= MMAP_THRESHOLD:
            b3.update_mmap(path)
        else:
            buffer = bytearray(min(CHUNK, max(before.st_size, 1)))
            view = memoryview(buffer)
            while True:
                count = handle.readinto(view)
                if not count:
                    break
                piece = view[:count]
                if b3 is not None:
                    b3.update(piece)
                for update in others:
                    update(piece)
        after = os.fstat(handle.fileno())
    key = file_key(before)
    if file_key(after) != key:
        raise ChangedWhileHashing(path)
    return key, {alg: h.hexdigest() for alg, h in hashers.items()}


class ChangedWhileHashing(OSError):
    """The file's size or times moved while it was being read."""
