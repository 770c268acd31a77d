"""Recording in depth, through real `roar run`/`roar build`: environment, dirty trees, sourcing,
build jobs, inspect commands, concurrency."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import (
    TRACERS,
    Workspace,
    gen,
    record_with_no_room,
    roar_executable,
    tracer_param,
)

pytestmark = pytest.mark.e2e


def test_environment_is_captured(project: Workspace) -> None:
    project.gen({"uses_click.py": "import click\nopen('v.txt', 'w').write(click.__name__)\n"})
    project.commit_all("script")
    result = project.roar("run", "python", "uses_click.py")
    assert "sitecustomize" not in result.stderr  # roar's probe is silent
    job = project.roar("show", "@1", "--json").json()
    meta = job["metadata"]
    assert meta["packages"]["pip"] == {"click": version("click")}  # what it imported, only
    assert "click" in meta["packages"]["pip_installed"]
    assert meta["runtime"]["python"]["version"] == platform.python_version()
    assert meta["runtime"]["os"]["system"] == "Linux"
    assert meta["runtime"]["cpu"]["count"] >= 1
    assert meta["roar_version"]
    assert not any(name.startswith("roar") for name in meta["packages"]["pip"])
    text = project.roar("show", "@1").stdout  # the same facts, for people
    assert f"Packages:  click {version('click')} (1 imported of" in text
    assert f"Python:    CPython {platform.python_version()}" in text
    assert "uses_click.py" in text and "  git" in text  # the script, and where it comes from


def test_dirty_tree_patch_recreates_what_the_job_saw(
    project: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    project.gen({"params.txt": "lr=0.1\n", "main.py": "print(open('params.txt').read())\n"})
    head = project.commit_all("code")
    project.gen({"params.txt": "lr=0.5\n", "extra.cfg": "depth=3\n"})  # modified + untracked
    reader = "open('out.txt', 'w').write(open('params.txt').read() + open('extra.cfg').read())\n"
    project.gen({"reader.py": reader})
    result = project.roar("run", "python", "reader.py")
    assert "git tree is dirty" in result.stderr
    job = project.roar("show", "@1", "--json").json()
    assert job["git"]["dirty"] is True and job["git"]["commit"] == head
    patch = job["metadata"]["git"]["patch"]
    assert set(patch["untracked_files"]) == {"extra.cfg", "reader.py"}
    assert "out.txt" not in patch["untracked_files"]  # the job's own output is not in the patch
    sources = job["metadata"]["input_sources"]
    assert sources["extra.cfg"].startswith("patch:") and sources["params.txt"].startswith("patch:")

    clone = tmp_path_factory.mktemp("clone")
    subprocess.run(
        ["git", "clone", "-q", str(project.root), str(clone)], check=True, env=project.env
    )
    subprocess.run(["git", "checkout", "-q", head], cwd=clone, check=True, env=project.env)
    subprocess.run(
        ["git", "apply", str(project.root / patch["path"])], cwd=clone, check=True, env=project.env
    )
    for name in ("params.txt", "extra.cfg", "reader.py"):
        assert (clone / name).read_bytes() == (project.root / name).read_bytes()
    assert not (clone / "out.txt").exists()


def test_a_job_runs_git_a_handful_of_times_however_many_files_it_reads(
    project: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """40 untracked inputs (odd names, binary content) in a dirty tree: the patch still takes a
    constant number of git processes, and recreates every file."""
    project.gen({"tracked.txt": "v1\n"})
    head = project.commit_all("base")
    names = [f"data/in {n} [x].bin" for n in range(40)]
    project.gen({"tracked.txt": "v2\n"})
    project.gen({name: bytes([n, 0, 255, 10]) * (n + 1) for n, name in enumerate(names)})
    log = tmp_path_factory.mktemp("gitlog") / "calls"
    wrapper_dir = tmp_path_factory.mktemp("wrapper")
    real_git = shutil.which("git", path=project.env["PATH"])
    assert real_git
    wrapper = wrapper_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real_git}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**project.env, "PATH": f"{wrapper_dir}{os.pathsep}{project.env['PATH']}"}
    proc = subprocess.run(
        [roar_executable(), "run", "cat", "tracked.txt", *names],
        cwd=project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().split()
    assert len(calls) <= 8, calls  # status, toplevel, remote, diff, ls-files x2, add -N, diff
    patch = project.roar("show", "@1", "--json").json()["metadata"]["git"]["patch"]
    assert sorted(patch["untracked_files"]) == sorted(names)
    clone = tmp_path_factory.mktemp("clone")
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone)], check=True, env=env)
    subprocess.run(["git", "checkout", "-q", head], cwd=clone, check=True, env=env)
    subprocess.run(["git", "apply", str(project.root / patch["path"])], cwd=clone, check=True)
    for name in ["tracked.txt", *names]:
        assert (clone / name).read_bytes() == (project.root / name).read_bytes(), name


def test_unsourced_input_warns_and_is_listed(project: Workspace) -> None:
    project.gen({".gitignore": ".roar/\nloose.csv\n", "loose.csv": "1,2\n"})
    project.commit_all("ignore loose")
    result = project.roar("run", "cp", "loose.csv", "copy.csv")
    assert "input loose.csv is unsourced" in result.stderr
    unsourced = project.roar("inputs", "--unsourced", "--json").json()
    assert [r["path"] for r in unsourced] == ["loose.csv"]
    project.roar("run", "cp", "copy.csv", "copy2.csv")  # produced by @1: sourced
    rows = project.roar("inputs", "@2", "--json").json()
    assert rows[0]["path"] == "copy.csv" and rows[0]["source"].startswith("job:")
    assert project.roar("inputs", "--sourced", "--json").json()[0]["path"] == "copy.csv"
    listed = project.roar("inputs").stdout.splitlines()
    assert listed[0].startswith("@1") and listed[0].endswith("UNSOURCED")
    assert listed[1].startswith("@2") and listed[1].endswith(
        f"written by job {rows[0]['source'][4:]}"
    )


def test_build_steps_share_numbering_and_feed_runs(project: Workspace) -> None:
    project.roar("build", "sh", "-c", "echo depth=3 > config.txt")
    project.roar("run", "sh", "-c", "cat config.txt > used.txt")
    build = project.roar("show", "@B1", "--json").json()
    assert build["job_type"] == "build" and build["step_number"] == 1
    assert {f["path"] for f in build["outputs"]} == {"config.txt"}
    dag = project.roar("dag", "--json").json()
    assert [(n["step_number"], n["is_build"], n["dependencies"]) for n in dag["nodes"]] == [
        (1, True, []), (2, False, [1]),
    ]  # fmt: skip
    text = project.roar("dag").stdout
    assert "@B1" in text and "B = build step" in text
    rows = project.roar("log", "--json").json()
    assert [r["step_ref"] for r in rows] == ["@B1", "@2"]


def test_show_artifacts_status_and_errors(project: Workspace) -> None:
    project.gen({"a.txt": "alpha\n"})
    project.commit_all("a")
    project.roar("run", "sh", "-c", "cat a.txt > b.txt; cat a.txt a.txt > c.txt")
    job = project.roar("show", "@1", "--json").json()
    b_hash = next(f["hash"] for f in job["outputs"] if f["path"] == "b.txt")
    by_path = project.roar("show", "b.txt", "--json").json()
    assert by_path["hash"] == b_hash
    assert [u["step_ref"] for u in by_path["produced_by"]] == ["@1"]
    by_hash = project.roar("show", b_hash[:10], "--json").json()
    assert by_hash["hash"] == b_hash
    session = project.roar("show", job["session_hash"][:12], "--json").json()
    assert session["session_hash"] == job["session_hash"] and len(session["jobs"]) == 1

    (project.root / "c.txt").unlink()
    (project.root / "b.txt").write_text("changed\n")
    status = project.roar("status", "--json").json()
    assert status["artifacts"] == {
        "present": [], "missing": ["c.txt"], "modified": ["b.txt"], "on_cluster": []
    }  # fmt: skip
    assert status["latest_job"]["step_ref"] == "@1"
    assert status["git"]["ready"] is True

    for args, message in [
        (["show", "@99"], "roar: no step @99 in this session\n"),
        (["show", "no/such/file.bin"], None),
        (["inputs", "@7"], "roar: no step @7 in this session\n"),
    ]:
        bad = project.roar(*args, check=False)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        if message:
            assert bad.stderr == message


def test_env_vars_are_injected_and_recorded(project: Workspace) -> None:
    project.roar("env", "set", "SEED", "42")
    assert project.roar("env", "get", "SEED").stdout == "42\n"
    assert project.roar("env", "list").stdout == "SEED=42\n"
    project.roar("run", "sh", "-c", 'echo "$SEED" > seed.txt')
    assert (project.root / "seed.txt").read_text() == "42\n"
    assert project.roar("show", "@1", "--json").json()["env"] == {"SEED": "42"}
    assert "roar env:  SEED=42" in project.roar("show", "@1").stdout
    project.roar("env", "unset", "SEED")
    assert project.roar("env", "get", "SEED", check=False).returncode == 2
    assert project.roar("env", "set", "1BAD", "x", check=False).returncode == 2


def test_eight_concurrent_runs_are_all_recorded(project: Workspace) -> None:
    procs = [
        subprocess.Popen(
            [roar_executable(), "run", "sh", "-c", f"echo {i} > out{i}.txt"],
            cwd=project.root,
            env=project.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    jobs = project.roar("log", "--json").json()
    assert len(jobs) == 8
    outputs = sorted(tuple(f["path"] for f in j["outputs"]) for j in jobs)
    assert outputs == [(f"out{i}.txt",) for i in range(8)]
    assert sorted(j["step_number"] for j in jobs) == list(range(1, 9))


def test_extra_digests_and_hash_cache(project: Workspace) -> None:
    import hashlib

    import blake3

    project.gen({"big.bin": b"\x01" * 300_000})
    project.commit_all("data")
    project.roar("run", "--hash", "sha256", "--hash", "md5", "cp", "big.bin", "copy.bin")
    job = project.roar("show", "@1", "--json").json()
    data = b"\x01" * 300_000
    expected = {
        "blake3": blake3.blake3(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert job["inputs"][0]["hashes"] == expected
    assert job["outputs"][0]["hashes"] == expected
    shown = project.roar("show", "@1").stdout
    assert expected["sha256"] in shown and expected["md5"] in shown
    project.roar("config", "set", "hash.run", "sha512")
    project.roar("run", "cp", "big.bin", "copy2.bin")
    second = project.roar("show", "@2", "--json").json()
    assert second["inputs"][0]["hashes"]["sha512"] == hashlib.sha512(data).hexdigest()
    project.roar("config", "set", "hash.run", "[]")
    project.roar("run", "cp", "big.bin", "copy3.bin")
    third = project.roar("show", "@3", "--json").json()["metadata"]["hashing"]
    # big.bin is unchanged since it was last hashed: the cache answers, nothing is re-read.
    assert third["cache_hits"] >= 1
    assert third["hashed_bytes"] == 300_000  # only the new copy was read


def test_credentials_never_reach_the_database(project: Workspace) -> None:
    secret = "ghp_" + "s3cr3t" * 6
    project.roar("env", "set", "WANDB_API_KEY", "wandb-key-value-123")
    result = project.roar("run", "sh", "-c", 'echo "$1" > got.txt', "sh", "--token", secret)
    assert "recorded as [REDACTED]" in result.stderr
    assert (project.root / "got.txt").read_text() == "--token\n"  # the command got the real args
    job = project.roar("show", "@1", "--json").json()
    assert secret not in job["command"] and secret not in " ".join(job["argv"])
    assert job["env"] == {"WANDB_API_KEY": "[REDACTED]"}
    db = (project.root / ".roar" / "roar.db").read_bytes()
    wal = project.root / ".roar" / "roar.db-wal"
    stored = db + (wal.read_bytes() if wal.exists() else b"")
    assert secret.encode() not in stored and b"wandb-key-value-123" not in stored


def test_environment_variables_the_program_read(project: Workspace) -> None:
    project.gen(
        {
            "sitecustomize_user": {
                "sitecustomize.py": "import os\nos.environ['USER_SITE'] = '1'\n"
            },
            "reads_env.py": (
                "import os\n"
                "seed = os.environ.get('SEED', '0')\n"
                "token = os.environ['MY_API_TOKEN']\n"
                "'MISSING_VAR' in os.environ\n"
                "open('out.txt', 'w').write(seed + os.environ.get('USER_SITE', '-'))\n"
            ),
        }
    )
    project.commit_all("script")
    project.env.update(
        SEED="7", MY_API_TOKEN="tok-123456", PYTHONPATH=str(project.root / "sitecustomize_user")
    )
    project.roar("run", "python", "reads_env.py")
    # The user's own sitecustomize still ran (roar's probe chains to it).
    assert (project.root / "out.txt").read_text() == "71"
    job = project.roar("show", "@1", "--json").json()
    env_vars = job["metadata"]["runtime"]["env_vars"]
    assert env_vars["SEED"] == "7"
    assert env_vars["MY_API_TOKEN"] == "[REDACTED]"
    assert env_vars["MISSING_VAR"] is None
    assert not any(name.startswith("ROAR_") for name in env_vars)
    assert not any("_inject" in f["path"] for f in job["inputs"])


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_python_reads_record_the_value_the_process_saw(project: Workspace, tracer: str) -> None:
    project.gen(
        {
            "mode.py": (
                "import os\n"
                "mode = os.environ['MODE']\n"
                "has_token = os.environ.get('NEW_SECRET_TOKEN') is not None\n"
                "'UNSET_X' in os.environ\n"
                "open('mode.txt', 'w').write(f'{mode} {has_token}')\n"
            )
        }
    )
    project.commit_all("script")
    project.env.update(MODE="launched")
    script = "export MODE=exported NEW_SECRET_TOKEN=s3cr3t-value; python mode.py"
    project.roar("run", "--tracer", tracer, "sh", "-c", script)
    assert (project.root / "mode.txt").read_text() == "exported True"
    env_vars = project.roar("show", "@1", "--json").json()["metadata"]["runtime"]["env_vars"]
    assert env_vars["MODE"] == "exported"  # not the value roar launched the shell with
    assert env_vars["NEW_SECRET_TOKEN"] == "[REDACTED]"
    assert env_vars["UNSET_X"] is None
    for stored in (project.root / ".roar").rglob("*"):
        if stored.is_file():
            assert b"s3cr3t-value" not in stored.read_bytes(), stored


def test_a_full_disk_while_recording_leaves_no_half_written_job(project: Workspace) -> None:
    import sqlite3

    project.roar("run", "sh", "-c", "echo first > first.txt")
    roar_dir = project.root / ".roar"
    proc = record_with_no_room(project)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("roar: could not record the job"), proc.stderr
    assert "Traceback" not in proc.stderr
    jobs = project.roar("log", "--json").json()
    assert [j["command"] for j in jobs] == ["sh -c 'echo first > first.txt'"]
    with sqlite3.connect(roar_dir / "roar.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM job_outputs").fetchone()[0] == 1


def test_a_tracer_that_cannot_start_is_one_line(project: Workspace) -> None:
    import resource
    import signal

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    proc = subprocess.run(
        [roar_executable(), "run", "--tracer", "preload", "sh", "-c", "true"],
        cwd=project.root, env=project.env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, preexec_fn=no_room, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("roar: "), proc.stderr
    assert project.roar("log", "--json").json() == []


def test_command_line_credentials_in_common_forms_never_reach_the_database(
    project: Workspace,
) -> None:
    secret = "pw-Zq81short"
    forms = [
        ["--aws-secret-access-key", secret],
        ["--client-secret", secret],
        ["-H", f"X-Api-Key: {secret}"],
        [f"--header=Authorization: Bearer {secret}"],
        ["-u", f"alice:{secret}"],
        [f"--user=alice:{secret}"],
        ["--hf_token", secret],
        ["--wandb-key", secret],
        [f"--private-key={secret}"],
    ]
    for number, form in enumerate(forms, start=1):
        project.roar("run", "sh", "-c", f'echo "$#" > n{number}.txt', "sh", *form)
        job = project.roar("show", f"@{number}", "--json").json()
        assert secret not in job["command"] and secret not in " ".join(job["argv"]), form
    db = (project.root / ".roar" / "roar.db").read_bytes()
    wal = project.root / ".roar" / "roar.db-wal"
    stored = db + (wal.read_bytes() if wal.exists() else b"")
    assert secret.encode() not in stored


def test_tool_configuration_is_shown_but_never_required(project: Workspace) -> None:
    home = Path(project.env["HOME"])
    gen(home, {".gitconfig": "[user]\n  name = a\n", ".config": {"tool": {"s.ini": "x=1\n"}}})
    project.gen({".dvc": {"config": "[core]\n"}, "data.txt": "d\n"})
    project.commit_all("data")  # .dvc/config is committed too: git wins over config
    (project.root / ".dvc" / "config.local").write_text("[local]\n")  # untracked
    script = "cat ~/.gitconfig ~/.config/tool/s.ini .dvc/config.local data.txt > out.txt"
    run = project.roar("run", "sh", "-c", script)
    assert "unsourced" not in run.stderr
    rows = {r["path"]: r for r in project.roar("inputs", "--json").json()}
    assert rows[str(home / ".gitconfig")]["source"] == "config"
    assert rows[str(home / ".config" / "tool" / "s.ini")]["required"] is False
    assert rows[".dvc/config.local"]["source"] == "config"
    assert rows["data.txt"]["source"] == "git" and rows["data.txt"]["required"] is True
    assert "No unsourced inputs" in project.roar("inputs", "--unsourced").stdout
    assert "config (tool configuration, not required)" in project.roar("show", "@1").stdout
    preview = project.roar("reproduce", "out.txt", "--json").json()
    check = next(c for c in preview["checklist"] if c["key"] == "inputs_sourced")
    assert check["ok"] is True and ".gitconfig" in check["detail"]
    # A changed ~/.gitconfig does not block reproducing the job.
    (home / ".gitconfig").write_text("[user]\n  name = b\n")
    replay = project.roar("reproduce", "out.txt", "--run", "-y", "--json", check=False)
    assert "unsourced input(s) not on this machine" not in replay.stderr
    assert replay.returncode == 0, replay.stderr
    # The rule is the user's: with no patterns the same files are unsourced again.
    project.roar("config", "set", "filters.config_files", "[]")
    again = project.roar("run", "sh", "-c", script)
    assert "input " + str(home / ".gitconfig") + " is unsourced" in again.stderr


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_debian_packages_of_loaded_libraries_under_both_tracers(
    project: Workspace, tracer: str
) -> None:
    if shutil.which("dpkg") is None or not os.path.exists("/var/lib/dpkg/status"):
        pytest.skip("dpkg is not on this machine (the package query needs it)")
    # libc comes with the program; libssl is loaded later, by dlopen (Python's _ssl module).
    project.roar("run", "--tracer", tracer, "python", "-c", "import ssl")
    dpkg = project.roar("show", "@1", "--json").json()["metadata"]["packages"]["dpkg"]
    assert "libc6" in dpkg, dpkg
    assert "libssl3" in dpkg or "libssl1.1" in dpkg, dpkg


def test_installed_packages_never_include_roars_own(project: Workspace, tmp_path: Path) -> None:
    # roar installed from a wheel lives in a site-packages directory beside its dependencies,
    # and the probe it puts into Python jobs is loaded from there.
    import roar

    site = tmp_path / "roar-env" / "lib" / "python3.11" / "site-packages"
    shutil.copytree(
        Path(roar.__file__).parent, site / "roar", ignore=shutil.ignore_patterns("__pycache__")
    )
    for dist in ("moto-5.0.0", "boto3-1.34.0", "flask-3.0.0"):
        (site / f"{dist}.dist-info").mkdir()
        (site / f"{dist}.dist-info" / "METADATA").write_text("")
    job_venv = tmp_path / "job-venv"  # the job's own interpreter, with nothing installed
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(job_venv)], check=True)
    env = dict(project.env, PYTHONPATH=str(site))
    proc = subprocess.run(
        [sys.executable, "-m", "roar", "run", str(job_venv / "bin" / "python"), "-c", "pass"],
        cwd=project.root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    job = project.roar("show", "@1", "--json").json()
    installed = job["metadata"]["packages"]["pip_installed"]
    assert not {"moto", "boto3", "flask"} & set(installed), installed
    assert installed == {}  # the job's venv holds nothing


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_a_temporary_directory_is_no_lost_input_but_a_vanished_file_is(
    project: Workspace, tracer: str, tmp_path: Path
) -> None:
    # TemporaryDirectory's cleanup opens the directory to list it, then removes it: the tracers
    # see a read of a path that is gone when the job is recorded. It is not a lost input.
    scratch = project.roar(
        "run", "--tracer", tracer, "python", "-c",
        "import os, tempfile\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    open(os.path.join(d, 'x'), 'w').write('1')\n",
    )  # fmt: skip
    assert "could not hash input" not in scratch.stderr
    # A file the job read and someone else removed is still its input (hashed when opened).
    shared = tmp_path / "shared.txt"
    shared.write_text("data")
    gone = project.roar(
        "run", "--tracer", tracer, "python", "-c",
        f"import subprocess\nopen({str(shared)!r}).read()\n"
        f"subprocess.run(['rm', {str(shared)!r}], env={{'LD_PRELOAD': ''}})\n",
    )  # fmt: skip
    assert not shared.exists()
    assert "1 input(s)" in gone.stderr and "could not hash input" not in gone.stderr
