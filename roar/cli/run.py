"""`roar run CMD...` and `roar build CMD...`: run a command traced and record it."""

from __future__ import annotations

from pathlib import Path

import click

from roar.core.loop import run

_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}


def _options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)(func)
    func = click.option(
        "-v", "--verbose", count=True, help="-v: filter counts; -vv: every path dropped."
    )(func)
    func = click.option("-q", "--quiet", is_flag=True, help="Print nothing but warnings.")(func)
    func = click.option(
        "--tracer",
        type=click.Choice(["auto", "ptrace", "preload", "ebpf"]),
        default=None,
        help="Tracer backend for this run (default: tracer.default).",
    )(func)
    return func


@click.command(context_settings=_SETTINGS, help="Run CMD with provenance tracking.")
@_options
def run_command(argv: tuple[str, ...], tracer: str | None, quiet: bool, verbose: int) -> int:
    return run(_run(list(argv), "run", tracer, quiet, verbose))


@click.command(
    context_settings=_SETTINGS,
    help="Run a build step (compile, install) with provenance tracking; build steps run first "
    "when reproducing.",
)
@_options
def build_command(argv: tuple[str, ...], tracer: str | None, quiet: bool, verbose: int) -> int:
    return run(_run(list(argv), "build", tracer, quiet, verbose))


async def _run(
    argv: list[str], job_type: str, tracer: str | None, quiet: bool, verbose: int
) -> int:
    from roar.core.context import RoarContext
    from roar.recording.recorder import record_command

    ctx = RoarContext.load(verbosity=-1 if quiet else verbose)
    report = await record_command(ctx, argv, job_type=job_type, backend_name=tracer, cwd=Path.cwd())
    quiet = quiet or ctx.config.bool("output.quiet")
    for warning in report.warnings:
        click.echo(f"roar: warning: {warning}", err=True)
    job = report.job
    if job is None:
        return report.exit_code
    if not quiet:
        _print_report(report, verbose)
    return report.exit_code


def _print_report(report: object, verbose: int) -> None:
    from roar.cli._format import human_duration, human_size
    from roar.recording.recorder import RunReport

    assert isinstance(report, RunReport) and report.job is not None
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
    if verbose >= 2:
        for kind, path, reason in report.dropped:
            click.echo(f"  dropped {kind} {path} ({reason})", err=True)
        for path in report.discarded_writes:
            click.echo(f"  not an output (deleted or renamed away): {path}", err=True)
