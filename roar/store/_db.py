"""One small async SQLite interface: a plain ``sqlite3`` connection driven on anyio worker threads.

One engine serves every loop roar runs on: the CLI's asyncio (uvloop included) and an embedder's
trio. The design card named aiosqlite, and the CLI used it until both loops were served: aiosqlite
resolves its results on asyncio futures, so trio needed this engine anyway, and two engines meant
two code paths tested unevenly; ``scripts/bench/store.py`` measures this engine against plain
``sqlite3`` on the same statements (docs/performance.md). Only one statement runs at a time on the
connection (a capacity limiter of one) and the event loop never blocks on the database.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread

Row = tuple[Any, ...]


class Database(Protocol):
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        """Run one statement; return the last inserted rowid."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    async def close(self) -> None: ...


def _target(path: Path, readonly: bool) -> tuple[str | Path, bool]:
    """What sqlite3.connect opens: the path, or a read-only URI, so that a store in a read-only
    file or directory can still be queried."""
    if not readonly:
        return path, False
    from urllib.parse import quote

    # A WAL database opened read-only still needs its -shm file: where the directory cannot
    # hold one, no writer can run either, so the file is read as immutable.
    mode = "mode=ro" if os.access(path.parent, os.W_OK) else "mode=ro&immutable=1"
    return f"file:{quote(str(path))}?{mode}", True


async def connect(path: Path, busy_timeout: float, *, readonly: bool = False) -> Database:
    """Open ``path`` on a worker thread of the running event loop (asyncio, uvloop or trio)."""
    target, uri = _target(path, readonly)
    return await _Threaded.open(target, uri, busy_timeout)


class _Threaded:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def open(cls, target: str | Path, uri: bool, busy_timeout: float) -> _Threaded:
        conn = await anyio.to_thread.run_sync(
            lambda: sqlite3.connect(
                target,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=uri,
            )
        )
        return cls(conn)

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        def run() -> int | None:
            return self._conn.execute(sql, params).lastrowid

        result: int | None = await self._call(run)
        return result

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._call(self._conn.executemany, sql, list(rows))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        def run() -> Row | None:
            row = self._conn.execute(sql, params).fetchone()
            return tuple(row) if row is not None else None

        result: Row | None = await self._call(run)
        return result

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        def run() -> list[Row]:
            return [tuple(r) for r in self._conn.execute(sql, params).fetchall()]

        result: list[Row] = await self._call(run)
        return result

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await self._call(self._conn.execute, "COMMIT")

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await self._call(self._conn.execute, "ROLLBACK")

    async def close(self) -> None:
        await self._call(self._conn.close)
