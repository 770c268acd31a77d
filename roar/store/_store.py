"""Reading and writing the local database.

One connection per command. Each recorded job is one ``BEGIN IMMEDIATE`` transaction, so eight
concurrent ``roar run``s queue on the write lock (WAL plus a generous busy timeout) instead of
interleaving or failing, and a job is either stored whole or not at all.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from roar.errors import SchemaTooNewError, StoreError
from roar.store._artifacts import ArtifactStore
from roar.store._db import Database, connect
from roar.store._hash_cache import HashCacheStore
from roar.store._jobs_write import JobWriter
from roar.store._labels import LabelStore
from roar.store._rows import (
    BUSY_TIMEOUT_MS,
    LabelVersion,
    StoredSession,
    _statements,
)
from roar.store.schema import MIGRATIONS, SCHEMA_EDITS, SCHEMA_VERSION

__all__ = ("LabelVersion", "Store", "StoredSession", "database_exists", "require_writable")


class Store(JobWriter, ArtifactStore, LabelStore, HashCacheStore):
    """An open `.roar/roar.db`. Use :meth:`open` as an async context manager.

    The parts live by aggregate in the modules beside this one (sessions, writing jobs,
    reading jobs, artifacts, labels, the hash cache); this class puts them together and owns
    opening, checking and migrating the file.
    """

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, create: bool = False) -> AsyncIterator[Store]:
        """Open (or with ``create``, create) the database, migrating it forward if needed."""
        if not create and not path.is_file():
            raise StoreError(f"{path} does not exist (run 'roar init')")
        if not create and path.stat().st_size == 0:
            # SQLite would silently start a new, empty database here: the history is gone.
            raise StoreError(
                f"{path} is empty (0 bytes): the job history was lost or truncated; restore it "
                "from a backup, or move it aside and run 'roar init' to start again"
            )
        readonly = not create and not is_writable(path)
        try:
            conn = await connect(path, busy_timeout=BUSY_TIMEOUT_MS / 1000, readonly=readonly)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        try:
            store = cls(conn, path)
            store.readonly = readonly
            await store._prepare()
            yield store
        finally:
            await conn.close()

    async def _prepare(self) -> None:
        conn = self._conn
        try:
            # Read the version before anything writes: a newer or damaged file stays untouched.
            row = await conn.fetchone("PRAGMA user_version")
            version = int(row[0]) if row else 0
            if version < 0:
                raise StoreError(
                    f"{self.path} has an invalid schema version ({version}): the file is damaged; "
                    "restore it from a backup, or move it aside and run 'roar init'"
                )
            if version > SCHEMA_VERSION:
                raise SchemaTooNewError(
                    f"{self.path} has schema version {version}, newer than this roar supports "
                    f"({SCHEMA_VERSION}); upgrade roar to use it"
                )
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys = ON")
            if self.readonly:
                if version < SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path} needs upgrading to schema {SCHEMA_VERSION} but is read-only"
                        " (let roar write .roar/ once, e.g. run 'roar log' as its owner)"
                    )
                return
            await conn.fetchone("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                await self._migrate(version)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    async def _migrate(self, current: int) -> None:
        conn = self._conn
        async with self._transaction():
            # Re-read under the write lock: another process may have migrated meanwhile.
            row = await conn.fetchone("PRAGMA user_version")
            current = int(row[0]) if row else 0
            for number in range(current, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[number]):
                    await conn.execute(statement)
                for table, old, new in SCHEMA_EDITS.get(number + 1, ()):
                    await _edit_schema(conn, table, old, new)
            await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    async def schema_version(self) -> int:
        row = await self._conn.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0


async def _edit_schema(conn: Database, table: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in ``table``'s CREATE statement (inside the migration's
    transaction); the schema cookie moves on so every connection reloads it."""
    row = await conn.fetchone("PRAGMA schema_version")
    cookie = int(row[0]) if row else 0
    await conn.execute("PRAGMA writable_schema = ON")
    try:
        await conn.execute(
            "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
            (old, new, table),
        )
        await conn.execute(f"PRAGMA schema_version = {cookie + 1}")
    finally:
        await conn.execute("PRAGMA writable_schema = OFF")


def database_exists(path: Path) -> bool:
    return os.path.isfile(path)


def is_writable(path: Path) -> bool:
    """Whether this process may write the database and create its -wal/-shm files beside it
    (access(2) also says no for an immutable file, even to root)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def require_writable(path: Path) -> None:
    """Refuse before anything runs when a job could not be recorded in ``path``."""
    if not is_writable(path):
        what = path if not os.access(path, os.W_OK) else path.parent
        raise StoreError(
            f"cannot record jobs: {what} is read-only; nothing was run (make it writable, "
            "or run roar as the project's owner)"
        )
