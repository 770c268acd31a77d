"""`roar put [SRC] DEST -m MSG`: upload from the workspace with lineage (a Put job)."""

from __future__ import annotations

import click

from roar.cli._format import json_text
from roar.core.loop import run
from roar.errors import UsageError


@click.command(
    help="Upload SRC (a file, a directory, @N for a step's outputs, or nothing for every output "
    "of the session) to DEST (s3://, gs://, a directory) and record it as a Put job linking the "
    "local artifacts to the uploaded ones; registers the lineage when a registry is configured."
)
@click.argument("paths", nargs=-1, required=True, metavar="[SRC] DEST")
@click.option("-m", "--message", required=True, help="What this upload is (required).")
@click.option("--dry-run", is_flag=True, help="List what would be uploaded; change nothing.")
@click.option("--no-tag", is_flag=True, help="Do not tag the current git commit roar/<commit>.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(
    paths: tuple[str, ...], message: str, dry_run: bool, no_tag: bool, as_json: bool
) -> int:
    if len(paths) > 2:
        raise UsageError("give at most SRC and DEST (quote paths with spaces)")
    src, dest = (None, paths[0]) if len(paths) == 1 else paths
    if not message.strip():
        raise UsageError("-m MESSAGE must say what the upload is")
    return run(_put(src, dest, message, dry_run, no_tag, as_json))


async def _put(
    src: str | None, dest: str, message: str, dry_run: bool, no_tag: bool, as_json: bool
) -> int:
    from roar.cli._format import human_size
    from roar.core.context import RoarContext
    from roar.transfer.put import put
    from roar.transfer.register import register_after_put
    from roar.transfer.tags import tag_commit

    ctx = RoarContext.load()
    result = await put(ctx, src, dest, message=message, dry_run=dry_run)
    if dry_run:
        if as_json:
            files = [{"path": p, "url": u, "size": s} for p, u, s in result.files]
            click.echo(json_text({"dry_run": True, "files": files, "bytes": result.total_bytes}))
            return 0
        for path, url, size in result.files:
            click.echo(f"{path} -> {url} ({human_size(size)})")
        click.echo(f"Dry run: {len(result.files)} file(s), {human_size(result.total_bytes)}")
        return 0
    assert result.job is not None
    tagged = None if no_tag else await tag_commit(ctx)
    registered, failure = await register_after_put(ctx)
    if as_json:
        payload = {
            "destination": dest,
            "dry_run": False,
            "files": [{"path": p, "url": u, "size": s} for p, u, s in result.files],
            "bytes": result.total_bytes,
            "composites": [
                {"path": c.path, "hash": c.hash, "role": c.role} for c in result.composites
            ],
            "job_uid": result.job.job_uid,
            "step_ref": result.job.step_ref,
            "tag": tagged,
            "registered": registered,
            "registry_error": failure,
        }
        click.echo(json_text(payload))
    else:
        what = f"{len(result.files)} file(s), {human_size(result.total_bytes)}"
        click.echo(f"Put {what} to {dest} as {result.job.step_ref} ({result.job.job_uid})")
        for composite in result.composites[1:]:
            click.echo(f"  {composite.path}  composite-blake3:{composite.hash}")
        if tagged:
            click.echo(f"Tagged {tagged}")
        if registered:
            click.echo(f"Registered the lineage with {registered}")
    if failure:
        click.echo(f"roar: error: uploaded and recorded, but {failure}", err=True)
        return 1
    return 0
