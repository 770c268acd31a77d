"""Reproduce planning, checklist, verdict diffs and interpreter choice: the pure parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roar.errors import UsageError
from roar.models import FileDigest, GitInfo, Job
from roar.reproduce import Lineage, Target, build_plan
from roar.reproduce._checklist import is_local_remote, render_checklist
from roar.reproduce._code import normalize_remote, repo_name
from roar.reproduce._environment import step_environment
from roar.reproduce._model import RemoteFacts
from roar.reproduce._plan import (
    artifact_closure,
    dpkg_lines,
    map_path,
    merge_requirements,
    order_steps,
    requirement_lines,
)
from roar.reproduce._python import find_python, pick_interpreter
from roar.reproduce._verify import first_differences

COMMIT = "c" * 40
REMOTE = "git@github.com:acme/pipeline.git"


def _f(path: str, content: str) -> FileDigest:
    return FileDigest(path=path, hash=content * 64, size=1, hashes={"blake3": content * 64})


def _job(
    uid: str,
    step: int,
    t: float,
    ins: list[FileDigest],
    outs: list[FileDigest],
    *,
    kind: str = "run",
    session: str = "s",
    commit: str | None = COMMIT,
    remote: str | None = REMOTE,
    **metadata: Any,
) -> Job:
    meta: dict[str, object] = {
        "runtime": {"python": {"version": "3.11.7"}},
        "packages": {"pip": {}, "dpkg": {}},
        "input_sources": {f.path: "git" for f in ins},
        "git": {"patch": None},
    }
    meta.update(metadata)
    git = GitInfo(commit=commit, branch="main", dirty=False, repo="/src/p", remote_url=remote)
    return Job(
        job_uid=uid, step_number=step, job_type=kind, command=f"cmd {uid}", argv=["cmd", uid],
        cwd=".", started_at=t, duration_seconds=1.0, exit_code=0, signal=None, git=git,
        inputs=ins, outputs=outs, session_hash=session * 64, step_identity=uid, metadata=meta,
    )  # fmt: skip


def _lineage(jobs: list[Job], digest: str, producer: str | None = None) -> Lineage:
    target = Target(kind="artifact", ref=digest[:8], hash=digest, path="x", producer=producer)
    return Lineage(target=target, jobs=jobs, source="test")


def test_closure_takes_the_latest_producer_before_each_consumer() -> None:
    jobs = [
        _job("a1", 1, 1, [_f("raw", "0")], [_f("feat", "1")]),
        _job("a2", 1, 2, [_f("raw", "0")], [_f("feat", "1")]),  # re-run, same content
        _job("b", 2, 3, [_f("feat", "1")], [_f("model", "2")]),
        _job("a3", 1, 4, [_f("raw", "0")], [_f("feat", "1")]),  # after b: not what b read
        _job("x", 3, 5, [_f("other", "7")], [_f("unrelated", "8")]),
        _job("k", 9, 0.5, [], [_f("cfg", "9")], kind="build"),
        _job("k2", 8, 0.2, [], [_f("cfg0", "5")], kind="build", session="t"),  # other session
    ]
    chosen = {j.job_uid for j in artifact_closure(jobs, "2" * 64)}
    assert chosen == {"a2", "b", "k"}


def test_closure_prefers_a_producer_at_the_same_path() -> None:
    jobs = [
        _job("p", 1, 1, [], [_f("copy/a.txt", "1")]),
        _job("q", 2, 2, [], [_f("a.txt", "1")]),
        _job("late", 4, 9, [], [_f("elsewhere.txt", "1")]),
        _job("c", 3, 3, [_f("copy/a.txt", "1")], [_f("out", "2")]),
    ]
    assert {j.job_uid for j in artifact_closure(jobs, "2" * 64)} == {"p", "c"}


def test_order_is_builds_first_then_dependencies_then_step_numbers() -> None:
    jobs = [
        _job("r3", 3, 7, [_f("b", "2")], [_f("c", "3")]),
        _job("r1", 1, 1, [_f("cfg", "9")], [_f("a", "1")]),
        # step 2 re-ran after step 4 wrote what it reads: it must come after step 4
        _job("r2", 2, 6, [_f("d", "4")], [_f("b", "2")]),
        _job("r4", 4, 3, [_f("a", "1")], [_f("d", "4")]),
        _job("b1", 5, 0.5, [], [_f("cfg", "9")], kind="build"),
    ]
    assert [j.job_uid for j in order_steps(jobs)] == ["b1", "r1", "r4", "r2", "r3"]


def test_requirements_merge_in_step_order_and_render_as_pins() -> None:
    build = _job("b", 1, 1, [], [], kind="build", packages={"pip": {"numpy": "1.0"}, "dpkg": {}})
    run = _job(
        "r", 2, 2, [], [],
        packages={"pip": {"numpy": "2.0", "six": "1.17.0"}, "dpkg": {"libc6": "2.36"}},
    )  # fmt: skip
    requirements = merge_requirements(order_steps([run, build]))
    assert requirements.pip == {"numpy": "2.0", "six": "1.17.0"}
    assert requirement_lines(requirements) == ["numpy==2.0", "six==1.17.0"]
    assert requirement_lines(requirements, any_version=True) == ["numpy", "six"]
    assert dpkg_lines(requirements) == ["libc6=2.36"]


def test_plan_a_clean_pipeline_passes_the_checklist() -> None:
    jobs = [
        _job("b", 1, 1, [_f("make.py", "m")], [_f("cfg", "9")], kind="build"),
        _job("r", 2, 2, [_f("cfg", "9"), _f("data", "0")], [_f("model", "2")]),
    ]
    plan = build_plan(_lineage(jobs, "2" * 64, "r"), RemoteFacts(commit_on_remote={COMMIT: None}))
    assert [s.ref for s in plan.steps] == ["@B1", "@2"]
    assert [i.path for i in plan.external_inputs] == ["make.py", "data"]  # cfg is produced
    assert [c.ok for c in plan.checklist] == [True] * 5
    assert plan.python == "3.11.7" and plan.commits == [COMMIT]
    pushed = next(c for c in plan.checklist if c.key == "pushed")
    assert pushed.detail == f"{REMOTE}; not checked from here"
    assert render_checklist(plan.checklist)[0] == "Reproducibility — 5/5"


def test_checklist_names_each_problem_and_its_fix() -> None:
    patch = {"hash": "f" * 64, "path": ".roar/patches/f.patch", "tracked_changes": ["t.py"],
             "untracked_files": []}  # fmt: skip
    jobs = [
        _job("a", 1, 1, [_f("/tmp/loose.csv", "0")], [_f("x", "1")], remote=None,
             input_sources={"/tmp/loose.csv": None}),
        _job("b", 2, 2, [_f("x", "1")], [_f("y", "2")], commit="d" * 40, remote=None,
             git={"patch": patch}),
        _job("c", 3, 3, [_f("y", "2")], [_f("z", "3")], remote=None, runtime=None),
    ]  # fmt: skip
    plan = build_plan(_lineage(jobs, "3" * 64))
    checks = {c.key: c for c in plan.checklist}
    assert (
        checks["committed"].ok and "@2 captured as patch ffffffffffff" in checks["committed"].detail
    )
    assert not checks["single_commit"].ok and checks["single_commit"].detail.startswith("2 commits")
    assert not checks["pushed"].ok and checks["pushed"].fix.startswith("add a remote and push")
    assert not checks["inputs_sourced"].ok
    assert checks["inputs_sourced"].detail == "unsourced: /tmp/loose.csv (@1)"
    assert "out of /tmp" in checks["inputs_sourced"].fix
    assert not checks["runtime"].ok and "@3" in checks["runtime"].detail
    lines = render_checklist(plan.checklist)
    assert lines[0] == "Reproducibility — 1/5"
    assert "  [❌] all inputs sourced (unsourced: /tmp/loose.csv (@1))" in lines
    plain = render_checklist(plan.checklist, plain=True)
    assert plain[0] == "Reproducibility - 1/5"
    assert "  [FAIL] all inputs sourced (unsourced: /tmp/loose.csv (@1))" in plain
    assert all(line.isascii() for line in plain)
    assert plan.patches[0].tracked_changes == ["t.py"]

    no_git = build_plan(_lineage([_job("n", 1, 1, [], [_f("o", "1")], commit=None)], "1" * 64))
    assert not no_git.checklist[0].ok and "outside a git repository" in no_git.checklist[0].detail


def test_a_commit_known_to_be_missing_from_the_remote_fails_pushed() -> None:
    jobs = [_job("a", 1, 1, [], [_f("x", "1")])]
    plan = build_plan(_lineage(jobs, "1" * 64), RemoteFacts(commit_on_remote={COMMIT: False}))
    pushed = next(c for c in plan.checklist if c.key == "pushed")
    assert not pushed.ok and pushed.fix == "push it: git push origin main"


def test_session_plan_takes_the_latest_execution_of_each_step() -> None:
    jobs = [
        _job("a", 1, 1, [], [_f("x", "1")]),
        _job("b", 2, 2, [_f("x", "1")], [_f("y", "2")]),
        _job("a2", 1, 3, [], [_f("x", "1")]),
    ]
    lineage = Lineage(
        target=Target(kind="session", ref="ss", hash="s" * 64), jobs=jobs, source="test"
    )
    assert [s.job.job_uid for s in build_plan(lineage).steps] == ["a2", "b"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (b"a\nb\nc\n", b"a\nB\nc\n", ["@@ -2 +2 @@", "-b", "+B"]),
        (
            b'{"loss": 0.1, "epochs": 3}',
            b'{"epochs": 3, "loss": 0.2}',
            ["@@ -3 +3 @@", '-  "loss": 0.1', '+  "loss": 0.2'],
        ),
        (b'{"a": 1}', b'{ "a": 1 }', ["@@ -1 +1 @@", '-{"a": 1}', '+{ "a": 1 }']),
        (b"\x00\x01", b"\x00\x02", []),
        (b"same\n", b"same\n", []),
    ],
)
def test_first_differences(old: bytes, new: bytes, expected: list[str]) -> None:
    assert first_differences(old, new) == expected


def test_first_differences_stops_after_the_first_hunk() -> None:
    old = "".join(f"{i}\n" for i in range(100)).encode()
    new = old.replace(b"\n5\n", b"\nfive\n").replace(b"\n50\n", b"\nfifty\n")
    assert first_differences(old, new) == ["@@ -6 +6 @@", "-5", "+five"]
    many = first_differences(b"".join(b"x\n" for _ in range(20)), b"y\n" * 20, limit=4)
    assert len(many) == 5 and many[-1] == "..."


def test_interpreter_choice_exact_then_same_minor() -> None:
    found = [("/a/python3.10", "3.10.2"), ("/b/python3.11", "3.11.4"), ("/c/python", "3.11.9")]
    exact = pick_interpreter("3.11.4", found)
    assert exact is not None and (exact.path, exact.exact) == ("/b/python3.11", True)
    minor = pick_interpreter("3.11.7", found)
    assert minor is not None and (minor.path, minor.version, minor.exact) == (
        "/c/python", "3.11.9", False,
    )  # fmt: skip
    assert pick_interpreter("3.9.1", found) is None


def test_remotes_compare_across_protocols() -> None:
    forms = [
        "git@github.com:acme/pipeline.git",
        "https://github.com/acme/pipeline",
        "ssh://git@GitHub.com/acme/pipeline.git",
        "https://user@github.com/acme/pipeline.git/",
    ]
    assert {normalize_remote(f) for f in forms} == {"github.com/acme/pipeline"}
    assert normalize_remote("/srv/git/p.git") == "/srv/git/p"
    assert is_local_remote("/srv/git/p.git") and is_local_remote("file:///srv/p")
    assert not is_local_remote(forms[0]) and not is_local_remote(forms[1])
    assert repo_name(forms[0], None) == "pipeline"
    assert repo_name(None, "/home/me/my project") == "my-project"
    assert repo_name(None, None) == "repo"


def test_recorded_paths_map_into_the_checkout() -> None:
    assert map_path("data/a.csv", "/w/clone", "", "/src/p") == "/w/clone/data/a.csv"
    assert map_path("a.csv", "/w/clone", "sub", "/src/p") == "/w/clone/sub/a.csv"
    assert map_path("/src/p/other/b", "/w/clone", "sub", "/src/p") == "/w/clone/other/b"
    assert map_path("/data/raw.bin", "/w/clone", "", "/src/p") == "/data/raw.bin"
    assert map_path("/src/pp/x", "/w/clone", "", "/src/p") == "/src/pp/x"


def test_step_environment_puts_the_venv_first_and_pins_the_replay_project(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin", "PYTHONHOME": "/x", "ROAR_JOB_ID": "old", "SEED": "1"}
    env = step_environment(
        base, venv=tmp_path / "venv", recorded_env={"SEED": "42"}, project_root=tmp_path
    )
    assert env["PATH"] == f"{tmp_path / 'venv' / 'bin'}:/usr/bin"
    assert env["VIRTUAL_ENV"] == str(tmp_path / "venv") and "PYTHONHOME" not in env
    assert env["SEED"] == "42" and env["ROAR_REPRODUCE"] == "1" and "ROAR_JOB_ID" not in env
    assert env["ROAR_PROJECT_DIR"] == str(tmp_path)


def _fake_python(directory: Path, name: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / name
    exe.write_text(f"#!/bin/sh\necho {version}\n")
    exe.chmod(0o755)
    return exe


@pytest.mark.anyio
async def test_find_python_searches_path_then_pyenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    _fake_python(bin_dir, "python3.10", "3.10.7")
    _fake_python(bin_dir, "python3.broken", "3.10.5")  # not a python name: never asked
    (bin_dir / "python3").symlink_to("/no/such/interpreter")
    pyenv = tmp_path / "pyenv"
    exact = _fake_python(pyenv / "versions" / "3.10.5" / "bin", "python", "3.10.5")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PYENV_ROOT", str(pyenv))
    found = await find_python("3.10.5")
    assert (found.path, found.exact) == (str(exact), True)
    minor = await find_python("3.10.1")
    assert (minor.path, minor.version, minor.exact) == (
        str(bin_dir / "python3.10"),
        "3.10.7",
        False,
    )
    with pytest.raises(UsageError, match=r"Python 2\.7\.18 is not installed .* --python EXE"):
        await find_python("2.7.18")
    chosen = await find_python("3.10.5", str(bin_dir / "python3.10"))
    assert (chosen.version, chosen.exact) == ("3.10.7", False)
    with pytest.raises(UsageError, match="not a working Python"):
        await find_python("3.10.5", str(bin_dir / "python3"))


def test_outputs_a_submitted_jobs_tasks_wrote_on_the_cluster_are_marked() -> None:
    from roar.reproduce._plan import cluster_outputs, fold_ray_tasks

    submit = _job("s", 1, 1, [_f("main.py", "0")], [])
    on_cluster = {"parent_job_uid": "s", "on_cluster": True}
    tasks = [
        _job("t1", 2, 2, [_f("data", "1")], [_f("out/a", "2")], kind="ray_task", ray=on_cluster),
        _job("t2", 3, 3, [_f("out/a", "2")], [_f("out/b", "3")], kind="ray_task", ray=on_cluster),
    ]
    (folded,) = fold_ray_tasks([submit, *tasks])
    assert [f.path for f in folded.outputs] == ["out/a", "out/b"]
    assert [f.path for f in folded.inputs] == ["data", "main.py"]
    assert cluster_outputs(folded) == {"out/a", "out/b"}
    local = _job("t3", 2, 2, [], [_f("c", "4")], kind="ray_task", ray={"parent_job_uid": "s"})
    (script,) = fold_ray_tasks([submit, local])
    assert cluster_outputs(script) == frozenset()
