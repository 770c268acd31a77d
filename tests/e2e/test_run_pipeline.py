"""`roar run` end to end: the real ptrace tracer on real processes, checked file by file."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import blake3
import pytest

from tests.conftest import INTERRUPTIBLE_JOB, Workspace, roar_executable

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline"

pytestmark = pytest.mark.e2e


def _io(job: dict[str, object]) -> tuple[set[str], set[str]]:
    ins = {f["path"] for f in job["inputs"]}  # type: ignore[attr-defined,index]
    outs = {f["path"] for f in job["outputs"]}  # type: ignore[attr-defined,index]
    return ins, outs


def _check_digests(root: Path, files: list[dict[str, object]]) -> None:
    for f in files:
        data = (root / str(f["path"])).read_bytes()
        assert f["hash"] == blake3.blake3(data).hexdigest(), f["path"]
        assert f["size"] == len(data)
        assert f["hashes"] == {"blake3": f["hash"]}  # type: ignore[comparison-overlap]


def test_three_step_pipeline(project: Workspace) -> None:
    shutil.copytree(EXAMPLE, project.root, dirs_exist_ok=True)
    head = project.commit_all("pipeline")
    for step in ("preprocess", "train", "evaluate"):
        result = project.roar("run", "python", f"{step}.py")
        assert f"{step}:" in result.stdout  # the command's own output passes through

    jobs = [project.roar("show", f"@{n}", "--json").json() for n in (1, 2, 3)]
    assert [_io(j) for j in jobs] == [
        ({"preprocess.py", "data/raw.csv"}, {"work/train.csv", "work/test.csv"}),
        ({"train.py", "work/train.csv"}, {"work/model.json"}),
        ({"evaluate.py", "work/model.json", "work/test.csv"}, {"metrics.json"}),
    ]
    for n, job in enumerate(jobs, start=1):
        assert job["step_number"] == n
        assert job["job_type"] == "run"
        assert job["exit_code"] == 0
        assert job["command"] == f"python {('preprocess', 'train', 'evaluate')[n - 1]}.py"
        assert job["git"] == {
            "commit": head, "branch": "main", "dirty": False, "repo": str(project.root),
            "remote_url": None,
        }  # fmt: skip
        assert len(job["job_uid"]) == 8
        assert job["duration_seconds"] > 0
        _check_digests(project.root, job["inputs"] + job["outputs"])
    # The artifact a step wrote is the very artifact the next one read.
    model_out = next(f for f in jobs[1]["outputs"] if f["path"] == "work/model.json")
    model_in = next(f for f in jobs[2]["inputs"] if f["path"] == "work/model.json")
    assert model_out["hash"] == model_in["hash"]

    dag = project.roar("dag", "--json").json()
    assert [(n["step_number"], n["dependencies"], n["state"]) for n in dag["nodes"]] == [
        (1, [], "active"), (2, [1], "active"), (3, [1, 2], "active"),
    ]  # fmt: skip
    assert dag["total_steps"] == 3 and dag["stale_count"] == 0
    assert {a["path"] for a in dag["artifacts"] if a["is_terminal"]} == {"metrics.json"}
    text = project.roar("dag").stdout
    assert text.splitlines()[0] == "Pipeline: 3 steps"
    assert "\x1b[" not in text  # no colours when piped
    assert re.search(r"^@3  python evaluate\.py +<- @1 @2$", text, re.MULTILINE)
    assert re.search(r"^@1  python preprocess\.py$", text, re.MULTILINE)

    human = project.roar("show", "@2").stdout
    assert "python train.py" in human and "work/model.json" in human


def test_writes_reads_overwrites_and_deletes(project: Workspace) -> None:
    project.gen(
        {
            "in.txt": "b\na\nc\n",
            "counter.txt": "1\n",
            "old.txt": "stale\n",
            "job.py": (
                "import os\n"
                "data = open('in.txt').read()\n"
                # atomic save: temp file renamed over the target
                "with open('out.tmp', 'w') as f:\n"
                "    f.write(data.upper())\n"
                "os.replace('out.tmp', 'out.txt')\n"
                # read then rewrite the same file
                "n = int(open('counter.txt').read())\n"
                "open('counter.txt', 'w').write(f'{n + 1}\\n')\n"
                # a scratch file written then deleted is not an output
                "open('scratch.bin', 'wb').write(b'x' * 10)\n"
                "os.unlink('scratch.bin')\n"
                # deleting a pre-existing file is neither input nor output
                "os.unlink('old.txt')\n"
                # a subprocess with a shell redirection
                "os.system('sort in.txt > sorted.txt')\n"
            ),
        }
    )
    before_counter = blake3.blake3(b"1\n").hexdigest()
    project.commit_all("job")
    project.roar("run", "python", "job.py")
    job = project.roar("show", "@1", "--json").json()
    ins, outs = _io(job)
    assert ins == {"job.py", "in.txt", "counter.txt"}
    assert outs == {"out.txt", "counter.txt", "sorted.txt"}
    counter_in = next(f for f in job["inputs"] if f["path"] == "counter.txt")
    counter_out = next(f for f in job["outputs"] if f["path"] == "counter.txt")
    assert counter_in["hash"] == before_counter
    assert counter_out["hash"] == blake3.blake3(b"2\n").hexdigest()
    _check_digests(project.root, job["outputs"])
    assert (project.root / "sorted.txt").read_text() == "a\nb\nc\n"


def test_exit_codes_pass_through(project: Workspace) -> None:
    failed = project.roar("run", "sh", "-c", "echo partial > part.txt; exit 3", check=False)
    assert failed.returncode == 3
    job = project.roar("show", "@1", "--json").json()
    assert job["exit_code"] == 3 and _io(job)[1] == {"part.txt"}

    killed = project.roar("run", "sh", "-c", "kill -TERM $$", check=False)
    assert killed.returncode == 128 + signal.SIGTERM

    missing = project.roar("run", "no-such-program-xyz", "--flag", check=False)
    assert (missing.returncode, missing.stderr) == (
        127, "roar: command not found: no-such-program-xyz\n",
    )  # fmt: skip
    # Nothing was recorded for a program that never ran.
    assert project.roar("dag", "--json").json()["total_steps"] == 2


def test_ctrl_c_reaches_the_child_and_the_job_is_recorded(project: Workspace) -> None:
    project.gen({"long.py": INTERRUPTIBLE_JOB})
    proc = subprocess.Popen(
        [roar_executable(), "run", "python", "long.py"],
        cwd=project.root,
        env=project.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    deadline = time.monotonic() + 60
    while not (project.root / "ready").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    job = project.roar("show", "@1", "--json").json()
    assert job["exit_code"] == 130
    assert "interrupted.txt" in _io(job)[1]


def test_run_outside_git_records_no_commit(workspace: Workspace) -> None:
    workspace.roar("init")
    workspace.gen({"a.txt": "hello\n"})
    workspace.roar("run", "cp", "a.txt", "b.txt")
    job = workspace.roar("show", "@1", "--json").json()
    assert _io(job) == ({"a.txt"}, {"b.txt"})
    assert job["git"]["commit"] is None and job["git"]["dirty"] is None


def test_paths_outside_the_project_are_absolute(project: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "data.bin").write_bytes(b"\x00" * 1000)
    project.roar("config", "set", "filters.ignore_tmp_files", "false")
    project.roar("run", "sh", "-c", f"cat {outside}/data.bin > copy.bin")
    job = project.roar("show", "@1", "--json").json()
    assert _io(job) == ({str(outside / "data.bin")}, {"copy.bin"})


def test_dirty_tree_is_recorded(project: Workspace) -> None:
    project.gen({"tracked.txt": "v1\n"})
    project.commit_all("tracked")
    (project.root / "tracked.txt").write_text("v2\n")
    project.roar("run", "cat", "tracked.txt")
    assert project.roar("show", "@1", "--json").json()["git"]["dirty"] is True
