"""`roar init`: create `.roar/` here (or in --path)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from roar.core.loop import run


@click.command(help="Initialise roar: create .roar/ with the local database and config.")
@click.option(
    "-y", "--yes", "answer", flag_value="yes", help="Add .roar/ to .gitignore without asking."
)
@click.option("-n", "--no", "answer", flag_value="no", help="Leave .gitignore alone.")
@click.option(
    "--path",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to initialise.",
)
def command(answer: str | None, path: Path) -> int:
    return run(_init(answer, path))


async def _init(answer: str | None, path: Path) -> int:
    from roar.core.init import init_project, needs_gitignore_question

    add = answer == "yes"
    if answer is None and await needs_gitignore_question(path):
        if sys.stdin.isatty():
            add = click.confirm("Add .roar/ to .gitignore?", default=True)
        else:
            click.echo(
                "roar: not adding .roar/ to .gitignore (no terminal to ask; use -y)", err=True
            )
    result = await init_project(path, gitignore=add)
    where = result.project.roar_dir
    if result.created:
        click.echo(f"Initialized roar project in {where}")
    else:
        click.echo(f"roar project already initialized in {where}")
    if result.gitignore_updated:
        click.echo("Added .roar/ to .gitignore")
        # An uncommitted .gitignore makes every later job's tree "dirty" (stored as a patch).
        click.echo("Commit it so later runs see a clean tree: git add .gitignore && git commit")
    return 0
