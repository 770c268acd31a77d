"""`roar login`: the device-code flow against a registry, and what it stores.

The registry hands out a device code and a short user code; the user approves the user code on
the registry's web page (roar opens it when there is a desktop to open it on); roar polls at the
pace the registry asks, then keeps the tokens in ``auth.json`` (see ``credentials``).
"""

from __future__ import annotations

import os
import time
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import anyio

from roar.errors import UsageError
from roar.registry.client import RegistryError, connect

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def check_transport(url: str) -> None:
    """Tokens travel over https, or plain http to this machine only (``ROAR_ALLOW_HTTP=1``
    lifts that for a registry on a trusted network)."""
    parsed = urlparse(url)
    local = parsed.hostname in ("127.0.0.1", "localhost", "::1")
    if parsed.scheme == "http" and not local and os.environ.get("ROAR_ALLOW_HTTP") != "1":
        raise UsageError(
            f"refusing to log in over plain http to {parsed.hostname} (tokens would travel "
            "unencrypted); use https, or set ROAR_ALLOW_HTTP=1"
        )


def _can_open_browser() -> bool:
    if os.environ.get("ROAR_DISABLE_BROWSER_OPEN"):
        return False
    # Without a desktop, webbrowser falls back to a terminal browser that takes over the tty.
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or (
        os.uname().sysname == "Darwin"
    )


def _error_code(exc: RegistryError) -> str | None:
    payload = exc.payload if isinstance(exc.payload, dict) else {}
    error = payload.get("error")
    if isinstance(error, dict):
        error = error.get("code")
    return str(error) if error else None


async def device_login(
    url: str, say: Callable[[str], None], *, open_browser: bool = True
) -> dict[str, Any]:
    """Run the device flow; returns what to store in auth.json."""
    check_transport(url)
    async with connect(url, anonymous=True) as client:
        start = await client.post(
            "/api/v1/auth/device/start", {"client_id": "roar-cli", "client_name": "roar-cli"}
        )
        page = start.get("verification_uri_complete") or start["verification_uri"]
        say(f"Open {start['verification_uri']} and enter the code {start['user_code']}")
        if open_browser and _can_open_browser():
            webbrowser.open(page)
        interval = float(start.get("interval") or 5)
        deadline = time.monotonic() + float(start.get("expires_in") or 600)
        while True:
            await anyio.sleep(interval)
            if time.monotonic() > deadline:
                raise UsageError("the login code expired before it was approved; roar login")
            try:
                tokens = await client.post(
                    "/api/v1/auth/device/token",
                    {
                        "grant_type": GRANT,
                        "device_code": start["device_code"],
                        "client_id": "roar-cli",
                    },
                )
            except RegistryError as exc:
                code = _error_code(exc)
                if code == "authorization_pending":
                    continue
                if code == "slow_down":
                    interval += 5
                    continue
                if code == "access_denied":
                    raise UsageError("the login was denied on the registry's page") from None
                if code == "expired_token":
                    raise UsageError("the login code expired; run roar login again") from None
                raise
            if tokens.get("status") == "authorization_pending":
                continue
            break
        access = tokens.get("access_token") or tokens.get("token")
        client.credentials.kind = "bearer"
        client.credentials.login = {"access_token": access, "expires_at": time.time() + 60}
        context = await client.get("/api/v1/auth/access-context")
    user = context.get("user") or {}
    expires_at = tokens.get("expires_at") or time.time() + float(tokens.get("expires_in") or 3600)
    return {
        "server": url,
        "provider": tokens.get("provider") or "roar-device",
        "issuer": tokens.get("issuer") or url,
        "client_id": tokens.get("client_id") or "roar-cli",
        "access_token": access,
        "refresh_token": tokens.get("refresh_token"),
        "refresh_expires_at": tokens.get("refresh_expires_at"),
        "id_token": tokens.get("id_token"),
        "expires_at": expires_at,
        "user": {
            "sub": user.get("sub"),
            "db_user_id": user.get("id"),
            "email": user.get("email"),
            "username": user.get("username"),
        },
    }
