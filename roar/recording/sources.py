"""Where each input of a job can be had again (the *attribute sources* phase): a recorded job,
git at the recorded commit, tool configuration, or nowhere (unsourced)."""

from __future__ import annotations

import os
from pathlib import Path

from roar.core.context import RoarContext
from roar.core.git import GitState, run_git
from roar.models import FileDigest
from roar.recording.filters import is_config_file


async def unmodified_tracked(git: GitState) -> set[str]:
    """The files git tracks at the recorded commit that the tree has not changed (repo-relative)."""
    if not (git.repo and git.commit):
        return set()
    code, out = await run_git(Path(git.repo), "ls-files", "-z")
    return set(out.split("\0")) - set(git.changed_paths) if code == 0 else set()


async def input_sources(
    ctx: RoarContext,
    git: GitState,
    inputs: list[FileDigest],
    produced: dict[str, str],
    tracked: set[str],
) -> dict[str, str | None]:
    """Where each input can be had again: ``job:<uid>`` (a recorded job wrote this content),
    ``git`` (in ``tracked``: see :func:`unmodified_tracked`), ``config`` (tool configuration,
    ``filters.config_files``: shown, not required), or None (unsourced)."""
    if not inputs:
        return {}
    sources: dict[str, str | None] = {}
    config_files = ctx.config.get_list("filters.config_files")
    home = os.path.expanduser("~")
    for f in inputs:
        if f.hash in produced:
            sources[f.path] = f"job:{produced[f.hash]}"
            continue
        absolute = ctx.project.absolute(f.path)
        rel = os.path.relpath(absolute, git.repo) if git.repo else None
        if rel is not None and rel in tracked:
            sources[f.path] = "git"
        elif is_config_file(absolute, config_files, str(ctx.project.root), home):
            sources[f.path] = "config"
        else:
            sources[f.path] = None
    return sources
