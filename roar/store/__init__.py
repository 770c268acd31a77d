"""The local store: `.roar/roar.db`, SQLite in WAL mode, reached through aiosqlite."""

from roar.store._store import Store, StoredSession

__all__ = ("Store", "StoredSession")
