"""The git tag `roar put` (and `roar get --tag`) leaves on the commit the data goes with."""

from __future__ import annotations

from pathlib import Path

from roar.core.context import RoarContext


async def tag_commit(ctx: RoarContext) -> str | None:
    """Tag HEAD ``roar/<12 hex>`` unless it is tagged so already; the tag, or None outside git.

    A lightweight tag: it names the commit, it does not sign or describe anything."""
    from roar.core.git import git_process, read_git_state

    state = await read_git_state(Path.cwd(), ctx.project.roar_dir)
    if not state.repo or not state.commit:
        return None
    name = f"roar/{state.commit[:12]}"
    repo = Path(state.repo)
    code, _, _ = await git_process(repo, "rev-parse", "-q", "--verify", f"refs/tags/{name}")
    if code != 0:
        code, _, err = await git_process(repo, "tag", name, state.commit)
        if code != 0:
            import click

            message = err.decode("utf-8", "replace").strip()
            click.echo(f"roar: warning: could not tag {name}: {message}", err=True)
            return None
    return name
