"""The preload shim's shared-memory record ring, roar's side: made, drained, woken.

The shim copies each record into one ring file that every process of the traced tree maps
(``ext/ring.h`` has the protocol, ``ext/preload/ring.c`` the writers), instead of one sendmsg(2)
per record. roar creates the file in the trace's private directory, drains it in bulk, and
sleeps on the socket when it is empty: a writer that finds roar asleep sends a one-byte wake-up
on its connection (the connection readers in ``preload`` pass those on as :meth:`Ring.wake`).

The reader is compiled (``roar.tracing._ring``): without it there is no ring, and the shim sends
every record on the socket as before.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path

import anyio

from roar.tracing.decoder import Decoder
from roar.tracing.wire import Record

ENV_RING = "ROAR_PRELOAD_RING"  # the ring file the shim maps (ext/preload/shim.h)
# roar's own setting: the ring's size (tests); "0" makes no ring (the shim then sends each record
# on the socket: the A/B in scripts/bench/preload_ring.py).
ENV_RING_BYTES = "ROAR_PRELOAD_RING_BYTES"
DEFAULT_BYTES = 8 << 20  # ~80,000 typical records before a writer has to wait for roar
MIN_BYTES = 8192
# A writer wakes roar when it sleeps; this is only the safety net (a wake-up lost to a full
# socket buffer), so it can be long.
IDLE_POLL_SECONDS = 0.05
# While records keep coming, let them pile up a moment between drains (as the socket readers do).
BATCH_DELAY_SECONDS = 0.002

_CONTROL = struct.Struct("=QQ")  # magic, capacity (the rest of the control block starts at 0)


def _reader() -> type | None:
    if os.environ.get("ROAR_NO_EXTENSIONS"):
        return None
    try:
        from roar.tracing._ring import RingView
    except ImportError:
        return None
    view_class: type = RingView
    return view_class


def _capacity() -> int:
    wanted = os.environ.get(ENV_RING_BYTES)
    size = int(wanted) if wanted and wanted.isdigit() else DEFAULT_BYTES
    size = max(size, MIN_BYTES)
    return 1 << (size - 1).bit_length()  # a power of two


class Ring:
    """One trace's ring: the file, its mapping, and the decoder its bytes go through."""

    def __init__(self, path: Path, mapping: mmap.mmap, view: object) -> None:
        self.path = path
        self._mapping = mapping
        self._view: object = view
        self._decoder = Decoder()
        self._woken = anyio.Event()

    @classmethod
    def create(cls, directory: str) -> Ring | None:
        """A new ring in ``directory`` (the trace's private one), or None without the reader."""
        view_class = _reader()
        if view_class is None or os.environ.get(ENV_RING_BYTES) == "0":
            return None
        from roar.tracing._ring import DATA_OFFSET, MAGIC

        capacity = _capacity()
        path = Path(directory) / "ring"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, DATA_OFFSET + capacity)  # sparse: pages appear as they are used
            os.pwrite(fd, _CONTROL.pack(MAGIC, capacity), 0)
            mapping = mmap.mmap(fd, DATA_OFFSET + capacity)
        finally:
            os.close(fd)
        return cls(path, mapping, view_class(mapping))

    def env(self) -> dict[str, str]:
        return {ENV_RING: str(self.path)}

    def wake(self) -> None:
        """A writer found roar asleep (a one-byte message on a connection)."""
        self._woken.set()

    def drain(
        self, deliver: Callable[[list[Record]], None], *, final: bool = False
    ) -> tuple[int, int]:
        """Hand every complete record to ``deliver``: (bytes drained, slots lost to dead
        writers)."""
        data, lost = self._view.drain(final)  # type: ignore[attr-defined]
        if data:
            records = self._decoder.feed(data)
            if records:
                deliver(records)
        lost_slots: int = lost
        return len(data), lost_slots

    async def serve(
        self, deliver: Callable[[list[Record]], None], add_lost: Callable[[int], None]
    ) -> None:
        """Drain as records come, until cancelled (then the owner drains one final time)."""
        view = self._view
        while True:
            drained, lost = self.drain(deliver)
            if lost:
                add_lost(lost)
            if drained or view.pending():  # type: ignore[attr-defined]
                # Records are flowing: let them pile up a moment and take them in one go.
                # Asking for a wake-up now would cost the writers a message per record.
                await anyio.sleep(BATCH_DELAY_SECONDS)
                continue
            if view.arm():  # type: ignore[attr-defined]
                continue  # something arrived while arming: no sleeping on it
            with anyio.move_on_after(IDLE_POLL_SECONDS):
                await self._woken.wait()
            self._woken = anyio.Event()
            view.disarm()  # type: ignore[attr-defined]

    def finish(
        self, deliver: Callable[[list[Record]], None], add_lost: Callable[[int], None]
    ) -> None:
        """The tree has ended: everything left, and a count of what cannot be read, including
        the records writers gave up on (roar did not drain for ROAR_RING_WAIT_SECONDS)."""
        _, lost = self.drain(deliver, final=True)
        lost += int(self._view.given_up)  # type: ignore[attr-defined]
        if lost:
            add_lost(lost)
        if self._decoder.pending:
            add_lost(1)

    def close(self) -> None:
        release = getattr(self._view, "release", None)
        if release is not None:
            release()
        self._mapping.close()
