"""Fragments from Ray workers: decoded, mapped from the worker's working dir to the project,
grouped per task (or per actor), with what the task's child processes did folded in."""

from __future__ import annotations

import json
from typing import Any

from roar.recording.ray_fragments import decode_lines, group_tasks, host_path

WD = "/tmp/ray/session_1/runtime_resources/working_dir_files/_ray_pkg_ab"


def fragment(task_id: str, name: str, **fields: Any) -> bytes:
    base: dict[str, Any] = {
        "v": 1, "kind": "task", "task_id": task_id, "name": name, "node": "n1", "pid": 7,
        "started_at": 1.0, "ended_at": 2.0, "workdir": WD,
    }  # fmt: skip
    return json.dumps({**base, **fields}).encode()


def test_half_written_and_unknown_versions_are_counted_not_fatal() -> None:
    lines = [fragment("t1", "f"), b'{"v": 1, "kind": "ta', b"", fragment("t2", "g", v=99)]
    fragments, bad = decode_lines(lines)
    assert [f.task_id for f in fragments] == ["t1"] and bad == 2


def test_working_dir_paths_map_to_the_uploaded_directory() -> None:
    assert host_path(f"{WD}/out/a.txt", WD, "/home/u/proj") == "/home/u/proj/out/a.txt"
    assert host_path("/data/shared.bin", WD, "/home/u/proj") == "/data/shared.bin"
    assert host_path(f"{WD}x/a.txt", WD, "/home/u/proj") == f"{WD}x/a.txt"  # not inside it
    assert host_path(f"{WD}/a.txt", WD, None) == f"{WD}/a.txt"  # a remote working_dir


def test_a_tasks_children_are_the_tasks_and_its_own_writes_are_not_inputs() -> None:
    child = {"v": 1, "kind": "child", "task_id": "t1", "pid": 9, "started_at": 1.5,
             "workdir": WD, "writes": [[f"{WD}/helper.txt", "h2", 2]]}  # fmt: skip
    line = fragment(
        "t1", "spawn",
        reads=[[f"{WD}/data.txt", "d", 3]],
        writes=[[f"{WD}/tmp.txt", "x", 1], [f"{WD}/out.txt", "o", 4]],
        deleted=[f"{WD}/tmp.txt"],
        children=[child],
    )  # fmt: skip
    (task,) = group_tasks(decode_lines([line])[0], "/p", per_actor=False)
    assert task.name == "spawn" and task.workers == {7, 9}
    assert list(task.reads) == ["/p/data.txt"]
    assert sorted(task.writes) == ["/p/helper.txt", "/p/out.txt"]  # tmp.txt was deleted
    assert task.writes["/p/helper.txt"].hash == "h2"


def test_actor_calls_per_call_or_per_actor() -> None:
    lines = [
        fragment("c1", "Trainer.__init__", actor_id="a1", started_at=1.0),
        fragment("c2", "Trainer.save", actor_id="a1", started_at=2.0,
                 writes=[[f"{WD}/m.ckpt", "m", 1]]),
        fragment("c3", "shard", started_at=1.5),
    ]  # fmt: skip
    fragments = decode_lines(lines)[0]
    per_call = group_tasks(fragments, "/p", per_actor=False)
    assert [t.name for t in per_call] == ["Trainer.__init__", "shard", "Trainer.save"]
    per_actor = group_tasks(fragments, "/p", per_actor=True)
    assert [(t.name, t.task_ids) for t in per_actor] == [
        ("Trainer", ["c1", "c2"]),
        ("shard", ["c3"]),
    ]
    assert list(per_actor[0].writes) == ["/p/m.ckpt"]


def test_the_driver_and_its_children_are_one_job_stored_after_the_tasks() -> None:
    lines = [
        fragment("driver", "python main.py", kind="driver", started_at=0.5, ended_at=9.0,
                 reads=[[f"{WD}/main.py", "m", 9], [f"{WD}/out.txt", "o", 1]]),
        fragment("driver", "python helper.py", kind="driver", pid=8, started_at=5.0,
                 writes=[[f"{WD}/report.txt", "r", 2]]),
        fragment("t1", "work", started_at=1.0, writes=[[f"{WD}/out.txt", "o", 1]]),
    ]  # fmt: skip
    tasks = group_tasks(decode_lines(lines)[0], "/p", per_actor=False)
    assert [(t.name, t.is_driver) for t in tasks] == [("work", False), ("python main.py", True)]
    driver = tasks[1]
    assert sorted(driver.reads) == ["/p/main.py", "/p/out.txt"]
    assert list(driver.writes) == ["/p/report.txt"] and driver.workers == {7, 8}


def test_a_task_whose_worker_died_is_a_task_that_did_not_complete() -> None:
    lines = [
        fragment("t1", "die", kind="begun", started_at=1.0, ended_at=1.0),
        fragment("t1", "die", kind="begun", pid=8, started_at=2.0, ended_at=2.0),  # a retry
        fragment("t2", "fine", kind="begun", started_at=1.5, ended_at=1.5),
        fragment("t2", "fine", started_at=1.5, ended_at=3.0),
    ]
    tasks = group_tasks(decode_lines(lines)[0], "/p", per_actor=False)
    assert [(t.name, t.completed, t.ok) for t in tasks] == [("die", False, False),
                                                           ("fine", True, True)]  # fmt: skip
    assert tasks[0].error is not None and "worker ended" in tasks[0].error
