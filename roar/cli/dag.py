"""`roar dag [--json] [--expanded]`: the current pipeline DAG of the active session."""

from __future__ import annotations

import click
import msgspec

from roar.core.loop import run


@click.command(help="Display the pipeline DAG for the current session.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--expanded", is_flag=True, help="Show every execution, including superseded ones.")
@click.option("--no-color", is_flag=True, help="Never colour the output.")
def command(as_json: bool, expanded: bool, no_color: bool) -> int:
    return run(_dag(as_json, expanded, no_color))


async def _dag(as_json: bool, expanded: bool, no_color: bool) -> int:
    from roar.core.context import RoarContext
    from roar.lineage.queries import current_dag

    ctx = RoarContext.load()
    async with ctx.store() as store:
        view = await current_dag(store, expanded=expanded)
    if as_json:
        click.echo(msgspec.json.encode(view).decode())
        return 0
    from roar.lineage.render import render_text

    click.echo(render_text(view), color=False if no_color else None)
    return 0
