"""Small text helpers shared by the human-readable outputs."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import TextIO


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def local_time(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def colour_wanted() -> bool:
    """False when the user turned colour off: ``NO_COLOR`` (any value, no-color.org) or
    ``TERM=dumb``. Elsewhere click decides (colour only on a terminal)."""
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def fancy(stream: TextIO | None = None) -> bool:
    """Whether symbols (emoji, arrows) may be printed: a terminal that is not ``TERM=dumb``.
    Logs, pipes and CI get plain ASCII."""
    stream = stream or sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and os.environ.get("TERM") != "dumb"


def json_text(value: object) -> str:
    """``value`` as JSON for ``--json``. Non-UTF-8 file names and arguments (which no JSON
    encoder takes as they are) are shown escaped, with their exact bytes beside them under
    ``<key>_b64`` (roar.core.fspath.json_safe)."""
    import msgspec

    try:
        return msgspec.json.encode(value).decode()
    except UnicodeEncodeError:
        from roar.core.fspath import json_safe

        return msgspec.json.encode(json_safe(msgspec.to_builtins(value))).decode()
