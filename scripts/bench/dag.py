#!/usr/bin/env python3
"""Benchmark: `roar dag --json` end to end on projects of 1,000 / 10,000 / 50,000 jobs.

Also times the everyday query commands (log, show, status, inputs, dag) on the smallest size.
Fills a fresh project (a git repository with one commit, as a real project is: `roar status`
asks git about it) through the store API: a chain of pipelines whose steps read the previous
step's output, with re-runs so some steps are superseded, each job carrying metadata the size of
a real one's. Writes the current outputs to disk (so `status` checks real files), then times the
real `roar dag --json` command, median of several runs. Prints seconds per size and the growth
relative to n·log n.

    .venv/bin/python scripts/bench/dag.py [--sizes 1000 10000 50000] [--rounds 3]

Run it from a regular (non-editable) install for figures a user would see: an editable install
under PYTHONDONTWRITEBYTECODE=1 recompiles roar's modules on every start (~30 ms).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from roar.models import FileDigest, GitInfo, NewJob
from roar.store import Store


def _digest(n: int) -> str:
    return f"{n:064x}"


def _metadata(step: int) -> dict[str, object]:
    """Job metadata the size of a real ML job's (~20 KB): a virtualenv of 250 distributions,
    40 of them imported, the programs exec'd, the runtime and where each input came from."""
    installed = {f"package-{n:03d}": f"{n % 7}.{n % 13}.{n % 5}" for n in range(250)}
    return {
        "processes": 3,
        "programs": ["/usr/bin/python3.11", "/usr/bin/env", "/usr/bin/bash"] * 10,
        "input_sources": {f"data/s{step - 1}.bin": f"@{step}"} if step else {},
        "packages": {
            "pip": {name: installed[name] for name in list(installed)[:40]},
            "installed": installed,
            "dpkg": {f"lib{n}": f"1.{n}-1" for n in range(30)},
        },
        "runtime": {
            "hostname": "bench",
            "python": {"version": "3.11.7", "executable": "/opt/venv/bin/python"},
            "os": {"system": "Linux", "release": "6.1.0", "machine": "x86_64"},
            "env_vars": {f"VAR_{n}": f"value-{n}" for n in range(20)},
        },
        "git": {"remote_url": None, "changed_paths": [], "patch": None},
    }


async def fill(db: Path, jobs: int) -> None:
    steps = max(1, jobs // 4)  # each step re-run ~4 times on average
    async with Store.open(db, create=True) as store:
        for i in range(jobs):
            step = i % steps
            version = i // steps
            inputs = (
                [
                    FileDigest(
                        path=f"data/s{step - 1}.bin", hash=_digest(step * 10 + version), size=1
                    )
                ]
                if step
                else []
            )
            outputs = [
                FileDigest(
                    path=f"data/s{step}.bin", hash=_digest((step + 1) * 10 + version), size=1
                )
            ]
            await store.record_job(
                NewJob(
                    job_uid=f"{i:08x}", job_type="run", command=f"python step{step}.py",
                    argv=["python", f"step{step}.py"], cwd=".", started_at=1_000_000 + i,
                    duration_seconds=1.0, exit_code=0, signal=None, git=GitInfo(),
                    inputs=inputs, outputs=outputs, step_identity=f"step-{step}",
                    metadata=_metadata(step),
                )
            )  # fmt: skip


def _git_project(root: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost"}
    env |= {"GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}
    (root / "README").write_text("bench project\n")
    for args in (["init", "-q"], ["add", "README"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env, capture_output=True)


def _write_outputs(root: Path, jobs: int) -> None:
    data = root / "data"
    data.mkdir(exist_ok=True)
    for step in range(max(1, jobs // 4)):
        (data / f"s{step}.bin").write_bytes(b"x")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    roar = shutil.which("roar", path=os.path.dirname(sys.executable)) or "roar"
    results: list[tuple[int, float]] = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            _git_project(root)
            subprocess.run([roar, "init", "-n"], cwd=root, check=True, capture_output=True)
            started = time.perf_counter()
            anyio.run(fill, root / ".roar" / "roar.db", size)
            fill_s = time.perf_counter() - started
            _write_outputs(root, size)
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                out = subprocess.run(
                    [roar, "dag", "--json"], cwd=root, check=True, capture_output=True
                )
                times.append(time.perf_counter() - t0)
            assert out.stdout.startswith(b"{")
            if size == args.sizes[0]:
                for query in (["log"], ["show", "@1"], ["status"], ["inputs"], ["dag"]):
                    samples = []
                    for _ in range(args.rounds):
                        t0 = time.perf_counter()
                        subprocess.run([roar, *query], cwd=root, check=True, capture_output=True)
                        samples.append(time.perf_counter() - t0)
                    print(
                        f"{size:>7} jobs: roar {' '.join(query):<8} "
                        f"{statistics.median(samples):.3f} s (median of {args.rounds})"
                    )
            median = statistics.median(times)
            results.append((size, median))
            print(
                f"{size:>7} jobs: roar dag --json {median:.3f} s "
                f"(median of {args.rounds}); fill {fill_s:.1f} s"
            )
    base_n, base_t = results[0]
    for size, seconds in results[1:]:
        nlogn = (size * math.log(size)) / (base_n * math.log(base_n))
        print(f"growth {base_n} -> {size}: time x{seconds / base_t:.2f}, n·log n x{nlogn:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
