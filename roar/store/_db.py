"""One small async SQLite interface over two engines.

Under asyncio (the CLI's loop, uvloop included) it is aiosqlite. aiosqlite resolves its results on
asyncio futures, so under any other event loop (trio, for embedders) the same calls run a plain
``sqlite3`` connection on one anyio worker thread. Either way, only one statement runs at a time
on the connection and the event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
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


def _running_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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
    """Open ``path`` with the engine that fits the running event loop."""
    target, uri = _target(path, readonly)
    if _running_asyncio():
        import aiosqlite

        conn = await aiosqlite.connect(target, timeout=busy_timeout, isolation_level=None, uri=uri)
        return _Aiosqlite(conn)
    return await _Threaded.open(target, uri, busy_timeout)


class _Aiosqlite:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int | None:
        cursor = await self._conn.execute(sql, params)
        rowid: int | None = cursor.lastrowid
        await cursor.close()
        return rowid

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        cursor = await self._conn.executemany(sql, rows)
        await cursor.close()

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._conn.execute(sql, params) as cursor:
            rows = await cursor.fetchall()
        return [tuple(r) for r in rows]

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await self._conn.execute("COMMIT")

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")

    async def close(self) -> None:
        await self._conn.close()


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
