"""How a SkipReads reaches each tracer: roar-ptrace options, the preload shim's environment."""

from __future__ import annotations

from pathlib import Path

from roar.tracing.base import SKIP_NOTHING, SkipReads
from roar.tracing.preload import (
    ENV_KEEP_READS_CONTAINING,
    ENV_KEEP_READS_UNDER,
    ENV_SKIP_READS_UNDER,
    traced_env,
)
from roar.tracing.ptrace import skip_read_options

RULE = SkipReads(under=("/usr/", "/etc/"), keep_under=("/opt/proj",), keep_containing=(".so",))
LIBRARY = Path("/x/libroar_preload.so")


def test_ptrace_options() -> None:
    assert skip_read_options(RULE) == [
        "--skip-reads-under", "/usr/", "--skip-reads-under", "/etc/",
        "--keep-reads-under", "/opt/proj", "--keep-reads-containing", ".so",
    ]  # fmt: skip
    assert skip_read_options(SKIP_NOTHING) == []
    # Keep lists alone change nothing, and entries the tracer would refuse are left out.
    assert skip_read_options(SkipReads(keep_under=("/opt/proj",))) == []
    assert skip_read_options(SkipReads(under=("usr/", "/etc/"), keep_containing=("",))) == [
        "--skip-reads-under",
        "/etc/",
    ]


def test_preload_environment() -> None:
    inherited = {ENV_SKIP_READS_UNDER: "/", "PATH": "/bin"}  # an enclosing roar run's
    env = traced_env(inherited, LIBRARY, "/tmp/sock", None, RULE)
    assert env[ENV_SKIP_READS_UNDER] == "/usr/\n/etc/"
    assert env[ENV_KEEP_READS_UNDER] == "/opt/proj"
    assert env[ENV_KEEP_READS_CONTAINING] == ".so"
    # Always set, empty when nothing is skipped, so an enclosing shim cannot put its own back.
    env = traced_env(inherited, LIBRARY, "/tmp/sock")
    assert env[ENV_SKIP_READS_UNDER] == env[ENV_KEEP_READS_UNDER] == ""
    # A project whose path holds a newline cannot be a line: then nothing is skipped.
    odd = SkipReads(under=("/usr/",), keep_under=("/opt/odd\nname",))
    assert traced_env(inherited, LIBRARY, "/tmp/sock", None, odd)[ENV_SKIP_READS_UNDER] == ""
