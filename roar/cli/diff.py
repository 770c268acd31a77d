"""`roar diff A B [--json]`: why two jobs or artifacts differ, root cause first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from roar.cli._format import json_text
from roar.core.loop import run

if TYPE_CHECKING:
    from roar.api._diff import DiffReport
    from roar.lineage.diff import JobDiff


@click.command(
    help="Show what differs between two jobs (@N, uid) or artifacts (path, hash prefix): "
    "parameters, code, inputs, environment. When inputs differ because upstream jobs did, "
    "those are compared too, and the root cause is shown first."
)
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when they differ (as diff(1) does).")
def command(a: str, b: str, as_json: bool, exit_code: bool) -> int:
    return run(_diff(a, b, as_json, exit_code))


async def _diff(a: str, b: str, as_json: bool, exit_code: bool) -> int:
    from roar.api import Project
    from roar.core.context import RoarContext

    report = await Project(RoarContext.load()).diff(a, b)
    if as_json:
        payload = {
            "a": report.a,
            "b": report.b,
            "identical": report.identical,
            "root_cause": report.root_cause,
            "diffs": [_diff_json(d) for d in report.diffs],
        }
        click.echo(json_text(payload))
    else:
        _print(report)
    return 1 if exit_code and not report.identical else 0


def _diff_json(found: JobDiff) -> dict[str, object]:
    import msgspec

    payload: dict[str, object] = msgspec.to_builtins(found)
    payload["identical"] = found.identical
    return payload


def _print(report: DiffReport) -> None:
    if report.identical:
        click.echo(f"{report.a} and {report.b}: no difference in parameters, code, inputs or "
                   "environment")  # fmt: skip
        return
    if report.root_cause:
        click.echo(f"Root cause: {report.root_cause}")
    for found in report.diffs:
        click.echo(f"\n== {found.a} vs {found.b}")
        if found.parameters:
            click.echo("Parameters:")
            for c in found.parameters:
                click.echo(f"  {c.name}: {_v(c.a)} -> {_v(c.b)}")
        if found.code or found.commit:
            click.echo("Code:")
            if found.commit:
                click.echo(f"  commit: {_v(found.commit.a)} -> {_v(found.commit.b)}")
            for change in found.code:
                click.echo(f"  {change.path} ({change.change})")
                if change.text_diff:
                    for line in change.text_diff.rstrip("\n").splitlines():
                        click.echo(f"    {line}")
        if found.inputs:
            click.echo("Inputs:")
            for change in found.inputs:
                hashes = f"{_short(change.a_hash)} -> {_short(change.b_hash)}"
                click.echo(f"  {change.path} ({change.change}) {hashes}")
        if found.environment:
            click.echo("Environment:")
            for c in found.environment:
                click.echo(f"  {c.name}: {_v(c.a)} -> {_v(c.b)}")


def _v(value: str | None) -> str:
    return "(none)" if value is None else (value or '""')


def _short(digest: str | None) -> str:
    return "(none)" if digest is None else digest[:12]
