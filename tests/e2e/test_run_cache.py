"""The run cache: `roar run @N` skips unchanged steps and restores outputs without running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.e2e

# Each step appends to a log outside the project: the proof of whether it ran.
STEP = """\
import sys
from pathlib import Path
n = int(sys.argv[1])
with open(sys.argv[2], "a") as log:
    log.write(f"step {n}\\n")
source = Path(f"s{n - 1}.txt").read_text() if n > 1 else "seed"
Path(f"s{n}.txt").write_text(source + f" -> {n}")
"""


def _pipeline(project: Workspace, log: Path) -> None:
    project.gen({"step.py": STEP})
    project.commit_all("pipeline")
    project.roar("config", "set", "cache.enabled", "true")
    for n in range(1, 6):
        project.roar("run", "python", "step.py", str(n), str(log))


def test_unchanged_steps_are_skipped_and_deleted_outputs_restored(
    project: Workspace, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    _pipeline(project, log)
    assert log.read_text().count("step") == 5
    outputs = {n: (project.root / f"s{n}.txt").read_text() for n in range(1, 6)}

    for n in range(1, 6):
        result = project.roar("run", f"@{n}")
        assert f"@{n} skipped: inputs and outputs unchanged" in result.stderr
    assert log.read_text().count("step") == 5  # nothing ran

    (project.root / "s2.txt").unlink()
    (project.root / "s4.txt").write_text("tampered")
    for n in range(1, 6):
        result = project.roar("run", f"@{n}")
        if n in (2, 4):
            assert f"@{n} restored from the cache (nothing ran): s{n}.txt" in result.stderr
        else:
            assert f"@{n} skipped" in result.stderr
    assert log.read_text().count("step") == 5  # still nothing ran
    assert {n: (project.root / f"s{n}.txt").read_text() for n in range(1, 6)} == outputs
    assert (project.root / ".roar" / "cache" / "blake3").is_dir()

    # --force runs; a changed input runs.
    forced = project.roar("run", "--force", "@5")
    assert "skipped" not in forced.stderr and log.read_text().count("step") == 6
    (project.root / "s3.txt").write_text("changed input")
    ran = project.roar("run", "@4")
    assert "skipped" not in ran.stderr and "restored" not in ran.stderr
    assert log.read_text().count("step") == 7


def test_without_the_cache_a_missing_output_means_running(
    project: Workspace, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    _pipeline(project, log)
    project.roar("config", "set", "cache.enabled", "false")
    (project.root / "s1.txt").unlink()
    result = project.roar("run", "-v", "@1")
    assert "cache.enabled is off" in result.stderr and log.read_text().count("step") == 6


def test_gc_drops_what_no_job_wrote(project: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "ran.log"
    _pipeline(project, log)
    entries = list((project.root / ".roar" / "cache" / "blake3").glob("*/*"))
    assert len(entries) == 5
    project.roar("pop", "-y")  # the newest job (step 5) and its output go
    result = project.roar("gc")
    assert result.stdout.startswith("Removed 1 file(s)") and "4 kept" in result.stdout
    limited = project.roar("gc", "--max-size", "0")
    assert "Removed 4 file(s)" in limited.stdout
    bad = project.roar("gc", "--max-size", "lots", check=False)
    assert bad.returncode != 0 and "not a size" in bad.stderr


def test_reproduce_in_place_skips_unchanged_steps_and_restores_deleted_outputs(
    project: Workspace, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    with open(project.root / ".gitignore", "a") as ignore:
        ignore.write("s*.txt\n")  # outputs untracked: the checkout stays clean
    _pipeline(project, log)
    outputs = {n: (project.root / f"s{n}.txt").read_text() for n in range(1, 6)}

    first = project.roar("reproduce", "s5.txt", "--run", "-y", "--json").json()
    assert first["mode"] == "in-place" and first["ok"] is True
    assert [s["outcome"] for s in first["steps"]] == ["skipped"] * 5
    assert [o["verdict"] for o in first["outputs"]] == ["reproduced"] * 5
    assert first["venv"] is None  # nothing had to run, so no environment was built
    assert log.read_text().count("step") == 5

    (project.root / "s2.txt").unlink()
    (project.root / "s4.txt").write_text("tampered")
    second = project.roar("reproduce", "s5.txt", "--run", "-y")
    assert "Steps: 0/5 ran, 3 skipped and 2 restored by the run cache" in second.stdout
    assert "restored from the run cache without running: s2.txt" in second.stderr
    assert log.read_text().count("step") == 5  # nothing ran
    assert {n: (project.root / f"s{n}.txt").read_text() for n in range(1, 6)} == outputs

    forced = project.roar("reproduce", "s5.txt", "--run", "-y", "--force", "--json").json()
    assert [s["outcome"] for s in forced["steps"]] == ["ran"] * 5
    assert log.read_text().count("step") == 10


def test_reproduce_in_a_clone_restores_from_the_projects_cache(
    project: Workspace, tmp_path: Path
) -> None:
    log = tmp_path / "ran.log"
    _pipeline(project, log)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    away = Workspace(elsewhere, project.env)
    report = away.roar(
        "reproduce", "s5.txt", "--from", str(project.root), "--run", "-y", "--json"
    ).json()
    assert report["mode"] == "clone"
    assert [s["outcome"] for s in report["steps"]] == ["restored"] * 5
    assert log.read_text().count("step") == 5
    clone = Path(report["checkout"])
    assert (clone / "s5.txt").read_text() == (project.root / "s5.txt").read_text()

    project.roar("config", "set", "cache.enabled", "false")
    uncached = away.roar(
        "reproduce", "s5.txt", "--from", str(project.root), "--run", "-y", "--json"
    ).json()
    assert [s["outcome"] for s in uncached["steps"]] == ["ran"] * 5
    assert log.read_text().count("step") == 10


def test_force_needs_run(project: Workspace) -> None:
    result = project.roar("reproduce", "anything", "--force", check=False)
    assert result.returncode == 2 and "--force only applies with --run" in result.stderr


# What the command read besides files: a variable, and a package (its site-packages reads are
# dropped as "package", so no input digest would change with its version).
READS_ENV_AND_PACKAGE = """\
import os
import toypkg
from pathlib import Path
Path("out.txt").write_text(os.environ.get("LR", "unset") + " " + toypkg.VERSION)
"""


def _toy_package(site: Path, version: str) -> None:
    for old in site.glob("toypkg-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    (site / "toypkg").mkdir(parents=True, exist_ok=True)
    (site / "toypkg" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    info = site / f"toypkg-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: toypkg\nVersion: {version}\n")
    (info / "top_level.txt").write_text("toypkg\n")


def test_a_changed_variable_or_package_version_runs_the_step_again(
    project: Workspace, tmp_path: Path
) -> None:
    site = tmp_path / "lib" / "site-packages"
    _toy_package(site, "1.0")
    project.env["PYTHONPATH"] = str(site)
    project.env["LR"] = "0.1"
    project.gen({"train.py": READS_ENV_AND_PACKAGE})
    project.commit_all("train")
    project.roar("run", "python", "train.py")
    out = project.root / "out.txt"
    assert out.read_text() == "0.1 1.0"
    job = project.run_json("show", "@1", "--json")
    assert job["metadata"]["packages"]["pip"].get("toypkg") == "1.0"
    assert job["metadata"]["runtime"]["env_vars_launched"]["LR"] == "0.1"

    same = project.roar("run", "-v", "@1")
    assert "@1 skipped" in same.stderr

    project.env["LR"] = "0.2"
    changed = project.roar("run", "-v", "@1")
    assert "@1 runs: $LR is '0.2' now, '0.1' when @1" in changed.stderr
    assert out.read_text() == "0.2 1.0"  # it ran: the output is the new variable's

    _toy_package(site, "2.0")
    upgraded = project.roar("run", "-v", "@1")
    assert "@1 runs: toypkg 2.0 is installed now, 1.0 when @1" in upgraded.stderr
    assert out.read_text() == "0.2 2.0"

    again = project.roar("run", "-v", "@1")
    assert "@1 skipped" in again.stderr
