"""Where a `roar login` keeps its tokens: ``$XDG_CONFIG_HOME/roar/auth.json`` (0600).

One file for every workspace of the user, as the reference keeps it; it records the registry it
was issued by, and tokens are only ever sent back to that registry.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from roar.errors import RoarError


def auth_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "roar" / "auth.json"


def load_auth() -> dict[str, Any] | None:
    path = auth_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RoarError(f"{path}: unreadable login state ({exc}); roar logout clears it") from None
    return data if isinstance(data, dict) else None


def auth_for(url: str) -> dict[str, Any] | None:
    """The stored login for the registry at ``url``, if that is where it came from."""
    data = load_auth()
    if data is None or str(data.get("server", "")).rstrip("/") != url.rstrip("/"):
        return None
    return data


def save_auth(data: dict[str, Any]) -> Path:
    """Write atomically, readable by the user only (it holds a refresh token)."""
    path = auth_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".auth-", suffix=".json")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"version": 1, **data, "saved_at": time.time()}, handle, indent=2)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def forget_auth() -> bool:
    try:
        auth_path().unlink()
    except FileNotFoundError:
        return False
    return True
