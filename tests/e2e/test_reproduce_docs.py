"""docs/reproduce.md is a walkthrough that works: its bash blocks run verbatim, in order, in an
empty directory, and the report it shows is what roar prints."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "reproduce.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _blocks(kind: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text()) if lang == kind]


def test_the_walkthrough_runs_as_written(workspace: Workspace) -> None:
    script = "\n".join(_blocks("bash"))
    assert "roar reproduce" in script and "--run -y" in script
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=workspace.root,
        env=workspace.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Reproducibility - 5/5" in result.stdout  # the preview
    for line in _blocks("text")[0].splitlines():
        assert line in result.stdout.splitlines(), line
    clone = workspace.root / "elsewhere" / "reproduce" / "origin"
    assert (clone / ".roar" / "venv" / "bin" / "python").exists()
    assert "average" in (clone / "model.json").read_text()
