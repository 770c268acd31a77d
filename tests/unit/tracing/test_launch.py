"""The one start/end path every backend runs its command through (roar.tracing._launch)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from roar.tracing._launch import launched

pytestmark = pytest.mark.anyio


def _ignore(_: int) -> None:
    pass


def _launched(
    command: list[str], cwd: Path, on_abandon: Callable[[Process], None]
) -> AbstractAsyncContextManager[Process]:
    """``launched`` with no environment and the signal callbacks ignored."""
    return launched(
        command,
        env={},
        cwd=cwd,
        on_interrupt=_ignore,
        on_forward=_ignore,
        on_abandon=on_abandon,
    )


async def test_a_block_left_early_ends_the_process_through_on_abandon(tmp_path: Path) -> None:
    abandoned: list[int] = []

    def abandon(process: Process) -> None:
        abandoned.append(process.pid)
        process.kill()

    seen: Process | None = None
    with anyio.move_on_after(0.5):
        async with _launched(
            [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, abandon
        ) as process:
            seen = process
            await process.wait()  # cancelled by the deadline while the command sleeps
    assert seen is not None
    assert abandoned == [seen.pid]
    # Waited for, not left behind: its exit status is known once the block is gone.
    assert seen.returncode is not None and seen.returncode < 0


async def test_a_finished_block_waits_without_abandoning(tmp_path: Path) -> None:
    abandoned: list[Process] = []
    async with _launched(
        [sys.executable, "-c", "raise SystemExit(3)"], tmp_path, abandoned.append
    ) as process:
        pass  # the block leaves at once; the process is still waited for
    assert process.returncode == 3
    assert abandoned == []


async def test_a_command_that_cannot_start_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        async with _launched([str(tmp_path / "missing")], tmp_path, lambda _p: None):
            pass


async def test_an_error_in_the_block_is_raised_as_itself_after_ending_the_process(
    tmp_path: Path,
) -> None:
    abandoned: list[Process] = []

    def abandon(process: Process) -> None:
        abandoned.append(process)
        process.kill()

    with pytest.raises(ValueError, match="stream broke"):
        async with _launched(
            [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, abandon
        ):
            raise ValueError("stream broke")
    assert len(abandoned) == 1 and abandoned[0].returncode is not None
