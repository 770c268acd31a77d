"""`roar reproduce REF`: preview the recipe of an artifact (or, with --lineage, a session);
with --run, rebuild it and report each output as reproduced, recreated or missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from roar.reproduce._source import LineageSource

from roar.cli._format import json_text
from roar.core.loop import run
from roar.errors import UsageError

if TYPE_CHECKING:
    from roar.reproduce import RunOptions


@click.command(
    help="Re-create an artifact (hash prefix or path) from its recorded lineage. Without --run, "
    "preview the recipe and the reproducibility checklist; nothing is changed."
)
@click.argument("ref")
@click.option("--lineage", is_flag=True, help="REF is a session (lineage) hash: reproduce it all.")
@click.option("--run", "execute", is_flag=True, help="Reproduce: fetch code, build env, run steps.")
@click.option("-y", "--yes", is_flag=True, help="With --run, do not ask before each step.")
@click.option(
    "--from",
    "from_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="PROJECT_DIR",
    help="The roar project whose store holds the lineage (default: the one above the cwd).",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --run, run every step, even those the run cache would skip or restore.",
)
@click.option("--strict", is_flag=True, help="Exit 1 unless every output is reproduced exactly.")
@click.option("--pip-any-version", is_flag=True, help="Install recorded pip packages unpinned.")
@click.option("--package-sync", is_flag=True, help="Also apt-get install recorded Debian packages.")
@click.option("--dpkg-any-version", is_flag=True, help="With --package-sync, install unpinned.")
@click.option("--python", "python", default=None, metavar="EXE", help="Python for the venv.")
@click.option("--list-requirements", is_flag=True, help="Print every package pin, and stop.")
@click.option(
    "--export-requirements",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write the pip pins to FILE (requirements.txt format), and stop.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
def command(
    ref: str,
    lineage: bool,
    execute: bool,
    yes: bool,
    from_dir: Path | None,
    force: bool,
    strict: bool,
    pip_any_version: bool,
    package_sync: bool,
    dpkg_any_version: bool,
    python: str | None,
    list_requirements: bool,
    export_requirements: Path | None,
    as_json: bool,
) -> int:
    if execute and (list_requirements or export_requirements):
        raise UsageError(
            "--list-requirements and --export-requirements only print or write the pins; drop --run"
        )
    if force and not execute:
        raise UsageError("--force only applies with --run")
    if execute and not yes and not sys.stdin.isatty():
        raise UsageError("--run asks before each step and there is no terminal: pass -y")
    from roar.reproduce import RunOptions

    options = RunOptions(
        workdir=Path.cwd(),
        yes=yes,
        pip_any_version=pip_any_version,
        package_sync=package_sync,
        dpkg_any_version=dpkg_any_version,
        python=python,
        force=force,
    )
    return run(
        _reproduce(
            ref, lineage, execute, from_dir, strict, options, list_requirements,
            export_requirements, as_json,
        )
    )  # fmt: skip


def _artifact_ref(ref: str, lineage: bool) -> str:
    """A path that exists relative to the working directory is made absolute (the store
    resolves relative paths against the project root otherwise)."""
    if not lineage and os.path.exists(ref):
        return os.path.abspath(ref)
    return ref


async def _reproduce(
    ref: str,
    lineage: bool,
    execute: bool,
    from_dir: Path | None,
    strict: bool,
    options: RunOptions,
    list_requirements: bool,
    export_requirements: Path | None,
    as_json: bool,
) -> int:
    import anyio.to_thread

    from roar.reproduce import Ui, local_sources, prepare
    from roar.reproduce import execute as execute_plan
    from roar.reproduce._render import (
        ok,
        plan_json,
        preview_lines,
        report_json,
        report_lines,
        requirements_text,
    )

    sources = local_sources(from_dir, options.workdir)
    registry = _registry_source()
    if registry is not None:
        sources.append(registry)
    plan, source = await prepare(sources, _artifact_ref(ref, lineage), session=lineage)

    if list_requirements or export_requirements:
        text = requirements_text(plan, pip_any_version=options.pip_any_version)
        if export_requirements:
            export_requirements.write_text(text, encoding="utf-8")
            click.echo(f"Wrote {len(plan.requirements.pip)} pip pin(s) to {export_requirements}")
        else:
            click.echo(text, nl=False)
        return 0
    if not execute:
        if as_json:
            click.echo(json_text(plan_json(plan)))
        else:
            hint = f"roar reproduce {ref}{' --lineage' if lineage else ''}"
            if from_dir is not None:
                hint += f" --from {from_dir}"
            from roar.cli._format import fancy

            for line in preview_lines(plan, hint + " --run", plain=not fancy()):
                click.echo(line)
        return 0

    async def confirm(question: str) -> bool:
        answer = await anyio.to_thread.run_sync(
            lambda: click.confirm(question, default=True, err=True)
        )
        return bool(answer)

    def say(line: str) -> None:
        click.echo(f"roar: {line}", err=True)

    for line in plan.warnings:
        say(f"warning: {line}")
    ui = Ui(say=say, confirm=confirm, step_stdout=sys.stderr if as_json else None)
    report = await execute_plan(plan, source, options, ui)
    if as_json:
        click.echo(json_text(report_json(plan, report, strict=strict)))
    else:
        for line in report_lines(report, strict=strict):
            click.echo(line)
    return 0 if ok(report, strict=strict) else 1


def _registry_source() -> LineageSource | None:
    """The registry named by GLAAS_URL (or the project's glaas.url), asked after local stores."""
    from roar.core.config import load
    from roar.core.project import find_project
    from roar.errors import NotAProjectError
    from roar.registry.client import registry_url
    from roar.registry.source import RegistrySource

    try:
        config = load(find_project().config_path)
    except NotAProjectError:
        config = None
    url = registry_url(config)
    return RegistrySource(url) if url else None
