"""`roar get SRC [DEST]`: download into the workspace with lineage (a Get job)."""

from __future__ import annotations

import click

from roar.cli._format import json_text
from roar.core.loop import run


@click.command(
    help="Download SRC (s3://, gs://, https://, a local path; a prefix or directory is fetched "
    "whole) into DEST and record it as a Get job: each file with its digests and source URL, a "
    "prefix or directory as one composite artifact."
)
@click.argument("src")
@click.argument("dest", required=False)
@click.option("-m", "--message", default=None, help="A note kept with the job.")
@click.option(
    "--hash",
    "expected",
    default=None,
    metavar="BLAKE3",
    help="Refuse unless the "
    "download has this BLAKE3 (a prefix: its tree hash); nothing is written otherwise.",
)
@click.option("--tag", is_flag=True, help="Tag the current git commit roar/<commit>.")
@click.option("--force", is_flag=True, help="Overwrite existing files with other content.")
@click.option("--dry-run", is_flag=True, help="List what would be downloaded; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(
    src: str,
    dest: str | None,
    message: str | None,
    expected: str | None,
    tag: bool,
    force: bool,
    dry_run: bool,
    as_json: bool,
) -> int:
    return run(_get(src, dest, message, expected, tag, force, dry_run, as_json))


async def _get(
    src: str,
    dest: str | None,
    message: str | None,
    expected: str | None,
    tag: bool,
    force: bool,
    dry_run: bool,
    as_json: bool,
) -> int:
    from roar.cli._format import human_size
    from roar.core.context import RoarContext
    from roar.transfer.get import get
    from roar.transfer.tags import tag_commit

    ctx = RoarContext.load()
    result = await get(
        ctx, src, dest, expected_hash=expected, message=message, force=force, dry_run=dry_run
    )
    tagged = await tag_commit(ctx) if tag and not dry_run else None
    if as_json:
        payload = {
            "source": src,
            "dry_run": dry_run,
            "files": [{"url": u, "path": p, "size": s} for u, p, s in result.files],
            "bytes": result.total_bytes,
            "composite": None
            if result.composite is None
            else {"path": result.composite.path, "hash": result.composite.hash},
            "job_uid": result.job.job_uid if result.job else None,
            "step_ref": result.job.step_ref if result.job else None,
            "tag": tagged,
        }
        click.echo(json_text(payload))
        return 0
    if dry_run:
        for url, path, size in result.files:
            click.echo(f"{url} -> {path} ({human_size(size)})")
        click.echo(f"Dry run: {len(result.files)} file(s), {human_size(result.total_bytes)}")
        return 0
    assert result.job is not None
    what = f"{len(result.files)} file(s), {human_size(result.total_bytes)}"
    click.echo(f"Got {what} from {src} as {result.job.step_ref} ({result.job.job_uid})")
    if result.composite is not None:
        click.echo(f"  {result.composite.path}/  composite-blake3:{result.composite.hash}")
    elif result.job.outputs:
        out = result.job.outputs[0]
        click.echo(f"  {out.path}  blake3:{out.hash}")
    if tagged:
        click.echo(f"Tagged {tagged}")
    return 0
