"""The resident roar: `roar run` hands its work to a warm process that forks a copy per run,
while the command itself is still started by the `roar` the user typed.

Each test gets its own resident roar (its own ``XDG_RUNTIME_DIR``), so stopping one or counting
the runs it served is not disturbed by other tests running in parallel.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    INTERRUPTIBLE_JOB,
    TRACERS,
    Workspace,
    record_with_no_room,
    roar_executable,
    tracer_param,
)

pytestmark = pytest.mark.e2e

WAIT = 60.0


def _until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _status(ws: Workspace) -> dict[str, Any]:
    resident: dict[str, Any] = ws.roar("tracer", "status", "--json").json()["resident"]
    return resident


def _running(ws: Workspace) -> dict[str, Any]:
    """The resident roar's status, once one serves (started by a first run if need be)."""
    if _status(ws)["running"] is None:
        ws.roar("run", "true")
    running: dict[str, Any] = _until(lambda: _status(ws)["running"], "the resident roar")
    return running


@pytest.fixture
def own_resident(project: Workspace) -> Iterator[Workspace]:
    runtime = tempfile.mkdtemp(prefix="rr", dir="/tmp")  # short: socket paths are limited
    project.env["XDG_RUNTIME_DIR"] = runtime
    try:
        yield project
    finally:
        project.roar("tracer", "stop-resident", check=False)
        shutil.rmtree(runtime, ignore_errors=True)


