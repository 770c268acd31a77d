"""`roar export --format prov-json|openlineage [REF] [-o FILE]`: lineage in open formats."""

from __future__ import annotations

from pathlib import Path

import click

from roar.core.loop import run


@click.command(
    help="Export lineage: the active session, a session (hash prefix), or a job (@N, uid) or "
    "artifact (path, hash prefix) with everything upstream of it. prov-json: one W3C PROV-JSON "
    "document; openlineage: OpenLineage RunEvents (START and COMPLETE/FAIL per job), one JSON "
    "object per line."
)
@click.argument("ref", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["prov-json", "openlineage"]),
    required=True,
    help="Output format.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
def command(ref: str | None, fmt: str, output: Path | None) -> int:
    return run(_export(ref, fmt, output))


async def _export(ref: str | None, fmt: str, output: Path | None) -> int:
    from roar.api import Project
    from roar.core.context import RoarContext

    text = await Project(RoarContext.load()).export(fmt, ref)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"Wrote {output}", err=True)
    return 0
