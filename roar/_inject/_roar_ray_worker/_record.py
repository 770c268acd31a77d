"""One task's file accesses while it runs, and the fragment they become when it ends."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from ._digest import digest

FRAGMENT_VERSION = 1


class TaskRecord:
    """What one task (or one process it started) read, wrote and removed, in order."""

    def __init__(self, task_id: str, name: str, actor_id: str | None, kind: str) -> None:
        self.task_id = task_id
        self.name = name
        self.actor_id = actor_id
        self.kind = kind  # "task": run by a worker; "child": a process a task started
        self.started_at = time.time()
        self.reads: dict[str, tuple[str | None, int] | None] = {}  # path -> digest, taken late
        self.writes: dict[str, None] = {}
        self.deleted: dict[str, None] = {}

    def read(self, path: str) -> None:
        if path not in self.writes and path not in self.reads:
            self.reads[path] = None

    def wrote(self, path: str) -> None:
        if path in self.reads and self.reads[path] is None:
            # Read before, about to be rewritten: the content it read is the one there now.
            self.reads[path] = digest(path)
        self.writes[path] = None
        self.deleted.pop(path, None)

    def renamed(self, src: str | None, dst: str) -> None:
        if src is not None and src in self.writes:
            del self.writes[src]
        elif src is not None:
            self.read(src)
            self.reads[src] = self.reads[src] or digest(src)
            self.deleted[src] = None
        self.wrote(dst)

    def removed(self, path: str) -> None:
        if path in self.writes:
            del self.writes[path]  # a temporary file: not an output
        else:
            self.deleted[path] = None

    def _header(self, kind: str, ended_at: float) -> dict[str, Any]:
        """What every fragment of this task starts with."""
        return {
            "v": FRAGMENT_VERSION,
            "kind": kind,
            "task_id": self.task_id,
            "name": self.name,
            "actor_id": self.actor_id,
            "node": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "ended_at": ended_at,
            "workdir": os.environ.get("ROAR_RAY_WORKDIR"),
        }

    def begun(self) -> dict[str, Any]:
        """What is known as the task starts: sent then, so a task whose worker dies before it
        ends (killed, out of memory) is still known to the host."""
        return self._header("begun", self.started_at)

    def fragment(self, ok: bool, error: str | None = None) -> dict[str, Any]:
        """The record as the host reads it (``roar/recording/ray_fragments.py``): reads hashed
        now unless hashed before they were rewritten, writes hashed as left by the task.

        Writes are hashed when the task ends, not at each close: the audit hook sees opens, not
        closes, and the content the task left is the one later tasks read (the two differ only
        for a file the task rewrote after closing it, where the last content is what counts)."""
        reads = []
        for path, taken in self.reads.items():
            hashed = taken or digest(path)
            if hashed is not None:
                reads.append([path, *hashed])
        writes = []
        for path in self.writes:
            hashed = digest(path)
            if hashed is not None:
                writes.append([path, *hashed])
        return {
            **self._header(self.kind, time.time()),
            "reads": reads,
            "writes": writes,
            "deleted": list(self.deleted),
            "ok": ok,
            "error": error,
        }
