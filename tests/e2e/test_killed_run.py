"""`kill -9` of roar mid-job: the next run removes what it left behind (scratch space, the preload
socket directory, the shared snapshot table), never a live run's, and the ptrace and eBPF tracers
die with roar instead of tracing into a broken pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import TRACERS, Workspace, roar_executable, tracer_param

pytestmark = pytest.mark.e2e

WAIT = 30.0


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _start(ws: Workspace, tracer: str, script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [roar_executable(), "run", "--tracer", tracer, "sh", "-c", script],
        cwd=ws.root,
        # roar itself in the process the test kills (tests/e2e/test_resident.py kills the `roar`
        # that handed its run to a resident one)
        env={**ws.env, "ROAR_RESIDENT": "0"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group, so the test can clean up the job too
    )


TRACER_PROGRAMS = {"ptrace": b"roar-ptrace", "ebpf": b"roar-ebpf"}


def _tracer_processes(roar_pid: int, program: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(program) and str(roar_pid).encode() in argv:
            found.append(int(entry.name))
    return found


def _leftovers(ws: Workspace, roar_pid: int) -> list[Path]:
    mine = f"{roar_pid}."
    found = [p for p in (ws.root / ".roar" / "tmp").glob("*")]
    for directory in (Path("/tmp"), Path("/dev/shm")):
        found += [
            p
            for p in directory.glob("roar-preload-*")
            if p.name.removeprefix("roar-preload-").removeprefix("snap-").startswith(mine)
        ]
    return found


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_the_next_run_removes_what_a_killed_run_left(project: Workspace, tracer: str) -> None:
    live = _start(project, tracer, "until [ -e go ]; do sleep 0.05; done; echo done > live.txt")
    _until(lambda: len(list((project.root / ".roar" / "tmp").glob("*"))) == 1, "the live run")
    live_scratch = next((project.root / ".roar" / "tmp").glob("*"))

    killed = _start(project, tracer, "echo started > started.txt; exec sleep 60")
    try:
        _until(lambda: (project.root / "started.txt").exists(), "the job to start")
        program = TRACER_PROGRAMS.get(tracer)
        if program is not None:
            assert _tracer_processes(killed.pid, program), "the tracer should be running"
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        left = _leftovers(project, killed.pid)
        assert any(p.parent.name == "tmp" and p != live_scratch for p in left), left
        if tracer == "preload":
            assert any(p.name.startswith("roar-preload-snap-") for p in left), left
        else:
            assert program is not None
            _until(
                lambda: not _tracer_processes(killed.pid, program), "the tracer to die with roar"
            )

        project.roar("run", "--tracer", tracer, "true")

        remaining = [p for p in _leftovers(project, killed.pid) if p != live_scratch]
        assert remaining == []
        assert live_scratch.is_dir()  # the live run's scratch space is untouched
    finally:
        for process in (killed, live):
            (project.root / "go").touch()
            if process is killed:
                os.killpg(process.pid, signal.SIGKILL)
    assert live.wait(timeout=WAIT) == 0
    jobs = project.roar("log", "--json").json()
    live_job = next(j for j in jobs if "live.txt" in j["command"])
    assert live_job["exit_code"] == 0
    shown = project.roar("show", live_job["job_uid"], "--json").json()
    assert [o["path"] for o in shown["outputs"]] == ["live.txt"]
