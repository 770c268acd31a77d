"""roar's agent in Ray workers, without Ray: what the audit hook makes of a task's file accesses,
and what a process the task started leaves for it. Each case runs in a fresh interpreter (audit
hooks cannot be removed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import blake3

from roar.recording.env_probe import INJECT_DIR

TASK = """
import json, os, shutil, subprocess, sys
from _roar_ray_worker import _observe
from _roar_ray_worker._child import collect
from _roar_ray_worker._record import TaskRecord

os.chdir(sys.argv[1])
_observe.install(os.getcwd())
record = TaskRecord("t1", "work", None, "task")
_observe.begin(record)
os.environ["ROAR_RAY_TASK"] = "t1"
open("in.txt").read()
with open("in.txt", "w") as f:          # read, then rewritten: the input is the old content
    f.write("new")
with open("tmp.part", "w") as f:        # written under a temporary name, then renamed
    f.write("out")
os.replace("tmp.part", "out.txt")
fd = os.open("raw.bin", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"raw")
os.close(fd)
open("scratch.txt", "w").write("x")
os.remove("scratch.txt")                 # gone before the end: not an output
open(os.path.join(sys.prefix, "pyvenv.cfg")).close()  # Python's own: noise
subprocess.run([sys.executable, "-c", "open('child.txt', 'w').write('from the child')"],
               check=True)
_observe.end(None)
with _observe.quiet():
    fragment = record.fragment(ok=True)
    fragment["children"] = collect("t1")
print(json.dumps(fragment))
"""


def _run_task(tmp_path: Path) -> dict[str, Any]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "in.txt").write_text("old")
    spool = tmp_path / "spool"
    spool.mkdir()
    package = os.path.join(INJECT_DIR, "_roar_ray_worker")
    env = {
        **os.environ,
        # As the setup hook leaves a worker: child/ first, for the processes the task starts.
        "PYTHONPATH": os.pathsep.join([os.path.join(package, "child"), INJECT_DIR]),
        "ROAR_RAY_SPOOL": str(spool),
        "ROAR_RAY_WORKDIR": str(work),
    }
    done = subprocess.run(
        [sys.executable, "-c", TASK, str(work)], env=env, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    fragment: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return fragment


def _b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_reads_writes_renames_and_removals_of_a_task(tmp_path: Path) -> None:
    fragment = _run_task(tmp_path)
    work = tmp_path / "work"
    reads = {os.path.relpath(p, work): (h, n) for p, h, n in fragment["reads"]}
    writes = {os.path.relpath(p, work): (h, n) for p, h, n in fragment["writes"]}
    assert reads == {"in.txt": (_b3(b"old"), 3)}  # hashed before it was rewritten
    assert writes == {
        "in.txt": (_b3(b"new"), 3),
        "out.txt": (_b3(b"out"), 3),
        "raw.bin": (_b3(b"raw"), 3),
    }
    assert fragment["deleted"] == []  # scratch.txt was the task's own temporary file
    (child,) = fragment["children"]
    assert child["kind"] == "child" and child["task_id"] == "t1"
    assert [os.path.relpath(p, work) for p, _, _ in child["writes"]] == ["child.txt"]
    assert not os.listdir(tmp_path / "spool")  # collected once


def test_the_agent_and_the_host_agree_on_their_shared_names() -> None:
    # The agent cannot import roar (it runs where roar is not installed): each name it shares
    # with the host is written twice, and checked here.
    import tempfile

    from roar._inject._roar_ray_worker import _digest, _record, _transport, collect
    from roar.recording import (
        ray_cluster_jobs,
        ray_collect,
        ray_fragments,
        ray_runtime_env,
        ray_submission,
    )

    assert _record.FRAGMENT_VERSION == ray_fragments.VERSION
    assert _digest.MISSING == ray_cluster_jobs._NO_BLAKE3
    spool = os.path.join(tempfile.gettempdir(), _transport.spool_name("r1"))
    assert str(ray_submission.spool_dir("r1")) == spool
    assert collect.LINE_PREFIX.encode() == ray_collect.LINE_PREFIX
    assert ray_runtime_env.SETUP_HOOK == "_roar_ray_worker.setup"
    assert os.path.basename(ray_runtime_env.WORKER_PACKAGE) == "_roar_ray_worker"
