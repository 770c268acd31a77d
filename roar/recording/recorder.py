"""Recording one traced job, in named phases: prepare, trace, settle digests, attribute sources,
build the job, store it.

While the command runs (the *trace* phase) the loop does four things at once: the tracer's events
stream in and are decoded in batches, the access model is updated, and every new input is hashed
on worker threads right away (so its digest is taken before the job can overwrite it, and most
hashing is done when the command exits). Each later phase is a function of what the phases
before it produced, so each can be exercised on its own: the values they hand on are in
``phases``, and the last, pure step (the job record) is ``job_builder``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import msgspec

from roar.core.context import RoarContext
from roar.core.git import read_git_state
from roar.core.leftovers import mark_owner
from roar.core.leftovers import sweep as sweep_leftovers
from roar.errors import CommandNotFoundError, StoreError, TracerError
from roar.hashing import Hasher, HashResult
from roar.models import Job, NewJob
from roar.recording.digests import collect_digests, to_files
from roar.recording.env_probe import INJECT_DIR, env_vars_launched, env_vars_read, probe_env
from roar.recording.environment import (
    INTERPRETER_CACHE,
    InterpreterCache,
    interpreters,
    machine_facts,
)
from roar.recording.environment import capture as capture_environment
from roar.recording.filters import (
    FilterSettings,
    Verdicts,
    apply_filters,
    python_prefixes,
    tracer_skip_reads,
)
from roar.recording.job_builder import build_job
from roar.recording.patch import store_patch, tracked_diff, untracked_inputs
from roar.recording.phases import Attribution, Prepared, RunReport, Settled, Traced
from roar.recording.ray_submit import is_ray_job_submit
from roar.recording.ray_tasks import RayTask, TaskRouter
from roar.recording.s3 import s3_edges
from roar.recording.semantics import AccessModel
from roar.recording.sources import input_sources, unmodified_tracked
from roar.recording.staging import Stager
from roar.recording.warnings import RecordWarning
from roar.store import Store, require_writable
from roar.tracing.base import EventBatch, EventSink
from roar.tracing.select import choose_backend

if TYPE_CHECKING:
    from roar.proxy.job import JobProxy
    from roar.recording.ray_fragments import ClusterTask
    from roar.recording.ray_submission import SubmitPlan

CLOSED_BATCH = 256  # outputs closed during the run are hashed in batches of this many
# ... or once they have been left closed this long (seconds, between one and two of it): a
# checkpoint is hashed while the job goes on, not after it.
QUIET_CLOSE = 0.25
RAY_TASK_TAG = "ray-task:"  # the Roar-Job-Id of an S3 request made inside a Ray task


def resolve_program(argv0: str, env: dict[str, str], cwd: Path) -> str:
    """The executable ``argv0`` names, or CommandNotFoundError (exit 127 / 126)."""
    if "/" in argv0:
        candidate = argv0 if os.path.isabs(argv0) else str(cwd / argv0)
        if not os.path.exists(candidate):
            raise CommandNotFoundError(argv0)
        if os.path.isdir(candidate) or not os.access(candidate, os.X_OK):
            raise CommandNotFoundError(argv0, exit_code=126)
        return candidate
    found = shutil.which(argv0, path=env.get("PATH", os.defpath))
    if found is None:
        raise CommandNotFoundError(argv0)
    return found


# -- phase 1: prepare --------------------------------------------------------------------------


async def prepare(
    ctx: RoarContext, argv: Sequence[str], *, backend_name: str | None, cwd: Path
) -> Prepared:
    """Choose the tracer, build the environment, make the scratch space, read git."""
    job_uid = secrets.token_hex(4)
    scratch = ctx.project.roar_dir / "tmp" / job_uid
    env = probe_env(ctx, job_uid, scratch / "env")
    launched_with = dict(env)
    resolve_program(argv[0], env, cwd)
    # Off the loop: choosing may read the program's first bytes and, once per boot, run the
    # eBPF self-test (a traced `cat`, about 40 ms).
    choose = functools.partial(choose_backend, argv=argv, env=env, cwd=cwd)
    backend = await anyio.to_thread.run_sync(choose, ctx.config, backend_name)
    settings = FilterSettings.from_config(
        ctx.config, str(ctx.project.root), package_roots=_own_python_roots()
    )
    require_writable(ctx.project.db_path)
    submission = None
    if ctx.config.get_bool("ray.enabled") and is_ray_job_submit(list(argv)):
        from roar.recording.ray_submission import plan_submission

        submission = plan_submission(ctx, list(argv), cwd, scratch, job_uid)
    # Scratch space of runs that were killed (kill -9, OOM) goes before this run adds its own.
    sweep_leftovers(scratch.parent)
    scratch.mkdir(parents=True, exist_ok=True)
    mark_owner(scratch)
    (scratch / "snapshots").mkdir(parents=True, exist_ok=True)
    (scratch / "env").mkdir(parents=True, exist_ok=True)
    router = None
    if ctx.config.get_bool("ray.enabled"):
        # Ray's own session files are its business, not the job's inputs or outputs.
        ray_noise = ("/tmp/ray", os.path.expanduser("~/.ray"))
        settings = replace(settings, ignore_paths=settings.ignore_paths + ray_noise)
        router = TaskRouter(str(scratch / "ray"))
        (scratch / "ray").mkdir()
        env["ROAR_RAY_MARKERS"] = str(scratch / "ray")
        # Each task reports what it reads, even what an earlier task in its worker read.
        env["ROAR_PRELOAD_DEDUPE_RESET_UNDER"] = str(scratch / "ray")
        env["ROAR_RAY_ACTOR_ATTRIBUTION"] = ctx.config.get_str("ray.actor_attribution") or ""
    if submission is not None:
        from roar.recording.ray_submission import make_room

        make_room(submission)
    git = await read_git_state(cwd, ctx.project.roar_dir)
    diff = await tracked_diff(git)
    return Prepared(
        job_uid, list(argv), cwd, scratch, env, launched_with, backend, settings, git, diff,
        router, submission,
    )  # fmt: skip


# -- phase 2: trace ----------------------------------------------------------------------------


async def trace(
    ctx: RoarContext,
    prepared: Prepared,
    hasher: Hasher,
    observe: EventSink | None = None,
    stager: Stager | None = None,
) -> Traced:
    """Run the command under the tracer, hashing inputs and closed outputs as they come (and
    with a ``stager``, putting them in the store)."""
    settings, backend, env = prepared.settings, prepared.backend, prepared.env
    model = AccessModel()
    early: dict[str, HashResult] = {}
    closed: dict[str, HashResult] = {}
    pending_closed: list[str] = []
    verdicts = Verdicts(settings)
    # Inputs are staged only if the filters as they will be applied keep them: they drop what
    # lies under the prefix of a Python interpreter the job ran, known once it has run.
    staged_reads, staged_roots = verdicts, tuple[str, ...]()

    async def hash_early(paths: list[str]) -> None:
        results = await hasher.hash_many(paths)
        early.update(results)
        if stager is not None:
            keep = staged_reads
            staged = ((p, r) for p, r in results.items() if keep.read(p, False) is None)
            await stager.add("job_inputs", staged)

    async def hash_closed(paths: list[str]) -> None:
        scheduled.update(paths)
        results = await hasher.hash_many(paths, remember=False)
        closed.update(results)
        if stager is not None:
            await stager.add("job_outputs", results.items())

    scheduled: set[str] = set()  # outputs hashed, or being hashed, while the command runs

    async def hash_quietly_closed() -> None:
        """Hash the outputs that were already waiting at the last look and were never hashed:
        a file closed and left alone. One closed again and again (a log) is hashed once this
        way; after that it waits for a batch or the command's end, as it would anyway."""
        waiting: set[str] = set()
        while True:
            await anyio.sleep(QUIET_CLOSE)
            quiet = {p for p in pending_closed if p in waiting and p not in scheduled}
            waiting = set(pending_closed)
            if quiet:
                pending_closed[:] = [p for p in pending_closed if p not in quiet]
                tg.start_soon(hash_closed, sorted(quiet))

    # What does not depend on the command is read while it runs, not after it; and each Python
    # interpreter it runs is asked what it is (a process of its own, 90-170 ms the first time)
    # as soon as it starts.
    tracked: set[str] = set()
    machine: dict[str, Any] = {}
    interpreter_cache = InterpreterCache(ctx.project.roar_dir / INTERPRETER_CACHE)
    programs_seen, asked = 0, set[str]()

    async def read_tracked() -> None:
        tracked.update(await unmodified_tracked(prepared.git))

    async def read_machine() -> None:
        machine.update(await anyio.to_thread.run_sync(machine_facts))

    async def ask_interpreter(interpreter: str) -> None:
        await interpreter_cache.facts(interpreter)

    started_at = time.time()
    clock = time.monotonic()
    # Leaving the task group waits for what is being hashed or read while the command runs.
    async with anyio.create_task_group() as tg:
        tg.start_soon(read_tracked)
        tg.start_soon(read_machine)

        if stager is not None:
            tg.start_soon(_sweep_unrecorded, stager, prepared.scratch.parent)
        looking = anyio.CancelScope()

        async def look_for_quiet_outputs() -> None:
            with looking:
                await hash_quietly_closed()

        tg.start_soon(look_for_quiet_outputs)

        def sink(batch: EventBatch) -> None:
            nonlocal programs_seen, staged_reads, staged_roots
            if observe is not None:
                observe(batch)
            routed: dict[RayTask, list[Any]] = {}
            if prepared.router is not None:
                batch, routed = prepared.router.split(batch)
            fresh = model.feed(batch)
            if len(model.programs) > programs_seen:
                for interpreter in interpreters(model.programs[programs_seen:]):
                    if interpreter not in asked:
                        asked.add(interpreter)
                        tg.start_soon(ask_interpreter, interpreter)
                # Only the programs new in this batch: a job may exec a program 100,000 times.
                new_roots = [
                    root
                    for root in python_prefixes(model.programs[programs_seen:])
                    if root not in staged_roots
                ]
                if new_roots:
                    staged_roots += tuple(new_roots)
                    roots = settings.package_roots + staged_roots
                    staged_reads = Verdicts(replace(settings, package_roots=roots))
                programs_seen = len(model.programs)
            models = [model]
            for task, events in routed.items():
                fresh += task.model.feed(events)
                models.append(task.model)
            wanted = [p for p in fresh if verdicts.read(p, False) is None]
            if wanted:
                tg.start_soon(hash_early, wanted)
            for each in models:
                pending_closed.extend(p for p in each.drain_closed() if verdicts.write(p) is None)
            if len(pending_closed) >= CLOSED_BATCH:
                tg.start_soon(hash_closed, pending_closed[:])
                pending_closed.clear()

        async with _job_proxy(ctx, prepared.job_uid, env) as proxy:
            if proxy is not None:
                env.update(proxy.env)
            try:
                outcome = await backend.trace(
                    prepared.run_argv,
                    env=env,
                    cwd=prepared.cwd,
                    sink=sink,
                    snapshot_dir=prepared.snapshot_dir,
                    skip_reads=tracer_skip_reads(settings),
                )
            except OSError as exc:
                raise TracerError(
                    f"the {backend.name} tracer failed: {exc.strerror or exc}"
                    f"{f' ({exc.filename})' if exc.filename else ''}; nothing was recorded"
                ) from exc
        # The command's end, not the end of what roar still finishes below (its duration).
        ended = time.monotonic()
        looking.cancel()
    if not model.ended and not outcome.interrupted:
        raise TracerError(
            f"the {backend.name} tracer stopped before the command finished "
            f"(tracer exit status {outcome.tracer_exit_code}); nothing was recorded"
        )
    return Traced(
        outcome=replace(outcome, wait_status=model.root_status),
        accesses=model.result(),
        started_at=started_at,
        duration=ended - clock,
        ended=ended,
        early=early,
        closed=closed,
        proxy_events=list(proxy.events) if proxy is not None else None,
        tasks=prepared.router.in_order() if prepared.router is not None else [],
        tracked=tracked,
        machine=machine,
        interpreters=interpreter_cache,
    )


