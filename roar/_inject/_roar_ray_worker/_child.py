"""A process a Ray task started: observed like the worker, its fragment left for the task."""

from __future__ import annotations

import atexit
import json
import os

from . import _observe
from ._record import TaskRecord


def observe_this_process() -> None:
    task_id = os.environ.get("ROAR_RAY_TASK", "")
    spool = os.environ.get("ROAR_RAY_SPOOL", "")
    if not task_id or not spool:
        return
    _observe.install(os.environ.get("ROAR_RAY_WORKDIR"))
    record = TaskRecord(task_id, "", None, "child")
    _observe.begin(record)

    def leave_fragment() -> None:
        _observe.end(None)
        with _observe.quiet():
            fragment = record.fragment(ok=True)
            if not (fragment["reads"] or fragment["writes"] or fragment["deleted"]):
                return
            path = os.path.join(spool, f"{task_id}~{os.getpid()}.json")
            with open(path + ".part", "w") as handle:
                json.dump(fragment, handle)
            os.replace(path + ".part", path)  # the task reads whole fragments only

    atexit.register(leave_fragment)


def collect(task_id: str) -> list[dict[str, object]]:
    """The fragments the processes ``task_id`` started left (each read once, then removed)."""
    spool = os.environ.get("ROAR_RAY_SPOOL", "")
    found: list[dict[str, object]] = []
    try:
        names = [
            n for n in os.listdir(spool) if n.startswith(f"{task_id}~") and n.endswith(".json")
        ]
    except OSError:
        return found
    for name in names:
        path = os.path.join(spool, name)
        try:
            with open(path) as handle:
                found.append(json.load(handle))
            os.remove(path)
        except (OSError, ValueError):
            pass
    return found
