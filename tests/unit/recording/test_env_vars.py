"""Which environment variables a job read: the Python probe's names merged with getenv lookups."""

from __future__ import annotations

from pathlib import Path

from roar.recording import secrets
from roar.recording.env_probe import INJECT_DIR, env_vars_read, python_env_reads
from tests.conftest import gen


def sitecustomize_path() -> str:
    return str(Path(INJECT_DIR) / "sitecustomize.py")


def test_values_as_the_processes_saw_them(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "env": {
                "100": b"SEED=7\0MISSING\0PYTHONPATH=/roar/_inject\0LINES=a\nb=c\0",
                "101": b"MODE=py\0EXPORTED=by-script\0SEED=8\0",
            }
        },
    )
    launched = {"SEED": "7", "MODE": "a", "PYTHONPATH": "/roar/_inject", "LD_PRELOAD": "/x.so"}
    looked_up = {"MODE": "b", "CC_ONLY": "1", "LD_PRELOAD": "/x.so", "ROAR_PRELOAD_FD": "900"}
    assert env_vars_read(tmp_path / "env", launched, looked_up) == {
        "CC_ONLY": "1",
        "EXPORTED": "by-script",  # set by a script after roar launched the command
        "LINES": "a\nb=c",  # values may hold anything but NUL
        "MISSING": None,
        "MODE": "b",  # getenv's value, the first process's, wins
        "SEED": "7",  # the first process (lowest pid) to log a name wins
    }


def test_probe_log_records(tmp_path: Path) -> None:
    gen(tmp_path, {"env": {"9": b"A=1\0B\0C_TOKEN\x01\0D=\0", "10": b"A=2\0"}})
    assert python_env_reads(tmp_path / "env") == {
        "A": ("seen", "1"),
        "B": ("unset", None),
        "C_TOKEN": ("withheld", None),
        "D": ("seen", ""),
    }
    assert python_env_reads(tmp_path / "absent") == {}


def test_the_probe_hides_the_same_names_as_roar() -> None:
    """The probe runs in the user's interpreter and cannot import roar: it imports the rule from
    the module beside it, the one roar's redaction compiles, and has no copy of its own."""
    probe = Path(sitecustomize_path()).read_text()
    assert "from _roar_credential_rule import CREDENTIAL_NAME_PATTERN, NOT_CREDENTIALS" in probe
    assert "(?i)" not in probe  # no second copy of the pattern
    rule = Path(sitecustomize_path()).with_name("_roar_credential_rule.py")
    namespace: dict[str, object] = {}
    exec(rule.read_text(), namespace)
    assert namespace["CREDENTIAL_NAME_PATTERN"] == secrets._CREDENTIAL_NAME.pattern
    assert set(namespace["NOT_CREDENTIALS"]) == secrets._NOT_CREDENTIALS  # type: ignore[call-overload]


def test_secrets_are_hidden_whatever_the_source(tmp_path: Path) -> None:
    gen(tmp_path, {"env": {"100": b"MY_API_TOKEN\x01\0EXPORTED_SECRET\x01\0"}})
    launched = {"MY_API_TOKEN": "tok-1", "DB_PASSWORD": "pw", "URL": "https://u:pw@host/x"}
    looked_up = {"DB_PASSWORD": "pw", "URL": "https://u:pw@host/x"}
    assert env_vars_read(tmp_path / "env", launched, looked_up) == {
        "DB_PASSWORD": "[REDACTED]",
        "EXPORTED_SECRET": "[REDACTED]",  # set by the job, not by roar: still known to be set
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
