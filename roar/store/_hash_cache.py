"""The hash cache: digests keyed by (device, inode, size, mtime, ctime)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from roar.core.fspath import to_stored
from roar.store._core import StoreCore
from roar.store._rows import (
    _chunks,
)


class HashCacheStore(StoreCore):
    """The hash cache: digests keyed by (device, inode, size, mtime, ctime)."""

    async def cached_digests(
        self, keys: Iterable[tuple[int, int, int, int, int]], algorithm: str
    ) -> dict[tuple[int, int, int, int, int], str]:
        """Digests for (device, inode, size, mtime_ns, ctime_ns) keys whose file is unchanged."""
        wanted = list(keys)
        hits: dict[tuple[int, int, int, int, int], str] = {}
        for chunk in _chunks(wanted, 300):
            clause = " OR ".join("(device = ? AND inode = ?)" for _ in chunk)
            params: list[Any] = [algorithm]
            for key in chunk:
                params += [key[0], key[1]]
            for dev, ino, size, mtime, ctime, digest in await self._conn.fetchall(
                f"""SELECT device, inode, size, mtime_ns, ctime_ns, digest FROM hash_cache
                    WHERE algorithm = ? AND ({clause})""",
                params,
            ):
                key = (int(dev), int(ino), int(size), int(mtime), int(ctime))
                hits[key] = str(digest)
        return {k: hits[k] for k in wanted if k in hits}

    async def remember_digests(
        self, entries: Iterable[tuple[tuple[int, int, int, int, int], str, str, str]]
    ) -> None:
        """Store (key, algorithm, digest, path) rows; one short transaction."""
        rows = [
            (*key, alg, digest, to_stored(path), time.time()) for key, alg, digest, path in entries
        ]
        if not rows:
            return
        async with self._transaction("update the hash cache in"):
            await self._conn.executemany(
                """INSERT OR REPLACE INTO hash_cache
                   (device, inode, size, mtime_ns, ctime_ns, algorithm, digest, path,
                    cached_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )
