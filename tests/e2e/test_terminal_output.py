"""Colour and symbols follow the user's terminal: NO_COLOR and TERM=dumb turn colour off, and
symbols (emoji, arrows) appear only on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess

import pytest

from tests.conftest import Workspace, roar_executable

pytestmark = pytest.mark.e2e

ESC = "\x1b["


def _on_terminal(ws: Workspace, *args: str, **env: str) -> str:
    """Run roar with stdout on a pseudo-terminal; return what it drew there."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [roar_executable(), *args],
            cwd=ws.root,
            env={**ws.env, "TERM": "xterm-256color", **env},
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=60,
            check=True,
        )
        assert proc.returncode == 0
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


@pytest.fixture
def two_steps(project: Workspace) -> Workspace:
    project.gen({"raw.txt": "b\na\n"})
    project.commit_all("data")
    project.roar("run", "sort", "raw.txt", "-o", "sorted.txt")
    project.roar("run", "cp", "sorted.txt", "copy.txt")
    return project


def test_colour_on_a_terminal_unless_no_color_or_dumb(two_steps: Workspace) -> None:
    assert ESC in _on_terminal(two_steps, "dag")  # the baseline: colour on a terminal
    assert ESC not in _on_terminal(two_steps, "dag", NO_COLOR="1")
    assert ESC not in _on_terminal(two_steps, "dag", TERM="dumb")
    assert ESC not in two_steps.roar("dag").stdout  # not a terminal


def test_checklist_symbols_only_on_a_terminal(two_steps: Workspace) -> None:
    drawn = _on_terminal(two_steps, "reproduce", "copy.txt")
    assert "Reproducibility —" in drawn and ("✅" in drawn or "❌" in drawn)
    for text in (
        _on_terminal(two_steps, "reproduce", "copy.txt", TERM="dumb"),
        two_steps.roar("reproduce", "copy.txt").stdout,
    ):
        assert "Reproducibility - " in text
        assert "✅" not in text and "❌" not in text and "—" not in text
