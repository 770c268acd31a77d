"""`roar show [REF] [--json]`: a job (``@N``, ``@BN``, job uid) or the active session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from roar.cli._format import json_text
from roar.core.loop import run
from roar.errors import UsageError
from roar.models import FileDigest, Job

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.store import Store


@click.command(
    help="Show a step (@N, @BN), a job (uid or prefix), an artifact (path or hash prefix), a "
    "session (hash prefix) or, with no REF, the active session."
)
@click.argument("ref", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(ref: str | None, as_json: bool) -> int:
    return run(_show(ref, as_json))


async def _show(ref: str | None, as_json: bool) -> int:
    from roar.core.context import RoarContext
    from roar.lineage.queries import current_dag

    ctx = RoarContext.load()
    async with ctx.store() as store:
        if ref is None:
            session = await store.active_session()
            dag = await current_dag(store)
            if as_json:
                click.echo(
                    json_text(
                        {
                            "session_hash": session.hash if session else None,
                            "created_at": session.created_at if session else None,
                            "total_steps": dag.total_steps,
                            "stale_count": dag.stale_count,
                            "steps": [
                                {
                                    "step_number": n.step_number,
                                    "job_uid": n.job_uid,
                                    "command": n.command,
                                    "state": n.state,
                                }
                                for n in dag.nodes
                            ],
                        }
                    )
                )
                return 0
            if session is None:
                click.echo("No active session (run 'roar run ...' to start one)")
                return 0
            click.echo(f"Session {session.hash[:12]}  ({dag.total_steps} steps)")
            for node in dag.nodes:
                prefix = "@B" if node.is_build else "@"
                click.echo(f"  {prefix}{node.step_number:<4} {node.command}")
            return 0
        job = await _job_or_other(store, ctx, ref, as_json)
        if job is None:
            return 0
        job_id = await store.job_id(job.job_uid)
        labels = (await store.current_labels("job", [job_id])).get(job_id, {})
    if as_json:
        payload = job_json(job)
        payload["labels"] = labels
        click.echo(json_text(payload))
    else:
        _print_job(job)
        _print_labels(labels)
    return 0


def _print_labels(labels: dict[str, object]) -> None:
    """The current labels, one ``key=value`` a line (nested keys dotted), as `roar label show`."""
    from roar.lineage.labels import flatten, format_value

    if not labels:
        return
    click.echo("Labels:")
    for key, value in flatten(labels):
        click.echo(f"  {key}={format_value(value)}")


async def _job_or_other(store: Store, ctx: RoarContext, ref: str, as_json: bool) -> Job | None:
    """Resolve REF as a job first, then an artifact (path or hash), then a session; print the
    latter two here and return None."""
    from roar.errors import NotFoundError
    from roar.lineage.queries import resolve_artifact, resolve_job, resolve_session

    try:
        return await resolve_job(store, ref)
    except NotFoundError:
        if ref.startswith("@"):
            raise
    try:
        artifact_id, shown = await resolve_artifact(store, ctx.project, ref)
    except NotFoundError:
        try:
            session = await resolve_session(store, ref)
        except (NotFoundError, UsageError):
            raise NotFoundError(
                f"no job, artifact or session matches {ref!r} (see 'roar log')"
            ) from None
        jobs = await store.session_jobs(session.id)
        payload = {
            "session_hash": session.hash,
            "created_at": session.created_at,
            "is_active": session.is_active,
            "jobs": [job_json(j) for j in jobs],
        }
        if as_json:
            click.echo(json_text(payload))
        else:
            click.echo(f"Session {session.hash} ({len(jobs)} jobs)")
            for j in jobs:
                click.echo(f"  {j.step_ref:<5} {j.job_uid}  {j.command}")
        return None
    record = await store.artifact_record(artifact_id)
    record["path"] = shown
    record["labels"] = (await store.current_labels("artifact", [artifact_id])).get(artifact_id, {})
    if as_json:
        click.echo(json_text(record))
        return None
    from roar.cli._format import human_size

    click.echo(f"Artifact {shown}")
    click.echo(f"  Size:   {human_size(int(record['size'] or 0))}")
    for algorithm, digest in record["hashes"].items():
        click.echo(f"  {algorithm + ':':<8}{digest}")
    for title, key in (("Produced by", "produced_by"), ("Read by", "consumed_by")):
        users = record[key]
        click.echo(f"  {title} ({len(users)}):")
        for use in users:
            click.echo(
                f"    {use['step_ref']:<5} {use['job_uid']}  {use['command']}  ({use['path']})"
            )
    _print_labels(record["labels"])
    return None


def job_json(job: Job) -> dict[str, object]:
    """The public JSON contract of a job (keys are only ever added)."""
    return {
        "job_uid": job.job_uid,
        "step_number": job.step_number,
        "step_ref": job.step_ref,
        "job_type": job.job_type,
        "command": job.command,
        "argv": job.argv,
        "cwd": job.cwd,
        "started_at": job.started_at,
        "duration_seconds": job.duration_seconds,
        "exit_code": job.exit_code,
        "signal": job.signal,
        "git": {
            "commit": job.git.commit,
            "branch": job.git.branch,
            "dirty": job.git.dirty,
            "repo": job.git.repo,
            "remote_url": job.git.remote_url,
        },
        "inputs": [_file_json(f) for f in job.inputs],
        "outputs": [_file_json(f) for f in job.outputs],
        "session_hash": job.session_hash,
        "step_identity": job.step_identity,
        "tracer": job.tracer,
        "env": job.env,
        "metadata": job.metadata,
    }


def _file_json(f: FileDigest) -> dict[str, object]:
    return {
        "path": f.path,
        "hash": f.hash,
        "size": f.size,
        "hashes": f.hashes,
        "byte_ranges": [list(r) for r in f.byte_ranges],
    }


def _print_job(job: Job) -> None:
    from roar.cli._job_text import job_lines

    click.echo("\n".join(job_lines(job)))
