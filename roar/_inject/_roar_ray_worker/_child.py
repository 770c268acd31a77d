"""A Python process of the job that no worker runs: observed like a worker, its fragment sent.

Two kinds: a process a task started (``ROAR_RAY_TASK`` names the task), whose fragment is left in
the node's spool for the task to collect when it ends; and the job's driver (``ROAR_RAY_DRIVER``,
set by ``driver.py``; the processes it starts inherit it and are the driver's too), whose
fragment is sent as a worker's are.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import sys

from . import _observe, _transport
from ._record import TaskRecord

DRIVER = "driver"  # the task id of the driver's fragments


def observe_this_process() -> None:
    task_id = os.environ.get("ROAR_RAY_TASK", "")
    spool = os.environ.get("ROAR_RAY_SPOOL", "")
    if not task_id and os.environ.get("ROAR_RAY_DRIVER"):
        task_id = DRIVER
    if not task_id or not spool:
        return
    _observe.install(os.environ.get("ROAR_RAY_WORKDIR"))
    kind = "driver" if task_id == DRIVER else "child"
    record = TaskRecord(task_id, "", None, kind)
    _observe.begin(record)

    def leave_fragment() -> None:
        _observe.end(None)
        with _observe.quiet():
            if kind == "driver":
                record.name = shlex.join(getattr(sys, "orig_argv", sys.argv))
            fragment = record.fragment(ok=True)
            if kind == "driver":
                _transport.send_or_spool(fragment)
            elif fragment["reads"] or fragment["writes"] or fragment["deleted"]:
                _transport.spool(fragment)

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
