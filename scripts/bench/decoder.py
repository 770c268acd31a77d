#!/usr/bin/env python3
"""Benchmark: decoding tracer events, the Cython decoder vs its pure-Python twin, same data.

Builds a stream of OPEN records with 40-byte paths (72 bytes each, what a busy job sends), feeds
it in 1 MiB chunks, and prints events per second for both. Target (issue 3): >= 2 million/s.

    .venv/bin/python scripts/bench/decoder.py [--events 1000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from roar.tracing import wire
from roar.tracing._decoder_py import Decoder as PyDecoder


def _rate(decoder_class: type, chunks: list[bytes], events: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        decoder = decoder_class()
        started = time.perf_counter()
        count = sum(len(decoder.feed(chunk)) for chunk in chunks)
        samples.append(time.perf_counter() - started)
        assert count == events, count
    return events / statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    records = [
        wire.encode_record(
            wire.EVK_OPEN,
            pid=1000 + i % 50,
            tid=1000 + i % 50,
            arg0=0o1101,
            arg1=3,
            path1=f"/work/project/data/shard-{i % 100000:06d}/x.bin".ljust(40, "x")[:40],
        )
        for i in range(args.events)
    ]
    stream = b"".join(records)
    chunks = [stream[i : i + (1 << 20)] for i in range(0, len(stream), 1 << 20)]
    print(
        f"{args.events} records of {len(records[0])} bytes, 1 MiB chunks, median of {args.rounds}"
    )
    try:
        from roar.tracing._decoder import Decoder as CDecoder
    except ImportError:
        print("Cython decoder: not built (pip install . builds it)")
    else:
        rate = _rate(CDecoder, chunks, args.events, args.rounds)
        print(f"Cython decoder: {rate / 1e6:.2f} M events/s")
    print(
        f"pure Python:    {_rate(PyDecoder, chunks, args.events, args.rounds) / 1e6:.2f} M events/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
