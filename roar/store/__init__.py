"""The local store: `.roar/roar.db`, SQLite in WAL mode, on worker threads of any loop (`_db`)."""

from roar.store._store import LabelVersion, Store, StoredSession, require_writable

__all__ = ("LabelVersion", "Store", "StoredSession", "require_writable")
