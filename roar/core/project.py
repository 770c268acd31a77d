"""Finding and creating a roar project: the directory that holds `.roar/`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from roar.core.project_root import CONFIG_NAME, DB_NAME, ROAR_DIR, project_root
from roar.errors import NotAProjectError

__all__ = ["CONFIG_NAME", "DB_NAME", "ROAR_DIR", "Project", "find_project"]


@dataclass(frozen=True, slots=True)
class Project:
    """A project root and the well-known paths under it."""

    root: Path

    @property
    def roar_dir(self) -> Path:
        return self.root / ROAR_DIR

    @property
    def db_path(self) -> Path:
        return self.roar_dir / DB_NAME

    @property
    def config_path(self) -> Path:
        return self.roar_dir / CONFIG_NAME

    def display_path(self, path: str) -> str:
        """Show ``path`` relative to the project root when it lies inside it, else absolute."""
        root = str(self.root)
        if path == root:
            return "."
        if path.startswith(root + os.sep):
            return path[len(root) + 1 :]
        return path

    def absolute(self, shown: str) -> str:
        """Inverse of :meth:`display_path` (also accepts a user-typed relative path)."""
        if shown.startswith("/") or "://" in shown:
            return shown
        if shown == ".":
            return str(self.root)
        if "./" in shown or shown.endswith("/.") or "//" in shown or shown.endswith(".."):
            return os.path.normpath(os.path.join(self.root, shown))
        return f"{self.root}/{shown}"


def find_project(start: Path | None = None) -> Project:
    """Return the nearest project at or above ``start`` (default: the working directory).

    ``ROAR_PROJECT_DIR`` pins the project explicitly (used by traced children and reproduce).
    """
    root = project_root(str(start) if start is not None else None)
    if root is None:
        raise NotAProjectError()
    return Project(Path(root))
