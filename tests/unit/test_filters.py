from __future__ import annotations

import pytest

from roar.core.config import Config
from roar.recording.filters import (
    FilterSettings,
    apply_filters,
    python_prefixes,
    read_reason,
    write_reason,
)

ROOT = "/tmp/proj"  # a project under /tmp: its files must survive the /tmp rule
S = FilterSettings(project_root=ROOT, home="/home/u", package_roots=("/opt/py",))


@pytest.mark.parametrize(
    ("path", "written", "reason"),
    [
        ("/tmp/proj/data.csv", False, None),
        ("/tmp/proj/data.csv", True, None),
        ("/tmp/proj/.roar/roar.db", False, "roar"),
        ("/tmp/proj/.git/HEAD", False, "git"),
        ("/tmp/proj/__pycache__/x.cpython-311.pyc", False, "bytecode"),
        ("/tmp/proj/.venv/lib/python3.11/site-packages/x.py", False, "package"),
        ("/etc/passwd", False, "system"),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", False, "system"),
        ("/opt/py/lib/python3.11/os.py", False, "package"),
        ("/home/u/.pyenv/versions/3.11.7/bin/python3.11", False, "package"),
        ("/home/u/.cache/huggingface/hub/x", False, "library cache"),
        ("/tmp/torchinductor_u/abc.py", False, "torch cache"),
        ("/tmp/scratch.bin", False, None),  # read only: an input from outside the project
        ("/tmp/scratch.bin", True, "tmp"),  # the job made it itself
        ("/data/shared/x.parquet", False, None),
    ],
)
def test_read_reason(path: str, written: bool, reason: str | None) -> None:
    assert read_reason(path, S, written) == reason


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/tmp/proj/out/model.pt", None),
        ("/tmp/elsewhere.txt", "tmp"),
        ("/dev/null", "system"),
        ("/proc/self/status", "system"),
        ("/data/out.bin", None),
        ("/tmp/proj/.roar/x", "roar"),
    ],
)
def test_write_reason(path: str, reason: str | None) -> None:
    assert write_reason(path, S) == reason


def test_switches_and_ignore_paths() -> None:
    config = (
        Config.defaults()
        .with_value("filters.ignore_system_reads", False)
        .with_value("filters.ignore_tmp_files", False)
        .with_value("filters.ignore_paths", ["scratch", "/data/cache"])
    )
    s = FilterSettings.from_config(config, ROOT)
    assert read_reason("/etc/hosts", s, False) is None
    assert write_reason("/tmp/elsewhere.txt", s) is None
    assert read_reason("/tmp/proj/scratch/a", s, False) == "ignored path"
    assert write_reason("/data/cache/b", s) == "ignored path"


def test_apply_filters_keeps_order_and_counts() -> None:
    outcome = apply_filters(
        ["/tmp/proj/a", "/etc/x", "/tmp/proj/b"],
        ["/tmp/proj/z", "/dev/null", "/tmp/proj/y"],
        S,
    )
    assert outcome.inputs == ["/tmp/proj/a", "/tmp/proj/b"]
    assert outcome.outputs == ["/tmp/proj/z", "/tmp/proj/y"]
    assert outcome.counts == {"system": 2}


def test_python_prefixes() -> None:
    assert python_prefixes(
        ["/opt/conda/bin/python3.11", "/usr/bin/cat", "/x/venv/bin/python", "/x/tool/python"]
    ) == ["/opt/conda", "/x/venv"]
