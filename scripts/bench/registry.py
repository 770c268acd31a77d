#!/usr/bin/env python3
"""Benchmark: the registry (`roar server`, SQLite and PostgreSQL) registering a big session and
answering lookups.

For each database: starts `roar server` on 127.0.0.1 with a fresh database (PostgreSQL: the one
ROAR_BENCH_POSTGRES_URL names, else a throwaway server started here), then, through roar's own
client code: registers one session of --jobs jobs (each reading 2 artifacts and writing 2: ~4 x jobs
artifacts, every edge linked), then looks up --lookups artifacts by a 16-hex prefix from
--concurrency concurrent requests. The baseline in the same run is the same number of
``GET /api/v1/health`` requests (the HTTP round trip alone): the ratio shows what the lookup
itself costs on top of it.

    .venv/bin/python scripts/bench/registry.py [--jobs 1000] [--lookups 10000] [--concurrency 16]
        [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

import blake3  # noqa: E402

from roar.registry.client import connect  # noqa: E402


def _digest(n: int) -> str:
    return blake3.blake3(str(n).encode()).hexdigest()


async def _register(url: str, jobs: int) -> float:
    session = "ab" * 32
    started = time.perf_counter()
    async with connect(url, anonymous=True) as client:
        await client.post("/api/v1/sessions", {"hash": session, "git_commit": "0" * 40})
        payload = [
            {
                "job_uid": f"job{i:06d}",
                "command": f"python step.py --part {i}",
                "timestamp": 1_700_000_000.0 + i,
                "step_number": i + 1,
                "exit_code": 0,
                "metadata": "{}",
            }
            for i in range(jobs)
        ]
        await client.post(f"/api/v1/sessions/{session}/jobs/batch", {"jobs": payload})
        artifacts = [
            {
                "hashes": [{"algorithm": "blake3", "digest": _digest(n)}],
                "size": n,
                "session_hash": session,
            }
            for n in range(2 * jobs + 2)
        ]
        for start in range(0, len(artifacts), 500):
            await client.post(
                "/api/v1/artifacts/batch", {"artifacts": artifacts[start : start + 500]}
            )
        for i in range(jobs):
            uid = f"job{i:06d}"
            inputs = [{"hash": _digest(2 * i + k), "path": f"in{k}.bin"} for k in range(2)]
            outputs = [{"hash": _digest(2 * i + 2 + k), "path": f"out{k}.bin"} for k in range(2)]
            await client.post(
                f"/api/v1/sessions/{session}/jobs/{uid}/inputs", {"artifacts": inputs}
            )
            await client.post(
                f"/api/v1/sessions/{session}/jobs/{uid}/outputs", {"artifacts": outputs}
            )
    return time.perf_counter() - started


async def _requests(url: str, paths: list[str], concurrency: int) -> float:
    queue = list(reversed(paths))
    started = time.perf_counter()
    async with connect(url, anonymous=True) as client:

        async def worker() -> None:
            while queue:
                await client.get(queue.pop())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(paths) / (time.perf_counter() - started)


def _bench(db: str, label: str, args: argparse.Namespace) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "roar", "server", "--port", "0", "--db", db],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent.parent)},
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[1]
        seconds = asyncio.run(_register(url, args.jobs))
        print(
            f"[{label}] register: {args.jobs} jobs, {2 * args.jobs + 2} artifacts, "
            f"{4 * args.jobs} edges in {seconds:.2f} s ({args.jobs / seconds:.0f} jobs/s)"
        )
        count = 2 * args.jobs + 2
        lookups = [f"/api/v1/artifacts/{_digest(i % count)[:16]}" for i in range(args.lookups)]
        health = ["/api/v1/health"] * args.lookups
        floor = asyncio.run(_requests(url, health, args.concurrency))
        rate = asyncio.run(_requests(url, lookups, args.concurrency))
        print(
            f"[{label}] lookup: {args.lookups} artifacts by hash prefix, {args.concurrency} "
            f"concurrent: {rate:.0f}/s; GET /health baseline {floor:.0f}/s "
            f"({rate / floor:.2f}x)"
        )
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


def _postgres_database(server_url: str) -> str:
    """A fresh database on ``server_url`` for this run."""
    import secrets

    import asyncpg

    name = f"roar_bench_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f"CREATE DATABASE {name}")
        finally:
            await conn.close()

    asyncio.run(create())
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="roar-registry-bench-") as scratch:
            _bench(f"sqlite:///{scratch}/r.db", "SQLite", args)
    if args.db in ("postgresql", "both"):
        given = os.environ.get("ROAR_BENCH_POSTGRES_URL")
        if given:
            _bench(_postgres_database(given), "PostgreSQL", args)
        else:
            from tests.servers import postgres_server

            with postgres_server() as server_url:
                _bench(_postgres_database(server_url), "PostgreSQL", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
