"""`roar status`: the session at a glance, and whether its artifacts are still on disk."""

from __future__ import annotations

import click

from roar.cli._format import json_text
from roar.core.loop import run


@click.command(help="Summarise the active session: git readiness, steps, artifacts on disk.")
@click.option(
    "--untracked-dirs",
    is_flag=True,
    help="List output directories a clean checkout would not recreate (no tracked file).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(untracked_dirs: bool, as_json: bool) -> int:
    return run(_status(untracked_dirs, as_json))


async def _status(untracked_dirs: bool, as_json: bool) -> int:
    from roar.api._status import session_status
    from roar.cli._format import local_time
    from roar.core.context import RoarContext

    payload = await session_status(RoarContext.load(), untracked_dirs=untracked_dirs)
    if as_json:
        click.echo(json_text(payload))
        return 0
    git, steps, latest = payload["git"], payload["steps"], payload["latest_job"]
    artifacts = payload["artifacts"]
    click.echo(f"Session: {payload['session_hash'] or '(none yet)'}")
    if git["repo"] is None:
        click.echo("Git:     not a git repository (code is not captured by a commit)")
    else:
        state = "clean" if not git["dirty"] else f"dirty ({len(git['changed_paths'])} changed)"
        ready = "ready" if git["ready"] else "not ready: commit your changes"
        click.echo(
            f"Git:     {git['branch'] or 'detached'} @ {(git['commit'] or '-')[:12]}, "
            f"{state}; {ready}"
        )
    click.echo(
        f"Steps:   {steps['total']} ({steps['build']} build, {steps['run']} run), "
        f"{steps['jobs']} jobs, {steps['stale']} stale"
    )
    if latest is not None:
        click.echo(
            f"Latest:  {latest['step_ref']} {latest['command']} (exit {latest['exit_code']}, "
            f"{local_time(latest['started_at'])})"
        )
    for published in payload["registrations"]:
        click.echo(
            f"Registered: {published['remote_hash'][:16]} on {published['registry']} "
            f"({published['scope']}, {local_time(published['published_at'])})"
        )
    present, missing, modified = artifacts["present"], artifacts["missing"], artifacts["modified"]
    on_cluster = artifacts.get("on_cluster", [])
    remote = f", {len(on_cluster)} on a Ray cluster" if on_cluster else ""
    click.echo(
        f"Artifacts: {len(present)} present, {len(missing)} missing, {len(modified)} modified"
        f"{remote}"
    )
    for path in missing:
        click.echo(f"  missing  {path}")
    for path in on_cluster:
        click.echo(f"  on cluster {path}")
    for path in modified:
        click.echo(f"  modified {path}")
    if untracked_dirs:
        if payload["untracked_dirs"]:
            click.echo("Output directories with no tracked file (add a .gitkeep):")
            for directory in payload["untracked_dirs"]:
                click.echo(f"  {directory}/")
        else:
            click.echo("Every output directory is tracked by git")
    return 0
