"""`roar label set|unset|show|history|cp`: versioned label documents on dags, jobs, artifacts."""

from __future__ import annotations

from typing import Any

import click

from roar.cli._format import json_text
from roar.core.loop import run

TARGETS = click.Choice(["dag", "job", "artifact"])


@click.group(help="Manage local labels for DAGs (sessions), jobs and artifacts.")
def command() -> None:
    pass


@command.command("set", help="Merge KEY=VALUE pairs into the target's labels (a new version).")
@click.argument("entity", type=TARGETS)
@click.argument("target")
@click.argument("pairs", nargs=-1, required=True)
def set_command(entity: str, target: str, pairs: tuple[str, ...]) -> int:
    from roar.lineage import labels

    patch = labels.parse_pairs(pairs)
    return run(_update(entity, target, lambda doc: labels.merge(doc, patch)))


@command.command("unset", help="Remove KEYs from the target's labels (a new version).")
@click.argument("entity", type=TARGETS)
@click.argument("target")
@click.argument("keys", nargs=-1, required=True)
def unset_command(entity: str, target: str, keys: tuple[str, ...]) -> int:
    from roar.lineage import labels

    return run(_update(entity, target, lambda doc: labels.unset(doc, keys)))


@command.command("show", help="Print the target's current labels as key=value lines.")
@click.argument("entity", type=TARGETS)
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show_command(entity: str, target: str, as_json: bool) -> int:
    return run(_show(entity, target, as_json))


@command.command("history", help="List every version of the target's labels.")
@click.argument("entity", type=TARGETS)
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history_command(entity: str, target: str, as_json: bool) -> int:
    return run(_history(entity, target, as_json))


@command.command("cp", help="Merge the labels of one target into another.")
@click.argument("src_entity", type=TARGETS)
@click.argument("src")
@click.argument("dst_entity", type=TARGETS)
@click.argument("dst")
def cp_command(src_entity: str, src: str, dst_entity: str, dst: str) -> int:
    return run(_copy(src_entity, src, dst_entity, dst))


async def _current(store: Any, entity: str, target_id: int) -> dict[str, Any]:
    versions = await store.label_versions(entity, target_id)
    return dict(versions[-1].document) if versions else {}


async def _update(entity: str, target: str, change: Any) -> int:
    from roar.api._queries import resolve_label_target
    from roar.core.context import RoarContext

    ctx = RoarContext.load()
    async with ctx.store() as store:
        target_id, name = await resolve_label_target(store, ctx.project, entity, target)
        document = change(await _current(store, entity, target_id))
        version = await store.write_label(entity, target_id, document)
    if version is None:
        click.echo(f"{name}: labels unchanged")
    else:
        click.echo(f"{name}: labels version {version}")
    return 0


async def _show(entity: str, target: str, as_json: bool) -> int:
    from roar.api._queries import resolve_label_target
    from roar.core.context import RoarContext
    from roar.lineage import labels

    ctx = RoarContext.load()
    async with ctx.store() as store:
        target_id, _ = await resolve_label_target(store, ctx.project, entity, target)
        document = await _current(store, entity, target_id)
    if as_json:
        click.echo(json_text(document))
    else:
        for key, value in labels.flatten(document):
            click.echo(f"{key}={labels.format_value(value)}")
    return 0


async def _history(entity: str, target: str, as_json: bool) -> int:
    from roar.api._queries import resolve_label_target
    from roar.cli._format import local_time
    from roar.core.context import RoarContext
    from roar.lineage import labels

    ctx = RoarContext.load()
    async with ctx.store() as store:
        target_id, _ = await resolve_label_target(store, ctx.project, entity, target)
        versions = await store.label_versions(entity, target_id)
    if as_json:
        click.echo(json_text(versions))
        return 0
    for version in versions:
        pairs = " ".join(
            f"{k}={labels.format_value(v)}" for k, v in labels.flatten(version.document)
        )
        click.echo(f"v{version.version}  {local_time(version.created_at)}  {pairs}".rstrip())
    return 0


async def _copy(src_entity: str, src: str, dst_entity: str, dst: str) -> int:
    from roar.api._queries import resolve_label_target
    from roar.core.context import RoarContext
    from roar.lineage import labels

    ctx = RoarContext.load()
    async with ctx.store() as store:
        src_id, _ = await resolve_label_target(store, ctx.project, src_entity, src)
        dst_id, name = await resolve_label_target(store, ctx.project, dst_entity, dst)
        source = await _current(store, src_entity, src_id)
        document = labels.merge(await _current(store, dst_entity, dst_id), source)
        version = await store.write_label(dst_entity, dst_id, document)
    click.echo(f"{name}: labels " + ("unchanged" if version is None else f"version {version}"))
    return 0
