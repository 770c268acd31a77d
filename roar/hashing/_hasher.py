"""Hashing many files off the event loop, with the store's hash cache in front."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import anyio
import anyio.to_thread

from roar.errors import StoreError
from roar.hashing._digest import (
    MMAP_THRESHOLD,
    ChangedWhileHashing,
    FileKey,
    digest_file,
    digest_many,
    file_key,
)

BATCH_FILES = 256
# Below this size a file is read and hashed (an open and one read: a few microseconds) about as
# fast as its hash-cache row is looked up and written, so such files are neither looked up nor
# remembered: 20,000 outputs of 1 KB cost ~60 ms of SQL after the command for rows that would
# save nothing.
CACHE_MIN_BYTES = 4096
_RETRY = "changed while being hashed"


def _digest_batch(paths: list[str], algorithms: tuple[str, ...]) -> list[HashResult]:
    """Hash small files one after another on one worker thread."""
    out = []
    for path, got in zip(paths, digest_many(paths, algorithms), strict=True):
        if isinstance(got, ChangedWhileHashing):
            out.append(HashResult(path, 0, {}, None, error=_RETRY))
        elif isinstance(got, OSError):
            out.append(HashResult(path, 0, {}, None, error=got.strerror or str(got)))
        else:
            key, digests = got
            out.append(HashResult(path, key[2], digests, key))
    return out


@dataclass(frozen=True, slots=True)
class HashResult:
    """The digests of one regular file, or why there are none."""

    path: str
    size: int
    digests: dict[str, str]
    key: FileKey | None
    cached: bool = False
    error: str | None = None


class DigestCache(Protocol):
    """Where digests of unchanged files are remembered (the store's hash cache, in roar).

    Keys are (device, inode, size, mtime_ns, ctime_ns); hashing depends on this interface,
    not on the store, so it sits below it.
    """

    async def cached_digests(
        self, keys: Iterable[tuple[int, int, int, int, int]], algorithm: str
    ) -> dict[tuple[int, int, int, int, int], str]: ...

    async def remember_digests(
        self, entries: Iterable[tuple[tuple[int, int, int, int, int], str, str, str]]
    ) -> None: ...


class Hasher:
    """Hashes files on worker threads, consulting and filling the hash cache.

    One instance per command; ``algorithms`` always includes blake3 (the identity digest).
    """

    def __init__(self, store: DigestCache | None, algorithms: Iterable[str] = ("blake3",)) -> None:
        self._store = store
        self.algorithms = tuple(dict.fromkeys(("blake3", *algorithms)))
        self._limiter = anyio.CapacityLimiter(max(2, min(8, (os.cpu_count() or 2) * 2)))
        self.hashed_bytes = 0
        self.cache_hits = 0
        self.cache_write_failed = False

    async def hash_many(
        self, paths: Iterable[str], *, remember: bool = True
    ) -> dict[str, HashResult]:
        """Digest every path that is a readable regular file; others get an ``error``.

        ``remember=False`` leaves the hash cache alone (for files that may still change).
        """
        unique = list(dict.fromkeys(paths))
        keys: dict[str, FileKey] = {}  # the regular files, by path
        results: dict[str, HashResult] = {}
        for path in unique:
            try:
                st = os.stat(path)
            except OSError as exc:
                results[path] = HashResult(path, 0, {}, None, error=exc.strerror or str(exc))
                continue
            if not stat.S_ISREG(st.st_mode):
                results[path] = HashResult(path, 0, {}, None, error="not a regular file")
                continue
            keys[path] = file_key(st)
        cached: dict[FileKey, dict[str, str]] = {}
        worth = [key for key in keys.values() if key[2] >= CACHE_MIN_BYTES]
        if self._store is not None and worth:
            for algorithm in self.algorithms:
                hits = await self._store.cached_digests(worth, algorithm)
                for key, digest in hits.items():
                    cached.setdefault(key, {})[algorithm] = digest
        to_hash: list[str] = []
        for path, key in keys.items():
            known = cached.get(key)
            if known is not None and all(alg in known for alg in self.algorithms):
                self.cache_hits += 1
                results[path] = HashResult(path, key[2], dict(known), key, cached=True)
            else:
                to_hash.append(path)

        # Big files hash one at a time on all cores; small ones go to worker threads in batches,
        # so 20,000 tiny outputs cost a few thread hops, not 20,000.
        big = [p for p in to_hash if keys[p][2] >= MMAP_THRESHOLD]
        small = [p for p in to_hash if keys[p][2] < MMAP_THRESHOLD]

        async def one(path: str) -> None:
            results[path] = await self._hash_one(path)

        async def batch(paths: list[str]) -> None:
            for result in await anyio.to_thread.run_sync(
                _digest_batch, paths, self.algorithms, limiter=self._limiter
            ):
                if result.error == _RETRY:
                    result = await self._hash_one(result.path)
                elif result.key is not None:
                    self.hashed_bytes += result.size
                results[result.path] = result

        async with anyio.create_task_group() as tg:
            for path in big:
                tg.start_soon(one, path)
            for start in range(0, len(small), BATCH_FILES):
                tg.start_soon(batch, small[start : start + BATCH_FILES])
        if remember:
            await self.remember(r for r in results.values() if not r.cached)
        return {p: results[p] for p in unique}

    async def remember(self, results: Iterable[HashResult]) -> None:
        """Put freshly computed digests in the hash cache."""
        if self._store is None:
            return
        try:
            await self._store.remember_digests(
                (r.key, alg, digest, r.path)
                for r in results
                if r.key is not None and not r.cached and r.size >= CACHE_MIN_BYTES
                for alg, digest in r.digests.items()
            )
        except StoreError:
            # The cache only saves time; a full disk must not cost the job its record here.
            self.cache_write_failed = True

    async def _hash_one(self, path: str) -> HashResult:
        for _attempt in range(3):
            try:
                key, digests = await anyio.to_thread.run_sync(
                    digest_file, path, self.algorithms, limiter=self._limiter
                )
            except ChangedWhileHashing:
                continue
            except OSError as exc:
                return HashResult(path, 0, {}, None, error=exc.strerror or str(exc))
            self.hashed_bytes += key[2]
            return HashResult(path, key[2], digests, key)
        return HashResult(path, 0, {}, None, error="kept changing while being hashed")
