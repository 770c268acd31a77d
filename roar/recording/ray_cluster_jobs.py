"""The tasks of a submitted Ray job, stored as ``ray_task`` jobs of the `roar run` job.

Each task's files are the ones its fragment names (``ray_fragments.py``), filtered by the same
rules as a traced job's, with the digests the worker took: the host never reads a worker's bytes.
What a task wrote is recorded at its project path (the working dir mapped back), but the file
lives on the cluster, in Ray's copy of the working dir, not in the project: the job says so
(``metadata.ray.on_cluster``, shown by `roar show`), and `roar reproduce` re-runs the submitting
command to have it again, as it does for any Ray task.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from roar.core.context import RoarContext
from roar.core.git import GitState
from roar.lineage.identity import step_identity
from roar.models import RAY_WORKER_TRACER, FileDigest, Job, NewJob
from roar.recording.filters import FilterSettings, read_reason, write_reason
from roar.recording.ray_fragments import ClusterTask, SeenFile
from roar.recording.sources import input_sources
from roar.recording.warnings import RecordWarning
from roar.store import Store

_NO_BLAKE3 = "blake3-missing"  # a worker without the blake3 package (see _roar_ray_worker)


@dataclass(frozen=True)
class Submission:
    """What the tasks of one submitted job share."""

    parent: Job
    git: GitState
    tracked: set[str]  # what git covers unmodified (from the parent's attribution)
    settings: FilterSettings
    address: str | None


async def record_cluster_tasks(
    ctx: RoarContext,
    store: Store,
    submission: Submission,
    tasks: Iterable[ClusterTask],
    warnings: list[RecordWarning],
) -> list[Job]:
    """Store ``tasks``, in the order they began (so a task's inputs find the earlier tasks that
    wrote them as their producers)."""
    recorded = []
    for task in tasks:
        recorded.append(
            await store.record_job(await _task_job(ctx, store, submission, task, warnings))
        )
    return recorded


def _files(
    ctx: RoarContext, seen: Iterable[SeenFile], warnings: list[RecordWarning]
) -> list[FileDigest]:
    files = []
    for f in seen:
        if f.hash == _NO_BLAKE3:
            warnings.append(
                RecordWarning(
                    "unhashable-input",
                    f"{f.path} was not hashed on the Ray worker: the blake3 package is not "
                    "installed there (set ray.pip_install = true to have Ray install it)",
                    f.path,
                )
            )
            continue
        shown = ctx.project.display_path(f.path)
        files.append(FileDigest(path=shown, hash=f.hash, size=f.size, hashes={"blake3": f.hash}))
    return sorted(files, key=lambda f: f.path)


async def _task_job(
    ctx: RoarContext,
    store: Store,
    submission: Submission,
    task: ClusterTask,
    warnings: list[RecordWarning],
) -> NewJob:
    settings = submission.settings
    reads = [s for p, s in task.reads.items() if read_reason(p, settings, p in task.writes) is None]
    writes = [s for p, s in task.writes.items() if write_reason(p, settings) is None]
    inputs = _files(ctx, reads, warnings)
    outputs = _files(ctx, writes, warnings)
    produced = await store.producers([f.hash for f in inputs])
    sources = await input_sources(ctx, submission.git, inputs, produced, submission.tracked)
    # The driver's job says it is the driver: `ray_task:python x.py` would read as a task.
    command = f"ray_driver:{task.name}" if task.is_driver else f"ray_task:{task.name}"
    parent = submission.parent
    return NewJob(
        job_uid=secrets.token_hex(4),
        job_type="ray_task",
        command=command,
        argv=[command],
        cwd=parent.cwd,
        started_at=task.started_at,
        duration_seconds=round(max(0.0, task.ended_at - task.started_at), 6),
        # A task's own outcome; the driver's is the job's, as `ray job submit` reported it (its
        # agent exits after Ray's own exit handlers, too late to learn the status).
        exit_code=parent.exit_code if task.is_driver else _exit_code(task),
        signal=None,
        git=parent.git,
        inputs=inputs,
        outputs=outputs,
        step_identity=step_identity(
            [ctx.project.absolute(f.path) for f in inputs],
            [ctx.project.absolute(f.path) for f in outputs],
            command,
            str(ctx.project.root),
            os.path.expanduser("~"),
        ),
        tracer=RAY_WORKER_TRACER,
        env=parent.env,
        metadata={
            "input_sources": sources,
            "ray": {
                "task_id": task.task_ids[0] if task.task_ids else None,
                "task_ids": task.task_ids,
                "name": task.name,
                "driver": task.is_driver,
                "actor_id": task.actor_id,
                "parent_job_uid": parent.job_uid,
                "parent_job_type": parent.job_type,
                "completed": task.completed,
                "error": task.error,
                "on_cluster": True,
                "cluster_address": submission.address,
                "nodes": sorted(task.nodes),
                "workers": sorted(task.workers),
                "deleted": sorted(ctx.project.display_path(p) for p in task.deleted),
            },
        },
    )


def _exit_code(task: ClusterTask) -> int | None:
    """0: returned; 1: raised; None: never ended (its worker died)."""
    if not task.completed:
        return None
    return 0 if task.ok else 1