async def _sweep_unrecorded(stager: Stager, scratch_root: Path) -> None:
    """Remove what runs that were killed before they recorded their job put in the store (their
    scratch space is gone: ``prepare`` swept it), while this command runs."""
    with contextlib.suppress(StoreError):
        await stager.store.sweep_staged(lambda job_uid: (scratch_root / job_uid).exists())


# -- phase 3: settle digests -------------------------------------------------------------------


async def settle(
    ctx: RoarContext,
    prepared: Prepared,
    traced: Traced,
    hasher: Hasher,
    warnings: list[RecordWarning],
    environment: dict[str, Any] | None = None,
) -> Settled:
    """Filter the accesses, hash what is left to hash, capture the environment meanwhile (or
    take ``environment``: a Ray task ran in the job's)."""
    accesses = traced.accesses
    settings = replace(
        prepared.settings,
        package_roots=prepared.settings.package_roots + tuple(python_prefixes(accesses.programs)),
    )
    filtered = apply_filters(accesses.inputs, accesses.outputs, settings)
    # The environment depends only on what was read and run: it is captured while the last
    # digests are settled, not after.
    given = environment is not None
    environment = dict(environment or {})

    async def capture() -> None:
        environment.update(
            await capture_environment(
                accesses.inputs,
                accesses.programs,
                ctx.project.roar_dir,
                traced.machine,
                traced.interpreters,
            )
        )

    async with anyio.create_task_group() as tg:
        if not given:
            tg.start_soon(capture)
        digests = await collect_digests(
            hasher, traced.early, traced.closed, filtered.inputs, filtered.outputs, accesses,
            warnings, progress=ctx.verbosity >= 0,
        )  # fmt: skip
    inputs = to_files(ctx, filtered.inputs, digests, accesses, warnings, kind="input")
    outputs = to_files(ctx, filtered.outputs, digests, accesses, warnings, kind="output")
    s3_deleted: list[str] = []
    if traced.proxy_events is not None:
        # What the script's Ray tasks did through the proxy is theirs (see record_task).
        theirs = {f"{RAY_TASK_TAG}{task.task_id}" for task in traced.tasks}
        own = [e for e in traced.proxy_events if e.job_id not in theirs]
        s3_inputs, s3_outputs, s3_deleted = s3_edges(own)
        inputs += s3_inputs
        outputs += s3_outputs
    if not given:
        read = env_vars_read(
            prepared.env_log, prepared.launched_with, accesses.env_reads, accesses.env_cut
        )
        environment["runtime"]["env_vars"] = read
        # What roar started the command with, for the same names: what the job saw can differ
        # (a wrapper such as pyenv's shim extends PATH), and the run cache compares like with
        # like: what a re-run would be started with now.
        environment["runtime"]["env_vars_launched"] = env_vars_launched(
            read, prepared.launched_with
        )
    return Settled(filtered, inputs, outputs, s3_deleted, environment, settings)


