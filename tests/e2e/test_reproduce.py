"""`roar reproduce` end to end: a pipeline recorded for real, reproduced from an empty directory
with the real roar, git, venv and pip; verdicts checked output by output.

The 3-step pipeline (a build step writing a config, a step importing a pinned package, a step run
on a dirty tree) is recorded once and reproduced once for the whole module: creating a virtual
environment and installing into it costs seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, Workspace, _clean_env

pytestmark = pytest.mark.e2e

PINNED = "jmespath"  # pure Python, a dependency of botocore: in the test venv and on the index

MAKE_CONFIG = "import json\njson.dump({'scale': 3}, open('config.json', 'w'))\n"
PREP = f"""\
import json
import {PINNED}
cfg = json.load(open('config.json'))
rows = open('data.csv').read().split()[1:]
open('prep.csv', 'w').write(''.join(f'{{int(r) * cfg["scale"]}}\\n' for r in rows))
"""
TRAIN = """\
values = [int(x) for x in open('prep.csv').read().split()]
open('model.json', 'w').write('{"sum": %d}\\n' % sum(values))
"""


@dataclass
class Recorded:
    project: Workspace
    origin: Path
    head: str
    model_hash: str


@dataclass
class Reproduced:
    recorded: Recorded
    where: Path
    result: Result

    @property
    def report(self) -> Any:
        return self.result.json()


def _workspace(base: Path, name: str) -> Workspace:
    home = base / "home"
    home.mkdir(exist_ok=True)
    root = base / name
    root.mkdir()
    return Workspace(root, _clean_env(home))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    base = tmp_path_factory.mktemp("recorded")
    ws = _workspace(base, "pipeline")
    origin = base / "origin" / "pipeline.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True, env=ws.env
    )
    ws.git("init", "-q", "-b", "main")
    ws.git("remote", "add", "origin", str(origin))
    ws.gen(
        {
            ".gitignore": "config.json\nprep.csv\nmodel.json\n",
            "data.csv": "x\n1\n2\n3\n",
            "make_config.py": MAKE_CONFIG,
            "prep.py": PREP,
            "train.py": TRAIN,
        }
    )
    ws.roar("init", "-y")
    head = ws.commit_all("pipeline")
    ws.git("push", "-q", "origin", "main")
    ws.roar("build", "python", "make_config.py")
    ws.roar("run", "python", "prep.py")
    # The last step runs on an uncommitted change: recorded as a patch, applied when reproducing.
    ws.gen({"train.py": TRAIN.replace("% sum(values)", "% (2 * sum(values))")})
    ws.roar("run", "python", "train.py")
    assert (ws.root / "model.json").read_text() == '{"sum": 36}\n'
    job = ws.roar("show", "@3", "--json").json()
    assert job["git"]["dirty"] is True and job["metadata"]["git"]["patch"]
    return Recorded(ws, origin, head, job["outputs"][0]["hash"])


@pytest.fixture(scope="module")
def reproduced(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> Reproduced:
    """``roar reproduce <hash> --run -y`` from an empty directory that is not a roar project."""
    empty = _workspace(tmp_path_factory.mktemp("elsewhere"), "empty")
    result = empty.roar(
        "reproduce", recorded.model_hash[:12], "--from", str(recorded.project.root),
        "--run", "-y", "--json", check=False, timeout=300,
    )  # fmt: skip
    return Reproduced(recorded, empty.root, result)


def test_preview_changes_nothing_and_shows_the_recipe(recorded: Recorded) -> None:
    ws = recorded.project
    status_before = ws.git("status", "--porcelain")
    text = ws.roar("reproduce", "model.json").stdout
    assert text.splitlines()[0].startswith("Reproduce artifact model.json (blake3 ")
    assert f"Git: {recorded.origin}  commit {recorded.head[:12]} (main)" in text
    assert text.index("Build steps (1):") < text.index("@B1") < text.index("Run steps (2):")
    assert "@3    python train.py   [applies patch " in text
    assert f"Packages (pip, 1): {PINNED}=={version(PINNED)}" in text
    assert "Reproducibility - 5/5" in text  # not a terminal: plain ASCII
    assert "✅" not in text and "—" not in text
    assert "[ok] code committed to git (uncommitted changes of @3 captured as patch" in text
    assert "roar reproduce model.json --run" in text

    plan = ws.roar("reproduce", recorded.model_hash[:10], "--json").json()
    assert [s["step_ref"] for s in plan["steps"]] == ["@B1", "@2", "@3"]
    assert [s["kind"] for s in plan["steps"]] == ["build", "run", "run"]
    assert plan["steps"][2]["patch"] and not plan["steps"][1]["patch"]
    assert plan["requirements"]["pip"] == {PINNED: version(PINNED)}
    assert [c["ok"] for c in plan["checklist"]] == [True] * 5
    assert {i["path"]: i["source"] for i in plan["inputs"]} == {
        "make_config.py": "git", "data.csv": "git", "prep.py": "git",
        "train.py": f"patch:{plan['steps'][2]['patch']}",
    }  # fmt: skip

    listed = ws.roar("reproduce", "model.json", "--list-requirements").stdout
    assert f"{PINNED}=={version(PINNED)}\n" in listed
    exported = ws.root.parent / "requirements.txt"
    ws.roar("reproduce", "model.json", "--export-requirements", str(exported))
    assert f"{PINNED}=={version(PINNED)}\n" in exported.read_text()

    assert not (ws.root / "reproduce").exists()
    assert ws.git("status", "--porcelain") == status_before


def test_every_output_is_reproduced_from_an_empty_directory(reproduced: Reproduced) -> None:
    assert reproduced.result.returncode == 0, reproduced.result.stderr
    report = reproduced.report
    assert report["mode"] == "clone" and report["ok"] is True
    assert [(s["step_ref"], s["ran"]) for s in report["steps"]] == [
        ("@B1", True), ("@2", True), ("@3", True),
    ]  # fmt: skip
    verdicts = {o["path"]: o["verdict"] for o in report["outputs"]}
    assert verdicts == {
        "config.json": "reproduced", "prep.csv": "reproduced", "model.json": "reproduced",
    }  # fmt: skip
    target = next(o for o in report["outputs"] if o["target"])
    assert target["path"] == "model.json"
    assert target["actual"] == reproduced.recorded.model_hash

    clone = reproduced.where / "reproduce" / "pipeline"
    assert report["checkout"] == str(clone)
    assert (clone / "model.json").read_text() == '{"sum": 36}\n'  # the patch was applied
    git = ["git", "-C", str(clone)]
    assert subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout == (
        reproduced.recorded.head + "\n"
    )
    branch = subprocess.run([*git, "branch", "--show-current"], capture_output=True, text=True)
    assert branch.stdout == "roar-reproduce\n"


def test_pinned_package_is_installed_in_the_new_environment(reproduced: Reproduced) -> None:
    venv = Path(reproduced.report["venv"])
    code = (
        f"import importlib.metadata as m, {PINNED} as p; print(m.version('{PINNED}'), p.__file__)"
    )
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    installed, location = probe.stdout.split()
    assert installed == version(PINNED)
    assert location.startswith(str(venv))
    assert reproduced.report["python"] == reproduced.report["plan"]["python"]


def test_the_replay_is_a_fresh_session_and_the_users_project_is_untouched(
    reproduced: Reproduced,
) -> None:
    assert reproduced.result.returncode == 0, reproduced.result.stderr
    ws = reproduced.recorded.project
    assert [j["step_ref"] for j in ws.roar("log", "--json").json()] == ["@B1", "@2", "@3"]
    replay = Path(reproduced.report["project"])
    assert replay == reproduced.where / "reproduce" / "pipeline"
    env = {**ws.env, "ROAR_PROJECT_DIR": str(replay)}
    replay_ws = Workspace(replay, env)
    jobs = replay_ws.roar("log", "--json").json()
    assert [j["step_ref"] for j in jobs] == ["@B1", "@2", "@3"]
    assert all(j["exit_code"] == 0 for j in jobs)
    replayed = replay_ws.roar("show", "@2", "--json").json()
    assert replayed["metadata"]["packages"]["pip"] == {PINNED: version(PINNED)}


@pytest.fixture
def stamped(project: Workspace) -> Iterator[Workspace]:
    """A shell-only pipeline (no Python, so no virtual environment) with no remote: one step
    embeds the time, one copies a committed file."""
    project.gen({"data.txt": "alpha\n"})
    project.commit_all("data")
    project.roar("run", "sh", "-c", 'echo "built at $(date +%s%N)" > stamp.txt')
    project.roar("run", "cp", "data.txt", "copy.txt")
    yield project


def test_a_step_that_embeds_the_time_is_recreated(stamped: Workspace) -> None:
    session = stamped.roar("show", "--json").json()["session_hash"]
    elsewhere = stamped.root.parent / "elsewhere"
    elsewhere.mkdir()
    args = ("reproduce", session, "--lineage", "--from", str(stamped.root), "--run", "-y")
    result = stamped.roar(*args, cwd=elsewhere)
    assert "no remote was recorded: cloning the original repository" in result.stderr
    lines = result.stdout.splitlines()
    lines = lines[lines.index("Outputs (2):") :]
    stamp = next(i for i, line in enumerate(lines) if "stamp.txt" in line)
    assert lines[stamp].split()[0] == "recreated"
    assert lines[stamp + 1].strip().startswith("@@ -1 +1 @@")
    assert lines[stamp + 2].strip().startswith("-built at ")
    assert lines[stamp + 3].strip().startswith("+built at ")
    copy = next(line for line in lines if "copy.txt" in line)
    assert copy.split()[0] == "reproduced"
    assert "Result: recreated: every step ran" in result.stdout
    # Every step ran, so it succeeds; --strict asks for identical bytes too.
    strict = stamped.roar(*args, "--strict", "--json", cwd=elsewhere, check=False)
    assert strict.returncode == 1
    report = strict.json()
    assert report["ok"] is False and all(s["ran"] for s in report["steps"])
    assert report["checkout"] == str(elsewhere / "reproduce" / "ws-2")  # never reused
    pushed = next(c for c in report["plan"]["checklist"] if c["key"] == "pushed")
    assert pushed["ok"] is False and "git remote add origin" in pushed["fix"]


def test_in_place_keeps_the_branch_and_the_active_session(stamped: Workspace) -> None:
    jobs_before = stamped.roar("log", "--json").json()
    status_before = stamped.git("status", "--porcelain")
    # --force: stamp.txt is there unchanged, so the run cache would skip the step.
    result = stamped.roar("reproduce", "stamp.txt", "--run", "-y", "--force", "--json")
    report = result.json()
    assert report["mode"] == "in-place" and report["checkout"] == str(stamped.root)
    assert [o["verdict"] for o in report["outputs"]] == ["recreated"]
    assert report["outputs"][0]["diff"][1].startswith("-built at ")
    assert stamped.git("branch", "--show-current") == "main\n"
    assert stamped.git("status", "--porcelain") == status_before
    assert stamped.roar("log", "--json").json() == jobs_before
    assert Path(report["project"]) == stamped.root / ".roar" / "reproductions" / "1"
    # The replay recorded the project's files (the project lives under /tmp here): the step
    # wrote stamp.txt in the checkout, which is the user's work, not a temporary file.
    replay = Workspace(Path(report["project"]), stamped.env)
    replayed = replay.roar("show", "@1", "--json").json()
    assert [o["path"] for o in replayed["outputs"]] == [str(stamped.root / "stamp.txt")] or [
        o["path"] for o in replayed["outputs"]
    ] == ["stamp.txt"], replayed["outputs"]


def test_missing_unsourced_input_stops_the_run_before_anything_executes(
    project: Workspace,
) -> None:
    project.gen({".gitignore": ".roar/\nloose.csv\n", "loose.csv": "1,2\n"})
    project.commit_all("ignore loose")
    project.roar("run", "cp", "loose.csv", "copy.csv")
    preview = project.roar("reproduce", "copy.csv").stdout
    assert "[FAIL] all inputs sourced (unsourced: loose.csv (@1))" in preview
    assert "-> commit them to git, or fetch external data through roar" in preview

    (project.root / "loose.csv").unlink()
    elsewhere = project.root.parent / "elsewhere"
    elsewhere.mkdir()
    failed = project.roar(
        "reproduce", "copy.csv", "--from", str(project.root), "--run", "-y",
        cwd=elsewhere, check=False,
    )  # fmt: skip
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("roar: cannot reproduce")
    assert "loose.csv (read by @1; absent)" in failed.stderr
    assert list(elsewhere.iterdir()) == []  # nothing was cloned or created


def test_without_a_project_or_from_it_is_one_line(workspace: Workspace) -> None:
    result = workspace.roar("reproduce", "abcdef12", check=False)
    assert result.returncode == 2
    assert result.stderr == (
        "roar: no recorded lineage here: run inside the roar project that recorded it, "
        "or pass --from PROJECT_DIR\n"
    )
    no_tty = workspace.roar("reproduce", "abcdef12", "--run", check=False)
    assert no_tty.returncode == 2 and "pass -y" in no_tty.stderr


def _two_commits_and_a_patch(ws: Workspace) -> tuple[str, str, bytes]:
    ws.git("init", "-q", "-b", "main")
    ws.gen({"code.txt": "v1\n"})
    first = ws.commit_all("one")
    ws.gen({"code.txt": "v2\n"})
    second = ws.commit_all("two")
    ws.gen({"code.txt": "v2 edited\n", "extra.cfg": "depth=3\n"})
    patch = ws.git("diff", "HEAD", "--binary").encode()
    patch += subprocess.run(
        ["git", "diff", "--no-index", "--binary", "--", "/dev/null", "extra.cfg"],
        cwd=ws.root, env=ws.env, capture_output=True,
    ).stdout  # fmt: skip
    ws.git("checkout", "-q", "--", "code.txt")
    (ws.root / "extra.cfg").unlink()
    return first, second, patch


@pytest.mark.anyio
async def test_a_clone_moves_between_commits_and_patches(workspace: Workspace) -> None:
    """Steps recorded at different commits, one with a patch: each gets exactly its code, and
    what earlier steps wrote (untracked) stays."""
    from roar.reproduce._code import switch_code
    from roar.reproduce._model import CodeState, PatchRef

    root = workspace.root
    first, second, patch = _two_commits_and_a_patch(workspace)
    ref = PatchRef(
        hash="p" * 64, path="", tracked_changes=["code.txt"], untracked_files=["extra.cfg"]
    )
    one, two = CodeState(commit=first), CodeState(commit=second)
    patched = CodeState(commit=second, patch=ref)

    await switch_code(root, None, one, None)
    assert (root / "code.txt").read_text() == "v1\n"
    (root / "output.bin").write_bytes(b"from step 1")
    await switch_code(root, one, patched, patch)
    assert (root / "code.txt").read_text() == "v2 edited\n"
    assert (root / "extra.cfg").read_text() == "depth=3\n"
    await switch_code(root, patched, two, None)
    assert (root / "code.txt").read_text() == "v2\n"
    assert not (root / "extra.cfg").exists()
    assert (root / "output.bin").read_bytes() == b"from step 1"
    assert workspace.git("branch", "--show-current") == "roar-reproduce\n"


@pytest.mark.slow
def test_a_step_recorded_with_a_venv_that_is_gone_runs_in_the_rebuilt_one(
    project: Workspace, tmp_path: Path
) -> None:
    venv = tmp_path / "throwaway-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    project.gen({"make.py": "open('out.txt', 'w').write('made\\n')\n"})
    project.commit_all("code")
    recorded_python = str(venv / "bin" / "python")
    project.roar("run", recorded_python, "make.py")
    shutil.rmtree(venv)  # the environment the step ran in is gone

    preview = project.roar("reproduce", "out.txt").stdout
    assert f"runs the rebuilt environment's python (recorded {recorded_python})" in preview
    result = project.roar("reproduce", "out.txt", "--run", "-y", "--force", "--json", check=False)
    assert result.returncode == 0, result.stderr
    report = result.json()
    assert [o["verdict"] for o in report["outputs"]] == ["reproduced"]
    assert f"(recorded {recorded_python})" in result.stderr
