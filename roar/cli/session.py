"""`roar reset` (start a fresh session) and `roar pop` (remove the newest job)."""

from __future__ import annotations

import os
import sys

import click

from roar.core.loop import run
from roar.errors import UsageError


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("refusing to ask without a terminal; pass -y to confirm")
    return click.confirm(question, default=False)


@click.command(help="Start a fresh session. Earlier sessions stay in the database.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_command(yes: bool) -> int:
    return run(_reset(yes))


async def _reset(yes: bool) -> int:
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    async with ctx.store() as store:
        current = await store.active_session()
        if current is not None and not _confirm(
            f"Start a new session? (session {current.hash[:12]} is kept)", yes
        ):
            click.echo("Nothing changed")
            return 1
        session = await store.start_new_session()
    click.echo(f"New session {session.hash[:12]}")
    return 0


@click.command(help="Remove the newest job of the session and delete the outputs it wrote.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def pop_command(yes: bool) -> int:
    return run(_pop(yes))


async def _pop(yes: bool) -> int:
    from roar.core.context import RoarContext
    from roar.hashing import digest_file

    ctx = RoarContext.load()
    async with ctx.store() as store:
        jobs = await store.recent_jobs(1)
        if not jobs:
            raise UsageError("no jobs in this session to pop")
        job = jobs[0]
        if not _confirm(f"Remove {job.step_ref} ({job.job_uid}): {job.command}?", yes):
            click.echo("Nothing changed")
            return 1
        await store.delete_job(job.job_uid)
    click.echo(f"Removed {job.step_ref} ({job.job_uid})")
    for out in job.outputs:
        path = ctx.project.absolute(out.path)
        # Only delete what is still exactly what this job wrote, and only inside the project.
        if out.path.startswith(("/", "s3://")) or not os.path.isfile(path):
            continue
        try:
            _, digests = digest_file(path)
        except OSError:
            continue
        if digests["blake3"] == out.hash:
            os.unlink(path)
            click.echo(f"  deleted {out.path}")
        else:
            click.echo(f"  kept {out.path} (changed since the job wrote it)")
    return 0