# -- phase 4: attribute sources ----------------------------------------------------------------


async def attribute(
    ctx: RoarContext,
    store: Store,
    prepared: Prepared,
    traced: Traced,
    settled: Settled,
    warnings: list[RecordWarning],
) -> Attribution:
    git, tracked = prepared.git, traced.tracked
    # Content a recorded job produced is sourced by that job, not by the patch.
    produced = await store.producers([f.hash for f in settled.inputs])
    from_jobs = {ctx.project.absolute(f.path) for f in settled.inputs if f.hash in produced}
    written = set(traced.accesses.outputs) | from_jobs
    loose = await untracked_inputs(git, settled.filtered.inputs, written)
    patch = await store_patch(
        git, prepared.diff, loose, ctx.project.roar_dir / "patches", ctx.project.root
    )
    if patch is not None:
        git = msgspec.structs.replace(git, dirty=True)
        warnings.append(
            RecordWarning(
                "dirty-tree",
                f"the git tree is dirty: recorded the uncommitted changes as patch "
                f"{patch.hash[:12]} ({patch.path}); 'git apply' recreates them",
            )
        )
    sources = await input_sources(ctx, git, settled.inputs, produced, tracked)
    if patch is not None and git.repo:
        covered = set(patch.untracked_files) | set(patch.tracked_changes)
        for path, source in sources.items():
            rel = os.path.relpath(ctx.project.absolute(path), git.repo)
            if source is None and rel in covered:
                sources[path] = f"patch:{patch.hash}"
    for path, source in sources.items():
        if source is None:
            warnings.append(
                RecordWarning(
                    "unsourced-input",
                    f"input {path} is unsourced: no recorded job produced it and git does not "
                    "cover it (commit it, or fetch it under roar run, e.g. roar run wget URL)",
                    path,
                )
            )
    return Attribution(git, patch, sources, tracked)


