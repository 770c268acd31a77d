"""The hashing progress bar: only on a terminal, only after a delay, never when disabled."""

from __future__ import annotations

import io
import sys
from functools import partial

import anyio
import pytest

from roar.hashing import _progress
from roar.hashing._progress import show_progress

pytestmark = pytest.mark.anyio


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def _drive(seconds: float, *, enabled: bool = True, total: int = 1 << 20) -> None:
    done = [0]
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(show_progress, total, lambda: done[0], enabled=enabled))
        await anyio.sleep(seconds / 2)
        done[0] = total // 2
        await anyio.sleep(seconds / 2)
        tg.cancel_scope.cancel()


async def test_a_bar_appears_on_a_terminal_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.05)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    await _drive(0.6)
    drawn = terminal.getvalue()
    assert "roar: hashing" in drawn
    assert "50%" in drawn  # it follows the bytes hashed


@pytest.mark.parametrize("case", ["too quick", "disabled", "not a terminal", "nothing to hash"])
async def test_no_bar(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0.2 if case == "too quick" else 0.01)
    stream = io.StringIO() if case == "not a terminal" else _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    await _drive(
        0.1,
        enabled=case != "disabled",
        total=0 if case == "nothing to hash" else 1 << 20,
    )
    assert stream.getvalue() == ""
