#!/usr/bin/env python3
"""Benchmark: the whole `roar run` (tracing, hashing, recording) vs the bare command.

Workloads, each run bare and under every usable backend, interleaved, for several rounds:
  (a) python writing 20,000 files of 1 KB, then reading them back
  (b) bash running `cat /etc/hostname > /dev/null` 500 times
  (c) one 1 GB sequential write (dd)
  (d) `true` (roar's fixed cost)
Prints the median wall time of each and the ratio roar/bare (for (d), the difference in seconds).
Targets (issue 3): preload <= 1.5x on (a), <= 1.4x on (b); ptrace <= 3x on (a), <= 2.5x on (b);
both <= 1.05x on (c); fixed cost <= 0.15 s. Issue 15: ebpf <= 2x on (a); preload <= 1.3x on (a)
and (b); fixed cost <= 0.1 s.

roar runs are measured as a user's later runs are: the resident roar is started and warm first
(README, "The resident roar"). --own-process adds each backend with ROAR_RESIDENT=0, roar then
loading itself in the process the user started, as every run did before the resident roar.

A backend that cannot run here (eBPF without root, say) is left out, with the reason printed.
--alone adds the tracer programs run by themselves (records to /dev/null, snapshots on as roar
runs them): what tracing costs without roar's hashing and recording.

    .venv/bin/python scripts/bench/tracing.py [--rounds 5] [--backends ptrace preload ebpf]
                                              [--only a b] [--alone] [--own-process]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS: dict[str, tuple[str, list[str]]] = {
    "a": (
        "python: 20,000 x 1 KB files written then read",
        [
            sys.executable,
            "-c",
            "import os\n"
            "os.makedirs('files', exist_ok=True)\n"
            "blob = b'x' * 1024\n"
            "for i in range(20000):\n"
            "    with open(f'files/f{i}.bin', 'wb') as f: f.write(blob)\n"
            "for i in range(20000):\n"
            "    with open(f'files/f{i}.bin', 'rb') as f: f.read()\n",
        ],
    ),
    "b": (
        "bash: 500 x cat /etc/hostname > /dev/null",
        ["bash", "-c", "for i in $(seq 500); do cat /etc/hostname > /dev/null; done"],
    ),
    "c": (
        "dd: one 1 GB sequential write",
        ["dd", "if=/dev/zero", "of=big.bin", "bs=4M", "count=256", "status=none"],
    ),
    "d": ("true: the fixed cost", ["true"]),
}


def _clean(work: Path) -> None:
    for name in ("files", "big.bin"):
        target = work / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def _warm_resident(roar: str, work: Path) -> str:
    """Start the resident roar (a first run does) and wait until it serves: runs are measured
    as a user's second and later runs are."""
    import json

    subprocess.run([roar, "run", "-q", "true"], cwd=work, check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run(
            [roar, "tracer", "status", "--json"], cwd=work, check=True, capture_output=True
        ).stdout
        running = json.loads(out)["resident"]["running"]
        if running:
            return f"resident roar pid {running['pid']}"
        time.sleep(0.1)
    return "no resident roar (every run in its own process)"


def _usable(names: list[str]) -> list[str]:
    """The backends of ``names`` that can run here (the eBPF self-test decides for eBPF)."""
    from roar.tracing.select import backends

    built = backends()
    usable = []
    for name in names:
        status = built[name].availability()
        if status.usable:
            usable.append(name)
        else:
            print(f"{name}: left out ({status.reason})")
    return usable


def _alone_programs(backends: list[str]) -> dict[str, str]:
    """The tracer programs of ``backends`` (preload has none: roar is its listener)."""
    from roar.tracing.base import native_binary

    names = {"ptrace": "roar-ptrace", "ebpf": "roar-ebpf"}
    return {names[b]: str(native_binary(names[b])) for b in backends if b in names}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["ptrace", "preload", "ebpf"])
    parser.add_argument("--only", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--alone", action="store_true", help="also time the tracer programs alone")
    parser.add_argument(
        "--own-process",
        action="store_true",
        help="also time each backend with ROAR_RESIDENT=0 (roar in the process the user started)",
    )
    args = parser.parse_args()
    roar = shutil.which("roar", path=os.path.dirname(sys.executable)) or "roar"
    backends = _usable(args.backends)
    print(f"{os.cpu_count()} CPUs; median of {args.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory(dir=os.environ.get("ROAR_BENCH_DIR")) as tmp:
        work = Path(tmp)
        subprocess.run([roar, "init", "-n"], cwd=work, check=True, capture_output=True)
        snapshots = Path(tmp) / ".snapshots"
        snapshots.mkdir()
        alone = _alone_programs(backends) if args.alone else {}
        own = [f"{b}/own" for b in backends] if args.own_process else []
        own_env = {**os.environ, "ROAR_RESIDENT": "0"}
        print(_warm_resident(roar, work))
        for key in args.only:
            title, cmd = WORKLOADS[key]
            samples: dict[str, list[float]] = {"bare": []}
            samples.update({b: [] for b in [*backends, *own, *alone]})
            for _ in range(args.rounds):
                for mode in samples:
                    _clean(work)
                    if mode == "bare":
                        full = cmd
                    elif mode in alone:
                        full = [alone[mode], "--event-fd", "1", "--snapshot-dir", str(snapshots)]
                        full += ["--", *cmd]  # records to stdout, which is /dev/null
                    else:
                        backend = mode.removesuffix("/own")
                        full = [roar, "run", "-q", "--tracer", backend, *cmd]
                    env = own_env if mode.endswith("/own") else None
                    samples[mode].append(_timed(full, work, env))
            _clean(work)
            bare = statistics.median(samples["bare"])
            print(f"({key}) {title}")
            print(f"    bare        {bare:8.3f} s")
            for backend in [*backends, *own, *alone]:
                traced = statistics.median(samples[backend])
                if key == "d":
                    print(f"    {backend:<11} {traced:8.3f} s   fixed cost {traced - bare:+.3f} s")
                else:
                    print(f"    {backend:<11} {traced:8.3f} s   ratio {traced / bare:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