# -- phase 5: build the job --------------------------------------------------------------------


# -- all phases, then store ----------------------------------------------------------------------


async def record_command(
    ctx: RoarContext,
    argv: Sequence[str],
    *,
    job_type: str = "run",
    backend_name: str | None = None,
    cwd: Path | None = None,
    hash_algorithms: Sequence[str] = (),
    observe: EventSink | None = None,
) -> RunReport:
    """Run ``argv`` traced in project ``ctx`` and record it as a ``job_type`` job.

    ``observe`` sees every batch of decoded tracer records as it arrives (on the loop: it
    must not block), before the recorder applies it.
    """
    prepared = await prepare(ctx, argv, backend_name=backend_name, cwd=cwd or Path.cwd())
    try:
        async with ctx.store() as store:
            hasher = Hasher(
                store, [*ctx.config.get_list("hash.run"), *_primary(ctx), *hash_algorithms]
            )
            # The job's files go into the store as they are hashed, while the command runs:
            # recording the job then links them (recording.staging).
            stager = Stager(store, prepared.job_uid, ctx.project.display_path)
            try:
                traced = await trace(ctx, prepared, hasher, observe, stager)
                if not traced.accesses.programs:
                    # The program never started (exec failed): there is no job to record.
                    return RunReport(
                        traced.outcome.exit_code, None, traced.outcome, prepared.backend.name
                    )
                warnings = [RecordWarning("tracer", w) for w in traced.accesses.warnings]
                settled = await settle(ctx, prepared, traced, hasher, warnings)
                if traced.outcome.interrupted:
                    warnings.append(
                        RecordWarning(
                            "aborted", "the run was aborted; its record may be incomplete"
                        )
                    )
                attribution = await attribute(ctx, store, prepared, traced, settled, warnings)
                new = build_job(
                    ctx, job_type, prepared, traced, settled, attribution, hasher, warnings
                )
                if traced.tasks:
                    new = msgspec.structs.replace(
                        new, metadata={**new.metadata, "ray": {"tasks": len(traced.tasks)}}
                    )
                cluster_tasks: list[ClusterTask] = []
                if prepared.submission is not None:
                    cluster_tasks = await _submitted_tasks(ctx, prepared.submission, warnings)
                    new = _with_submission(ctx, new, prepared.submission, cluster_tasks)
                job = await store.record_job(new, stager.staging)
            finally:
                if stager.staging.rows:
                    # Not recorded (the command never started, an error, Ctrl-C): what was
                    # staged for it goes, unless something else refers to it.
                    with anyio.CancelScope(shield=True), contextlib.suppress(StoreError):
                        await store.abandon_staging(stager.staging)
            if cluster_tasks:
                from roar.recording.ray_cluster_jobs import Submission, record_cluster_tasks

                assert prepared.submission is not None
                submission = Submission(job, attribution.git, attribution.tracked,
                                        settled.settings, prepared.submission.address)  # fmt: skip
                await record_cluster_tasks(ctx, store, submission, cluster_tasks, warnings)
            for task in traced.tasks:
                await record_task(ctx, store, job_type, prepared, traced, task, job, hasher,
                                  settled.environment, warnings)  # fmt: skip
            bookkeeping = time.monotonic() - traced.ended
    finally:
        # Snapshots exist only to be hashed; the digests are what is kept.
        shutil.rmtree(prepared.scratch, ignore_errors=True)
    return RunReport(
        exit_code=traced.outcome.exit_code,
        job=job,
        outcome=traced.outcome,
        backend=prepared.backend.name,
        # Ray tasks share the job's tree: the same patch, said once.
        warnings=list({w.message: w for w in warnings}.values()),
        dropped=settled.filtered.dropped,
        discarded_writes=traced.accesses.discarded_writes,
        bookkeeping_seconds=bookkeeping,
    )


