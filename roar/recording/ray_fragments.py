"""The fragments a submitted job's workers sent: decoded, and grouped into tasks (pure).

A fragment is one JSON object per task run (``roar/_inject/_roar_ray_worker/_record.py`` writes
them; ``FRAGMENT_VERSION`` there and :data:`VERSION` here change together): the task's reads and
writes with their BLAKE3 digests, taken on the worker, and the fragments of the Python processes
it started. Paths are the worker's; the working dir Ray extracted on the node is mapped back to
the one on the host it was uploaded from (:func:`host_path`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

VERSION = 1


class SeenFile(msgspec.Struct, frozen=True, array_like=True):
    path: str
    hash: str
    size: int


class Fragment(msgspec.Struct, frozen=True, kw_only=True):
    v: int
    # "task"; "begun": a task starting (superseded by its "task" once it ends); "child": a
    # process the task started; "driver": the job's entrypoint
    kind: str
    task_id: str
    name: str = ""
    actor_id: str | None = None
    node: str = ""
    pid: int = 0
    started_at: float = 0.0
    ended_at: float = 0.0
    workdir: str | None = None  # the working dir as extracted on the node
    reads: list[SeenFile] = []
    writes: list[SeenFile] = []
    deleted: list[str] = []
    ok: bool = True
    error: str | None = None
    children: list[Fragment] = []


@dataclass
class ClusterTask:
    """One task (or, with ``per_actor``, one actor) as the host records it."""

    key: str
    name: str  # the function (`shard`), `Class.method`, or for the driver its command line
    task_ids: list[str]
    actor_id: str | None
    started_at: float
    ended_at: float
    ok: bool
    error: str | None
    nodes: set[str] = field(default_factory=set)
    workers: set[int] = field(default_factory=set)
    reads: dict[str, SeenFile] = field(default_factory=dict)  # host path -> first content read
    writes: dict[str, SeenFile] = field(default_factory=dict)  # host path -> last content left
    deleted: set[str] = field(default_factory=set)
    is_driver: bool = False  # the job's entrypoint (and the processes it started)
    completed: bool = True  # False: its worker ended before it did (only its start was told)


_decoder = msgspec.json.Decoder(Fragment)
_DRIVER = "driver"  # the key of the driver's task (no Ray task id has this shape)


def decode_lines(lines: Iterable[bytes]) -> tuple[list[Fragment], int]:
    """Fragments in ``lines`` (JSON lines), and how many lines could not be read (a worker
    killed mid-write leaves half a line; a newer agent may write a newer version)."""
    fragments: list[Fragment] = []
    bad = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            fragment = _decoder.decode(line)
        except msgspec.DecodeError:
            bad += 1
            continue
        if fragment.v != VERSION:
            bad += 1
            continue
        fragments.append(fragment)
    return fragments, bad


def read_fragment_dir(directory: str) -> tuple[list[Fragment], int]:
    """Every fragment the workers appended to files in ``directory``."""
    lines: list[bytes] = []
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return [], 0
    for name in names:
        if name.endswith(".jsonl"):
            with open(os.path.join(directory, name), "rb") as handle:
                lines += handle.read().splitlines()
    return decode_lines(lines)


def host_path(path: str, workdir: str | None, host_workdir: str | None) -> str:
    """``path`` as the worker saw it, on the host: inside the extracted working dir, the same
    file in the directory it was uploaded from; elsewhere, unchanged (a cluster path)."""
    if workdir and host_workdir and (path == workdir or path.startswith(workdir + "/")):
        return os.path.normpath(os.path.join(host_workdir, path[len(workdir) + 1 :]))
    return path


def group_tasks(
    fragments: Iterable[Fragment], host_workdir: str | None, *, per_actor: bool
) -> list[ClusterTask]:
    """Fragments as tasks, in the order they began (the driver last): one per call, or with
    ``per_actor`` one per actor (each actor's calls together); the files of the processes a task
    started are its."""
    tasks: dict[str, ClusterTask] = {}
    for fragment in sorted(_ended_or_begun(fragments), key=lambda f: f.started_at):
        if fragment.kind == "driver":
            _add_driver(tasks, fragment, host_workdir)
            continue
        if fragment.kind != "task":
            continue
        key = fragment.actor_id if per_actor and fragment.actor_id else fragment.task_id
        task = tasks.get(key)
        if task is None:
            name = (
                fragment.name.split(".", 1)[0] if per_actor and fragment.actor_id else fragment.name
            )
            task = ClusterTask(key, name, [], fragment.actor_id, fragment.started_at,
                               fragment.ended_at, fragment.ok, fragment.error)  # fmt: skip
            tasks[key] = task
        task.task_ids.append(fragment.task_id)
        task.ended_at = max(task.ended_at, fragment.ended_at)
        task.ok = task.ok and fragment.ok
        task.error = task.error or fragment.error
        task.completed = task.completed and fragment.error != _WORKER_DIED
        for part in (fragment, *sorted(fragment.children, key=lambda c: c.started_at)):
            _add(task, part, host_workdir)
    # The driver outlives its tasks: after them, what it read from them has its producers.
    return sorted(tasks.values(), key=lambda t: t.is_driver)


_WORKER_DIED = "its worker ended before the task did (killed, out of memory, or crashed)"


def _ended_or_begun(fragments: Iterable[Fragment]) -> list[Fragment]:
    """Each task's fragments, and for a task that never ended (its worker died, and no retry
    ended it either) its start, as a task that did not complete."""
    fragments = list(fragments)
    ended = {f.task_id for f in fragments if f.kind == "task"}
    kept: list[Fragment] = []
    for fragment in fragments:
        if fragment.kind != "begun":
            kept.append(fragment)
        elif fragment.task_id not in ended:
            ended.add(fragment.task_id)  # one job for every attempt that died
            kept.append(
                msgspec.structs.replace(fragment, kind="task", ok=False, error=_WORKER_DIED)
            )
    return kept


def _add_driver(
    tasks: dict[str, ClusterTask], fragment: Fragment, host_workdir: str | None
) -> None:
    """The driver, and the processes it started, are one job: named after the first of them."""
    driver = tasks.get(_DRIVER)
    if driver is None:
        driver = ClusterTask(_DRIVER, fragment.name, [], None, fragment.started_at,
                             fragment.ended_at, True, None, is_driver=True)  # fmt: skip
        tasks[_DRIVER] = driver
    driver.ended_at = max(driver.ended_at, fragment.ended_at)
    _add(driver, fragment, host_workdir)


def _add(task: ClusterTask, part: Fragment, host_workdir: str | None) -> None:
    task.nodes.add(part.node)
    task.workers.add(part.pid)
    for seen in part.reads:
        path = host_path(seen.path, part.workdir, host_workdir)
        if path not in task.writes:  # what the task wrote itself is not an input of it
            task.reads.setdefault(path, msgspec.structs.replace(seen, path=path))
    for seen in part.writes:
        path = host_path(seen.path, part.workdir, host_workdir)
        task.writes[path] = msgspec.structs.replace(seen, path=path)
        task.deleted.discard(path)
    for deleted in part.deleted:
        path = host_path(deleted, part.workdir, host_workdir)
        task.writes.pop(path, None)
        task.deleted.add(path)
