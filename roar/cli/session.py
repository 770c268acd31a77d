"""Sessions: `roar session list|show|new|switch`, `roar reset` (= `session new`), `roar pop`.

A session is one pipeline: the jobs `roar run` records go to the active one, and `roar dag`,
`roar status` and `@N` refer to it. Starting a new one keeps the old whole; switching back
makes its DAG and step numbers current again.
"""

from __future__ import annotations

import os
import sys

import click

from roar.cli._format import json_text
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


@click.group(
    "session",
    help="List, show, start and switch sessions (pipelines). The active one is where roar run "
    "records and what roar dag shows.",
)
def session_command() -> None:
    pass


@session_command.command("list", help="Every session, the active one marked.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> int:
    return run(_list(as_json))


async def _list(as_json: bool) -> int:
    from roar.cli._format import local_time
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    async with ctx.store() as store:
        sessions = await store.all_sessions()
    if as_json:
        click.echo(
            json_text(
                [
                    {
                        "session_hash": s.hash,
                        "created_at": s.created_at,
                        "is_active": s.is_active,
                        "jobs": jobs,
                        "steps": steps,
                    }
                    for s, jobs, steps in sessions
                ]
            )
        )
        return 0
    if not sessions:
        click.echo("No sessions yet (roar run starts one)")
    for s, jobs, steps in sessions:
        mark = "*" if s.is_active else " "
        click.echo(
            f"{mark} {s.hash[:12]}  {local_time(s.created_at)}  {steps} step(s), {jobs} job(s)"
        )
    return 0


@session_command.command("show", help="A session's jobs (default: the active session).")
@click.argument("session_hash", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(session_hash: str | None, as_json: bool) -> int:
    return run(_show(session_hash, as_json))


async def _show(session_hash: str | None, as_json: bool) -> int:
    from roar.api import job_json
    from roar.api._queries import resolve_session
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    async with ctx.store() as store:
        if session_hash is None:
            session = await store.active_session()
            if session is None:
                raise UsageError("no active session (roar run starts one)")
        else:
            session = await resolve_session(store, session_hash)
        jobs = await store.session_jobs(session.id)
    if as_json:
        click.echo(
            json_text(
                {
                    "session_hash": session.hash,
                    "created_at": session.created_at,
                    "is_active": session.is_active,
                    "jobs": [job_json(j) for j in jobs],
                }
            )
        )
        return 0
    state = "active" if session.is_active else "inactive"
    click.echo(f"Session {session.hash} ({state}, {len(jobs)} jobs)")
    for job in jobs:
        click.echo(f"  {job.step_ref:<5} {job.job_uid}  {job.command}")
    return 0


@session_command.command("new", help="Start a fresh session; the current one is kept whole.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def new_command(yes: bool) -> int:
    return run(_reset(yes))


@session_command.command("switch", help="Make an earlier session (by hash prefix) active.")
@click.argument("session_hash")
def switch_command(session_hash: str) -> int:
    return run(_switch(session_hash))


async def _switch(session_hash: str) -> int:
    from roar.api._queries import resolve_session
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    async with ctx.store() as store:
        session = await resolve_session(store, session_hash)
        if session.is_active:
            click.echo(f"Session {session.hash[:12]} is already active")
            return 0
        await store.activate_session(session.id)
        jobs = await store.session_job_count(session.id)
    click.echo(f"Switched to session {session.hash[:12]} ({jobs} jobs)")
    return 0