async def record_task(
    ctx: RoarContext,
    store: Store,
    job_type: str,
    prepared: Prepared,
    traced: Traced,
    task: RayTask,
    parent: Job,
    hasher: Hasher,
    environment: dict[str, Any],
    warnings: list[RecordWarning],
) -> Job:
    """A Ray task of ``parent`` as a job of its own (``ray_task``): its files, the same phases."""
    runtime = {k: v for k, v in environment.items() if k in ("runtime", "packages", "machine")}
    task_prepared = replace(
        prepared, job_uid=secrets.token_hex(4), argv=[f"ray_task:{task.name}"], router=None
    )
    task_traced = replace(
        traced,
        accesses=task.model.result(),
        started_at=task.started_at,
        duration=task.duration,
        # What the task's S3 requests did (the probe tags them; see _roar_ray.py).
        proxy_events=[
            e for e in traced.proxy_events or [] if e.job_id == f"{RAY_TASK_TAG}{task.task_id}"
        ],
        tasks=[],
    )
    settled = await settle(ctx, task_prepared, task_traced, hasher, warnings, runtime)
    attribution = await attribute(ctx, store, task_prepared, task_traced, settled, warnings)
    new = build_job(
        ctx, "ray_task", task_prepared, task_traced, settled, attribution, hasher, warnings
    )
    ray_facts = {
        "task_id": task.task_id,
        "name": task.name,
        "parent_job_uid": parent.job_uid,
        "parent_job_type": job_type,
        "workers": sorted(task.workers),
        "completed": task.ended_at is not None,
    }
    new = msgspec.structs.replace(new, metadata={**new.metadata, "ray": ray_facts})
    return await store.record_job(new)


