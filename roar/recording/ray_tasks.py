"""Ray tasks as jobs: the events of each task, told apart in the job's one event stream (pure).

With ``ray.enabled``, roar's Ray probe (``roar/_inject/_roar_ray.py``) creates a marker file in
``<scratch>/ray/`` when a task (or actor method call) begins and when it ends, from the thread that
runs it. The tracer reports those creations in order with that thread's other events, so every
file event between a task's markers belongs to the task, and so do the events of the threads and
processes it started (a FORK from a task thread). The router sends those to the task's own
:class:`AccessModel`; everything else (the driver, Ray's own processes, process lifetimes) stays
with the job's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from roar.recording.semantics import AccessModel
from roar.tracing import wire
from roar.tracing.wire import Record

# What a task did: file events. Process lifetimes (FORK, HELLO, END), warnings and the variables
# read stay with the whole job.
_TASK_KINDS = frozenset(
    {
        wire.EVK_OPEN,
        wire.EVK_READ,
        wire.EVK_WRITE,
        wire.EVK_TRUNCATE,
        wire.EVK_RENAME,
        wire.EVK_LINK,
        wire.EVK_UNLINK,
        wire.EVK_CLOSE,
        wire.EVK_SNAPSHOT,
        wire.EVK_EXEC,
    }
)


@dataclass(eq=False)
class RayTask:
    """One Ray task (or actor method call; with ``per_actor``, all calls of one actor)."""

    task_id: str
    name: str
    order: int  # the order tasks began in
    started_at: float
    ended_at: float | None = None
    model: AccessModel = field(default_factory=AccessModel)
    workers: set[int] = field(default_factory=set)  # pids of the processes that ran it

    @property
    def duration(self) -> float:
        return max(0.0, (self.ended_at or self.started_at) - self.started_at)


class TaskRouter:
    """Splits decoded event batches between the job and its Ray tasks."""

    def __init__(self, markers_dir: str) -> None:
        self.markers_dir = markers_dir
        self.prefix = markers_dir.rstrip("/") + "/"
        self.tasks: dict[tuple[str, str], RayTask] = {}
        self._threads: dict[tuple[int, int], RayTask] = {}  # (pid, tid) inside a task
        self._processes: dict[int, RayTask] = {}  # processes a task started
        self._active = False

    def _begins(self, batch: list[Record]) -> bool:
        """Whether any task has begun, by this batch at the latest. Until then no event is a
        task's, and a batch is not split event by event: most jobs never use Ray. A task's
        first record is the creation of its marker (the tracers keep the order events happened
        in), so the batch that holds it is the first to look at; a scan of the batch for it
        costs ~0.1 us an event, where listing the markers directory per batch cost ~0.25 ms."""
        if not self._active:
            prefix, kind = self.prefix, wire.EVK_OPEN
            self._active = any(e.kind == kind and e.path1.startswith(prefix) for e in batch)
        return self._active

    def split(self, batch: list[Record]) -> tuple[list[Record], dict[RayTask, list[Record]]]:
        if not self._begins(batch):
            return batch, {}
        main: list[Record] = []
        routed: dict[RayTask, list[Record]] = {}
        for event in batch:
            kind, pid, tid, path1 = event.kind, event.pid, event.tid, event.path1
            if kind == wire.EVK_OPEN and path1.startswith(self.prefix):
                self._marker(pid, tid, path1[len(self.prefix) :])
                continue
            task = self._threads.get((pid, tid)) or self._processes.get(pid)
            if kind == wire.EVK_FORK and task is not None:
                child = event.arg0
                if event.arg2 & wire.FORK_THREAD:
                    self._threads[(pid, child)] = task
                else:
                    self._processes[child] = task
            if task is not None and kind in _TASK_KINDS:
                routed.setdefault(task, []).append(event)
            else:
                main.append(event)
        return main, routed

    def _marker(self, pid: int, tid: int, name: str) -> None:
        parts = name.split("~")
        if len(parts) != 4:
            return
        kind, task_id, label, _ = parts
        if kind == "begin":
            key = (task_id, label)
            task = self.tasks.get(key)
            if task is None:
                task = RayTask(task_id, label, len(self.tasks), time.time())
                self.tasks[key] = task
            task.workers.add(pid)
            self._threads[(pid, tid)] = task
        elif kind == "end":
            task = self._threads.pop((pid, tid), None)
            if task is not None:
                task.ended_at = time.time()

    def in_order(self) -> list[RayTask]:
        return sorted(self.tasks.values(), key=lambda t: t.order)
