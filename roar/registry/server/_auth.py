"""Who sent a request: the ``Authorization`` header resolved to a :class:`Viewer`.

No header is anonymous. ``Bearer <token>`` is a device-login access token; ``Signature ...`` an
SSH signature by a key a user registered (the timestamp it signs must be within five minutes, so
a captured header is useless soon after); ``RegistrationSession <token>`` is good for its own
registration session only. Credentials that are present but wrong are a 401 — never silently
anonymous, so a client with a revoked token learns it instead of publishing unattributed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

from roar.registry.server._accounts import AccountStore, digest_secret
from roar.registry.server._sshsig import BadSignature, parse_header, signed_message, verify
from roar.registry.server._validate import BadRequest
from roar.registry.server._viewer import ANONYMOUS, Viewer

SIGNATURE_WINDOW = 300.0


@dataclass(frozen=True)
class Caller:
    viewer: Viewer
    method: str  # anonymous | bearer | ssh | registration-session
    registration_token: str | None = None  # digest of a RegistrationSession token
    token_family: str | None = None


async def identify(request: web.Request, accounts: AccountStore) -> Caller:
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return Caller(ANONYMOUS, "anonymous")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme == "Bearer":
        found = await accounts.token_user(value)
        if found is None:
            raise BadRequest("the bearer token is invalid, expired or revoked", 401)
        return Caller(found[0], "bearer", token_family=found[1])
    if scheme == "RegistrationSession":
        return Caller(ANONYMOUS, "registration-session", registration_token=digest_secret(value))
    if scheme == "Signature":
        return Caller(await _signer(request, accounts, header), "ssh")
    raise BadRequest(f"unsupported Authorization scheme {scheme!r}", 401)


async def _signer(request: web.Request, accounts: AccountStore, header: str) -> Viewer:
    try:
        parsed = parse_header(header)
    except BadSignature as exc:
        raise BadRequest(str(exc), 401) from None
    try:
        ts = float(parsed.ts)
    except ValueError:
        raise BadRequest("the signature's ts is not a unix time", 401) from None
    if abs(time.time() - ts) > SIGNATURE_WINDOW:
        raise BadRequest("the signature's timestamp is more than 5 minutes off", 401)
    found = await accounts.key(parsed.keyid)
    if found is None:
        raise BadRequest(f"unknown SSH key {parsed.keyid} (roar auth key shows yours)", 401)
    viewer, public_key = found
    body = await request.read()
    message = signed_message(parsed.ts, request.method, request.raw_path, body)
    try:
        verify(public_key, parsed.sig, message)
    except BadSignature as exc:
        raise BadRequest(f"bad signature: {exc}", 401) from None
    return viewer
