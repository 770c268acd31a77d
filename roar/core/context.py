"""The context every operation takes first: which project, with which configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from roar.core import config as config_module
from roar.core.config import Config
from roar.core.project import Project, find_project

if TYPE_CHECKING:
    from roar.store import Store


@dataclass(frozen=True, slots=True)
class RoarContext:
    """A loaded project: its root, its validated config, and how chatty to be."""

    project: Project
    config: Config
    verbosity: int = 0  # -1 quiet, 0 normal, 1 -v, 2 -vv

    @classmethod
    def load(cls, start: Path | None = None, *, verbosity: int = 0) -> RoarContext:
        """Find the project above ``start`` and read its config (raises NotAProjectError)."""
        project = find_project(start)
        return cls(project, config_module.load(project.config_path), verbosity)

    @asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        from roar.store import Store

        async with Store.open(self.project.db_path) as store:
            yield store
