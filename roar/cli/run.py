"""`roar run CMD...` and `roar build CMD...`: run a command traced and record it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from roar.core.config import HASH_ALGORITHMS
from roar.core.loop import run
from roar.errors import UsageError

if TYPE_CHECKING:
    from roar.api import RunResult
    from roar.core.context import RoarContext
    from roar.lineage.dag import DagView

_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)(func)
    func = click.option(
        "-v", "--verbose", count=True, help="-v: filter counts; -vv: every path dropped."
    )(func)
    func = click.option("-q", "--quiet", is_flag=True, help="Print nothing but warnings.")(func)
    func = click.option(
        "--hash",
        "hash_algorithms",
        multiple=True,
        type=click.Choice(HASH_ALGORITHMS),
        help="Also compute this digest of every file (repeatable).",
    )(func)
    func = click.option("--name", default=None, help="Name the step (stored as label name=NAME).")(
        func
    )
    func = click.option(
        "--force",
        is_flag=True,
        help="With @N: run even when the run cache would skip the step or restore its outputs.",
    )(func)
    func = click.option(
        "--emit-openlineage",
        "openlineage_url",
        default=None,
        metavar="URL",
        help="Post the job's OpenLineage RunEvents to this Marquez-compatible endpoint "
        "(default: openlineage.url).",
    )(func)
    func = click.option(
        "--tracer",
        type=click.Choice(["auto", "ptrace", "preload", "ebpf"]),
        default=None,
        help="Tracer backend for this run (default: tracer.default).",
    )(func)
    return func


@click.command(context_settings=_SETTINGS, help="Run CMD with provenance tracking.")
@_options
def run_command(
    argv: tuple[str, ...],
    tracer: str | None,
    quiet: bool,
    verbose: int,
    name: str | None,
    hash_algorithms: tuple[str, ...],
    openlineage_url: str | None,
    force: bool,
) -> int:
    return run(
        _run(
            list(argv),
            "run",
            tracer,
            quiet,
            verbose,
            name,
            hash_algorithms,
            openlineage_url,
            force,
        )
    )


@click.command(
    context_settings=_SETTINGS,
    help="Run a build step (compile, install) with provenance tracking; build steps run first "
    "when reproducing.",
)
@_options
def build_command(
    argv: tuple[str, ...],
    tracer: str | None,
    quiet: bool,
    verbose: int,
    name: str | None,
    hash_algorithms: tuple[str, ...],
    openlineage_url: str | None,
    force: bool,
) -> int:
    return run(
        _run(
            list(argv),
            "build",
            tracer,
            quiet,
            verbose,
            name,
            hash_algorithms,
            openlineage_url,
            force,
        )
    )


async def _run(
    argv: list[str],
    job_type: str,
    tracer: str | None,
    quiet: bool,
    verbose: int,
    name: str | None,
    hash_algorithms: tuple[str, ...] = (),
    openlineage_url: str | None = None,
    force: bool = False,
) -> int:
    from roar.api import Project
    from roar.core.context import RoarContext
    from roar.lineage.refs import parse_step_ref

    ctx = RoarContext.load(verbosity=-1 if quiet else verbose)
    if parse_step_ref(argv[0]) is not None:
        step = argv[0]
        argv = await _rerun_argv(ctx, argv, job_type, quiet)
        if not force:
            reused = await _reuse(ctx, step, argv, job_type, quiet, verbose)
            if reused:
                return 0
    report = await Project(ctx).run(
        argv,
        build=job_type == "build",
        tracer=tracer,
        cwd=Path.cwd(),
        hash_algorithms=hash_algorithms,
        name=name,
    )
    quiet = quiet or ctx.config.get_bool("output.quiet")
    for warning in report.warnings:
        click.echo(f"roar: warning: {warning}", err=True)
    if report.job is not None and not quiet:
        _print_report(report, verbose)
    if report.job is not None:
        from roar.api._run_cache import keep_outputs

        await keep_outputs(ctx, report.job)
    url = openlineage_url or ctx.config.get_str("openlineage.url")
    if report.job is not None and url:
        from roar.api._openlineage import emit, job_events

        problem = await emit(job_events(ctx, report.job), url)
        if problem:
            click.echo(f"roar: warning: OpenLineage events not delivered: {problem}", err=True)
    return report.exit_code


def _print_report(report: RunResult, verbose: int) -> None:
    from roar.cli._format import human_duration, human_size

    assert report.job is not None
    job = report.job
    status = f"exit {job.exit_code}"
    if job.signal:
        status = f"killed by signal {job.signal}"
    click.echo(
        f"roar: recorded {job.step_ref} (job {job.job_uid}) in "
        f"{human_duration(job.duration_seconds)}, {status}; "
        f"{len(job.inputs)} input(s), {len(job.outputs)} output(s)",
        err=True,
    )
    for out in job.outputs[:20]:
        click.echo(f"  wrote {out.path} ({human_size(out.size)})", err=True)
    if len(job.outputs) > 20:
        click.echo(f"  ... and {len(job.outputs) - 20} more (roar show {job.step_ref})", err=True)
    if verbose >= 1 and report.dropped:
        counts: dict[str, int] = {}
        for _, _, reason in report.dropped:
            counts[reason] = counts.get(reason, 0) + 1
        summary = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
        click.echo(f"  filtered out: {summary}", err=True)
    if verbose >= 1:
        click.echo(
            f"  recorded {report.bookkeeping_seconds:.3f} s after the command ended", err=True
        )
    if verbose >= 2:
        for kind, path, reason in report.dropped:
            click.echo(f"  dropped {kind} {path} ({reason})", err=True)
        for path in report.discarded_writes:
            click.echo(f"  not an output (deleted or renamed away): {path}", err=True)


async def _rerun_argv(ctx: RoarContext, argv: list[str], job_type: str, quiet: bool) -> list[str]:
    """The recorded command of step ``argv[0]`` with ``argv[1:]`` applied as overrides."""
    from roar.api._queries import current_dag, resolve_job
    from roar.lineage.rerun import apply_overrides, parse_overrides

    overrides = parse_overrides(argv[1:])
    async with ctx.store() as store:
        job = await resolve_job(store, argv[0])
        view = await current_dag(store)
    if job.job_type == "ray_task":
        from roar.reproduce._plan import ray_parent

        async with ctx.store() as store:
            script = await store.job_by_uid(ray_parent(job) or "")
        raise UsageError(
            f"{job.step_ref} is a Ray task of {script.step_ref}: re-run its script with "
            f"roar run {script.step_ref}"
        )
    if (job.job_type == "build") != (job_type == "build"):
        kind = "roar build" if job.job_type == "build" else "roar run"
        raise UsageError(f"{job.step_ref} is a {job.job_type} step: re-run it with {kind}")
    stale = {n.step_number for n in view.nodes if n.state == "stale"}
    upstream = _upstream(view, job.step_number)
    if stale & (upstream | {job.step_number}):
        refs = " ".join(f"@{n}" for n in sorted(stale & upstream)) or job.step_ref
        click.echo(f"roar: warning: upstream steps are stale ({refs}); re-run them first", err=True)
    new_argv = apply_overrides(job.argv, overrides)
    if not quiet:
        import shlex

        click.echo(f"Re-running {job.step_ref}: {shlex.join(new_argv)}", err=True)
    return new_argv


async def _reuse(
    ctx: RoarContext, step: str, argv: list[str], job_type: str, quiet: bool, verbose: int
) -> bool:
    """Skip the step or restore its outputs when the run cache allows; True if it did."""
    from roar.api._run_cache import reuse

    async with ctx.store() as store:
        decided = await reuse(ctx, store, argv, job_type)
    if decided.decision == "run":
        if verbose and not quiet:
            click.echo(f"roar: {step} runs: {decided.reason}", err=True)
        return False
    if not quiet:
        assert decided.job is not None
        if decided.decision == "skipped":
            click.echo(
                f"roar: {step} skipped: inputs and outputs unchanged since job "
                f"{decided.job.job_uid} (--force runs it anyway)",
                err=True,
            )
        else:
            click.echo(
                f"roar: {step} restored from the cache (nothing ran): "
                + ", ".join(decided.restored),
                err=True,
            )
    return True


def _upstream(view: DagView, step: int) -> set[int]:
    deps = {n.step_number: n.dependencies for n in view.nodes}
    seen: set[int] = set()
    todo = list(deps.get(step, []))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(deps.get(current, []))
    return seen
