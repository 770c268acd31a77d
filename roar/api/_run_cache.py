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

from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from roar.models import Job
from roar.recording.reuse import OutputCache, Reuse, check

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.store import Store

__all__ = ("Reuse", "cache_dir", "keep_outputs", "output_cache", "reuse")


def cache_dir(ctx: RoarContext) -> Path:
    return ctx.project.roar_dir / "cache"


def output_cache(ctx: RoarContext) -> OutputCache | None:
    """The project's output cache, when ``cache.enabled``."""
    if not ctx.config.get_bool("cache.enabled"):
        return None
    return OutputCache(cache_dir(ctx), tuple(ctx.config.get_list("cache.type")))


async def reuse(ctx: RoarContext, store: Store, argv: list[str], job_type: str) -> Reuse:
    """Skip, restore or run: the newest reusable earlier execution decides."""
    from roar.hashing import Hasher

    candidates = [
        job
        for job in await store.jobs_by_argv(argv, job_type)
        if job.exit_code == 0 and not job.signal
    ]
    if not candidates:
        return Reuse("run", reason="no earlier successful execution of this command")
    hasher = Hasher(store)
    cache = output_cache(ctx)
    first: Reuse | None = None
    for job in candidates:  # newest first
        decided = await check(job, hasher, ctx.project.absolute, cache)
        if decided.decision != "run":
            return decided
        if not decided.changed_input:
            # Inputs match but the outputs cannot be had: an older execution would not help.
            return decided
        first = first or decided
    assert first is not None
    return first


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
