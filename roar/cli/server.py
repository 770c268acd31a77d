"""`roar server`: the lineage registry (GLaaS protocol) on this machine; `roar server user ...`
manages the accounts it knows (who may approve a `roar login`, whose SSH keys sign requests)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from roar.core.loop import run
from roar.errors import UsageError

_DB_HELP = "sqlite:///PATH or postgresql://USER@HOST/DB (default: ~/.local/share/roar/registry.db)."


@click.group(
    invoke_without_command=True,
    help="Run the lineage registry: the GLaaS API that roar register publishes to and roar "
    "reproduce HASH reads from, and the web pages to browse it. Prints 'READY <url>' once "
    "listening; stops on Ctrl-C.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8600, show_default=True)
@click.option("--db", default=None, metavar="URL", help=_DB_HELP)
@click.option(
    "--anonymous/--no-anonymous",
    default=True,
    show_default=True,
    help="Take anonymous (public, unattributed) registration sessions.",
)
@click.option(
    "--device-poll-interval",
    type=click.FloatRange(0.05, 60),
    default=5.0,
    show_default=True,
    help="Seconds a `roar login` waits between polls.",
)
@click.pass_context
def command(
    ctx: click.Context,
    host: str,
    port: int,
    db: str | None,
    anonymous: bool,
    device_poll_interval: float,
) -> int:
    ctx.obj = db
    if ctx.invoked_subcommand is not None:
        return 0
    from roar.registry.server import serve

    run(serve(host, port, db, anonymous_sessions=anonymous, device_interval=device_poll_interval))
    return 0


@command.group("user", help="Manage the registry's users (run where the database is).")
def user() -> None:
    pass


def _password(from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        value = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise UsageError("no terminal to ask for a password: pass --password-stdin")
    if len(value) < 8:
        raise UsageError("a password needs at least 8 characters")
    return str(value)


@user.command("add", help="Add a user who can approve device logins and own private lineage.")
@click.argument("username")
@click.option("--email", default=None)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.option(
    "--ssh-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also register this SSH public key (.pub) for signed requests.",
)
@click.pass_obj
def add_user(
    db: str | None, username: str, email: str | None, password_stdin: bool, ssh_key: Path | None
) -> int:
    password = _password(password_stdin)
    run(_add_user(db, username, email, password, ssh_key))
    click.echo(f"Added user {username}")
    return 0


async def _add_user(
    db: str | None, username: str, email: str | None, password: str, ssh_key: Path | None
) -> None:
    from roar.registry.server._accounts import AccountStore
    from roar.registry.server._engine import open_engine
    from roar.registry.server._schema import migrate

    async with open_engine(db) as engine:
        await migrate(engine)
        accounts = AccountStore(engine)
        try:
            user_id = await accounts.add_user(username, password, email)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if ssh_key is not None:
            await _add_key(accounts, user_id, ssh_key)


async def _add_key(accounts: object, user_id: int, path: Path) -> str:
    from roar.registry.server._accounts import AccountStore
    from roar.registry.server._sshsig import BadSignature, fingerprint

    assert isinstance(accounts, AccountStore)
    line = path.read_text(errors="replace").strip()
    try:
        key_id = fingerprint(line)
        await accounts.add_key(user_id, line, key_id)
    except (BadSignature, ValueError) as exc:
        raise UsageError(f"{path}: {exc}") from None
    return key_id


@user.command("key", help="Register an SSH public key (.pub) for a user.")
@click.argument("username")
@click.argument("public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def add_key(db: str | None, username: str, public_key: Path) -> int:
    key_id = run(_key_for(db, username, public_key))
    click.echo(f"Registered {key_id} for {username}")
    return 0


async def _key_for(db: str | None, username: str, path: Path) -> str:
    from roar.registry.server._accounts import AccountStore
    from roar.registry.server._engine import open_engine
    from roar.registry.server._schema import migrate

    async with open_engine(db) as engine:
        await migrate(engine)
        row = await engine.fetchone("SELECT id FROM users WHERE username = ?", (username,))
        if row is None:
            raise UsageError(f"no user {username!r} (roar server user add {username})")
        return await _add_key(AccountStore(engine), int(row[0]), path)
