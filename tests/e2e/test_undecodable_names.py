"""File names, arguments and project paths that are not UTF-8 (Linux allows any bytes but / and
NUL): the job is recorded exactly, shown escaped, and given losslessly in --json."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TRACERS, Workspace, _clean_env, tracer_param

pytestmark = pytest.mark.e2e

NAME = os.fsdecode(b"data-\xff\xfe.bin")  # the str roar carries: surrogate-escaped bytes
WRITE = "import sys; open(sys.argv[1], 'wb').write(b'payload')"
READ = "import sys; open('copy.bin', 'wb').write(open(sys.argv[1], 'rb').read())"


def _check_job_pair(ws: Workspace, tracer: str) -> None:
    first = ws.roar("run", "--tracer", tracer, "python", "-c", WRITE, NAME)
    assert "internal error" not in first.stderr
    ws.roar("run", "--tracer", tracer, "python", "-c", READ, NAME)
    assert (ws.root / NAME).read_bytes() == b"payload"

    writer = ws.roar("show", "@1", "--json").json()
    (output,) = writer["outputs"]
    assert output["path"] == "data-\\xff\\xfe.bin"  # shown escaped
    assert base64.b64decode(output["path_b64"]) == b"data-\xff\xfe.bin"  # and exactly
    assert base64.b64decode(writer["argv_b64"][-1]) == b"data-\xff\xfe.bin"
    reader = ws.roar("show", "@2", "--json").json()
    assert [i.get("path_b64") for i in reader["inputs"]] == ["ZGF0YS3//i5iaW4="], reader["inputs"]
    text = ws.roar("show", "@1").stdout
    assert "data-\\xff\\xfe.bin" in text
    for args in (["log"], ["dag"], ["status"], ["inputs"], ["show", "@2"]):
        result = ws.roar(*args)
        assert "internal error" not in result.stderr
    assert "<- @1" in ws.roar("dag").stdout  # the edge through the oddly named file


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_a_non_utf8_file_name_is_recorded_and_linked(project: Workspace, tracer: str) -> None:
    _check_job_pair(project, tracer)


def test_exit_code_passes_through_with_odd_arguments(project: Workspace) -> None:
    result = project.roar("run", "python", "-c", "import sys; sys.exit(7)", NAME, check=False)
    assert result.returncode == 7 and "internal error" not in result.stderr
    job = project.roar("show", "@1", "--json").json()
    assert job["exit_code"] == 7


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_a_project_whose_path_is_not_utf8(tmp_path: Path, tracer: str) -> None:
    root = tmp_path / os.fsdecode(b"proj-\xe9")
    root.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    ws = Workspace(root, _clean_env(home))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, env=ws.env, check=True)
    ws.roar("init", "-y")
    _check_job_pair(ws, tracer)