def _last_job(ws: Workspace) -> dict[str, Any]:
    newest = ws.roar("log", "--json").json()[-1]
    job: dict[str, Any] = ws.roar("show", newest["job_uid"], "--json").json()
    return job


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_a_run_is_served_by_the_resident_roar_as_it_would_run_here(
    own_resident: Workspace, tracer: str
) -> None:
    ws = own_resident
    served = _running(ws)["served"]
    ws.gen({"sub": {"data.txt": "a\n"}})
    script = "cat data.txt > copy.txt; echo $GREETING > env.txt; pwd > where.txt; cat > in.txt; "
    script += "echo to-stdout; echo to-stderr >&2; exit 3"
    proc = subprocess.run(
        [roar_executable(), "run", "--tracer", tracer, "sh", "-c", script],
        cwd=ws.root / "sub",
        env={**ws.env, "GREETING": "hello"},
        input="from stdin\n",
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert proc.returncode == 3, proc.stderr
    assert _status(ws)["running"]["served"] == served + 1
    sub = ws.root / "sub"
    assert (sub / "copy.txt").read_text() == "a\n"
    assert (sub / "env.txt").read_text() == "hello\n"
    assert (sub / "where.txt").read_text() == f"{sub}\n"
    assert (sub / "in.txt").read_text() == "from stdin\n"
    assert proc.stdout == "to-stdout\n"
    assert proc.stderr.startswith("to-stderr\n") and "roar: recorded @2 " in proc.stderr
    job = _last_job(ws)
    assert job["exit_code"] == 3
    assert {i["path"] for i in job["inputs"]} >= {"sub/data.txt"}
    assert {o["path"] for o in job["outputs"]} == {
        "sub/copy.txt", "sub/env.txt", "sub/where.txt", "sub/in.txt",
    }  # fmt: skip

    # The same run in this process records the same files.
    for name in ("copy.txt", "env.txt", "where.txt", "in.txt"):
        (sub / name).unlink()
    local = subprocess.run(
        [roar_executable(), "run", "--tracer", tracer, "sh", "-c", script],
        cwd=sub,
        env={**ws.env, "GREETING": "hello", "ROAR_RESIDENT": "0"},
        input="from stdin\n",
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert local.returncode == 3
    assert _status(ws)["running"]["served"] == served + 1
    again = _last_job(ws)
    assert {i["path"] for i in again["inputs"]} == {i["path"] for i in job["inputs"]}
    assert {o["path"]: o["hash"] for o in again["outputs"]} == {
        o["path"]: o["hash"] for o in job["outputs"]
    }


def test_a_killed_command_and_a_missing_one_end_as_they_would_here(own_resident: Workspace) -> None:
    ws = own_resident
    served = _running(ws)["served"]
    killed = ws.roar("run", "sh", "-c", "kill -TERM $$", check=False)
    assert killed.returncode == 128 + signal.SIGTERM
    missing = ws.roar("run", "no-such-program-xyz", check=False)
    assert (missing.returncode, missing.stderr) == (
        127, "roar: command not found: no-such-program-xyz\n",
    )  # fmt: skip
    not_executable = ws.root / "data.bin"
    not_executable.write_text("x")
    denied = ws.roar("run", "./data.bin", check=False)
    assert denied.returncode == 126, denied.stderr
    assert _status(ws)["running"]["served"] == served + 3


def _start(ws: Workspace, *argv: str, output: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [roar_executable(), "run", *argv],
        cwd=ws.root,
        env=ws.env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )


def test_ctrl_c_and_sigterm_reach_the_command_and_the_job_is_recorded(
    own_resident: Workspace,
) -> None:
    ws = own_resident
    served = _running(ws)["served"]
    ws.gen({"long.py": INTERRUPTIBLE_JOB})
    proc = _start(ws, "python", "long.py")
    _until(lambda: (ws.root / "ready").exists() or proc.poll() is not None, "the command")
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 130, err
    assert "interrupted.txt" in {o["path"] for o in _last_job(ws)["outputs"]}

    (ws.root / "ready").unlink()
    proc = _start(ws, "python", "long.py")
    _until(lambda: (ws.root / "ready").exists() or proc.poll() is not None, "the command")
    os.kill(proc.pid, signal.SIGTERM)  # to roar alone: it passes it on to the command
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 7, err
    assert "term.txt" in {o["path"] for o in _last_job(ws)["outputs"]}
    assert _status(ws)["running"]["served"] == served + 2


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_kill_9_of_roar_ends_its_resident_copy_which_leaves_nothing(
    own_resident: Workspace, tracer: str
) -> None:
    ws = own_resident
    resident = _running(ws)["pid"]
    script = "echo started > started.txt; exec sleep 60"
    proc = _start(ws, "--tracer", tracer, "sh", "-c", script, output=subprocess.DEVNULL)
    try:
        _until(lambda: (ws.root / "started.txt").exists(), "the job to start")
        assert _children(resident), "the run is served by a fork of the resident roar"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if tracer == "preload":
            os.killpg(proc.pid, signal.SIGKILL)  # the command outlives roar, as without resident
        _until(lambda: not _children(resident), "the forked roar to end")
        _until(lambda: not list((ws.root / ".roar" / "tmp").glob("*")), "its scratch space gone")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    assert _status(ws)["running"]["pid"] == resident  # the resident roar itself lives on


def test_switched_off_by_config_or_environment(own_resident: Workspace) -> None:
    ws = own_resident
    served = _running(ws)["served"]
    ws.roar("run", "--tracer", "preload", "true")
    assert _status(ws)["running"]["served"] == served + 1
    off = {**ws.env, "ROAR_RESIDENT": "0"}
    assert subprocess.run([roar_executable(), "run", "true"], cwd=ws.root, env=off).returncode == 0
    ws.roar("config", "set", "tracer.resident", "false")
    ws.roar("run", "true")
    status = _status(ws)
    assert status["enabled"] is False
    assert status["running"]["served"] == served + 1
    assert ws.roar("log", "--json").json()[-1]["exit_code"] == 0


def test_stop_and_idle_exit(own_resident: Workspace) -> None:
    ws = own_resident
    first = _running(ws)["pid"]
    stopped = ws.roar("tracer", "stop-resident")
    assert stopped.stdout == f"stopped the resident roar (pid {first})\n"
    _until(lambda: _status(ws)["running"] is None, "the resident roar to stop")
    assert "none running (the next run starts one)" in ws.roar("tracer", "status").stdout

    ws.env["ROAR_RESIDENT_IDLE"] = "1"
    second = _running(ws)
    assert second["pid"] != first and second["idle_exit_seconds"] == 1
    _until(lambda: _status(ws)["running"] is None, "the idle resident roar to exit")
    assert not Path(second["socket"]).exists()

    ws.env.pop("ROAR_RESIDENT_IDLE")
    third = _running(ws)  # a clean exit lets the next run start a successor at once
    os.kill(third["pid"], signal.SIGTERM)
    _until(lambda: not Path(third["socket"]).exists(), "`kill` to end it cleanly")
    assert _status(ws)["running"] is None
    assert list(Path(third["socket"]).parent.iterdir()) == []  # no lock, stamp or empty log


def test_an_unsafe_socket_directory_is_not_used(own_resident: Workspace) -> None:
    ws = own_resident
    shared = Path(ws.env["XDG_RUNTIME_DIR"]) / "roar"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    for _ in range(2):
        ws.roar("run", "true")
    time.sleep(0.5)
    assert list(shared.iterdir()) == []  # no resident roar listens where others could connect
    assert ws.roar("tracer", "status", "--json").json()["resident"]["running"] is None


def test_the_resident_roar_keeps_no_descriptor_the_first_run_inherited(
    own_resident: Workspace,
) -> None:
    ws = own_resident
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.run(
            [roar_executable(), "run", "true"],
            cwd=ws.root,
            env=ws.env,
            pass_fds=(write_end,),
            capture_output=True,
            timeout=WAIT,
        )
        assert proc.returncode == 0
        os.close(write_end)
        write_end = -1
        _until(lambda: _status(ws)["running"], "the resident roar")
        ready, _, _ = select.select([read_end], [], [], WAIT)
        assert ready and os.read(read_end, 1) == b"", "a reader of the pipe would wait forever"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_tracer_status_reports_the_resident_roar(own_resident: Workspace) -> None:
    ws = own_resident
    running = _running(ws)
    text = ws.roar("tracer", "status").stdout
    assert f"resident: on; pid {running['pid']}," in text
    socket_path = Path(running["socket"])
    assert socket_path.parent == Path(ws.env["XDG_RUNTIME_DIR"]) / "roar"
    assert oct(socket_path.parent.stat().st_mode & 0o777) == "0o700"
    assert json.loads(ws.roar("tracer", "status", "--json").stdout)["resident"]["enabled"]


def test_the_resident_copy_takes_on_the_limits_of_the_roar_the_user_started(
    own_resident: Workspace,
) -> None:
    ws = own_resident
    served = _running(ws)["served"]
    proc = record_with_no_room(ws)  # `ulimit -f`: roar's own writes must hit it too
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("roar: could not record the job")
    assert _status(ws)["running"]["served"] == served + 1


def test_a_roar_the_resident_cannot_be_runs_in_its_own_process(own_resident: Workspace) -> None:
    ws = own_resident
    served = _running(ws)["served"]
    groups = os.getgroups()
    proc = subprocess.run(
        [roar_executable(), "run", "sh", "-c", "id -G > groups.txt"],
        cwd=ws.root, env=ws.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.setgroups([*groups, 4242]), timeout=WAIT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "4242" in (ws.root / "groups.txt").read_text().split()
    assert _status(ws)["running"]["served"] == served  # declined: different groups
    assert "groups.txt" in {o["path"] for o in _last_job(ws)["outputs"]}


def test_parallel_runs_are_each_served_and_recorded(own_resident: Workspace) -> None:
    ws = own_resident
    served = _running(ws)["served"]
    ws.gen({f"in{i}.txt": f"{i}\n" * (i + 1) for i in range(8)})
    procs = [_start(ws, "sh", "-c", f"sleep 0.3; sort in{i}.txt > out{i}.txt") for i in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
    assert _status(ws)["running"]["served"] == served + 8
    jobs = ws.roar("log", "--json").json()
    for i in range(8):
        job = next(j for j in jobs if f"out{i}.txt" in j["command"])
        shown = ws.roar("show", job["job_uid"], "--json").json()
        assert [o["path"] for o in shown["outputs"]] == [f"out{i}.txt"]
        assert {x["path"] for x in shown["inputs"]} == {f"in{i}.txt"}
