"""The local store: `.roar/roar.db`, SQLite in WAL mode, reached through aiosqlite."""

from roar.store._store import LabelVersion, Store, StoredSession, require_writable

__all__ = ("LabelVersion", "Store", "StoredSession", "require_writable")
