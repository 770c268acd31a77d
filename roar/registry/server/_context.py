"""What every handler of `roar server` works with: its stores and its settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from roar.registry.server._accounts import AccountStore
from roar.registry.server._auth import Caller, identify
from roar.registry.server._engine import Engine
from roar.registry.server._labels import LabelStore
from roar.registry.server._lineage import LineageStore


@dataclass
class Registry:
    lineage: LineageStore
    accounts: AccountStore
    labels: LabelStore
    anonymous_sessions: bool = True
    """Whether anyone may open an ``anonymous_public`` registration session."""
    device_interval: float = 5.0
    """Seconds a device-login client waits between polls."""

    @classmethod
    def over(cls, engine: Engine, **settings: Any) -> Registry:
        return cls(LineageStore(engine), AccountStore(engine), LabelStore(engine), **settings)


REGISTRY = web.AppKey("registry", Registry)


def registry(request: web.Request) -> Registry:
    return request.app[REGISTRY]


async def caller(request: web.Request) -> Caller:
    """The request's :class:`Caller`, resolved once."""
    found = request.get("roar.caller")
    if found is None:
        found = await identify(request, registry(request).accounts)
        request["roar.caller"] = found
    assert isinstance(found, Caller)
    return found


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "data": data}, status=status)


def refuse(status: int, detail: str) -> web.Response:
    return web.json_response({"success": False, "detail": detail}, status=status)
