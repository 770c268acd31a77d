"""`roar register [TARGET]`: publish lineage to the registry (``GLAAS_URL`` or ``glaas.url``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from roar.core.loop import run
from roar.errors import UsageError

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.models import Job


@click.command(
    help="Publish lineage to the registry: the active session (no TARGET), a session hash, a "
    "job (@N, uid) or an artifact (path, hash prefix) with everything upstream of it. "
    "Commands, metadata and git URLs are filtered for secrets first."
)
@click.argument("target", required=False)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@click.option("-y", "--yes", is_flag=True, help="Publish even when secrets were filtered out.")
@click.option(
    "--scope",
    type=click.Choice(["anonymous", "public", "private"]),
    default=None,
    help="anonymous (public, unattributed), public or private (needs roar login or an SSH "
    "key the registry knows). Default: the project's scope.mode.",
)
@click.option("--public", "public_flag", is_flag=True, help="Same as --scope public.")
def command(
    target: str | None, dry_run: bool, yes: bool, scope: str | None, public_flag: bool
) -> int:
    if public_flag:
        if scope not in (None, "public"):
            raise UsageError("--public and --scope disagree")
        scope = "public"
    return run(_register(target, dry_run, yes, scope))


async def _register(target: str | None, dry_run: bool, yes: bool, scope: str | None) -> int:
    from roar.api._export import jobs_for
    from roar.core.context import RoarContext
    from roar.registry.client import connect, registry_url
    from roar.registry.register import (
        describe,
        prepare,
        publish,
        session_composites,
        session_labels,
    )

    ctx = RoarContext.load()
    url = registry_url(ctx.config)
    if url is None:
        raise UsageError(
            "no registry configured: set GLAAS_URL or 'roar config set glaas.url URL' "
            "(a roar server on this machine: roar server)"
        )
    async with ctx.store() as store:
        jobs = await jobs_for(store, ctx, target)
        labels = await session_labels(store, {j.session_hash for j in jobs})
        composites = await session_composites(store, jobs)
    publication = prepare(ctx, jobs)
    publication.composites = composites
    scope = scope or ctx.config.get_str("scope.mode") or "anonymous"
    click.echo(f"Registering {describe(publication)} with {url}", err=True)
    if publication.redactions:
        shown = ", ".join(publication.redactions[:5])
        more = len(publication.redactions) - 5
        click.echo(
            f"Secrets filtered out of: {shown}{f' (+{more} more)' if more > 0 else ''}", err=True
        )
        if not yes and not dry_run:
            if not sys.stdin.isatty():
                raise UsageError("secrets were filtered out; re-run with -y to publish anyway")
            if not click.confirm("Publish the filtered lineage?", default=False):
                click.echo("Nothing was sent", err=True)
                return 1
    if dry_run:
        click.echo("Dry run: nothing was sent")
        return 0
    async with connect(url, config=ctx.config, anonymous=scope == "anonymous") as client:
        outcome = await publish(client, publication, scope=scope, labels=labels)
        identity = client.credentials.description
    click.echo(
        f"Registered {outcome.jobs} job(s), {outcome.artifacts} new artifact(s), "
        f"{outcome.links} edge(s) with {url} ({scope}, {identity})"
    )
    # Where to browse it: the registry's own page, or `glaas.web_url` when it says elsewhere.
    web = ctx.config.get_str("glaas.web_url") if ctx.config.is_set("glaas.web_url") else None
    async with ctx.store() as store:
        for local, remote in outcome.published.items():
            await store.record_publication(local, url, remote, outcome.urls.get(local), scope)
    for local, remote in outcome.published.items():
        shown = f"{web.rstrip('/')}/sessions/{remote}" if web else outcome.urls.get(local) or remote
        click.echo(f"Session {local[:16]} published as {remote[:16]}: {shown}")
    for line in await _receipt(ctx, target, jobs):
        click.echo(line)
    targets = [o for o in (jobs[-1].outputs if jobs else []) if not o.path.startswith("s3://")]
    if targets:
        example = targets[0]
        click.echo(f"Reproduce {example.path} anywhere with:")
        click.echo(f"  GLAAS_URL={url} roar reproduce {example.hash[:16]}")
    return 0


async def _receipt(ctx: RoarContext, target: str | None, jobs: list[Job]) -> list[str]:
    """The reproducibility checklist of what was registered, as `roar reproduce` judges it."""
    from roar.cli._format import fancy
    from roar.errors import RoarError
    from roar.reproduce import prepare
    from roar.reproduce._checklist import render_checklist
    from roar.reproduce._source import LocalStoreSource

    sources = [LocalStoreSource(ctx.project)]
    last = jobs[-1] if jobs else None
    session_hash = last.session_hash if last is not None else None
    attempts: list[tuple[str, bool]] = []
    if target is not None:
        attempts.append((target, False))
    if session_hash:
        attempts.append((session_hash, True))
    for ref, whole_session in attempts:
        try:
            plan, _ = await prepare(sources, ref, session=whole_session)
        except RoarError:
            continue
        return render_checklist(plan.checklist, plain=not fancy())
    return []
