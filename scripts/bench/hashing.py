#!/usr/bin/env python3
"""Benchmark: roar's hashing of a page-cached file vs the fastest the blake3 library does.

In the same run, on the same file (2 GiB by default, read once first so it is page-cached):
  limit  = blake3(max_threads=blake3.AUTO).update_mmap(path)   (multi-threaded, memory-mapped)
  single = blake3() fed 8 MiB chunks from read()                (one thread)
  roar   = roar.hashing.Hasher.hash_many([path]) with no cache (what `roar run` does)
  cached = the same call again with the hash cache warm        (an unchanged input)
Prints GB/s for each and the ratios roar/limit (target >= 0.9) and cached/roar time (< 0.05).

    .venv/bin/python scripts/bench/hashing.py [--size-mb 2048] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import blake3

from roar.hashing import Hasher
from roar.store import Store


def _limit(path: str) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return hasher.hexdigest()


def _single(path: str) -> str:
    hasher = blake3.blake3()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(8 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


async def _roar_rounds(path: str, db: Path, rounds: int) -> tuple[float, float, str, bool]:
    """Median seconds of a cold hash and of a cache hit, timing only ``hash_many``."""
    cold: list[float] = []
    warm: list[float] = []
    digest = ""
    hit = False
    async with Store.open(db, create=True) as store:
        for _ in range(rounds):
            started = time.perf_counter()
            result = (await Hasher(None).hash_many([path]))[path]
            cold.append(time.perf_counter() - started)
            digest = result.digests["blake3"]
        assert result.key is not None
        await store.remember_digests([(result.key, "blake3", digest, path)])
        for _ in range(rounds):
            started = time.perf_counter()
            cached = (await Hasher(store).hash_many([path]))[path]
            warm.append(time.perf_counter() - started)
            hit = cached.cached and cached.digests["blake3"] == digest
    return statistics.median(cold), statistics.median(warm), digest, hit


def _time(fn: Callable[[], str], rounds: int) -> tuple[float, str]:
    samples = []
    value = ""
    for _ in range(rounds):
        started = time.perf_counter()
        value = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), value


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mb << 20
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.bin")
        block = os.urandom(64 << 20)
        with open(path, "wb") as handle:
            for offset in range(0, size, len(block)):
                handle.write(block[: min(len(block), size - offset)])
        _single(path)  # page-cache it
        db = Path(tmp) / "roar.db"
        t_limit, d_limit = _time(lambda: _limit(path), args.rounds)
        t_single, d_single = _time(lambda: _single(path), args.rounds)
        t_roar, t_cached, d_roar, hit = anyio.run(_roar_rounds, path, db, args.rounds)
    assert d_limit == d_single == d_roar, "digests differ"
    assert hit, "the second roar hash did not come from the cache"
    gbps = lambda seconds: size / seconds / 1e9  # noqa: E731
    print(f"file: {args.size_mb} MiB, page-cached, {os.cpu_count()} CPUs, median of {args.rounds}")
    print(f"blake3 AUTO update_mmap (limit): {gbps(t_limit):6.2f} GB/s")
    print(f"blake3 single-thread chunked:    {gbps(t_single):6.2f} GB/s")
    print(
        f"roar Hasher, cold:               {gbps(t_roar):6.2f} GB/s  "
        f"ratio to limit {t_limit / t_roar:.2f}"
    )
    print(
        f"roar Hasher, cache hit:          {t_cached * 1000:8.2f} ms  "
        f"({t_cached / t_roar:.4f} of cold)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
