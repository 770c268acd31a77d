"""A progress bar for hashing that only shows up when it is worth looking at.

Nothing is drawn for the first second (most jobs finish hashing well before), never when stderr
is not a terminal, and never in quiet mode. tqdm is imported only when a bar is actually drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import anyio

DELAY_SECONDS = 1.0
REFRESH_SECONDS = 0.1


async def show_progress(
    total_bytes: int, done_bytes: Callable[[], int], *, enabled: bool, label: str = "hashing"
) -> None:
    """Run until cancelled: after DELAY_SECONDS draw a bar fed by ``done_bytes()``."""
    if not enabled or total_bytes <= 0 or not sys.stderr.isatty():
        return
    await anyio.sleep(DELAY_SECONDS)
    from tqdm import tqdm

    bar = tqdm(
        total=total_bytes,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"roar: {label}",
        leave=False,
        file=sys.stderr,
    )
    try:
        while True:
            bar.n = min(done_bytes(), total_bytes)
            bar.refresh()
            await anyio.sleep(REFRESH_SECONDS)
    finally:
        bar.close()
