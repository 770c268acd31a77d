"""The registry's accounts: users, their SSH keys, device-code logins and bearer tokens.

Secrets are never stored: passwords as scrypt hashes, tokens and device codes as SHA-256 of the
random value handed out once. A device code is approved on the server's web page by a user who
proves who they are; the polling client then receives an access token (an hour) and a refresh
token (thirty days) of one *family*, which logout revokes as a whole.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from roar.registry.server._engine import Engine
from roar.registry.server._viewer import Viewer

ACCESS_SECONDS = 3600
REFRESH_SECONDS = 30 * 24 * 3600
DEVICE_SECONDS = 600
# No 0/O, 1/I/L: a user code is read off one screen and typed into another.
_USER_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def digest_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${derived.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, salt, expected = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    derived = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1)
    return hmac.compare_digest(derived.hex(), expected)


@dataclass(frozen=True)
class Device:
    user_code: str
    status: str  # pending | approved | denied | consumed
    user_id: int | None
    expires_at: float
    last_poll: float | None


class AccountStore:
    def __init__(self, engine: Engine) -> None:
        self.db = engine

    # -- users and keys ----------------------------------------------------------------------

    async def add_user(self, username: str, password: str, email: str | None = None) -> int:
        async with self.db.write() as tx:
            if await tx.fetchone("SELECT 1 FROM users WHERE username = ?", (username,)):
                raise ValueError(f"user {username!r} already exists")
            row = await tx.fetchone(
                "INSERT INTO users (username, email, password_hash, created_at) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (username, email, hash_password(password), time.time()),
            )
        assert row is not None
        return int(row[0])

    async def user(self, user_id: int) -> dict[str, Any] | None:
        row = await self.db.fetchone(
            "SELECT id, username, email FROM users WHERE id = ?", (user_id,)
        )
        return {"id": row[0], "username": row[1], "email": row[2]} if row else None

    async def check_password(self, username: str, password: str) -> Viewer | None:
        row = await self.db.fetchone(
            "SELECT id, password_hash FROM users WHERE username = ?", (username,)
        )
        # The scrypt runs either way, so a wrong name takes as long as a wrong password.
        stored = str(row[1]) if row else hash_password("")
        if password_matches(password, stored) and row is not None:
            return Viewer(int(row[0]), username)
        return None

    async def add_key(self, user_id: int, public_key: str, fingerprint: str) -> bool:
        async with self.db.write() as tx:
            existing = await tx.fetchone(
                "SELECT user_id FROM ssh_keys WHERE fingerprint = ?", (fingerprint,)
            )
            if existing:
                if int(existing[0]) != user_id:
                    raise ValueError("this key belongs to another user")
                return False
            await tx.execute(
                "INSERT INTO ssh_keys (fingerprint, user_id, public_key, created_at) "
                "VALUES (?, ?, ?, ?)",
                (fingerprint, user_id, public_key, time.time()),
            )
        return True

    async def key(self, fingerprint: str) -> tuple[Viewer, str] | None:
        row = await self.db.fetchone(
            "SELECT k.user_id, u.username, k.public_key FROM ssh_keys k "
            "JOIN users u ON u.id = k.user_id WHERE k.fingerprint = ?",
            (fingerprint,),
        )
        return (Viewer(int(row[0]), str(row[1])), str(row[2])) if row else None

    # -- device-code login -------------------------------------------------------------------

    async def start_device(self, client_id: str) -> tuple[str, str]:
        """A new (device_code, user_code) pair."""
        device_code = secrets.token_urlsafe(32)
        now = time.time()
        async with self.db.write() as tx:
            while True:
                raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
                user_code = f"{raw[:4]}-{raw[4:]}"
                if not await tx.fetchone("SELECT 1 FROM devices WHERE user_code = ?", (user_code,)):
                    break
            await tx.execute(
                "INSERT INTO devices (device_hash, user_code, client_id, status, created_at, "
                "expires_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                (digest_secret(device_code), user_code, client_id, now, now + DEVICE_SECONDS),
            )
        return device_code, user_code

    async def decide_device(self, user_code: str, viewer: Viewer, approve: bool) -> bool:
        """Approve (or deny) a pending, unexpired device for ``viewer``; False if none."""
        code = user_code.strip().upper()
        if len(code) == 8 and "-" not in code:
            code = f"{code[:4]}-{code[4:]}"
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "SELECT status, expires_at FROM devices WHERE user_code = ?", (code,)
            )
            if row is None or row[0] != "pending" or float(row[1]) < time.time():
                return False
            await tx.execute(
                "UPDATE devices SET status = ?, user_id = ? WHERE user_code = ?",
                ("approved" if approve else "denied", viewer.user_id, code),
            )
        return True

    async def poll_device(self, device_code: str) -> Device | None:
        """The device's state, recording this poll (to tell clients to slow down)."""
        key = digest_secret(device_code)
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "SELECT user_code, status, user_id, expires_at, last_poll FROM devices "
                "WHERE device_hash = ?",
                (key,),
            )
            if row is None:
                return None
            device = Device(str(row[0]), str(row[1]), row[2], float(row[3]), row[4])
            new_status = "consumed" if device.status == "approved" else device.status
            await tx.execute(
                "UPDATE devices SET last_poll = ?, status = ? WHERE device_hash = ?",
                (time.time(), new_status, key),
            )
        return device

    # -- tokens ------------------------------------------------------------------------------

    async def issue_tokens(self, user_id: int, family: str | None = None) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        family = family or secrets.token_hex(16)
        now = time.time()
        async with self.db.write() as tx:
            await tx.executemany(
                "INSERT INTO tokens (token_hash, kind, user_id, family, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (digest_secret(access), "access", user_id, family, now + ACCESS_SECONDS),
                    (digest_secret(refresh), "refresh", user_id, family, now + REFRESH_SECONDS),
                ],
            )
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": ACCESS_SECONDS,
            "expires_at": now + ACCESS_SECONDS,
            "refresh_expires_at": now + REFRESH_SECONDS,
        }

    async def token_user(self, token: str, kind: str = "access") -> tuple[Viewer, str] | None:
        """The user and token family of a live token."""
        row = await self.db.fetchone(
            "SELECT t.user_id, u.username, t.family FROM tokens t JOIN users u "
            "ON u.id = t.user_id WHERE t.token_hash = ? AND t.kind = ? AND t.revoked = 0 "
            "AND t.expires_at > ?",
            (digest_secret(token), kind, time.time()),
        )
        return (Viewer(int(row[0]), str(row[1])), str(row[2])) if row else None

    async def revoke_family(self, family: str) -> None:
        async with self.db.write() as tx:
            await tx.execute("UPDATE tokens SET revoked = 1 WHERE family = ?", (family,))

    # -- registration sessions ---------------------------------------------------------------

    async def open_registration(
        self, viewer: Viewer, mode: str, client_session_id: str | None
    ) -> tuple[dict[str, Any], str | None, bool]:
        """A registration session (resumed when this client's id has an open one): its row,
        the token to send back (only when new), and whether it is new."""
        async with self.db.write() as tx:
            # Only a signed-in owner resumes: an anonymous caller proves nothing but its token,
            # which is handed out once.
            if client_session_id and viewer.user_id is not None:
                row = await tx.fetchone(
                    "SELECT id FROM registration_sessions WHERE client_session_id = ? "
                    "AND status = 'open' AND owner_id IS NOT DISTINCT FROM ?",
                    (client_session_id, viewer.user_id),
                )
                if row:
                    found = await self._registration(tx, str(row[0]))
                    assert found is not None
                    return found, None, False
            ident = secrets.token_hex(16)
            token = secrets.token_urlsafe(32)
            await tx.execute(
                "INSERT INTO registration_sessions (id, token_hash, mode, status, owner_id, "
                "session_hash, client_session_id, created_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?)",
                (
                    ident,
                    digest_secret(token),
                    mode,
                    viewer.user_id,
                    f"staging-{ident}",
                    client_session_id,
                    time.time(),
                ),
            )
            found = await self._registration(tx, ident)
        assert found is not None
        return found, token, True

    async def registration(self, ident: str) -> dict[str, Any] | None:
        return await self._registration(self.db, ident)

    async def _registration(self, db: Any, ident: str) -> dict[str, Any] | None:
        row = await db.fetchone(
            "SELECT id, token_hash, mode, status, owner_id, session_hash, published_hash "
            "FROM registration_sessions WHERE id = ?",
            (ident,),
        )
        if row is None:
            return None
        keys = ("id", "token_hash", "mode", "status", "owner_id", "session_hash", "published")
        return dict(zip(keys, row, strict=True))

    async def close_registration(self, ident: str, published: str) -> None:
        async with self.db.write() as tx:
            await tx.execute(
                "UPDATE registration_sessions SET status = 'closed', published_hash = ? "
                "WHERE id = ?",
                (published, ident),
            )
