#!/usr/bin/env python3
"""Benchmark: the store's async SQLite engine against plain ``sqlite3`` on the same statements.

The engine (``roar.store._db``) runs every statement on an anyio worker thread so the event loop
never blocks; this measures what that costs per statement against the limit, a synchronous
``sqlite3`` connection in the same process, under asyncio+uvloop and under trio, in one run.

    .venv/bin/python scripts/bench/store.py [--statements 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from roar.store import _db

SCHEMA = "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"


def _plain(path: Path, statements: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(SCHEMA)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for i in range(statements):
        conn.execute("INSERT INTO t (body) VALUES (?)", (str(i),))
    conn.execute("COMMIT")
    for i in range(1, statements + 1):
        conn.execute("SELECT body FROM t WHERE id = ?", (i,)).fetchone()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def _engine(path: Path, statements: int) -> float:
    db = await _db.connect(path, 5.0)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute(SCHEMA)
    started = time.perf_counter()
    await db.execute("BEGIN IMMEDIATE")
    for i in range(statements):
        await db.execute("INSERT INTO t (body) VALUES (?)", (str(i),))
    await db.commit()
    for i in range(1, statements + 1):
        await db.fetchone("SELECT body FROM t WHERE id = ?", (i,))
    elapsed = time.perf_counter() - started
    await db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = args.statements
    samples: dict[str, list[float]] = {"sqlite3": [], "asyncio+uvloop": [], "trio": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            samples["sqlite3"].append(_plain(Path(tmp, f"plain{r}.db"), n))
            samples["asyncio+uvloop"].append(
                anyio.run(
                    _engine,
                    Path(tmp, f"uv{r}.db"),
                    n,
                    backend="asyncio",
                    backend_options={"use_uvloop": True},
                )
            )
            samples["trio"].append(anyio.run(_engine, Path(tmp, f"trio{r}.db"), n, backend="trio"))
    base = statistics.median(samples["sqlite3"])
    print(f"{2 * n} statements (inserts in one transaction, then lookups), median of {args.rounds}")
    for name, times in samples.items():
        median = statistics.median(times)
        per = median / (2 * n) * 1e6
        print(
            f"  {name:16} {median:6.3f} s  {per:6.1f} us/statement  {median / base:5.2f}x sqlite3"
        )


if __name__ == "__main__":
    main()
