"""Whether the eBPF tracer works on this machine, found out by using it.

Loading BPF programs can fail for many reasons a static check would miss (no root or CAP_BPF, a
kernel without BTF or the program types used, a restricted sandbox, a stale object built for
another kernel), and a tracer that loads but sees nothing is worse than one that fails. So
``roar-ebpf`` counts as usable only after it traced one real ``open`` of a temporary file end to
end: the OPEN record of that very file must come back, then END.

The answer is kept in ``$XDG_STATE_HOME/roar/ebpf-selftest.json`` under a key made of the boot,
the kernel release and both files' modification times, so ``roar run`` pays for the test once per
boot and install; ``roar tracer status`` always runs it afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from roar.tracing.decoder import Decoder
from roar.tracing.wire import EVK_END, EVK_OPEN

SELF_TEST_TIMEOUT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class SelfTest:
    """The outcome of tracing one open: ``passed``, and what happened in one line."""

    passed: bool
    detail: str
    cached: bool = False


def cache_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "roar" / "ebpf-selftest.json"


def _cache_key(binary: Path, bpf_object: Path) -> str | None:
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stamps = [str(binary.stat().st_mtime_ns), str(bpf_object.stat().st_mtime_ns)]
    except OSError:
        return None
    return "|".join([boot, os.uname().release, str(binary), *stamps])


def _cached(key: str) -> SelfTest | None:
    try:
        note = json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or note.get("key") != key:
        return None
    passed, detail = note.get("passed"), note.get("detail")
    if not isinstance(passed, bool) or not isinstance(detail, str):
        return None
    return SelfTest(passed, detail, cached=True)


def _remember(key: str, result: SelfTest) -> None:
    path = cache_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps({"key": key, "passed": result.passed, "detail": result.detail}))
        os.replace(temp, path)


def self_test(binary: Path, bpf_object: Path, *, use_cache: bool = True) -> SelfTest:
    """Trace ``cat`` reading a temporary file with ``binary`` and ``bpf_object``."""
    key = _cache_key(binary, bpf_object)
    if use_cache and key is not None and (found := _cached(key)) is not None:
        return found
    result = _run(binary, bpf_object)
    if key is not None:
        _remember(key, result)
    return result


def _run(binary: Path, bpf_object: Path) -> SelfTest:
    cat = shutil.which("cat") or "/bin/cat"
    with tempfile.TemporaryDirectory(prefix="roar-ebpf-selftest-") as top:
        probe = Path(top).resolve() / "probe.txt"
        probe.write_text("roar eBPF self-test\n")
        # The records go to a file, not a pipe: nobody has to read while the tracer writes.
        with open(Path(top) / "events", "w+b") as events:
            command = [str(binary), "--event-fd", str(events.fileno())]
            command += ["--bpf-object", str(bpf_object), "--", cat, str(probe)]
            try:
                done = subprocess.run(
                    command,
                    pass_fds=(events.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    timeout=SELF_TEST_TIMEOUT_SECONDS,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                return SelfTest(False, f"the self-test could not run: {exc}")
            events.seek(0)
            records = Decoder().feed(events.read())
    said = done.stderr.decode(errors="replace").strip().splitlines()
    why = said[-1].removeprefix("roar-ebpf: ") if said else f"exit status {done.returncode}"
    if done.returncode != 0:
        return SelfTest(False, why)
    saw_open = any(r[0] == EVK_OPEN and r[7] == str(probe) for r in records)
    saw_end = any(r[0] == EVK_END for r in records)
    if not saw_open or not saw_end:
        return SelfTest(False, "the programs loaded but did not report the test file's open")
    return SelfTest(True, "traced an open of a temporary file end to end")
