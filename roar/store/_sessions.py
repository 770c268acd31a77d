"""Sessions: the active one, starting a new one, finding one by hash."""

from __future__ import annotations

import time

from roar.store._core import StoreCore
from roar.store._rows import (
    StoredSession,
    _like_prefix,
    _new_session_hash,
    _session,
)


class SessionStore(StoreCore):
    """Sessions: the active one, starting a new one, finding one by hash."""

    async def active_session(self) -> StoredSession | None:
        row = await self._conn.fetchone(
            "SELECT id, hash, created_at, is_active FROM sessions WHERE is_active = 1"
        )
        return _session(row) if row else None

    async def _ensure_active_session(self) -> int:
        row = await self._conn.fetchone("SELECT id FROM sessions WHERE is_active = 1")
        if row:
            return int(row[0])
        rowid = await self._conn.execute(
            "INSERT INTO sessions (hash, created_at, is_active) VALUES (?, ?, 1)",
            (_new_session_hash(), time.time()),
        )
        assert rowid is not None
        return rowid

    async def start_new_session(self) -> StoredSession:
        """Deactivate the active session (kept whole) and make a fresh, empty one active."""
        async with self._transaction():
            await self._conn.execute("UPDATE sessions SET is_active = 0 WHERE is_active = 1")
            await self._ensure_active_session()
        session = await self.active_session()
        assert session is not None
        return session

    async def sessions_by_hash_prefix(self, prefix: str) -> list[StoredSession]:
        rows = await self._conn.fetchall(
            "SELECT id, hash, created_at, is_active FROM sessions WHERE hash LIKE ? ESCAPE '\\'",
            (_like_prefix(prefix.lower()),),
        )
        return [_session(r) for r in rows]

    async def all_sessions(self) -> list[tuple[StoredSession, int, int]]:
        """Every session, oldest first, with its job count and its number of steps."""
        rows = await self._conn.fetchall(
            """SELECT s.id, s.hash, s.created_at, s.is_active,
                      COUNT(j.id), COUNT(DISTINCT j.job_type || ':' || j.step_number)
               FROM sessions s LEFT JOIN jobs j ON j.session_id = s.id
               GROUP BY s.id ORDER BY s.id"""
        )
        return [(_session(r[:4]), int(r[4]), int(r[5])) for r in rows]

    async def activate_session(self, session_id: int) -> None:
        """Make ``session_id`` the active session (the others stay, inactive)."""
        async with self._transaction("switch sessions in"):
            await self._conn.execute("UPDATE sessions SET is_active = 0 WHERE is_active = 1")
            await self._conn.execute(
                "UPDATE sessions SET is_active = 1 WHERE id = ?", (session_id,)
            )

    async def session_job_count(self, session_id: int) -> int:
        row = await self._conn.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE session_id = ?", (session_id,)
        )
        return int(row[0]) if row else 0

    async def record_publication(
        self, session_hash: str, registry: str, remote_hash: str, url: str | None, scope: str
    ) -> None:
        """Remember that ``session_hash`` was registered with ``registry`` (the latest wins)."""
        async with self._transaction():
            await self._conn.execute(
                """INSERT INTO publications (session_id, registry, remote_hash, url, scope,
                       published_at)
                   SELECT id, ?, ?, ?, ?, ? FROM sessions WHERE hash = ?
                   ON CONFLICT (session_id, registry) DO UPDATE SET
                       remote_hash = excluded.remote_hash, url = excluded.url,
                       scope = excluded.scope, published_at = excluded.published_at""",
                (registry, remote_hash, url, scope, time.time(), session_hash),
            )

    async def publications(self, session_id: int) -> list[dict[str, object]]:
        rows = await self._conn.fetchall(
            "SELECT registry, remote_hash, url, scope, published_at FROM publications "
            "WHERE session_id = ? ORDER BY published_at",
            (session_id,),
        )
        keys = ("registry", "remote_hash", "url", "scope", "published_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]
