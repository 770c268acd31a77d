"""A job's files go into the store while its command runs (roar.recording.staging): the traced
commands below wait until their own files are in `.roar/roar.db`, which would only happen after
they exit if the store's work followed the command."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.conftest import TRACERS, Workspace, roar_executable, tracer_param

pytestmark = pytest.mark.e2e

OUTPUTS = 300  # more than one batch of closed outputs (recorder.CLOSED_BATCH)

# Writes OUTPUTS files of distinct content, then waits (30 s at most) until the store holds an
# artifact first seen at each of the first 256: exit 3 if that never happens.
WRITE_THEN_WAIT = f"""
import os, sqlite3, sys, time
os.makedirs('out', exist_ok=True)
data = open('data.bin', 'rb').read()
for i in range({OUTPUTS}):
    with open(f'out/{{i}}.txt', 'w') as f:
        f.write(f'output {{i}} of ' + str(len(data)))
def staged():
    db = sqlite3.connect('file:.roar/roar.db?mode=ro', uri=True)
    try:
        return db.execute(
            "SELECT count(*) FROM artifacts WHERE first_seen_path LIKE 'out/%'").fetchone()[0]
    finally:
        db.close()
for _ in range(600):
    if staged() >= 256:
        break
    time.sleep(0.05)
else:
    sys.exit(3)
open('staged.txt', 'w').write('staged')
"""


def _rows(ws: Workspace, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(ws.root / ".roar" / "roar.db") as conn:
        return list(conn.execute(sql))


def _orphans(ws: Workspace) -> list[tuple[object, ...]]:
    """Artifacts nothing refers to."""
    return _rows(
        ws,
        """SELECT uid, first_seen_path FROM artifacts a
           WHERE NOT EXISTS (SELECT 1 FROM job_inputs WHERE artifact_id = a.id)
             AND NOT EXISTS (SELECT 1 FROM job_outputs WHERE artifact_id = a.id)""",
    )


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_outputs_are_in_the_store_while_the_command_runs(project: Workspace, tracer: str) -> None:
    project.gen({"data.bin": "d" * 5000})
    # After its files are staged the job deletes a third and rewrites a third: the record is
    # what it left, and nothing staged for what it did not leave stays in the store.
    script = WRITE_THEN_WAIT + (
        "for i in range(0, 100):\n"
        "    os.remove(f'out/{i}.txt')\n"
        "for i in range(100, 200):\n"
        "    open(f'out/{i}.txt', 'w').write(f'rewritten {i}')\n"
    )
    project.gen({"job.py": script})
    result = project.roar("run", "--tracer", tracer, "python", "job.py", check=False)
    assert result.returncode == 0, f"the job's files were not staged while it ran\n{result.stderr}"
    assert (project.root / "staged.txt").read_text() == "staged"
    job = project.roar("show", "@1", "--json").json()
    outputs = {o["path"]: o for o in job["outputs"]}
    expected = {f"out/{i}.txt" for i in range(100, OUTPUTS)} | {"staged.txt"}
    assert set(outputs) == expected
    from blake3 import blake3

    for name, output in outputs.items():
        assert output["hash"] == blake3((project.root / name).read_bytes()).hexdigest(), name
    assert {i["path"] for i in job["inputs"]} >= {"data.bin", "job.py"}
    assert _orphans(project) == []
    assert _rows(project, "SELECT * FROM staging_jobs") == []


def test_a_checkpoint_is_hashed_and_in_the_store_while_the_job_goes_on(
    project: Workspace,
) -> None:
    """One output closed and left alone is not kept waiting for a batch of closed outputs."""
    project.gen(
        {
            "train.py": "import os, sqlite3, sys, time\n"
            "with open('ckpt.bin', 'wb') as f:\n"
            "    f.write(os.urandom(3 << 20))\n"
            "for _ in range(600):\n"
            "    db = sqlite3.connect('file:.roar/roar.db?mode=ro', uri=True)\n"
            '    found = db.execute("SELECT uid FROM artifacts"\n'
            "                       \" WHERE first_seen_path = 'ckpt.bin'\").fetchone()\n"
            "    db.close()\n"
            "    if found:\n"
            "        open('seen.txt', 'w').write(found[0])\n"
            "        sys.exit(0)\n"
            "    time.sleep(0.05)\n"
            "sys.exit(3)\n"
        }
    )
    result = project.roar("run", "python", "train.py", check=False)
    assert result.returncode == 0, (
        f"the checkpoint was not hashed while the job ran\n{result.stderr}"
    )
    from blake3 import blake3

    digest = blake3((project.root / "ckpt.bin").read_bytes()).hexdigest()
    assert (project.root / "seen.txt").read_text() == digest
    job = project.roar("show", "@1", "--json").json()
    assert {o["path"]: o["hash"] for o in job["outputs"]}["ckpt.bin"] == digest


def test_a_killed_run_leaves_nothing_it_staged_once_the_next_run_is_done(
    project: Workspace,
) -> None:
    project.gen({"data.bin": "k" * 7000, "job.py": WRITE_THEN_WAIT + "time.sleep(60)\n"})
    killed = subprocess.Popen(
        [roar_executable(), "run", "python", "job.py"],
        cwd=project.root,
        env={**project.env, "ROAR_RESIDENT": "0"},  # roar in the process killed here
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (project.root / "staged.txt").exists():
            assert killed.poll() is None and time.monotonic() < deadline, "never staged"
            time.sleep(0.05)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
    staged = [r for r in _orphans(project) if str(r[1]).startswith("out/")]
    assert len(staged) >= 256  # what the killed run put there, never recorded
    assert len(_rows(project, "SELECT * FROM staging_jobs")) == 1

    project.roar("run", "true")

    assert _orphans(project) == []
    assert _rows(project, "SELECT * FROM staging_jobs") == []
    assert [j["command"] for j in project.roar("log", "--json").json()] == ["true"]
