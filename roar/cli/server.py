"""`roar server`: the lineage registry (GLaaS protocol) on this machine."""

from __future__ import annotations

import click

from roar.core.loop import run


@click.command(
    help="Run the lineage registry: the GLaaS API that roar register publishes to and roar "
    "reproduce HASH reads from. Prints 'READY <url>' once listening; stops on Ctrl-C."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8600, show_default=True)
@click.option(
    "--db",
    default=None,
    metavar="URL",
    help="sqlite:///PATH (default: ~/.local/share/roar/registry.db).",
)
def command(host: str, port: int, db: str | None) -> int:
    from roar.registry.server import database_path, serve

    path = database_path(db)
    run(serve(host, port, path))
    return 0
