#!/usr/bin/env python3
"""Benchmark: roar's BLAKE3 subtree hasher (multipart parts) vs the blake3 package, same run.

The proxy hashes each multipart part as a BLAKE3 subtree (``roar.hashing._b3tree``, C with an
AVX2 eight-chunk path) so parts can arrive in any order; whole objects use the ``blake3``
package (Rust, SIMD). Both hash the same buffer on one thread; best of --rounds.

    .venv/bin/python scripts/bench/b3tree.py [--size-mb 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import blake3

import roar.hashing._b3tree as b3tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = os.urandom(args.size_mb << 20)
    best = {"subtree": 0.0, "blake3": 0.0}
    for _ in range(args.rounds):
        started = time.perf_counter()
        tree = b3tree.Subtree(chunk_offset=1 << 20)
        tree.update(data)
        tree.output()
        best["subtree"] = max(best["subtree"], len(data) / (time.perf_counter() - started) / 1e6)
        started = time.perf_counter()
        blake3.blake3(data, max_threads=1).digest()
        best["blake3"] = max(best["blake3"], len(data) / (time.perf_counter() - started) / 1e6)
    ratio = best["subtree"] / best["blake3"]
    print(
        f"{args.size_mb} MiB, one thread, best of {args.rounds}: subtree {best['subtree']:.0f} "
        f"MB/s, blake3 package {best['blake3']:.0f} MB/s: {ratio:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
