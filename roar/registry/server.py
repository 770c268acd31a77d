"""`roar server`: run the registry on a host and port until interrupted."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
from aiohttp import web

from roar.errors import UsageError
from roar.registry._app import make_app
from roar.registry._storage import RegistryStore


def database_path(url: str | None) -> Path:
    """The SQLite file of ``--db`` (``sqlite:///path`` or a plain path; default: the user's
    data directory)."""
    if url is None:
        return Path.home() / ".local" / "share" / "roar" / "registry.db"
    if url.startswith(("postgresql://", "postgres://")):
        raise UsageError(
            "this roar server stores its registry in SQLite only so far; "
            "use --db sqlite:///path/to/registry.db"
        )
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///") - 1 :]).expanduser()
    if "://" in url:
        raise UsageError(f"--db must be sqlite:///PATH (got {url.split('://')[0]}://...)")
    return Path(url).expanduser()


async def serve(host: str, port: int, db: Path, *, announce: bool = True) -> None:
    """Serve until SIGINT/SIGTERM; prints ``READY <url>`` once listening."""
    async with RegistryStore.open(db) as store:
        runner = web.AppRunner(make_app(store), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:
                raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
            bound = runner.addresses[0][1]
            if announce:
                print(f"READY http://{host}:{bound}", flush=True)
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
        finally:
            await runner.cleanup()
