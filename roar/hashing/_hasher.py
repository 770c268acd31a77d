"""Hashing many files off the event loop, with the store's hash cache in front."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

import anyio
import anyio.to_thread

from roar.hashing._digest import ChangedWhileHashing, FileKey, digest_file, file_key
from roar.store import Store


@dataclass(frozen=True, slots=True)
class HashResult:
    """The digests of one regular file, or why there are none."""

    path: str
    size: int
    digests: dict[str, str]
    key: FileKey | None
    cached: bool = False
    error: str | None = None


class Hasher:
    """Hashes files on worker threads, consulting and filling the hash cache.

    One instance per command; ``algorithms`` always includes blake3 (the identity digest).
    """

    def __init__(self, store: Store | None, algorithms: Iterable[str] = ("blake3",)) -> None:
        self._store = store
        self.algorithms = tuple(dict.fromkeys(("blake3", *algorithms)))
        self._limiter = anyio.CapacityLimiter(max(2, min(8, (os.cpu_count() or 2) * 2)))
        self.hashed_bytes = 0
        self.cache_hits = 0

    async def hash_many(self, paths: Iterable[str]) -> dict[str, HashResult]:
        """Digest every path that is a readable regular file; others get an ``error``."""
        unique = list(dict.fromkeys(paths))
        stats: dict[str, os.stat_result] = {}
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
            stats[path] = st
        cached: dict[FileKey, dict[str, str]] = {}
        if self._store is not None and stats:
            for algorithm in self.algorithms:
                hits = await self._store.cached_digests(
                    (file_key(st) for st in stats.values()), algorithm
                )
                for key, digest in hits.items():
                    cached.setdefault(key, {})[algorithm] = digest
        to_hash: list[str] = []
        for path, st in stats.items():
            key = file_key(st)
            known = cached.get(key, {})
            if all(alg in known for alg in self.algorithms):
                self.cache_hits += 1
                results[path] = HashResult(path, st.st_size, dict(known), key, cached=True)
            else:
                to_hash.append(path)

        async def one(path: str) -> None:
            results[path] = await self._hash_one(path)

        async with anyio.create_task_group() as tg:
            for path in to_hash:
                tg.start_soon(one, path)
        if self._store is not None:
            await self._store.remember_digests(
                (r.key, alg, digest, r.path)
                for r in results.values()
                if r.key is not None and not r.cached
                for alg, digest in r.digests.items()
            )
        return {p: results[p] for p in unique}

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
