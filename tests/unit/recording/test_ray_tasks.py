"""Ray task routing on event sequences (no tracer, no Ray): which events are a task's."""

from __future__ import annotations

from pathlib import Path

from roar.recording.ray_tasks import TaskRouter
from roar.tracing import wire


def _open(pid: int, tid: int, path: str, flags: int = 0) -> wire.Record:
    return wire.Record(wire.EVK_OPEN, 0, pid, tid, flags, 3, 0, path, None)


def test_no_marker_no_routing_and_the_batch_passes_untouched(tmp_path: Path) -> None:
    router = TaskRouter(str(tmp_path))
    batch = [_open(10, 10, "/p/a.txt")]
    main, routed = router.split(batch)
    assert main is batch and routed == {}
    assert router.in_order() == []


def test_events_between_marks_and_of_started_processes_are_the_tasks(tmp_path: Path) -> None:
    router = TaskRouter(str(tmp_path))
    begin = tmp_path / "begin~t1~shard~10.0"
    begin.touch()  # the probe creates the file before the tracer reports it
    fork = wire.Record(wire.EVK_FORK, 0, 10, 10, 20, 0, 0, "", None)
    batch = [
        _open(10, 10, "/p/before.txt"),
        _open(10, 10, str(begin)),
        _open(10, 10, "/p/in-task.txt"),
        _open(10, 11, "/p/other-thread.txt"),
        fork,
        _open(20, 20, "/p/child.txt"),
        _open(10, 10, str(tmp_path / "end~t1~shard~10.1")),
        _open(10, 10, "/p/after.txt"),
    ]
    main, routed = router.split(batch)
    (task,) = router.in_order()
    assert (task.task_id, task.name, task.workers) == ("t1", "shard", {10})
    assert [e[7] for e in routed[task]] == ["/p/in-task.txt", "/p/child.txt"]
    # Markers vanish; the FORK stays with the job (process lifetimes are the job's).
    assert [e[7] for e in main] == ["/p/before.txt", "/p/other-thread.txt", "", "/p/after.txt"]
    assert task.ended_at is not None
