"""The DAG users look at all day, built from real `roar run`s: shapes, staleness, re-runs,
labels, pictures, reset and pop."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.e2e


def sh(project: Workspace, script: str, *extra: str) -> None:
    project.roar("run", *extra, "sh", "-c", script)


def deps(project: Workspace) -> dict[int, list[int]]:
    dag = project.roar("dag", "--json").json()
    return {n["step_number"]: n["dependencies"] for n in dag["nodes"]}


def states(project: Workspace) -> dict[int, str]:
    dag = project.roar("dag", "--json").json()
    return {n["step_number"]: n["state"] for n in dag["nodes"]}


@pytest.fixture
def seeded(project: Workspace) -> Workspace:
    project.gen({"raw.txt": "3\n1\n2\n"})
    project.commit_all("raw data")
    return project


def test_linear_diamond_and_fan_in(seeded: Workspace) -> None:
    sh(seeded, "sort raw.txt > sorted.txt")  # 1
    sh(seeded, "head -1 sorted.txt > left.txt")  # 2
    sh(seeded, "tail -1 sorted.txt > right.txt")  # 3
    sh(seeded, "cat left.txt right.txt > joined.txt")  # 4: diamond
    sh(seeded, "wc -l < raw.txt > count.txt")  # 5
    sh(seeded, "cat joined.txt count.txt sorted.txt > report.txt")  # 6: fan-in of three
    assert deps(seeded) == {1: [], 2: [1], 3: [1], 4: [2, 3], 5: [], 6: [1, 4, 5]}


def test_ensemble_and_hyperparameter_variants(seeded: Workspace) -> None:
    for seed in (1, 2, 3):
        sh(seeded, f"sed 's/$/ m{seed}/' raw.txt > model_{seed}.txt")
    sh(seeded, "cat model_1.txt model_2.txt model_3.txt > ensemble.txt")
    assert deps(seeded) == {1: [], 2: [], 3: [], 4: [1, 2, 3]}
    # Re-running a variant (same paths) reuses its step number; a new variant gets a new one.
    sh(seeded, "sed 's/$/ m2b/' raw.txt > model_2.txt")
    dag = seeded.roar("dag", "--json").json()
    assert dag["total_steps"] == 4
    assert states(seeded)[4] == "stale"


def test_twelve_step_chain_and_three_outputs(seeded: Workspace) -> None:
    sh(seeded, "cp raw.txt s0.txt; cp raw.txt t0.txt; cp raw.txt u0.txt")
    for i in range(1, 12):
        sh(seeded, f"cat s{i - 1}.txt > s{i}.txt")
    dag = seeded.roar("dag", "--json").json()
    assert dag["total_steps"] == 12
    assert next(n for n in dag["nodes"] if n["step_number"] == 1)["metrics"]["outputs"] == 3
    assert deps(seeded) == {1: [], **{i: [i - 1] for i in range(2, 13)}}


def test_failing_step_then_fixed(seeded: Workspace) -> None:
    failed = seeded.roar("run", "sh", "-c", "cat raw.txt > out.txt; exit 1", check=False)
    assert failed.returncode == 1
    assert "(exit 1)" in seeded.roar("dag").stdout
    sh(seeded, "cat raw.txt > out.txt")
    dag = seeded.roar("dag", "--json").json()
    assert dag["total_steps"] == 1 and dag["nodes"][0]["exit_code"] == 0
    expanded = seeded.roar("dag", "--expanded", "--json").json()
    assert [(n["exit_code"], n["state"]) for n in expanded["nodes"]] == [
        (1, "superseded"), (0, "active"),
    ]  # fmt: skip


def test_stale_cascade_and_recovery(seeded: Workspace) -> None:
    sh(seeded, "sort raw.txt > a.txt")
    sh(seeded, "cat a.txt a.txt > b.txt")
    sh(seeded, "cat b.txt > c.txt")
    assert states(seeded) == {1: "active", 2: "active", 3: "active"}
    (seeded.root / "raw.txt").write_text("9\n8\n")
    seeded.commit_all("new data")
    sh(seeded, "sort raw.txt > a.txt")  # re-run step 1 on changed input
    assert states(seeded) == {1: "active", 2: "stale", 3: "stale"}
    assert "[stale]" in seeded.roar("dag").stdout
    stale_only = seeded.roar("dag", "--stale-only", "--json").json()
    assert {n["step_number"] for n in stale_only["nodes"]} == {2, 3}
    rerun = seeded.roar("run", "@3", check=False)
    assert "upstream steps are stale (@2)" in rerun.stderr
    seeded.roar("run", "@2")
    seeded.roar("run", "@3")
    assert states(seeded) == {1: "active", 2: "active", 3: "active"}


def test_rerun_with_parameter_override(seeded: Workspace) -> None:
    seeded.gen({"train.sh": 'echo "$2" > "model$2.txt"; cat raw.txt >> "model$2.txt"\n'})
    seeded.commit_all("train")
    seeded.roar("run", "sh", "train.sh", "--epochs", "5")
    result = seeded.roar("run", "@1", "--epochs=20")
    assert "Re-running @1: sh train.sh --epochs 20" in result.stderr
    assert (seeded.root / "model20.txt").read_text().startswith("20\n")
    log = seeded.roar("log", "--json").json()
    assert log[-1]["argv"] == ["sh", "train.sh", "--epochs", "20"]


def test_labels(seeded: Workspace) -> None:
    sh(seeded, "sort raw.txt > model.txt", "--name", "train")
    seeded.roar("label", "set", "job", "@1", "phase=train", "lr=0.001")
    seeded.roar("label", "set", "artifact", "model.txt", "model.name=resnet50", "stage=baseline")
    seeded.roar("label", "set", "dag", "current", "owner=alice")
    unchanged = seeded.roar("label", "set", "dag", "current", "owner=alice")
    assert "unchanged" in unchanged.stdout
    assert seeded.roar("label", "show", "job", "@1").stdout == "lr=0.001\nname=train\nphase=train\n"
    seeded.roar("label", "unset", "job", "@1", "lr")
    history = seeded.roar("label", "history", "job", "@1", "--json").json()
    assert [v["version"] for v in history] == [1, 2, 3]
    assert history[-1]["document"] == {"name": "train", "phase": "train"}
    seeded.roar("label", "cp", "job", "@1", "artifact", "model.txt")
    art = seeded.roar("label", "show", "artifact", "model.txt", "--json").json()
    assert art == {"model": {"name": "resnet50"}, "stage": "baseline", "name": "train",
                   "phase": "train"}  # fmt: skip
    dag = seeded.roar("dag", "--json").json()
    assert dag["labels"] == {"owner": "alice"}
    assert dag["nodes"][0]["labels"]["phase"] == "train" and dag["nodes"][0]["step_name"] == "train"
    assert dag["artifacts"][0]["labels"]["stage"] == "baseline"
    bad = seeded.roar("label", "set", "job", "@1", "roar.kind=x", check=False)
    assert bad.returncode == 2 and "reserved" in bad.stderr


def test_show_includes_labels(seeded: Workspace) -> None:
    sh(seeded, "sort raw.txt > model.txt")
    seeded.roar("label", "set", "job", "@1", "stage=gold", "model.arch=resnet")
    seeded.roar("label", "set", "artifact", "model.txt", "quality=high")
    shown = seeded.roar("show", "@1", "--json").json()
    assert shown["labels"] == {"stage": "gold", "model": {"arch": "resnet"}}
    text = seeded.roar("show", "@1").stdout
    assert "stage=gold" in text and "model.arch=resnet" in text
    artifact = seeded.roar("show", "model.txt", "--json").json()
    assert artifact["labels"] == {"quality": "high"}
    assert "quality=high" in seeded.roar("show", "model.txt").stdout


def test_pictures(seeded: Workspace) -> None:
    sh(seeded, "sort raw.txt > a.txt")
    sh(seeded, "cat a.txt > b.txt")
    dot = seeded.roar("dag", "--format", "dot").stdout
    assert dot.startswith("digraph roar {") and "s1 ->" in dot and "-> s2;" in dot
    mermaid = seeded.roar("dag", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR") and '(["a.txt"])' in mermaid
    saved = seeded.env
    seeded.env = dict(saved, PATH="/nonexistent")  # no Graphviz reachable
    try:
        missing = seeded.roar("dag", "--format", "svg", "-o", "dag.svg", check=False)
    finally:
        seeded.env = saved
    assert missing.returncode == 1 and "apt-get install graphviz" in missing.stderr
    assert missing.stderr.count("\n") == 1
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed here (scripts/test installs it)")
    seeded.roar("dag", "--format", "svg", "-o", "dag.svg")
    assert (seeded.root / "dag.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_reset_and_pop(seeded: Workspace) -> None:
    sh(seeded, "sort raw.txt > a.txt")
    sh(seeded, "cat a.txt > b.txt")
    assert seeded.roar("pop", check=False).returncode == 2  # no terminal to ask, no -y
    seeded.roar("pop", "-y")
    assert not (seeded.root / "b.txt").exists()
    assert (seeded.root / "a.txt").exists()
    assert seeded.roar("dag", "--json").json()["total_steps"] == 1
    old = seeded.roar("status", "--json").json()["session_hash"]
    seeded.roar("reset", "-y")
    dag = seeded.roar("dag", "--json").json()
    assert dag["total_steps"] == 0 and dag["session_id"] != old
    assert seeded.roar("dag").stdout.startswith("Pipeline: 0 steps")
    # The old session is still there.
    assert seeded.roar("show", old[:12], "--json").json()["jobs"][0]["command"]


def test_a_bookkeeping_file_written_once_does_not_split_the_step(seeded: Workspace) -> None:
    # Like DVC's .dvc/tmp/btime: written on the first run only, next to the real output.
    script = (
        "[ -e state/btime ] || { mkdir -p state; date +%s%N > state/btime; }; "
        "sort raw.txt > sorted.txt; date +%s%N >> sorted.txt"
    )
    sh(seeded, script)
    sh(seeded, script)
    dag = seeded.roar("dag", "--json").json()
    assert dag["total_steps"] == 1
    jobs = seeded.roar("log", "--json").json()
    assert [j["step_ref"] for j in jobs] == ["@1", "@1"]
    status = seeded.roar("status", "--json").json()
    assert status["artifacts"]["modified"] == [], status["artifacts"]
