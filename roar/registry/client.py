"""Talking to a GLaaS registry (``roar server`` or a deployment of the protocol).

JSON in, JSON out, ``X-Roar-Version`` on every request, 30 s per request; a ``{"success": true,
"data": ...}`` envelope is unwrapped. Failures become :class:`RegistryError` with the server's
own words (``HTTP 404: no artifact ...``) or why it could not be reached.

Credentials, strongest first: the bearer token of a ``roar login`` to this registry (refreshed
when it expires), else the user's SSH key when the registry accepts it (one signed probe), else
none. A rejected bearer falls back to the SSH key, as the reference client does.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roar._version import __version__
from roar.errors import RoarError

if TYPE_CHECKING:
    from roar.core.config import Config


class RegistryError(RoarError):
    """The registry refused a request, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, payload: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.payload = payload


class NotInRegistry(RegistryError):
    """A 404: the registry does not know it."""


def registry_url(config: Config | None) -> str | None:
    """``GLAAS_URL``, else an explicitly configured ``glaas.url``, else a `roar server` running
    on this machine; None when there is none of these (roar makes no network call to a default
    registry the user never named)."""
    env = os.environ.get("GLAAS_URL", "").strip()
    if env:
        return env.rstrip("/")
    if config is not None and config.is_set("glaas.url"):
        value = config.get_str("glaas.url")
        return value.rstrip("/") if value else None
    from roar.registry.local_server import running_server

    return running_server()


@dataclass
class Credentials:
    """What a client signs in with: ``bearer`` (a login), ``ssh`` (a key) or ``none``."""

    kind: str = "none"
    login: dict[str, Any] | None = None
    key: Path | None = None
    registration_token: str | None = None

    @property
    def description(self) -> str:
        if self.kind == "bearer" and self.login:
            user = self.login.get("user") or {}
            return f"signed in as {user.get('username') or 'unknown'} (roar login)"
        if self.kind == "ssh" and self.key is not None:
            return f"signed with SSH key {self.key}"
        return "anonymous"


class RegistryClient:
    def __init__(self, base_url: str, http: Any, credentials: Credentials | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http
        self.credentials = credentials or Credentials()

    async def get(self, path: str) -> Any:
        return await self._call("GET", path, None)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self._call("POST", path, body if body is not None else {})

    async def _authorization(self, method: str, path: str, data: bytes) -> str | None:
        creds = self.credentials
        if creds.registration_token and "/registration-sessions/" in path:
            return f"RegistrationSession {creds.registration_token}"
        if creds.kind == "bearer" and creds.login:
            await self._refresh_if_expiring()
            return f"Bearer {creds.login['access_token']}"
        if creds.kind == "ssh" and creds.key is not None:
            from roar.registry.signing import authorization

            return await authorization(creds.key, method, path, data)
        return None

    async def _refresh_if_expiring(self) -> None:
        login = self.credentials.login
        assert login is not None
        if float(login.get("expires_at") or 0) > time.time() + 30:
            return
        from roar.registry.credentials import save_auth

        try:
            fresh = await self._send(
                "POST",
                "/api/v1/auth/refresh",
                json.dumps(
                    {"refresh_token": login.get("refresh_token"), "client_id": "roar-cli"}
                ).encode(),
                None,
            )
        except RegistryError as exc:
            raise RegistryError(
                f"your login to {self.base_url} expired and could not be refreshed ({exc}); "
                "run roar login"
            ) from None
        login.update({k: fresh[k] for k in fresh if k.endswith(("token", "expires_at"))})
        save_auth(login)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        data = json.dumps(body).encode() if body is not None else b""
        header = await self._authorization(method, path, data)
        try:
            return await self._send(method, path, data, header)
        except RegistryError as exc:
            from roar.registry.signing import find_key

            if exc.status != 401 or self.credentials.kind != "bearer":
                raise
            key = find_key()
            if key is None:
                raise
            # A rejected login falls back to the SSH key, as the reference client does.
            self.credentials = Credentials("ssh", key=key)
            header = await self._authorization(method, path, data)
            return await self._send(method, path, data, header)

    async def _send(self, method: str, path: str, data: bytes, header: str | None) -> Any:
        import aiohttp

        url = f"{self.base_url}{path}"
        headers = {"Content-Type": "application/json"}
        if header:
            headers["Authorization"] = header
        try:
            async with self._http.request(
                method, url, data=data or None, headers=headers
            ) as response:
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = None
                if response.status >= 400:
                    detail = _detail(payload) or response.reason
                    error = NotInRegistry if response.status == 404 else RegistryError
                    raise error(
                        f"{self.base_url}: HTTP {response.status}: {detail}",
                        response.status,
                        payload,
                    )
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
        for key in ("detail", "message", "error_description"):
            if isinstance(holder, dict) and isinstance(holder.get(key), str):
                return str(holder[key])
    if isinstance(payload.get("error"), str):
        return str(payload["error"])
    return None


async def _resolve(client: RegistryClient, config: Config | None) -> Credentials:
    from roar.registry.credentials import auth_for
    from roar.registry.signing import find_key

    login = auth_for(client.base_url)
    if login is not None and login.get("access_token"):
        return Credentials("bearer", login=login)
    key = find_key(config.get_str("glaas.key") if config is not None else None)
    if key is None:
        return Credentials()
    client.credentials = Credentials("ssh", key=key)
    try:
        await client.get("/api/v1/auth/me")
    except RegistryError as exc:
        if exc.status in (401, 403, 404):
            return Credentials()  # the registry does not know this key: anonymous
        raise
    return client.credentials


@asynccontextmanager
async def connect(
    base_url: str, *, config: Config | None = None, anonymous: bool = False
) -> AsyncIterator[RegistryClient]:
    """A client of ``base_url`` signed in with the user's credentials for it (none when
    ``anonymous``)."""
    import aiohttp

    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        headers={"X-Roar-Version": __version__},
        trust_env=True,
    ) as http:
        client = RegistryClient(base_url, http)
        if not anonymous:
            client.credentials = await _resolve(client, config)
        yield client
