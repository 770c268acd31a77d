"""`roar show [REF] [--json]`: a job (``@N``, ``@BN``, job uid) or the active session."""

from __future__ import annotations

from typing import Any

import click

from roar.api._show import job_json
from roar.cli._format import json_text
from roar.core.loop import run
from roar.models import Job

__all__ = ("command", "job_json")


@click.command(
    help="Show a step (@N, @BN), a job (uid or prefix), an artifact (path or hash prefix), a "
    "session (hash prefix) or, with no REF, the active session."
)
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(ref: str | None, as_json: bool) -> int:
    return run(_show(ref, as_json))


async def _show(ref: str | None, as_json: bool) -> int:
    from roar.api import Project
    from roar.core.context import RoarContext

    shown = await Project(RoarContext.load()).show(ref)
    if as_json:
        click.echo(json_text(shown.payload))
    elif shown.kind == "active-session":
        _print_active_session(shown.payload)
    elif shown.kind == "session":
        payload = shown.payload
        click.echo(f"Session {payload['session_hash']} ({len(payload['jobs'])} jobs)")
        for job in payload["jobs"]:
            click.echo(f"  {job['step_ref']:<5} {job['job_uid']}  {job['command']}")
    elif shown.kind == "artifact":
        _print_artifact(shown.payload)
    else:
        assert shown.job is not None
        _print_job(shown.job)
        _print_datasets(shown.payload)
        _print_labels(shown.labels)
    return 0


def _print_active_session(payload: dict[str, Any]) -> None:
    if payload["session_hash"] is None:
        click.echo("No active session (run 'roar run ...' to start one)")
        return
    click.echo(f"Session {payload['session_hash'][:12]}  ({payload['total_steps']} steps)")
    from roar.models import format_step_ref

    for step in payload["steps"]:
        ref = format_step_ref(step["step_number"], build=step["is_build"])
        width = len(ref) - len(str(step["step_number"])) + 4  # the number padded to 4
        click.echo(f"  {ref:<{width}} {step['command']}")


def _print_artifact(record: dict[str, Any]) -> None:
    from roar.cli._format import human_size

    click.echo(f"Artifact {record['path']}")
    click.echo(f"  Size:   {human_size(int(record['size'] or 0))}")
    for algorithm, digest in record["hashes"].items():
        click.echo(f"  {algorithm + ':':<8}{digest}")
    if record.get("source_url") and record["source_url"] != record["path"]:
        click.echo(f"  Source: {record['source_url']}")
    if record.get("components"):
        click.echo(f"  Components ({len(record['components'])}):")
        _print_components(record["components"], "    ")
    for container in record.get("in_composites", []):
        click.echo(
            f"  Part of: {container['path']} as {container['relpath']} "
            f"(composite-blake3 {container['hash'][:16]})"
        )
    for title, key in (("Produced by", "produced_by"), ("Read by", "consumed_by")):
        users = record[key]
        click.echo(f"  {title} ({len(users)}):")
        for use in users:
            click.echo(
                f"    {use['step_ref']:<5} {use['job_uid']}  {use['command']}  ({use['path']})"
            )
    _print_labels(record["labels"])


COMPONENTS_SHOWN = 20


def _print_components(components: list[dict[str, Any]], indent: str) -> None:
    from roar.cli._format import human_size

    for part in components[:COMPONENTS_SHOWN]:
        size = human_size(int(part["size"] or 0))
        click.echo(f"{indent}{part['relpath']}  {part['hash'][:16]}  ({size})")
    if len(components) > COMPONENTS_SHOWN:
        click.echo(f"{indent}... {len(components) - COMPONENTS_SHOWN} more (--json lists all)")


def _print_datasets(payload: dict[str, Any]) -> None:
    """A job's composites (what get/put moved whole) and the datasets it read files of."""
    for composite in payload.get("composites", []):
        role = "Read" if composite["role"] == "input" else "Wrote"
        count = len(composite["components"])
        click.echo(f"{role} composite {composite['path']} ({count} files)")
        click.echo(f"  composite-blake3: {composite['hash']}")
    for dataset in payload.get("datasets_read", []):
        files = ", ".join(dataset["files"][:5]) + (" ..." if len(dataset["files"]) > 5 else "")
        click.echo(f"Read from dataset {dataset['path']} ({dataset['hash'][:16]}): {files}")


def _print_labels(labels: dict[str, object]) -> None:
    """The current labels, one ``key=value`` a line (nested keys dotted), as `roar label show`."""
    from roar.lineage.labels import flatten, format_value

    if not labels:
        return
    click.echo("Labels:")
    for key, value in flatten(labels):
        click.echo(f"  {key}={format_value(value)}")


def _print_job(job: Job) -> None:
    from roar.cli._job_text import job_lines

    click.echo("\n".join(job_lines(job)))
