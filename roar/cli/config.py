"""`roar config list | get KEY | set KEY VALUE`."""

from __future__ import annotations

import click

from roar.cli._format import json_text
from roar.core import config as cfg
from roar.core.context import RoarContext


@click.group(help="View or set configuration (.roar/config.toml).")
def command() -> None:
    pass


@command.command("list", help="List every key with its value and description.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(as_json: bool) -> int:
    ctx = RoarContext.load()
    items = ctx.config.items()
    if as_json:
        payload = [
            {
                "key": key.name,
                "value": value,
                "default": key.default,
                "type": key.type,
                "description": key.description,
                "choices": list(key.choices),
            }
            for key, value in items
        ]
        click.echo(json_text(payload))
        return 0
    width = max(len(key.name) for key, _ in items)
    vwidth = max(len(cfg.format_value(value)) for _, value in items)
    for key, value in items:
        shown = cfg.format_value(value)
        click.echo(f"{key.name:<{width}}  {shown:<{vwidth}}  {key.description}")
    return 0


@command.command("get", help="Print the value of KEY.")
@click.argument("key")
def get_command(key: str) -> int:
    ctx = RoarContext.load()
    click.echo(cfg.format_value(ctx.config.get(key)))
    return 0


@command.command("set", help="Set KEY to VALUE (checked against the key's type).")
@click.argument("key")
@click.argument("value")
def set_command(key: str, value: str) -> int:
    ctx = RoarContext.load()
    spec = cfg.lookup(key)
    parsed = cfg.parse_value(spec, value)
    updated = ctx.config.with_value(key, parsed)
    cfg.save(ctx.project.config_path, updated)
    click.echo(f"{key} = {cfg.format_value(updated.get(key))}")
    return 0
