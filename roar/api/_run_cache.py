"""The run cache: skip a step whose inputs are unchanged, restore its outputs without running.

``roar run @N`` asks :func:`reuse` before running. An earlier execution of the very same
command (same argv, same job type, same exit code as it would be recorded: successful) is
reusable when every input it read is unchanged now (code included: scripts are inputs) and
every output it wrote is present with the content it wrote — then the step is *skipped*. If
some outputs are missing or changed and ``cache.enabled`` kept them, they are put back from
``.roar/cache/`` — the step is *restored*. Anything else (an input changed, an S3 input that
cannot be checked cheaply, an output not cached) and the step *runs*. So does a step whose
command would not see what it saw: a variable it read has another value now, or a package it
imported another version (``recording.reuse.env_change`` / ``package_change``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    seen_now = _Surroundings(ctx, argv)
    first: Reuse | None = None
    for job in candidates:  # newest first
        why = await seen_now.change_for(job)
        if why is not None:
            # Like a changed input: an older execution may have run as things are now.
            first = first or Reuse("run", job, why)
            continue
        decided = await check(job, hasher, ctx.project.absolute, cache)
        if decided.decision != "run":
            return decided
        if not decided.changed_input:
            # Inputs match but the outputs cannot be had: an older execution would not help.
            return decided
        first = first or decided
    assert first is not None
    return first


class _Surroundings:
    """The variables and packages a re-run of ``argv`` would see now, read once per decision."""

    def __init__(self, ctx: RoarContext, argv: list[str]) -> None:
        # What the command gets: the user's environment and the project's [env] (probe_env).
        self.env = {**os.environ, **ctx.config.env}
        self.argv = argv
        self._installed: dict[tuple[str, tuple[str, ...]], dict[str, str | None] | None] = {}

    async def change_for(self, job: Job) -> str | None:
        """Why ``job`` did not run as a re-run would now (a variable, a package), or None."""
        from roar.recording.reuse import env_change, package_change
        from roar.recording.secrets import REDACTED

        runtime = _mapping(job.metadata.get("runtime"))
        # What the command was started with (jobs recorded before roar kept it: what it saw).
        recorded = runtime.get("env_vars_launched", runtime.get("env_vars"))
        why = env_change(job, _mapping(recorded), self.env, REDACTED)
        if why is not None:
            return why
        imported = _mapping(_mapping(job.metadata.get("packages")).get("pip"))
        if not imported:
            return None
        interpreter = self._interpreter(job, runtime)
        if interpreter is None:
            return f"no Python interpreter {job.step_ref} ran is here to check its packages"
        names = tuple(sorted(imported))
        key = (interpreter, names)
        if key not in self._installed:
            from roar.recording.environment import installed_versions

            self._installed[key] = await installed_versions(interpreter, names, self.env)
        installed = self._installed[key]
        if installed is None:
            return f"{interpreter} cannot run to check the packages {job.step_ref} imported"
        return package_change(job, imported, installed)

    def _interpreter(self, job: Job, runtime: Mapping[str, Any]) -> str | None:
        """The Python a re-run would import with: the command's own program when it is one,
        found on today's PATH (an activated venv counts), else the first one the job ran."""
        from roar.tracing.programs import is_python_program

        program = self.argv[0]
        if "/" not in program:
            program = shutil.which(program, path=self.env.get("PATH")) or ""
        if program and is_python_program(program):
            return program
        for facts in runtime.get("interpreters") or []:
            executable = _mapping(facts).get("executable")
            if isinstance(executable, str) and os.access(executable, os.X_OK):
                return executable
        return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


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
