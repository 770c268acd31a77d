"""`roar auth`: the SSH-key way to sign registry requests (for machines where a device login is
awkward): show the key to register, test it, and show what roar would sign in with."""

from __future__ import annotations

from pathlib import Path

import click

from roar.core.loop import run
from roar.errors import RoarError


def _key() -> Path:
    from roar.core.context import RoarContext
    from roar.errors import NotAProjectError
    from roar.registry.signing import find_key

    try:
        configured = RoarContext.load().config.get_str("glaas.key")
    except NotAProjectError:
        configured = None
    key = find_key(configured)
    if key is None:
        raise RoarError(
            "no SSH key found (ROAR_SSH_KEY, glaas.key, or ~/.ssh/id_ed25519 with its .pub); "
            "create one with: ssh-keygen -t ed25519"
        )
    return key


@click.group(
    "auth", help="Sign registry requests with your SSH key (roar login is the interactive way)."
)
def command() -> None:
    pass


def _show_key() -> int:
    from roar.registry.client import registry_url
    from roar.registry.signing import key_fingerprint, public_key_line

    key = _key()
    click.echo(public_key_line(key))
    click.echo(f"Fingerprint: {key_fingerprint(key)}", err=True)
    url = registry_url(None)
    where = f"{url}/account/keys" if url else "your registry's account page"
    click.echo(f"Register it at {where}, then run: roar auth test", err=True)
    return 0


@command.command("key", help="Print your SSH public key, to register with the registry.")
def key_command() -> int:
    return _show_key()


@command.command("register", help="The same as roar auth key (the reference's name).")
def register_command() -> int:
    return _show_key()


async def _probe(url: str, key: Path) -> dict[str, object]:
    from roar.registry.client import Credentials, connect

    async with connect(url, anonymous=True) as client:
        client.credentials = Credentials("ssh", key=key)
        answer = await client.get("/api/v1/auth/me")
    return answer if isinstance(answer, dict) else {}


@command.command("test", help="Check that the registry accepts requests signed with your key.")
def test_command() -> int:
    from roar.cli.login import _registry

    url, _ = _registry()
    me = run(_probe(url, _key()))
    found = me.get("user")
    user = found if isinstance(found, dict) else {}
    click.echo(f"Authenticated to {url} as {user.get('username')} with your SSH key")
    return 0


@command.command("status", help="Show the registry, the stored login and the SSH key.")
def status_command() -> int:
    from roar.cli.login import _registry
    from roar.registry.client import RegistryError
    from roar.registry.credentials import auth_for
    from roar.registry.signing import find_key, key_fingerprint

    url, _ = _registry()
    click.echo(f"Registry: {url}")
    login = auth_for(url)
    user = (login or {}).get("user") or {}
    who = f"{user.get('username')} (roar login)" if login else "none"
    click.echo(f"Login:    {who}")
    key = find_key()
    if key is None:
        click.echo("SSH key:  none")
        return 0
    try:
        run(_probe(url, key))
        verdict = "accepted by the registry"
    except RegistryError as exc:
        verdict = f"not accepted ({exc})"
    click.echo(f"SSH key:  {key} {key_fingerprint(key)} — {verdict}")
    return 0
