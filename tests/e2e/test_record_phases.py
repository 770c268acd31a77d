"""The recorder's phases one by one, on a real traced command: what each hands the next."""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from roar.core.context import RoarContext
from roar.hashing import Hasher
from roar.recording import job_builder, recorder
from roar.recording.phases import Traced
from roar.recording.warnings import RecordWarning
from tests.conftest import Workspace

pytestmark = pytest.mark.e2e


def test_each_phase_hands_the_next_what_it_needs(project: Workspace) -> None:
    project.gen(
        {
            "in.txt": "data\n",
            "make.py": "data = open('in.txt').read() + open('loose.txt').read()\n"
            "open('out.txt', 'w').write(data)\n",
            "loose.txt": "not committed\n",
        }
    )
    project.git("add", "in.txt", "make.py")
    project.git("commit", "-q", "-m", "pipeline")
    ctx = RoarContext.load(project.root, verbosity=-1)
    argv = [sys.executable, "make.py"]

    async def phases() -> None:
        prepared = await recorder.prepare(ctx, argv, backend_name="preload", cwd=project.root)
        assert prepared.git.commit and prepared.scratch.is_dir()
        assert prepared.env["ROAR_JOB_ID"] == prepared.job_uid
        async with ctx.store() as store:
            hasher = Hasher(store, ["blake3"])
            traced = await recorder.trace(ctx, prepared, hasher)
            assert traced.outcome.exit_code == 0
            assert any(p.endswith("/in.txt") for p in traced.early)  # hashed while it ran
            warnings: list[RecordWarning] = []
            settled = await recorder.settle(ctx, prepared, traced, hasher, warnings)
            assert [f.path for f in settled.outputs] == ["out.txt"]
            assert {"in.txt", "loose.txt", "make.py"} <= {f.path for f in settled.inputs}
            attribution = await recorder.attribute(ctx, store, prepared, traced, settled, warnings)
            assert attribution.sources["in.txt"] == "git"
            # The untracked input is covered by the recorded patch, so it is sourced.
            assert attribution.patch is not None
            assert attribution.sources["loose.txt"] == f"patch:{attribution.patch.hash}"
            assert [w.kind for w in warnings] == ["dirty-tree"]
            assert warnings[0].startswith("the git tree is dirty")  # still a sentence
            job = job_builder.build_job(
                ctx, "run", prepared, traced, settled, attribution, hasher, warnings
            )
            assert job.git.dirty is True and job.outputs == settled.outputs
            stored = await store.record_job(job)
            assert stored.step_number == 1

    anyio.run(phases)


def _waits_for(marker: Path) -> str:
    """Python code that exits 0 once ``marker`` exists, 3 if it never comes (30 s)."""
    return (
        "import os, sys, time\n"
        "for _ in range(600):\n"
        f"    if os.path.exists({str(marker)!r}):\n"
        "        sys.exit(0)\n"
        "    time.sleep(0.05)\n"
        "sys.exit(3)\n"
    )


def _wrapper(path: Path, real: str, marker: Path, when: str) -> Path:
    """A shell script standing in for ``real`` that creates ``marker`` when called with
    arguments matching the case pattern ``when``."""
    path.write_text(
        f'#!/bin/sh\ncase " $* " in {when}) : > "{marker}";; esac\nexec "{real}" "$@"\n'
    )
    path.chmod(0o755)
    return path


async def _trace_only(ctx: RoarContext, argv: list[str], root: Path, marker: Path) -> Traced:
    prepared = await recorder.prepare(ctx, argv, backend_name="preload", cwd=root)
    marker.unlink(missing_ok=True)  # whatever `prepare` started is not what is tested
    try:
        async with ctx.store() as store:
            return await recorder.trace(ctx, prepared, Hasher(store, ["blake3"]))
    finally:
        shutil.rmtree(prepared.scratch, ignore_errors=True)


def test_git_and_the_machine_are_read_while_the_command_runs(
    project: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What does not depend on the command is read while it runs: the command below waits
    for roar's `git ls-files`, which would otherwise only come after it (and it would fail)."""
    project.gen({"in.txt": "data\n"})
    project.git("add", "in.txt")
    project.git("commit", "-q", "-m", "data")
    marker = tmp_path / "ls-files-ran"
    real_git = shutil.which("git")
    assert real_git is not None
    shims = tmp_path / "bin"
    shims.mkdir()
    _wrapper(shims / "git", real_git, marker, '*" ls-files "*')
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    ctx = RoarContext.load(project.root, verbosity=-1)
    argv = [sys.executable, "-c", _waits_for(marker)]
    traced = anyio.run(_trace_only, ctx, argv, project.root, marker)
    assert traced.outcome.exit_code == 0, "git ls-files did not run while the command ran"
    assert "in.txt" in traced.tracked
    assert traced.machine["cpu"]["count"] == os.cpu_count()


def test_an_interpreter_is_asked_what_it_is_as_soon_as_it_starts(
    project: Workspace, tmp_path: Path
) -> None:
    """The job's Python is asked for its version and prefix while the job runs: the job below
    (run by that Python) waits for the question, which would otherwise only come after it."""
    marker = tmp_path / "asked"
    python = _wrapper(tmp_path / "python3.99", sys.executable, marker, '" -I -S "*')
    ctx = RoarContext.load(project.root, verbosity=-1)
    argv = [str(python), "-c", _waits_for(marker)]
    traced = anyio.run(_trace_only, ctx, argv, project.root, marker)
    assert traced.outcome.exit_code == 0, "the interpreter was not asked while the job ran"
    assert traced.interpreters is not None
    marker.unlink()
    facts = anyio.run(traced.interpreters.facts, str(python))
    assert facts is not None and facts["version"] == platform.python_version()
    assert not marker.exists()  # remembered from the question asked while the job ran


class _SlowHasher(Hasher):
    """Hashes as the real one does, three seconds late (a 100 GB input, say)."""

    async def hash_many(self, paths: Any, *args: Any, **kwargs: Any) -> Any:
        await anyio.sleep(3)
        return await super().hash_many(paths, *args, **kwargs)


def test_the_duration_is_the_commands_not_roars_hashing_after_it(project: Workspace) -> None:
    """The command reads an input just before it exits: roar finishes hashing it after the
    command has ended, and that time is not the job's."""
    project.gen({"in.txt": "data\n"})
    ctx = RoarContext.load(project.root, verbosity=-1)
    argv = ["cat", "in.txt"]

    async def traced() -> Traced:
        prepared = await recorder.prepare(ctx, argv, backend_name="preload", cwd=project.root)
        try:
            async with ctx.store() as store:
                return await recorder.trace(ctx, prepared, _SlowHasher(store, ["blake3"]))
        finally:
            shutil.rmtree(prepared.scratch, ignore_errors=True)

    started = time.monotonic()
    result = anyio.run(traced)
    assert time.monotonic() - started >= 3  # roar did wait for the digest
    assert any(p.endswith("/in.txt") for p in result.early)
    assert result.duration < 2, result.duration  # `cat` itself, not cat plus the 3 s
