"""The recorder's phases one by one, on a real traced command: what each hands the next."""

from __future__ import annotations

import sys

import anyio
import pytest

from roar.core.context import RoarContext
from roar.hashing import Hasher
from roar.recording import job_builder, recorder
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
