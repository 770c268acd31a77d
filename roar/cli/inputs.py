"""`roar inputs [REF] [--unsourced|--sourced]`: what jobs read, and whether it can be had again."""

from __future__ import annotations

import click

from roar.cli._format import json_text
from roar.core.loop import run


@click.command(help="List the inputs of a job (@N, @BN, uid) or, with no REF, of the session.")
@click.argument("ref", required=False)
@click.option("--unsourced", "which", flag_value="unsourced", help="Only unsourced inputs.")
@click.option("--sourced", "which", flag_value="sourced", help="Only sourced inputs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(ref: str | None, which: str | None, as_json: bool) -> int:
    return run(_inputs(ref, which, as_json))


async def _inputs(ref: str | None, which: str | None, as_json: bool) -> int:
    from roar.api._queries import resolve_job
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    async with ctx.store() as store:
        if ref is None:
            jobs = await store.recent_jobs(metadata_keys=("input_sources",))
        else:
            jobs = [await resolve_job(store, ref)]
    rows = []
    for job in jobs:
        sources = job.metadata.get("input_sources", {})
        assert isinstance(sources, dict)
        for f in job.inputs:
            source = sources.get(f.path)
            if which == "sourced" and source is None:
                continue
            if which == "unsourced" and source is not None:
                continue
            rows.append(
                {
                    "path": f.path,
                    "hash": f.hash,
                    "size": f.size,
                    "source": source,
                    "sourced": source is not None,
                    "required": source != "config",
                    "step_ref": job.step_ref,
                    "job_uid": job.job_uid,
                }
            )
    if as_json:
        click.echo(json_text(rows))
        return 0
    if not rows:
        click.echo("No unsourced inputs" if which == "unsourced" else "No inputs")
        return 0
    from roar.cli._job_text import source_text

    width = max(len(str(r["path"])) for r in rows)
    for row in rows:
        click.echo(
            f"{row['step_ref']:<5} {row['path']!s:<{width}}  {str(row['hash'])[:12]}  "
            f"{source_text(row['source'])}"
        )
    return 0
