"""BLAKE3 of a file, computed where the file is: the host never sees the bytes a worker handled."""

from __future__ import annotations

import os
from typing import Any

_blake3: Any
try:
    from blake3 import blake3 as _blake3
except ImportError:  # reported per file: the host warns and leaves the file out
    _blake3 = None

_CHUNK = 1 << 20
MISSING = "blake3-missing"  # the digest of a file hashed where the blake3 package is not installed


def digest(path: str) -> tuple[str | None, int] | None:
    """(BLAKE3 hex digest, size) of a regular file; None when it is gone or not a file."""
    try:
        with open(path, "rb") as handle:
            if not os.path.isfile(path):
                return None
            if _blake3 is None:
                return MISSING, os.fstat(handle.fileno()).st_size
            hasher = _blake3()
            size = 0
            while chunk := handle.read(_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
            return hasher.hexdigest(), size
    except OSError:
        return None
