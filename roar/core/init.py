"""Creating a project: `.roar/roar.db`, a commented `.roar/config.toml`, the .gitignore entry."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from roar.core import config as config_module
from roar.core.git import run_git
from roar.core.project import ROAR_DIR, Project
from roar.errors import UsageError


class GitignoreChoice(enum.Enum):
    ADD = "add"
    LEAVE = "leave"
    ASK = "ask"


@dataclass(frozen=True, slots=True)
class InitResult:
    project: Project
    created: bool  # False when the project already existed
    in_git_repo: bool
    gitignore_updated: bool
    gitignore_already: bool


async def _git_toplevel(path: Path) -> Path | None:
    code, out = await run_git(path, "rev-parse", "--show-toplevel")
    return Path(out.strip()) if code == 0 else None


def _gitignore_covers(text: str) -> bool:
    wanted = {".roar", ".roar/", "/.roar", "/.roar/", ".roar/*", "/.roar/*"}
    return any(line.strip() in wanted for line in text.splitlines())


async def init_project(path: Path, *, gitignore: bool) -> InitResult:
    """Create (or complete) the project at ``path``; safe to run any number of times.

    ``gitignore`` says whether to add `.roar/` to the project's .gitignore when inside a git repo.
    """
    from roar.store import Store

    if not path.is_dir():
        raise UsageError(f"{path} is not a directory")
    root = path.resolve()
    project = Project(root)
    created = not project.db_path.is_file()
    try:
        project.roar_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {project.roar_dir}: {exc.strerror}") from exc
    # An existing database is opened as it is: an emptied one is reported, never re-created.
    existing = project.db_path.is_file()
    async with Store.open(project.db_path, create=not existing):
        pass
    if not project.config_path.exists():
        config_module.save(project.config_path, config_module.Config.defaults())
    else:
        config_module.load(project.config_path)  # an existing file must still be valid

    toplevel = await _git_toplevel(root)
    updated = already = False
    if toplevel is not None:
        ignore_file = root / ".gitignore"
        text = ignore_file.read_text(encoding="utf-8") if ignore_file.exists() else ""
        already = _gitignore_covers(text)
        if gitignore and not already:
            prefix = "" if not text or text.endswith("\n") else "\n"
            with ignore_file.open("a", encoding="utf-8") as handle:
                handle.write(f"{prefix}{ROAR_DIR}/\n")
            updated = True
    return InitResult(project, created, toplevel is not None, updated, already)


async def needs_gitignore_question(path: Path) -> bool:
    """True when ``path`` is in a git repo whose .gitignore does not yet cover `.roar/`."""
    root = path.resolve()
    if await _git_toplevel(root) is None:
        return False
    ignore_file = root / ".gitignore"
    text = ignore_file.read_text(encoding="utf-8") if ignore_file.exists() else ""
    return not _gitignore_covers(text)
