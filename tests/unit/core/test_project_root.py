"""Finding the project: the nearest `.roar/roar.db`, or the one ROAR_PROJECT_DIR names."""

from __future__ import annotations

from pathlib import Path

import pytest

from roar.core.project import find_project
from roar.core.project_root import project_root
from roar.errors import NotAProjectError


def _project(path: Path) -> Path:
    (path / ".roar").mkdir(parents=True)
    (path / ".roar" / "roar.db").write_bytes(b"")
    return path


def test_the_nearest_project_at_or_above(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROAR_PROJECT_DIR", raising=False)
    outer = _project(tmp_path / "outer")
    inner = _project(outer / "a" / "inner")
    (inner / "deep" / "er").mkdir(parents=True)
    assert project_root(str(inner / "deep" / "er")) == str(inner)
    assert project_root(str(outer / "a")) == str(outer)
    (tmp_path / "link").symlink_to(inner / "deep")
    assert project_root(str(tmp_path / "link")) == str(inner)  # resolved
    assert project_root(str(tmp_path)) is None
    monkeypatch.chdir(outer / "a")
    assert project_root() == str(outer)
    assert find_project().root == outer
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotAProjectError):
        find_project()


def test_roar_project_dir_pins_a_project_only_when_it_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = _project(tmp_path / "here")
    pinned = _project(tmp_path / "pinned")
    monkeypatch.setenv("ROAR_PROJECT_DIR", str(pinned))
    assert project_root(str(here)) == str(pinned)
    assert find_project(here).root == pinned
    monkeypatch.setenv("ROAR_PROJECT_DIR", str(tmp_path / "not-a-project"))
    assert project_root(str(here)) == str(here)
