"""The login endpoints: the device-code flow (RFC 8628 in the protocol's shape), who am I,
refresh, logout, and registering an SSH key for a signed-in user."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from roar.registry.server import _validate as check
from roar.registry.server._context import base_url, caller, ok, registry
from roar.registry.server._sshsig import BadSignature, fingerprint
from roar.registry.server._validate import BadRequest
from roar.registry.server._viewer import Viewer

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


def _oauth_error(code: str, description: str, status: int = 400) -> web.Response:
    # Both shapes clients read: OAuth's `error` string and the envelope's detail.
    return web.json_response(
        {"success": False, "error": code, "error_description": description, "detail": description},
        status=status,
    )


async def device_start(request: web.Request) -> web.Response:
    body = await check.read_body(request)
    client_id = check.text(body, "client_id", required=False) or "roar-cli"
    device_code, user_code = await registry(request).accounts.start_device(client_id)
    page = f"{base_url(request)}/device"
    return ok(
        {
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": page,
            "verification_uri_complete": f"{page}?user_code={user_code}",
            "expires_in": 600,
            "interval": registry(request).device_interval,
        }
    )


async def device_token(request: web.Request) -> web.Response:
    body = await check.read_body(request)
    if body.get("grant_type", GRANT_TYPE) != GRANT_TYPE:
        return _oauth_error("unsupported_grant_type", "only the device-code grant is served")
    device_code = check.text(body, "device_code") or ""
    reg = registry(request)
    device = await reg.accounts.poll_device(device_code)
    if device is None:
        return _oauth_error("invalid_grant", "unknown device code")
    if device.expires_at < time.time():
        return _oauth_error("expired_token", "the device code expired; run roar login again")
    if device.status == "denied":
        return _oauth_error("access_denied", "the login was denied on the web page")
    if device.status == "consumed":
        return _oauth_error("invalid_grant", "this device code was already used")
    if device.status == "pending":
        too_soon = device.last_poll is not None and (
            time.time() - float(device.last_poll) < reg.device_interval * 0.8
        )
        if too_soon:
            return _oauth_error("slow_down", "poll less often")
        return _oauth_error("authorization_pending", "waiting for approval on the web page")
    assert device.user_id is not None
    tokens = await reg.accounts.issue_tokens(int(device.user_id))
    user = await reg.accounts.user(int(device.user_id))
    return ok(
        {
            **tokens,
            "provider": "roar-device",
            "issuer": base_url(request),
            "client_id": "roar-cli",
            "user": user,
        }
    )


async def _signed_in(request: web.Request) -> Viewer:
    viewer = (await caller(request)).viewer
    if viewer.anonymous:
        raise BadRequest("sign in first (roar login, or an SSH key: roar auth key)", 401)
    return viewer


async def _user(request: web.Request, viewer: Viewer) -> dict[str, Any]:
    user = await registry(request).accounts.user(int(viewer.user_id or 0))
    if user is None:
        raise BadRequest("that user no longer exists", 401)
    return user


async def access_context(request: web.Request) -> web.Response:
    viewer = await _signed_in(request)
    user = await _user(request, viewer)
    return ok(
        {
            "user": {**user, "sub": f"roar:{user['id']}"},
            "owners": [
                {
                    "id": user["id"],
                    "type": "user",
                    "username": user["username"],
                    "display_name": user["username"],
                    "role": "owner",
                }
            ],
            "projects_by_owner": {str(user["id"]): []},
        }
    )


async def me(request: web.Request) -> web.Response:
    who = await caller(request)
    viewer = await _signed_in(request)
    user = await _user(request, viewer)
    return ok(
        {
            "user": user,
            "creator_identity": viewer.creator_identity,
            "creatorIdentity": viewer.creator_identity,
            "auth_method": who.method,
        }
    )


async def refresh(request: web.Request) -> web.Response:
    body = await check.read_body(request)
    token = check.text(body, "refresh_token") or ""
    accounts = registry(request).accounts
    found = await accounts.token_user(token, kind="refresh")
    if found is None:
        raise BadRequest("the refresh token is invalid, expired or revoked; roar login", 401)
    viewer, family = found
    return ok(await accounts.issue_tokens(int(viewer.user_id or 0), family=family))


async def logout(request: web.Request) -> web.Response:
    who = await caller(request)
    if who.token_family is None:
        raise BadRequest("logout takes the bearer token to revoke", 401)
    await registry(request).accounts.revoke_family(who.token_family)
    return ok({"logged_out": True})


async def add_key(request: web.Request) -> web.Response:
    viewer = await _signed_in(request)
    body = await check.read_body(request)
    public_key = (check.text(body, "public_key") or "").strip()
    try:
        key_id = fingerprint(public_key)
    except BadSignature as exc:
        raise BadRequest(str(exc)) from None
    try:
        created = await registry(request).accounts.add_key(
            int(viewer.user_id or 0), public_key, key_id
        )
    except ValueError as exc:
        raise BadRequest(str(exc), 409) from None
    return ok({"fingerprint": key_id, "created": created}, status=201 if created else 200)
