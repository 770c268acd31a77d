#!/usr/bin/env python3
"""Benchmark: the preload tracer with its shared-memory record ring vs one message per record.

Same workloads as scripts/bench/tracing.py ((a) 20,000 files written and read back, (b) 500 short
processes), each run bare, under `roar run --tracer preload` with the ring (the default), and with
the ring turned off (`ROAR_PRELOAD_RING_BYTES=0`: the shim sends each record on the socket, as
before the ring), interleaved, in one run. Prints medians and each mode's ratio to bare.

    .venv/bin/python scripts/bench/preload_ring.py [--rounds 5] [--only a b]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracing import WORKLOADS, _clean  # a sibling script, not a package

MODES = {"ring": {}, "socket": {"ROAR_PRELOAD_RING_BYTES": "0"}}


def _timed(cmd: list[str], cwd: Path, extra: dict[str, str]) -> float:
    import time

    env = {**os.environ, **extra}
    started = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", nargs="+", default=["a", "b"])
    args = parser.parse_args()
    roar = shutil.which("roar", path=os.path.dirname(sys.executable)) or "roar"
    print(f"{os.cpu_count()} CPUs; median of {args.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory(dir=os.environ.get("ROAR_BENCH_DIR")) as tmp:
        work = Path(tmp)
        subprocess.run([roar, "init", "-n"], cwd=work, check=True, capture_output=True)
        for key in args.only:
            title, cmd = WORKLOADS[key]
            samples: dict[str, list[float]] = {"bare": [], **{m: [] for m in MODES}}
            for _ in range(args.rounds):
                for mode in samples:
                    _clean(work)
                    if mode == "bare":
                        samples[mode].append(_timed(cmd, work, {}))
                    else:
                        full = [roar, "run", "-q", "--tracer", "preload", *cmd]
                        samples[mode].append(_timed(full, work, MODES[mode]))
            _clean(work)
            bare = statistics.median(samples["bare"])
            print(f"({key}) {title}")
            print(f"    bare      {bare:8.3f} s")
            for mode in MODES:
                traced = statistics.median(samples[mode])
                print(f"    {mode:<9} {traced:8.3f} s   ratio {traced / bare:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
