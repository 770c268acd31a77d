"""`roar tracer status | set-default BACKEND`."""

from __future__ import annotations

import click

from roar.cli._format import json_text
from roar.core import config as cfg
from roar.core.context import RoarContext


@click.group(help="Show which tracer backends are usable, or choose the default.")
def command() -> None:
    pass


@command.command("status", help="List each backend: found, usable, and why not.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_command(as_json: bool) -> int:
    from roar.tracing.select import statuses

    ctx = RoarContext.load()
    default = ctx.config.get_str("tracer.default")
    found_statuses = statuses()
    if as_json:
        payload = {
            "default": default,
            "backends": [
                {
                    "name": s.name,
                    "found": s.found,
                    "usable": s.usable,
                    "reason": s.reason,
                    "location": s.location,
                }
                for s in found_statuses
            ],
        }
        click.echo(json_text(payload))
        return 0
    click.echo(f"default: {default}")
    for status in found_statuses:
        found = "found" if status.found else "not found"
        usable = "usable" if status.usable else "not usable"
        reason = f" ({status.reason})" if status.reason else ""
        click.echo(f"  {status.name:<8} {found:<10} {usable:<11}{reason}")
    return 0


@command.command("set-default", help="Set the default backend (auto, ptrace, preload, ebpf).")
@click.argument("backend", type=click.Choice(cfg.TRACER_BACKENDS))
def set_default_command(backend: str) -> int:
    ctx = RoarContext.load()
    cfg.save(ctx.project.config_path, ctx.config.with_value("tracer.default", backend))
    click.echo(f"tracer.default = {backend}")
    return 0
