"""Recording one traced job: run it, hash what it touched, store it, report it.

The loop does four things at once while the command runs: the tracer's events stream in and are
decoded in batches, the access model is updated, and every new input is hashed on worker threads
right away (so its digest is taken before the job can overwrite it, and most hashing is done when
the command exits).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shlex
import shutil
import sys
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import msgspec

from roar.core.context import RoarContext
from roar.core.git import GitState, read_git_state, run_git
from roar.core.leftovers import mark_owner
from roar.core.leftovers import sweep as sweep_leftovers
from roar.errors import CommandNotFoundError, TracerError
from roar.hashing import Hasher, HashResult, file_key
from roar.hashing._progress import show_progress
from roar.lineage.identity import step_identity
from roar.models import FileDigest, GitInfo, Job, NewJob
from roar.recording.environment import capture as capture_environment
from roar.recording.filters import (
    FilterSettings,
    apply_filters,
    is_config_file,
    python_prefixes,
    read_reason,
    tracer_skip_reads,
    write_reason,
)
from roar.recording.patch import store_patch, tracked_diff, untracked_inputs
from roar.recording.s3 import s3_edges
from roar.recording.secrets import REDACTED, redact_argv, redact_env, redact_text
from roar.recording.semantics import Accesses, AccessModel
from roar.store import require_writable
from roar.tracing.base import EventBatch, EventSink, TraceOutcome
from roar.tracing.select import choose_backend

if TYPE_CHECKING:
    from roar.proxy.job import JobProxy

CLOSED_BATCH = 256  # outputs closed during the run are hashed in batches of this many


@dataclass
class RunReport:
    """What `roar run` tells the user afterwards, and the exit code it passes through."""

    exit_code: int
    job: Job | None
    outcome: TraceOutcome
    backend: str
    warnings: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)
    discarded_writes: tuple[str, ...] = ()
    bookkeeping_seconds: float = 0.0  # from the command's end to the job being stored


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


INJECT_DIR = str(Path(__file__).resolve().parent.parent / "_inject")


def _child_env(ctx: RoarContext, job_uid: str, env_log: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ctx.config.env)
    env["ROAR_JOB_ID"] = job_uid
    env["ROAR_PROJECT_DIR"] = str(ctx.project.root)
    # The environment-read probe for Python programs (roar/_inject/sitecustomize.py).
    env["ROAR_ENV_LOG"] = str(env_log)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (INJECT_DIR, env.get("PYTHONPATH")) if p)
    return env


# Variables roar itself set or changed for the command: not the program's to read.
_HIDDEN_ENV = frozenset({"PYTHONPATH", "LD_PRELOAD"})  # the Python probe / the preload shim


def env_vars_read(
    env_log: Path,
    launched_with: Mapping[str, str],
    looked_up: Mapping[str, str] | None = None,
    cut: Collection[str] = (),
) -> dict[str, str | None]:
    """Variables the job read: name -> value it saw (None: unset; secret-looking names and values
    hidden).

    Two sources. Python code's reads through ``os.environ``: roar's probe
    (``roar/_inject/sitecustomize.py``) logs each under ``env_log`` with the value the process
    saw at its first read (``python_env_reads``); a name logged without a value falls back to
    the environment roar launched (``launched_with``). And ``looked_up``: what any dynamically
    linked program found with C ``getenv`` (ENV records, preload backend only), set variables
    only, with the value the process saw. Where both saw a value, getenv's (the first process's)
    is kept. ``cut`` names those whose value was cut to fit a record: the launched value is used
    when it starts with the cut one, else the cut value is kept.
    """
    values: dict[str, str | None] = {}
    for name, (state, value) in python_env_reads(env_log).items():
        if state == "seen":
            values[name] = value
        elif state == "withheld":
            values[name] = REDACTED  # set, and a credential by its name
        else:
            values[name] = launched_with.get(name)
    for name, value in (looked_up or {}).items():
        launched = launched_with.get(name)
        if name in cut and launched is not None and launched.startswith(value):
            value = launched
        values[name] = value
    return {
        _text(n): None if v is None else redact_env({n: _text(v)})[n]
        for n, v in sorted(values.items())
        if n not in _HIDDEN_ENV and not n.startswith("ROAR_")
    }


def python_env_reads(env_log: Path) -> dict[str, tuple[str, str | None]]:
    """The probe's logs: name -> ("seen", value), ("unset", None) or ("withheld", None) -- a
    credential-looking variable that was set, whose value the probe never writes down. The first
    process to log a name wins (logs are read in pid order, which is start order but for wraps)."""
    reads: dict[str, tuple[str, str | None]] = {}
    try:
        entries = sorted(os.scandir(env_log), key=lambda e: (len(e.name), e.name))
    except OSError:
        return reads
    for entry in entries:
        try:
            with open(entry.path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        for record in data.split(b"\0"):
            if not record:
                continue
            name, sep, value = record.partition(b"=")
            if sep:
                parsed: tuple[str, str | None] = ("seen", os.fsdecode(value))
            elif name.endswith(b"\x01"):
                name, parsed = name[:-1], ("withheld", None)
            else:
                parsed = ("unset", None)
            reads.setdefault(os.fsdecode(name), parsed)
    return reads


def _text(value: str) -> str:
    """``value`` storable as JSON: bytes that were not UTF-8 (surrogate escapes) become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def git_info(state: GitState) -> GitInfo:
    """What a job records of the git state it ran in (the remote URL without credentials)."""
    return GitInfo(
        commit=state.commit,
        branch=state.branch,
        dirty=state.dirty,
        repo=state.repo,
        remote_url=redact_text(state.remote_url) if state.remote_url else None,
    )


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
    cwd = cwd or Path.cwd()
    job_uid = secrets.token_hex(4)
    scratch = ctx.project.roar_dir / "tmp" / job_uid
    snapshot_dir = scratch / "snapshots"
    env_log = scratch / "env"
    env = _child_env(ctx, job_uid, env_log)
    launched_with = dict(env)
    resolve_program(argv[0], env, cwd)
    backend = choose_backend(ctx.config, backend_name, argv=argv, env=env, cwd=cwd)
    root = str(ctx.project.root)
    settings = FilterSettings.from_config(ctx.config, root, package_roots=_own_python_roots())

    require_writable(ctx.project.db_path)
    # Scratch space of runs that were killed (kill -9, OOM) goes before this run adds its own.
    sweep_leftovers(scratch.parent)
    scratch.mkdir(parents=True, exist_ok=True)
    mark_owner(scratch)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    env_log.mkdir(parents=True, exist_ok=True)
    try:
        async with ctx.store() as store:
            # Git state is read before the command can change the tree.
            git = await read_git_state(cwd, ctx.project.roar_dir)
            diff = await tracked_diff(git)
            hasher = Hasher(
                store, [*ctx.config.get_list("hash.run"), *_primary(ctx), *hash_algorithms]
            )
            model = AccessModel()
            early: dict[str, HashResult] = {}
            closed_results: dict[str, HashResult] = {}
            pending_closed: list[str] = []

            async def hash_early(paths: list[str]) -> None:
                early.update(await hasher.hash_many(paths))

            async def hash_closed(paths: list[str]) -> None:
                closed_results.update(await hasher.hash_many(paths, remember=False))

            started_at = time.time()
            clock = time.monotonic()
            # Leaving the task group waits for what is being hashed while the command runs:
            # inputs as soon as they are opened, outputs as soon as they are closed.
            async with anyio.create_task_group() as tg:

                def sink(batch: EventBatch) -> None:
                    if observe is not None:
                        observe(batch)
                    fresh = model.feed(batch)
                    wanted = [p for p in fresh if read_reason(p, settings, False) is None]
                    if wanted:
                        tg.start_soon(hash_early, wanted)
                    pending_closed.extend(
                        p for p in model.drain_closed() if write_reason(p, settings) is None
                    )
                    if len(pending_closed) >= CLOSED_BATCH:
                        tg.start_soon(hash_closed, pending_closed[:])
                        pending_closed.clear()

                async with _job_proxy(ctx, job_uid, env) as proxy:
                    if proxy is not None:
                        env.update(proxy.env)
                    try:
                        outcome = await backend.trace(
                            argv,
                            env=env,
                            cwd=cwd,
                            sink=sink,
                            snapshot_dir=snapshot_dir,
                            skip_reads=tracer_skip_reads(settings),
                        )
                    except OSError as exc:
                        raise TracerError(
                            f"the {backend.name} tracer failed: {exc.strerror or exc}"
                            f"{f' ({exc.filename})' if exc.filename else ''}; nothing was recorded"
                        ) from exc
                command_done = time.monotonic()
                duration = command_done - clock
            accesses = model.result()

            if not model.ended and not outcome.interrupted:
                raise TracerError(
                    f"the {backend.name} tracer stopped before the command finished "
                    f"(tracer exit status {outcome.tracer_exit_code}); nothing was recorded"
                )
            outcome = replace(outcome, wait_status=model.root_status)
            if not accesses.programs:
                # The program never started (exec failed): there is no job to record.
                return RunReport(outcome.exit_code, None, outcome, backend.name)

            settings = replace(
                settings,
                package_roots=settings.package_roots + tuple(python_prefixes(accesses.programs)),
            )
            filtered = apply_filters(accesses.inputs, accesses.outputs, settings)
            warnings = list(accesses.warnings)
            # The environment depends only on what was read and run: it is captured while the
            # last digests are settled, not after.
            environment: dict[str, Any] = {}

            async def capture() -> None:
                environment.update(
                    await capture_environment(
                        accesses.inputs, accesses.programs, ctx.project.roar_dir
                    )
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(capture)
                digests = await _collect_digests(
                    hasher, early, closed_results, filtered.inputs, filtered.outputs, accesses,
                    warnings, progress=ctx.verbosity >= 0,
                )  # fmt: skip
            inputs = _to_files(ctx, filtered.inputs, digests, accesses, warnings, kind="input")
            outputs = _to_files(ctx, filtered.outputs, digests, accesses, warnings, kind="output")
            s3_deleted: list[str] = []
            if proxy is not None:
                s3_inputs, s3_outputs, s3_deleted = s3_edges(proxy.events)
                inputs += s3_inputs
                outputs += s3_outputs
            if outcome.interrupted:
                warnings.append("the run was aborted; its record may be incomplete")
            # Content a recorded job produced is sourced by that job, not by the patch.
            produced = await store.producers([f.hash for f in inputs])
            from_jobs = {ctx.project.absolute(f.path) for f in inputs if f.hash in produced}
            loose = await untracked_inputs(git, filtered.inputs, set(accesses.outputs) | from_jobs)
            patch = await store_patch(
                git, diff, loose, ctx.project.roar_dir / "patches", ctx.project.root
            )
            if patch is not None:
                git = msgspec.structs.replace(git, dirty=True)
                warnings.append(
                    f"the git tree is dirty: recorded the uncommitted changes as patch "
                    f"{patch.hash[:12]} ({patch.path}); 'git apply' recreates them"
                )
            sources = await input_sources(ctx, git, inputs, produced)
            if patch is not None and git.repo:
                covered = set(patch.untracked_files) | set(patch.tracked_changes)
                for path, source in sources.items():
                    rel = os.path.relpath(ctx.project.absolute(path), git.repo)
                    if source is None and rel in covered:
                        sources[path] = f"patch:{patch.hash}"
            environment["runtime"]["env_vars"] = env_vars_read(
                env_log, launched_with, accesses.env_reads, accesses.env_cut
            )
            for path, source in sources.items():
                if source is None:
                    warnings.append(
                        f"input {path} is unsourced: no recorded job produced it and git does not "
                        "cover it (commit it, or fetch it under roar run, e.g. roar run wget URL)"
                    )

            # Credentials never reach the store: the recorded command is the scrubbed one.
            recorded_argv = redact_argv(argv)
            if recorded_argv != list(argv):
                warnings.append("a credential on the command line was recorded as [REDACTED]")
            command = shlex.join(recorded_argv)
            new = NewJob(
                job_uid=job_uid,
                job_type=job_type,
                command=command,
                argv=recorded_argv,
                cwd=ctx.project.display_path(str(cwd.resolve())),
                started_at=started_at,
                duration_seconds=round(duration, 6),
                exit_code=outcome.exit_code,
                signal=outcome.signal,
                git=git_info(git),
                inputs=inputs,
                outputs=outputs,
                step_identity=step_identity(
                    [ctx.project.absolute(f.path) for f in inputs],
                    [ctx.project.absolute(f.path) for f in outputs],
                    command,
                    root,
                    os.path.expanduser("~"),
                ),
                tracer=backend.name,
                env=redact_env(ctx.config.env),
                metadata={
                    "processes": accesses.process_count,
                    "programs": [ctx.project.display_path(p) for p in accesses.programs[:50]],
                    "interrupted": outcome.interrupted,
                    "input_sources": sources,
                    "s3_deleted": s3_deleted,
                    "roar_version": _version(),
                    "hashing": {
                        "algorithms": list(hasher.algorithms),
                        "hashed_bytes": hasher.hashed_bytes,
                        "cache_hits": hasher.cache_hits,
                    },
                    "git": {
                        "remote_url": redact_text(git.remote_url) if git.remote_url else None,
                        "changed_paths": list(git.changed_paths),
                        "patch": msgspec.to_builtins(patch) if patch else None,
                    },
                    **environment,
                },
            )
            job = await store.record_job(new)
            bookkeeping = time.monotonic() - command_done
    finally:
        # Snapshots exist only to be hashed; the digests are what is kept.
        shutil.rmtree(scratch, ignore_errors=True)
    return RunReport(
        exit_code=outcome.exit_code,
        job=job,
        outcome=outcome,
        backend=backend.name,
        warnings=warnings,
        dropped=filtered.dropped,
        discarded_writes=accesses.discarded_writes,
        bookkeeping_seconds=bookkeeping,
    )


async def input_sources(
    ctx: RoarContext, git: GitState, inputs: list[FileDigest], produced: dict[str, str]
) -> dict[str, str | None]:
    """Where each input can be had again: ``job:<uid>`` (a recorded job wrote this content),
    ``git`` (tracked and unmodified at the recorded commit), ``config`` (tool configuration,
    ``filters.config_files``: shown, not required), or None (unsourced)."""
    if not inputs:
        return {}
    tracked: set[str] = set()
    if git.repo and git.commit:
        code, out = await run_git(Path(git.repo), "ls-files", "-z")
        if code == 0:
            tracked = set(out.split("\0")) - set(git.changed_paths)
    sources: dict[str, str | None] = {}
    config_files = ctx.config.get_list("filters.config_files")
    home = os.path.expanduser("~")
    for f in inputs:
        if f.hash in produced:
            sources[f.path] = f"job:{produced[f.hash]}"
            continue
        absolute = ctx.project.absolute(f.path)
        rel = os.path.relpath(absolute, git.repo) if git.repo else None
        if rel is not None and rel in tracked:
            sources[f.path] = "git"
        elif is_config_file(absolute, config_files, str(ctx.project.root), home):
            sources[f.path] = "config"
        else:
            sources[f.path] = None
    return sources


async def _collect_digests(
    hasher: Hasher,
    early_results: dict[str, HashResult],
    closed_results: dict[str, HashResult],
    inputs: list[str],
    outputs: list[str],
    accesses: Accesses,
    warnings: list[str],
    *,
    progress: bool = False,
) -> dict[tuple[str, str], HashResult]:
    """Digests keyed by (kind, path): inputs as first read, outputs as left on disk."""
    written = set(outputs)
    late: dict[str, str] = {}  # input path -> where to read its content now
    for path in inputs:
        res = early_results.get(path)
        if path in accesses.snapshots:
            # The tracer saved the content before the job changed it: that is the input.
            late[path] = accesses.snapshots[path]
        elif res is None or res.error:
            # A moved input's unchanged content now lives at its destination.
            late[path] = accesses.moved_inputs.get(path, path)
            if path in written:
                warnings.append(f"the digest of input {path} was taken after the job rewrote it")
    # Outputs hashed when they were closed count if the file is still exactly as it was then
    # (a stat each: on a worker thread, while the environment is captured on the loop).
    settled = await anyio.to_thread.run_sync(_unchanged_since_closed, outputs, closed_results)
    remaining = [*late.values(), *(p for p in outputs if p not in settled)]
    total = 0
    for path in remaining:
        with contextlib.suppress(OSError):
            total += os.stat(path).st_size
    start_bytes = hasher.hashed_bytes
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(
                show_progress, total, lambda: hasher.hashed_bytes - start_bytes, enabled=progress
            )
        )
        fresh = await hasher.hash_many(remaining)
        tg.cancel_scope.cancel()
    if settled:
        await hasher.remember(settled.values())
    fresh.update(settled)
    result = {("input", p): early_results[p] for p in inputs if p not in late}
    result.update({("input", p): fresh[src] for p, src in late.items()})
    result.update({("output", p): fresh[p] for p in outputs})
    return result


def _unchanged_since_closed(
    outputs: list[str], closed_results: dict[str, HashResult]
) -> dict[str, HashResult]:
    settled: dict[str, HashResult] = {}
    for path in outputs:
        res = closed_results.get(path)
        if res is not None and res.key is not None:
            try:
                if file_key(os.stat(path)) == res.key:
                    settled[path] = res
            except OSError:
                pass
    return settled


def _to_files(
    ctx: RoarContext,
    paths: list[str],
    digests: dict[tuple[str, str], HashResult],
    accesses: Accesses,
    warnings: list[str],
    *,
    kind: str,
) -> list[FileDigest]:
    files: list[FileDigest] = []
    for path in paths:
        res = digests.get((kind, path))
        if res is None or res.error:
            if (
                res is not None
                and res.error != "not a regular file"
                and kind == "input"
                and path not in accesses.outputs
            ):
                warnings.append(f"could not hash input {path}: {res.error}")
            continue
        files.append(
            FileDigest(
                path=ctx.project.display_path(path),
                hash=res.digests["blake3"],
                size=res.size,
                hashes=dict(sorted(res.digests.items())),
            )
        )
    files.sort(key=lambda f: f.path)
    return files


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


def _version() -> str:
    from roar._version import __version__

    return __version__
