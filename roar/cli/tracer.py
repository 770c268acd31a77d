"""`roar tracer status | set-default BACKEND | stop-resident`."""

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
    # A status report tests eBPF afresh: the answer kept for `roar run` may predate a change.
    found_statuses = statuses(fresh_self_test=True)
    resident = _resident(ctx)
    if as_json:
        payload = {
            "default": default,
            "resident": resident,
            "backends": [
                {
                    "name": r.status.name,
                    "found": r.status.found,
                    "usable": r.status.usable,
                    "reason": r.status.reason,
                    "location": r.status.location,
                    "notes": r.notes,
                    "self_test": None
                    if r.self_test is None
                    else {
                        "passed": r.self_test.passed,
                        "cached": r.self_test.cached,
                        "detail": r.self_test.detail,
                    },
                }
                for r in found_statuses
            ],
        }
        click.echo(json_text(payload))
        return 0
    click.echo(f"default: {default}")
    for report in found_statuses:
        status = report.status
        found = "found" if status.found else "not found"
        usable = "usable" if status.usable else "not usable"
        reason = f" ({status.reason})" if status.reason else ""
        click.echo(f"  {status.name:<8} {found:<10} {usable:<11}{reason}")
        for note in report.notes:
            click.echo(f"           {note}")
    click.echo(f"resident: {_resident_line(resident)}")
    return 0


def _resident(ctx: RoarContext) -> dict[str, object]:
    """Whether run/build hand their work to a resident roar, and the one running now."""
    import os

    from roar.resident.client import OFF_VALUES, ask

    enabled = ctx.config.get_bool("tracer.resident") and (
        os.environ.get("ROAR_RESIDENT", "").lower() not in OFF_VALUES
    )
    return {"enabled": enabled, "running": ask("status")}


def _resident_line(resident: dict[str, object]) -> str:
    running = resident["running"]
    state = "on" if resident["enabled"] else "off (tracer.resident or ROAR_RESIDENT)"
    if not isinstance(running, dict):
        return f"{state}; none running" + (" (the next run starts one)" * bool(resident["enabled"]))
    return (
        f"{state}; pid {running['pid']}, {running['served']} run(s) served, exits after "
        f"{running['idle_exit_seconds']:g} s idle ({running['socket']})"
    )


@command.command("stop-resident", help="Stop the resident roar (run/build start a new one).")
def stop_resident_command() -> int:
    from roar.resident.client import ask

    answer = ask("stop")
    click.echo(f"stopped the resident roar (pid {answer['pid']})" if answer else "none running")
    return 0


@command.command("set-default", help="Set the default backend (auto, ptrace, preload, ebpf).")
@click.argument("backend", type=click.Choice(cfg.TRACER_BACKENDS))
def set_default_command(backend: str) -> int:
    ctx = RoarContext.load()
    cfg.save(ctx.project.config_path, ctx.config.with_value("tracer.default", backend))
    click.echo(f"tracer.default = {backend}")
    return 0
