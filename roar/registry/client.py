"""Talking to a GLaaS registry (``roar server`` or a deployment of the protocol).

JSON in, JSON out, ``X-Roar-Version`` on every request, 30 s per request; a ``{"success": true,
"data": ...}`` envelope is unwrapped. Failures become :class:`RegistryError` with the server's
own words (``HTTP 404: no artifact ...``) or why it could not be reached.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from roar._version import __version__
from roar.errors import RoarError

if TYPE_CHECKING:
    from roar.core.config import Config


class RegistryError(RoarError):
    """The registry refused a request, or could not be reached."""


class NotInRegistry(RegistryError):
    """A 404: the registry does not know it."""


def registry_url(config: Config | None) -> str | None:
    """``GLAAS_URL``, else an explicitly configured ``glaas.url``; None when neither is set
    (roar makes no network call to a default registry the user never named)."""
    env = os.environ.get("GLAAS_URL", "").strip()
    if env:
        return env.rstrip("/")
    if config is not None and config.is_set("glaas.url"):
        value = config.get_str("glaas.url")
        return value.rstrip("/") if value else None
    return None


class RegistryClient:
    def __init__(self, base_url: str, http: Any) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http

    async def get(self, path: str) -> Any:
        return await self._call("GET", path, None)

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        return await self._call("POST", path, body)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        import aiohttp

        url = f"{self.base_url}{path}"
        try:
            async with self._http.request(method, url, json=body) as response:
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = None
                if response.status >= 400:
                    detail = _detail(payload) or response.reason
                    error = NotInRegistry if response.status == 404 else RegistryError
                    raise error(f"{self.base_url}: HTTP {response.status}: {detail}")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise RegistryError(
                f"cannot reach the registry at {self.base_url}: {exc or type(exc).__name__}"
            ) from None
        if isinstance(payload, dict) and payload.get("success") is True and "data" in payload:
            return payload["data"]
        return payload


def _detail(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for holder in (payload, payload.get("error") if isinstance(payload.get("error"), dict) else {}):
        for key in ("detail", "message"):
            if isinstance(holder, dict) and isinstance(holder.get(key), str):
                return str(holder[key])
    return None


@asynccontextmanager
async def connect(base_url: str) -> AsyncIterator[RegistryClient]:
    import aiohttp

    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        headers={"X-Roar-Version": __version__},
        trust_env=True,
    ) as http:
        yield RegistryClient(base_url, http)
