"""The registry's database engines: SQLite for one machine, PostgreSQL for a team.

Both speak one small interface with ``?`` placeholders: reads (``fetchone``/``fetchall``) and a
write transaction (``async with db.write() as tx``). Writes are serialised — by a lock on the one
SQLite connection, by a transaction-scoped advisory lock on PostgreSQL (so several server
processes on one database still never interleave a find-then-insert) — which is what makes
concurrent registrations of overlapping lineages idempotent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import anyio

from roar.errors import UsageError

Row = tuple[Any, ...]

# Any constant works; it names "the registry's writer" among the advisory locks of a database.
_WRITE_LOCK = 0x726F6172


class Tx(Protocol):
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...


class Engine(Tx, Protocol):
    dialect: str
    """``sqlite`` or ``postgresql``: the schema's types differ, the queries do not."""

    def write(self) -> Any:
        """``async with engine.write() as tx``: one serialised transaction."""
        ...


class _SQLite:
    dialect = "sqlite"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = anyio.Lock()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = await self._conn.fetchone(sql, params)
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetchall(sql, params)]

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
                await self._conn.commit()
            except BaseException:
                await self._conn.rollback()
                raise


_PLACEHOLDER = re.compile(r"\?")


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (no query here has a literal ``?``)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _PgConnection:
    """One pooled asyncpg connection behind the :class:`Tx` interface."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._conn.execute(numbered(sql), *params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            await self._conn.executemany(numbered(sql), rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = await self._conn.fetchrow(numbered(sql), *params)
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetch(numbered(sql), *params)]


class _Postgres:
    dialect = "postgresql"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        async with self._pool.acquire() as conn:
            await _PgConnection(conn).execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._pool.acquire() as conn:
            await _PgConnection(conn).executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._pool.acquire() as conn:
            return await _PgConnection(conn).fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _PgConnection(conn).fetchall(sql, params)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
            yield _PgConnection(conn)


def describe(url: str | None) -> str:
    """``url`` with any password hidden, for messages and logs."""
    if url is None:
        return str(default_sqlite_path())
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def default_sqlite_path() -> Path:
    return Path.home() / ".local" / "share" / "roar" / "registry.db"


def sqlite_path(url: str | None) -> Path | None:
    """The SQLite file ``url`` names (``sqlite:///path``, a plain path, or nothing for the
    default); None for a PostgreSQL URL. Anything else is a usage error."""
    if url is None:
        return default_sqlite_path()
    if url.startswith(("postgresql://", "postgres://")):
        return None
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") - 1 :]).expanduser()
    if "://" in url:
        raise UsageError(
            f"--db must be sqlite:///PATH or postgresql://... (got {url.split('://')[0]}://...)"
        )
    return Path(url).expanduser()


@asynccontextmanager
async def open_engine(url: str | None) -> AsyncIterator[Engine]:
    """The engine for ``--db``; a one-line :class:`UsageError` when it cannot be opened."""
    path = sqlite_path(url)
    if path is not None:
        from roar.store._db import connect

        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await connect(path, busy_timeout=30.0)
        try:
            await conn.fetchone("PRAGMA journal_mode = WAL")
            yield _SQLite(conn)
        finally:
            await conn.close()
        return
    assert url is not None
    try:
        import asyncpg
    except ImportError:
        raise UsageError(
            "a PostgreSQL registry needs the asyncpg package: pip install 'roar[postgres]'"
        ) from None
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=8, command_timeout=60)
    except (OSError, asyncpg.PostgresError, ValueError) as exc:
        raise UsageError(f"cannot open the registry database {describe(url)}: {exc}") from None
    try:
        yield _Postgres(pool)
    finally:
        await pool.close()
