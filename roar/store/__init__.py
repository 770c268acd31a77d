"""The local store: `.roar/roar.db`, SQLite in WAL mode, reached through aiosqlite."""

from roar.store._store import LabelVersion, Store, StoredSession

__all__ = ("LabelVersion", "Store", "StoredSession")
