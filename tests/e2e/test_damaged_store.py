"""A damaged, emptied, read-only or hand-edited store: one line and a non-zero exit, never an
"internal error", and never a command run that cannot be recorded."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.e2e


@pytest.fixture
def recorded(project: Workspace) -> Workspace:
    project.roar("run", "sh", "-c", "echo hi > a.txt")
    return project


def _db(ws: Workspace) -> Path:
    return ws.root / ".roar" / "roar.db"


def _sql(ws: Workspace, *statements: str) -> None:
    conn = sqlite3.connect(_db(ws))
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable even to root (immutable), or by mode when not root."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("chattr is needed to make a file read-only for root")
        probe = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"this filesystem has no immutable flag: {probe.stderr.decode().strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)


DAMAGE: dict[str, tuple[Callable[[Workspace], None], str]] = {
    "negative-user-version": (
        lambda ws: _sql(ws, "PRAGMA user_version = -1"),
        "invalid schema version",
    ),
    "dropped-table": (lambda ws: _sql(ws, "DROP TABLE job_outputs"), "damaged"),
    "renamed-column": (
        lambda ws: _sql(ws, "ALTER TABLE jobs RENAME COLUMN command TO cmd"),
        "damaged",
    ),
    "damaged-json": (
        lambda ws: _sql(ws, "UPDATE jobs SET metadata = '{bad', argv = '[1'"),
        "damaged",
    ),
    "emptied": (lambda ws: _db(ws).write_bytes(b""), "is empty (0 bytes)"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_is_one_line(recorded: Workspace, damage: str) -> None:
    harm, message = DAMAGE[damage]
    harm(recorded)
    before = _db(recorded).read_bytes()
    for args in (["show", "@1"], ["log"], ["dag"], ["status"], ["inputs"]):
        result = recorded.roar(*args, check=False)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        if args == ["show", "@1"]:  # reads every part of the job: it must notice
            assert result.returncode != 0, result.stdout
        if result.returncode != 0:  # a query that does not touch the damage may still answer
            assert result.stderr.count("\n") == 1 and result.stderr.startswith("roar: ")
            assert message in result.stderr, (args, result.stderr)
    if damage == "emptied":
        again = recorded.roar("init", "-y", check=False)
        assert again.returncode == 1 and "is empty (0 bytes)" in again.stderr
        assert _db(recorded).read_bytes() == before  # reported, not silently re-created


@pytest.mark.parametrize("ref", ["@99999999999999999999", "@9223372036854775808", "@B2" + "9" * 30])
def test_a_huge_step_number_is_not_found(recorded: Workspace, ref: str) -> None:
    result = recorded.roar("show", ref, check=False)
    assert result.returncode == 2 and result.stderr == f"roar: no step {ref} in this session\n"


@pytest.mark.parametrize("what", ["roar.db", ".roar"])
def test_a_read_only_store_answers_queries_and_refuses_runs(recorded: Workspace, what: str) -> None:
    target = _db(recorded) if what == "roar.db" else recorded.root / ".roar"
    with _read_only(target):
        for args in (["show", "@1"], ["log"], ["dag"], ["status"], ["inputs"]):
            result = recorded.roar(*args, check=False)
            assert result.returncode == 0, (args, result.stderr)
        shown = recorded.roar("show", "@1", "--json").json()
        assert shown["command"] == "sh -c 'echo hi > a.txt'"
        run = recorded.roar("run", "sh", "-c", "echo x > ran.txt", check=False)
        assert run.returncode == 1 and run.stderr.count("\n") == 1
        assert "read-only; nothing was run" in run.stderr
        assert not (recorded.root / "ran.txt").exists()  # refused before the command ran
