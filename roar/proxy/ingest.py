"""Reading the events a proxy daemon appended to ``.roar/proxy-events.jsonl``.

The daemon writes one JSON object per line, each line in a single ``write`` to a file opened with
``O_APPEND``, so concurrent writers never interleave inside a line. A last line without its
newline is a write still in progress (or cut by a crash) and is left for the next read.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from roar.proxy._control import EVENTS_NAME
from roar.proxy._errors import ProxyError
from roar.proxy._event import S3Event, decode_event

__all__ = ("EVENTS_NAME", "events_path", "parse_events", "read_events")


def events_path(project_root: Path) -> Path:
    """Where the daemon of the project at ``project_root`` appends its events."""
    return project_root / ".roar" / EVENTS_NAME


def parse_events(data: bytes, *, source: str = "proxy events") -> list[S3Event]:
    """Decode complete JSON lines into events; blank lines are skipped.

    Raises :class:`ProxyError` naming ``source`` and the line number for a line that is not an
    event, because silently dropping lineage would be worse than stopping.
    """
    lines = data.split(b"\n")
    events: list[S3Event] = []
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            events.append(decode_event(line))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProxyError(f"{source}:{number}: not a proxy event ({exc})") from exc
    return events


def read_events(path: Path | str) -> list[S3Event]:
    """Every complete event in the JSON-lines file at ``path`` (none if it does not exist)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ProxyError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_events(data, source=str(path))
