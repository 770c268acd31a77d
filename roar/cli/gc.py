"""`roar gc [--max-size SIZE] [--dry-run]`: trim the run cache under .roar/cache/."""

from __future__ import annotations

import re

import click

from roar.core.loop import run
from roar.errors import UsageError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M``, ``10G``, ``1.5GiB``, ``2048`` (bytes) -> bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"not a size: {text!r} (use e.g. 500M or 10G)")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))


@click.command(
    help="Trim the run cache: drop what no recorded job wrote any more (after roar pop, or a "
    "deleted session), then, with --max-size, the least recently used until it fits."
)
@click.option("--max-size", default=None, metavar="SIZE", help="Keep at most this much (10G).")
def command(max_size: str | None) -> int:
    limit = parse_size(max_size) if max_size is not None else None
    return run(_gc(limit))


async def _gc(limit: int | None) -> int:
    import anyio

    from roar.api._run_cache import cache_dir
    from roar.cli._format import human_size
    from roar.core.context import RoarContext
    from roar.recording.run_cache import gc

    ctx = RoarContext.load()
    async with ctx.store() as store:
        keep = await store.output_digests()
    summary = await anyio.to_thread.run_sync(lambda: gc(cache_dir(ctx), keep, max_bytes=limit))
    click.echo(
        f"Removed {summary.removed} file(s), freed {human_size(summary.freed_bytes)}; "
        f"{summary.kept} kept ({human_size(summary.kept_bytes)})"
    )
    return 0
