#!/usr/bin/env python3
"""Benchmark: roar's bookkeeping after the command ends, for a job with 20,000 outputs.

Runs `roar run -v python -c '<write N files of 1 KB>'` and reports the time roar spends after
the traced command finished (as `roar run -v` reports it): hashing what was not hashed while the
command ran, filtering, environment capture, and the store transaction. Target (issue 4): under
1 s for 20,000 outputs (the reference: about 43 s).

--checkpoint MB runs a training step's shape instead: one checkpoint of MB megabytes written,
then 2 s more work. Bare and under roar, interleaved: the wall times, their difference, and
roar's time after the command (what of the checkpoint's hashing and storing did not overlap
the job).

    .venv/bin/python scripts/bench/recording.py [--files 20000] [--rounds 3] [--tracer ptrace]
                                                [--checkpoint 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tracer", default="auto")
    parser.add_argument("--checkpoint", type=int, default=0, metavar="MB")
    args = parser.parse_args()
    roar = shutil.which("roar", path=os.path.dirname(sys.executable)) or "roar"
    if args.checkpoint:
        return _checkpoint(roar, args.checkpoint, args.rounds, args.tracer)
    code = (
        "import os\nos.makedirs('out', exist_ok=True)\n"
        f"for i in range({args.files}):\n"
        "    open(f'out/f{i}.bin', 'wb').write(b'%06d' % i * 170)\n"
    )
    after: list[float] = []
    totals: list[float] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("ROAR_BENCH_DIR")) as tmp:
        root = Path(tmp)
        subprocess.run([roar, "init", "-n"], cwd=root, check=True, capture_output=True)
        for _ in range(args.rounds):
            shutil.rmtree(root / "out", ignore_errors=True)
            started = time.perf_counter()
            result = subprocess.run(
                [roar, "run", "-v", "--tracer", args.tracer, sys.executable, "-c", code],
                cwd=root, check=True, capture_output=True, text=True,
            )  # fmt: skip
            total = time.perf_counter() - started
            job = json.loads(
                subprocess.run(
                    [roar, "show", "@1", "--json"], cwd=root, check=True, capture_output=True
                ).stdout
            )
            assert len(job["outputs"]) == args.files, len(job["outputs"])
            totals.append(total)
            match = re.search(r"recorded ([0-9.]+) s after the command ended", result.stderr)
            assert match, result.stderr
            after.append(float(match.group(1)))
    print(f"{args.files} outputs, tracer {args.tracer}, median of {args.rounds}")
    print(f"  roar run wall time           {statistics.median(totals):.3f} s")
    print(f"  bookkeeping after the command {statistics.median(after):.3f} s")
    return 0


def _checkpoint(roar: str, megabytes: int, rounds: int, tracer: str) -> int:
    code = (
        "import os, time\n"
        "block = os.urandom(1 << 20)\n"
        "with open('ckpt.bin', 'wb') as f:\n"
        f"    for _ in range({megabytes}):\n"
        "        f.write(block)\n"
        "time.sleep(2)\n"
    )
    bare: list[float] = []
    traced: list[float] = []
    after: list[float] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("ROAR_BENCH_DIR")) as tmp:
        root = Path(tmp)
        subprocess.run([roar, "init", "-n"], cwd=root, check=True, capture_output=True)
        for _ in range(rounds):
            (root / "ckpt.bin").unlink(missing_ok=True)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
            bare.append(time.perf_counter() - started)
            (root / "ckpt.bin").unlink()
            started = time.perf_counter()
            result = subprocess.run(
                [roar, "run", "-v", "--tracer", tracer, sys.executable, "-c", code],
                cwd=root, check=True, capture_output=True, text=True,
            )  # fmt: skip
            traced.append(time.perf_counter() - started)
            match = re.search(r"recorded ([0-9.]+) s after the command ended", result.stderr)
            assert match, result.stderr
            after.append(float(match.group(1)))
    wall, base = statistics.median(traced), statistics.median(bare)
    print(f"a {megabytes} MB checkpoint, then 2 s of work; tracer {tracer}, median of {rounds}")
    print(f"  bare                          {base:.3f} s")
    print(f"  roar run                      {wall:.3f} s   +{wall - base:.3f} s")
    print(f"  bookkeeping after the command {statistics.median(after):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
