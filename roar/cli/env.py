"""`roar env set|get|list|unset`: variables injected into every `roar run` and `roar build`."""

from __future__ import annotations

import re

import click

from roar.cli._format import json_text
from roar.core import config as cfg
from roar.core.context import RoarContext
from roar.errors import NotFoundError, UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a valid environment variable name")
    if name.startswith("ROAR_"):
        raise UsageError(f"{name} is reserved for roar itself")
    return name


@click.group(help="Manage environment variables injected into roar run and roar build.")
def command() -> None:
    pass


@command.command("set", help="Set NAME to VALUE for every traced command.")
@click.argument("name")
@click.argument("value")
def set_command(name: str, value: str) -> int:
    ctx = RoarContext.load()
    env = dict(ctx.config.env)
    env[_check(name)] = value
    cfg.save(ctx.project.config_path, ctx.config.with_env(env))
    click.echo(f"{name}={value}")
    return 0


@command.command("get", help="Print the value of NAME.")
@click.argument("name")
def get_command(name: str) -> int:
    ctx = RoarContext.load()
    if name not in ctx.config.env:
        raise NotFoundError(f"{name} is not set (see 'roar env list')")
    click.echo(ctx.config.env[name])
    return 0


@command.command("list", help="List every variable.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> int:
    ctx = RoarContext.load()
    if as_json:
        click.echo(json_text(dict(sorted(ctx.config.env.items()))))
        return 0
    for name, value in sorted(ctx.config.env.items()):
        click.echo(f"{name}={value}")
    return 0


@command.command("unset", help="Remove NAME.")
@click.argument("name")
def unset_command(name: str) -> int:
    ctx = RoarContext.load()
    env = dict(ctx.config.env)
    if env.pop(name, None) is None:
        raise NotFoundError(f"{name} is not set (see 'roar env list')")
    cfg.save(ctx.project.config_path, ctx.config.with_env(env))
    click.echo(f"unset {name}")
    return 0
