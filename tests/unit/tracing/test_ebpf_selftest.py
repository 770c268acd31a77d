"""The eBPF self-test's verdict and how it is kept, with a stand-in for roar-ebpf (a script that
writes the records the real one would), so it runs without root or BPF."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from roar.tracing import _ebpf_selftest as selftest

# Writes HELLO, then (unless told to fail) an OPEN of the file `cat` is given and END, to the
# --event-fd descriptor: the records roar-ebpf writes when it traced `cat FILE`.
FAKE_LOADER = textwrap.dedent(
    """\
    #!{python}
    import os, struct, sys
    args = sys.argv[1:]
    fd = int(args[args.index("--event-fd") + 1])
    mode = open(os.environ["FAKE_MODE_FILE"]).read().strip()
    def record(kind, path=b""):
        os.write(fd, struct.pack("=HBBiiiqIHH", 32 + len(path), kind, 0, 1, 1, 0, 0, 0,
                                 len(path), 0) + path)
    if mode == "refused":
        print("roar-ebpf: the kernel refused the BPF programs: Operation not permitted",
              file=sys.stderr)
        sys.exit(125)
    record(1, b"ebpf")
    if mode == "sees":
        record(2, os.path.realpath(args[-1]).encode())
    record(14)
    """
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    loader = tmp_path / "roar-ebpf"
    loader.write_text(FAKE_LOADER.format(python=sys.executable))
    loader.chmod(0o755)
    bpf_object = tmp_path / "roar-ebpf.bpf.o"
    bpf_object.write_bytes(b"\x7fELF")
    mode = tmp_path / "mode"
    monkeypatch.setenv("FAKE_MODE_FILE", str(mode))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return loader, bpf_object, mode


def test_passes_only_when_the_open_came_back(fake: tuple[Path, Path, Path]) -> None:
    loader, bpf_object, mode = fake
    mode.write_text("sees")
    assert selftest.self_test(loader, bpf_object, use_cache=False).passed
    mode.write_text("blind")  # loaded, ran, reported nothing: never a pass
    result = selftest.self_test(loader, bpf_object, use_cache=False)
    assert not result.passed and "did not report the test file's open" in result.detail
    mode.write_text("refused")
    result = selftest.self_test(loader, bpf_object, use_cache=False)
    assert not result.passed and result.detail.startswith("the kernel refused the BPF programs")


def test_the_verdict_is_kept_until_the_install_changes(fake: tuple[Path, Path, Path]) -> None:
    loader, bpf_object, mode = fake
    mode.write_text("refused")
    first = selftest.self_test(loader, bpf_object)
    assert not first.passed and not first.cached
    mode.write_text("sees")  # the machine changed, but the kept answer stands for this boot...
    again = selftest.self_test(loader, bpf_object)
    assert again == selftest.SelfTest(first.passed, first.detail, cached=True)
    stat = bpf_object.stat()  # ...until the object (or the loader) is rebuilt
    os.utime(bpf_object, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rebuilt = selftest.self_test(loader, bpf_object)
    assert rebuilt.passed and not rebuilt.cached
    assert selftest.cache_path().is_file()
