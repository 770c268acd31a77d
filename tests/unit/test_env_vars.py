"""Which environment variables a job read: the Python probe's names merged with getenv lookups."""

from __future__ import annotations

from pathlib import Path

from roar.recording.recorder import env_vars_read
from tests.conftest import gen


def test_python_names_take_launched_values_and_getenv_values_win(tmp_path: Path) -> None:
    gen(tmp_path, {"env": {"100": "SEED\nMISSING\nPYTHONPATH\n", "101": "MODE\n"}})
    launched = {"SEED": "7", "MODE": "a", "PYTHONPATH": "/roar/_inject", "LD_PRELOAD": "/x.so"}
    looked_up = {"MODE": "b", "CC_ONLY": "1", "LD_PRELOAD": "/x.so", "ROAR_PRELOAD_FD": "900"}
    assert env_vars_read(tmp_path / "env", launched, looked_up) == {
        "CC_ONLY": "1",
        "MISSING": None,
        "MODE": "b",  # what the process saw (a script exported it), not what roar launched
        "SEED": "7",
    }


def test_secrets_are_hidden_whatever_the_source(tmp_path: Path) -> None:
    gen(tmp_path, {"env": {"100": "MY_API_TOKEN\n"}})
    launched = {"MY_API_TOKEN": "tok-1", "DB_PASSWORD": "pw", "URL": "https://u:pw@host/x"}
    looked_up = {"DB_PASSWORD": "pw", "URL": "https://u:pw@host/x"}
    assert env_vars_read(tmp_path / "env", launched, looked_up) == {
        "DB_PASSWORD": "[REDACTED]",
        "MY_API_TOKEN": "[REDACTED]",
        "URL": "https://u:[REDACTED]@host/x",
    }


def test_cut_values_and_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    launched = {"LONG": "x" * 5000, "OTHER": "y" * 5000}
    looked_up = {"LONG": "x" * 4000, "OTHER": "z" * 4000, "RAW": "caf\udce9"}
    got = env_vars_read(tmp_path / "no-log", launched, looked_up, cut=("LONG", "OTHER"))
    assert got["LONG"] == "x" * 5000  # the launched value is the one that was cut
    assert got["OTHER"] == "z" * 4000  # changed by the job: the cut value is all there is
    assert got["RAW"] == "caf\ufffd"  # storable as JSON
