"""`roar log`: the jobs of the active session, newest last."""

from __future__ import annotations

import click

from roar.cli._format import json_text
from roar.core.loop import run


@click.command(help="Display the job history of the active session (newest last).")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=None, help="Only the newest N.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(limit: int | None, as_json: bool) -> int:
    return run(_log(limit, as_json))


async def _log(limit: int | None, as_json: bool) -> int:
    from roar.api import job_json
    from roar.cli._format import human_duration, local_time
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    async with ctx.store() as store:
        # The table needs neither edges nor metadata; --json prints whole jobs.
        jobs = await store.recent_jobs(
            limit, with_edges=as_json, metadata_keys=None if as_json else ()
        )
    if as_json:
        click.echo(json_text([job_json(j) for j in jobs]))
        return 0
    if not jobs:
        click.echo("No jobs recorded in this session")
        return 0
    for job in jobs:
        status = "ok" if job.exit_code == 0 else f"exit {job.exit_code}"
        click.echo(
            f"{job.step_ref:<5} {job.job_uid}  {local_time(job.started_at)}  "
            f"{human_duration(job.duration_seconds):>8}  {status:<7}  {job.command}"
        )
    return 0
