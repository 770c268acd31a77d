"""The run cache: skip a step whose inputs are unchanged, restore its outputs without running.

``roar run @N`` asks :func:`reuse` before running. An earlier execution of the very same
command (same argv, same job type, same exit code as it would be recorded: successful) is
reusable when every input it read is unchanged now (code included: scripts are inputs) and
every output it wrote is present with the content it wrote — then the step is *skipped*. If
some outputs are missing or changed and ``cache.enabled`` kept them, they are put back from
``.roar/cache/`` — the step is *restored*. Anything else (an input changed, an S3 input that
cannot be checked cheaply, an output not cached) and the step *runs*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio

from roar.models import Job

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.store import Store

Decision = Literal["run", "skipped", "restored"]


@dataclass(frozen=True, slots=True)
class Reuse:
    """What :func:`reuse` decided, against which earlier job, and why."""

    decision: Decision
    job: Job | None = None
    reason: str = ""
    restored: list[str] = field(default_factory=list)


def cache_dir(ctx: RoarContext) -> Path:
    return ctx.project.roar_dir / "cache"


async def reuse(ctx: RoarContext, store: Store, argv: list[str], job_type: str) -> Reuse:
    """Skip, restore or run: the newest matching execution decides."""
    from roar.hashing import Hasher

    candidates = [
        job
        for job in await store.jobs_by_argv(argv, job_type)
        if job.exit_code == 0 and not job.signal
    ]
    if not candidates:
        return Reuse("run", reason="no earlier successful execution of this command")
    hasher = Hasher(store)
    latest = candidates[0]
    latest_reason = ""
    for job in candidates:  # newest first
        if any(f.path.startswith("s3://") for f in job.inputs):
            return Reuse("run", job, "it reads S3 objects, which are not checked without running")
        changed = await _changed(ctx, hasher, [(f.path, f.hash) for f in job.inputs])
        if changed:
            if job is latest:
                latest_reason = f"{changed[0]} changed since {job.step_ref} ({job.job_uid}) ran"
            continue
        outputs = [f for f in job.outputs if not f.path.startswith("s3://")]
        stale = await _changed(ctx, hasher, [(f.path, f.hash) for f in outputs])
        if not stale:
            return Reuse("skipped", job, f"inputs and outputs as {job.job_uid} left them")
        if not ctx.config.get_bool("cache.enabled"):
            return Reuse("run", job, f"{stale[0]} is missing or changed, and cache.enabled is off")
        methods = ctx.config.get_list("cache.type")
        restored: list[str] = []
        for out in outputs:
            if out.path not in stale:
                continue
            target = ctx.project.absolute(out.path)
            ok = await anyio.to_thread.run_sync(
                _restore, cache_dir(ctx), out.hash, Path(target), methods
            )
            if not ok:
                return Reuse("run", job, f"{out.path} is not in the cache")
            restored.append(out.path)
        return Reuse("restored", job, f"outputs of {job.job_uid} put back", restored)
    return Reuse("run", latest, latest_reason)


def _restore(directory: Path, digest: str, target: Path, methods: list[str]) -> bool:
    from roar.recording.run_cache import restore

    return restore(directory, digest, target, methods)


async def _changed(ctx: RoarContext, hasher: object, files: list[tuple[str, str]]) -> list[str]:
    """The paths (of ``files``) whose current content is not the recorded digest."""
    from roar.hashing import Hasher

    assert isinstance(hasher, Hasher)
    located = {path: ctx.project.absolute(path) for path, _ in files}
    results = await hasher.hash_many(located.values())
    changed = []
    for path, digest in files:
        result = results.get(located[path])
        if result is None or result.error or result.digests.get("blake3") != digest:
            changed.append(path)
    return changed


async def keep_outputs(ctx: RoarContext, job: Job) -> int:
    """Put a recorded job's local outputs in the cache (when ``cache.enabled``)."""
    from roar.recording.run_cache import store

    if not ctx.config.get_bool("cache.enabled"):
        return 0
    files = [
        (Path(ctx.project.absolute(f.path)), f.hash)
        for f in job.outputs
        if not f.path.startswith("s3://") and not f.hash.startswith("etag:")
    ]
    methods = ctx.config.get_list("cache.type")
    return await anyio.to_thread.run_sync(store, cache_dir(ctx), files, methods)