async def _submitted_tasks(
    ctx: RoarContext, plan: SubmitPlan, warnings: list[RecordWarning]
) -> list[ClusterTask]:
    """The tasks the workers of a submitted job reported (see ``ray_submission.py``)."""
    from roar.recording.ray_submission import collect_tasks

    per_actor = ctx.config.get_str("ray.actor_attribution") == "per_actor"
    collected = await collect_tasks(plan, per_actor=per_actor)
    if collected.unreadable:
        warnings.append(
            RecordWarning(
                "tracer",
                f"{collected.unreadable} Ray task report(s) could not be read (a worker killed "
                "while writing one, or another roar version on the cluster); those tasks are "
                "missing",
            )
        )
    if collected.problem:
        warnings.append(
            RecordWarning(
                "tracer",
                f"the Ray tasks' reports in the cluster's KV store were not fetched: "
                f"{collected.problem}; the tasks of nodes that do not share this filesystem "
                "are missing",
            )
        )
    return collected.tasks


def _with_submission(
    ctx: RoarContext, new: NewJob, plan: SubmitPlan, tasks: list[ClusterTask]
) -> NewJob:
    """The submitting job says where it sent the job, and how many jobs its tasks became."""
    workdir = plan.host_workdir and ctx.project.display_path(plan.host_workdir)
    facts = {"tasks": len(tasks), "submitted_to": plan.address, "working_dir": workdir}
    return msgspec.structs.replace(new, metadata={**new.metadata, "ray": facts})


@contextlib.asynccontextmanager
async def _job_proxy(
    ctx: RoarContext, job_uid: str, env: dict[str, str]
) -> AsyncIterator[JobProxy | None]:
    """The job's own S3 proxy when `proxy.enabled`; the proxy code is imported only then."""
    if not ctx.config.get_bool("proxy.enabled"):
        yield None
        return
    from roar.proxy.daemon import read_daemon
    from roar.proxy.job import job_proxy

    daemon = read_daemon(ctx.project)
    async with job_proxy(
        ctx.config, job_uid, env=env, daemon_url=daemon.url if daemon else None
    ) as proxy:
        yield proxy


def _primary(ctx: RoarContext) -> list[str]:
    primary = ctx.config.get_str("hash.primary")
    return [primary] if primary else []


def _own_python_roots() -> tuple[str, ...]:
    # roar's own files (the probe on PYTHONPATH) are never a job's input, even in a source tree.
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, INJECT_DIR}
    return tuple(sorted(r for r in roots if r and r != "/"))
