"""Signing registry requests with the user's SSH key, as the protocol describes.

The key is ``ROAR_SSH_KEY``, else ``glaas.key``, else the first of ``~/.ssh/id_ed25519``,
``id_rsa``, ``id_ecdsa`` that has a ``.pub`` beside it. ``ssh-keygen -Y sign -n glaas`` signs
``"<ts>\\n<METHOD>\\n<path>"`` (and ``"\\n<sha256 of body>"``); the armored SSHSIG it prints is
sent as raw bytes, base64-encoded, with the key's SHA256 fingerprint as ``keyid``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path

from roar.errors import RoarError


def find_key(configured: str | None = None) -> Path | None:
    """The private key to sign with (its ``.pub`` must exist), or None."""
    explicit = os.environ.get("ROAR_SSH_KEY") or configured
    if explicit:
        path = Path(explicit).expanduser()
        return path if path.is_file() else None
    for name in ("id_ed25519", "id_rsa", "id_ecdsa"):
        path = Path.home() / ".ssh" / name
        if path.is_file() and path.with_suffix(".pub").is_file():
            return path
    return None


def public_key_line(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


def key_fingerprint(key: Path) -> str:
    blob = base64.b64decode(public_key_line(key).split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


async def authorization(key: Path, method: str, path_qs: str, body: bytes) -> str:
    """The ``Authorization: Signature ...`` value for one request."""
    import anyio

    ts = str(int(time.time()))
    message = f"{ts}\n{method.upper()}\n{path_qs}"
    if body:
        message += "\n" + hashlib.sha256(body).hexdigest()
    try:
        result = await anyio.run_process(
            ["ssh-keygen", "-q", "-Y", "sign", "-n", "glaas", "-f", str(key)],
            input=message.encode(),
            check=False,
        )
    except FileNotFoundError:
        raise RoarError("ssh-keygen is not installed: cannot sign with an SSH key") from None
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise RoarError(f"ssh-keygen could not sign with {key}: {reason[-1] if reason else ''}")
    armored = result.stdout.decode()
    inner = "".join(line for line in armored.splitlines() if line and not line.startswith("-----"))
    return f'Signature keyid="{key_fingerprint(key)}" ts="{ts}" sig="{inner}"'
