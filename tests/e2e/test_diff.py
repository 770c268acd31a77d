"""`roar diff`: why two results differ, traced back to the upstream step where it started."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.e2e

PREP = """\
import sys
seed = int(sys.argv[sys.argv.index("--seed") + 1])
open("data.csv", "w").write("\\n".join(str(seed * i) for i in range(5)))
"""
TRAIN = """\
values = [int(v) for v in open("data.csv").read().split()]
open("model.txt", "w").write(str(sum(values)))
"""


def _jobs(project: Workspace, command: str) -> list[str]:
    return [j["job_uid"] for j in project.roar("log", "--json").json() if j["command"] == command]


def test_diff_finds_the_upstream_parameter_behind_a_different_model(project: Workspace) -> None:
    project.gen({"prep.py": PREP, "train.py": TRAIN})
    project.commit_all("pipeline")
    project.roar("run", "python", "prep.py", "--seed", "1")
    project.roar("run", "python", "train.py")
    first_model = (project.root / "model.txt").read_text()
    project.roar("run", "python", "prep.py", "--seed", "2")
    project.roar("run", "python", "train.py")
    old, new = _jobs(project, "python train.py")

    report = project.roar("diff", old, new, "--json").json()
    assert report["identical"] is False
    assert "--seed: 1 -> 2" in report["root_cause"]
    root, direct = report["diffs"]
    assert root["parameters"] == [{"name": "--seed", "a": "1", "b": "2"}]
    assert [c["path"] for c in direct["inputs"]] == ["data.csv"]
    assert direct["parameters"] == [] and direct["code"] == []

    text = project.roar("diff", old, new).stdout
    assert text.splitlines()[0].startswith("Root cause: @1")
    assert "  --seed: 1 -> 2" in text and "  data.csv (changed)" in text
    # Artifacts work as references too: the model now on disk against the old one's hash.
    from_artifacts = project.roar("diff", "model.txt", old, "--json").json()
    assert "--seed: 2 -> 1" in from_artifacts["root_cause"]
    assert first_model != (project.root / "model.txt").read_text()

    same = project.roar("diff", new, new, "--exit-code")
    assert same.returncode == 0 and "no difference" in same.stdout
    assert project.roar("diff", old, new, "--exit-code", check=False).returncode == 1


def test_diff_shows_code_changes_as_a_unified_diff(project: Workspace) -> None:
    project.gen({"prep.py": PREP, "train.py": TRAIN})
    project.commit_all("pipeline")
    project.roar("run", "python", "prep.py", "--seed", "1")
    project.roar("run", "python", "train.py")
    project.gen({"train.py": TRAIN.replace("sum(values)", "max(values)")})
    project.commit_all("use the max")
    project.roar("run", "python", "train.py")
    old, new = _jobs(project, "python train.py")
    report = project.roar("diff", old, new, "--json").json()
    (only,) = report["diffs"]
    (code,) = only["code"]
    assert code["path"] == "train.py" and code["change"] == "changed"
    assert '-open("model.txt", "w").write(str(sum(values)))' in code["text_diff"]
    assert '+open("model.txt", "w").write(str(max(values)))' in code["text_diff"]
    assert only["commit"] is not None
    assert "code differs (train.py)" in report["root_cause"]


def test_unknown_references_are_one_line_errors(project: Workspace) -> None:
    result = project.roar("diff", "@7", "nothing-here", check=False)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_diff_names_a_variable_the_step_read_differently(project: Workspace) -> None:
    project.gen({"fit.py": "import os\nopen('fit.txt', 'w').write(os.environ['LEARNING_RATE'])\n"})
    project.commit_all("fit")
    for rate in ("0.1", "0.3"):
        Workspace(project.root, {**project.env, "LEARNING_RATE": rate}).roar(
            "run", "python", "fit.py"
        )
    old, new = _jobs(project, "python fit.py")
    report = project.roar("diff", old, new, "--json").json()
    (only,) = report["diffs"]
    assert {"name": "$LEARNING_RATE (read)", "a": "0.1", "b": "0.3"} in only["environment"]
    assert only["parameters"] == [] and only["code"] == []
    assert "LEARNING_RATE (read): 0.1 -> 0.3" in report["root_cause"]
