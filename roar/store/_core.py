"""What every part of the store shares: the connection, the write lock, transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from roar.errors import NotFoundError, StoreError
from roar.store._db import Database


class StoreCore:
    """What every part of the store shares: the connection, the write lock, transactions."""

    _conn: Database
    path: Path
    readonly: bool

    def __init__(self, conn: Database, path: Path) -> None:
        self._conn = conn
        self.path = path
        # One connection, one transaction at a time (early hashing may store cache rows while
        # another task records a job).
        self._write_lock = anyio.Lock()
        # Opened read-only (a read-only file or directory): queries work, recording refuses.
        self.readonly = False

    @asynccontextmanager
    async def _transaction(self, what: str = "write to") -> AsyncIterator[None]:
        """One write transaction: taken under the write lock, committed whole or rolled back.

        Every write goes through here (a job, edges, labels, the hash cache, a migration), so
        concurrent writers queue instead of interleaving, and nothing is half-written. An
        SQLite failure becomes a :class:`StoreError` saying what could not be done (``what``,
        as in "could not record the job in .roar/roar.db: database is locked").
        """
        async with self._write_lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    await self._conn.commit()
                except BaseException:
                    await self._conn.rollback()
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"could not {what} {self.path}: {exc}") from exc

    async def job_id(self, job_uid: str) -> int:
        row = await self._conn.fetchone("SELECT id FROM jobs WHERE job_uid = ?", (job_uid,))
        if row is None:
            raise NotFoundError(f"no job {job_uid}")
        return int(row[0])
