"""`roar login`, `roar whoami`, `roar logout`: a registry identity for attributed and private
registrations, shared by every workspace of the user."""

from __future__ import annotations

import json
import time

import click

from roar.core.loop import run
from roar.errors import RoarError, UsageError


def _registry() -> tuple[str, object]:
    """The registry to sign in to, and the project's context (None outside a project)."""
    from roar.core.context import RoarContext
    from roar.errors import NotAProjectError
    from roar.registry.client import registry_url

    try:
        ctx: RoarContext | None = RoarContext.load()
    except NotAProjectError:
        ctx = None
    url = registry_url(ctx.config if ctx is not None else None)
    if url is None:
        raise UsageError(
            "no registry configured: set GLAAS_URL or 'roar config set glaas.url URL' "
            "(a roar server on this machine: roar server)"
        )
    return url, ctx


@click.command(
    "login",
    help="Sign in to the registry with a device code: approve it on the registry's web page. "
    "Afterwards roar register publishes under your name (privately, unless the project's "
    "scope.mode says otherwise).",
)
@click.option("--no-browser", is_flag=True, help="Only print the address; open nothing.")
def login_command(no_browser: bool) -> int:
    from roar.core import config as config_module
    from roar.core.context import RoarContext
    from roar.registry.credentials import save_auth
    from roar.registry.login import device_login

    url, ctx = _registry()
    stored = run(
        device_login(url, lambda line: click.echo(line, err=True), open_browser=not no_browser)
    )
    path = save_auth(stored)
    click.echo(f"Logged in to {url} as {stored['user']['username']} (saved in {path})")
    if isinstance(ctx, RoarContext) and not ctx.config.is_set("scope.mode"):
        # The seeds' rule: a workspace still at the default scope becomes private on login.
        config_module.save(ctx.project.config_path, ctx.config.with_value("scope.mode", "private"))
        click.echo("This project now registers privately (scope.mode = private)")
    return 0


@click.command("whoami", help="Show the registry login roar has stored, if any.")
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON.")
def whoami_command(as_json: bool) -> int:
    from roar.registry.credentials import load_auth

    stored = load_auth()
    if stored is None or not stored.get("access_token"):
        raise RoarError("not logged in (roar login)")
    user = stored.get("user") or {}
    expired = float(stored.get("refresh_expires_at") or 0) < time.time()
    if as_json:
        click.echo(
            json.dumps({"server": stored.get("server"), "user": user, "expired": expired}, indent=2)
        )
        return 0
    click.echo(
        f"{user.get('username')} on {stored.get('server')}"
        + (" (login expired: roar login)" if expired else "")
    )
    return 0


@click.command("logout", help="Revoke the stored registry login and forget it.")
def logout_command() -> int:
    from roar.registry.credentials import forget_auth, load_auth

    stored = load_auth()
    if stored is None:
        click.echo("Not logged in")
        return 0
    problem = run(_revoke(stored))
    forget_auth()
    if problem:
        click.echo(f"warning: the registry did not revoke the token: {problem}", err=True)
    click.echo(f"Logged out of {stored.get('server')}")
    return 0


async def _revoke(stored: dict[str, object]) -> str | None:
    from roar.registry.client import Credentials, RegistryError, connect

    try:
        async with connect(str(stored.get("server")), anonymous=True) as client:
            client.credentials = Credentials("bearer", login=dict(stored))
            await client.post("/api/v1/auth/logout")
    except RegistryError as exc:
        return str(exc)
    return None
