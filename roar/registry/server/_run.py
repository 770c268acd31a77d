"""`roar server`: run the registry on a host and port until interrupted."""

from __future__ import annotations

import signal

import anyio
from aiohttp import web

from roar.core.listening import in_use, listening
from roar.errors import UsageError
from roar.registry import local_server as note
from roar.registry.server._app import make_app
from roar.registry.server._context import Registry
from roar.registry.server._engine import open_engine
from roar.registry.server._schema import migrate


async def serve(
    host: str,
    port: int,
    db: str | None,
    *,
    anonymous_sessions: bool = True,
    device_interval: float = 5.0,
    announce: bool = True,
) -> None:
    """Serve until SIGINT/SIGTERM; prints ``READY <url>`` once listening."""
    async with open_engine(db) as engine:
        await migrate(engine)
        registry = Registry.over(
            engine, anonymous_sessions=anonymous_sessions, device_interval=device_interval
        )
        runner = web.AppRunner(make_app(registry), access_log=None)

        def refused(exc: OSError) -> Exception:
            if in_use(exc):
                return UsageError(f"port {port} on {host} is in use (choose another with --port)")
            return UsageError(f"cannot listen on {host}:{port}: {exc.strerror}")

        async with listening(runner, host, port, refused) as bound:
            reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            note.announce(f"http://{reachable}:{bound}")
            try:
                if announce:
                    print(f"READY http://{host}:{bound}", flush=True)
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        break
            finally:
                note.withdraw()
