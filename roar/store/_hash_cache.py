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

MAX_ROWS = 1_000_000  # ~150 MB of cache rows


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
            # A path's earlier inodes (the file was replaced) will never be asked for again.
            await self._conn.executemany(
                """DELETE FROM hash_cache WHERE path = ? AND algorithm = ?
                   AND NOT (device = ? AND inode = ?)""",
                [(row[7], row[5], row[0], row[1]) for row in rows],
            )
            await self._conn.executemany(
                """INSERT OR REPLACE INTO hash_cache
                   (device, inode, size, mtime_ns, ctime_ns, algorithm, digest, path,
                    cached_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )
            # Files that are gone, under names never used again, would still pile up: the
            # oldest rows beyond MAX_ROWS go (a row is rewritten, so renewed, when re-hashed).
            await self._conn.execute(
                """DELETE FROM hash_cache
                   WHERE rowid <= (SELECT max(rowid) FROM hash_cache) - ?""",
                (MAX_ROWS,),
            )
