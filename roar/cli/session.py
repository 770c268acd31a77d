"""Sessions: `roar session list|show|new|switch`, `roar reset` (= `session new`), `roar pop`.

A session is one pipeline: the jobs `roar run` records go to the active one, and `roar dag`,
`roar status` and `@N` refer to it. Starting a new one keeps the old whole; switching back
makes its DAG and step numbers current again.
"""

from __future__ import annotations

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
    from roar.api._sessions import active_session, start_session
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    current = await active_session(ctx)
    if current is not None and not _confirm(
        f"Start a new session? (session {current.hash[:12]} is kept)", yes
    ):
        click.echo("Nothing changed")
        return 1
    session = await start_session(ctx)
    click.echo(f"New session {session.hash[:12]}")
    return 0


@click.command(help="Remove the newest job of the session and delete the outputs it wrote.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def pop_command(yes: bool) -> int:
    return run(_pop(yes))


async def _pop(yes: bool) -> int:
    from roar.api._sessions import newest_job, pop_job
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    job = await newest_job(ctx)
    if not _confirm(f"Remove {job.step_ref} ({job.job_uid}): {job.command}?", yes):
        click.echo("Nothing changed")
        return 1
    outputs = await pop_job(ctx, job)
    click.echo(f"Removed {job.step_ref} ({job.job_uid})")
    for output in outputs:
        if output.deleted:
            click.echo(f"  deleted {output.path}")
        else:
            click.echo(f"  kept {output.path} (changed since the job wrote it)")
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
    from roar.api._sessions import list_sessions
    from roar.cli._format import local_time
    from roar.core.context import RoarContext

    sessions = await list_sessions(RoarContext.load())
    if as_json:
        click.echo(json_text(sessions))
        return 0
    if not sessions:
        click.echo("No sessions yet (roar run starts one)")
    for s in sessions:
        mark = "*" if s["is_active"] else " "
        click.echo(
            f"{mark} {s['session_hash'][:12]}  {local_time(s['created_at'])}  "
            f"{s['steps']} step(s), {s['jobs']} job(s)"
        )
    return 0


@session_command.command("show", help="A session's jobs (default: the active session).")
@click.argument("session_hash", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(session_hash: str | None, as_json: bool) -> int:
    return run(_show(session_hash, as_json))


async def _show(session_hash: str | None, as_json: bool) -> int:
    from roar.api import job_json
    from roar.api._sessions import session_jobs
    from roar.core.context import RoarContext

    session, jobs = await session_jobs(RoarContext.load(), session_hash)
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
    from roar.api._sessions import switch_session
    from roar.core.context import RoarContext

    session, jobs, was_active = await switch_session(RoarContext.load(), session_hash)
    if was_active:
        click.echo(f"Session {session.hash[:12]} is already active")
        return 0
    click.echo(f"Switched to session {session.hash[:12]} ({jobs} jobs)")
    return 0
