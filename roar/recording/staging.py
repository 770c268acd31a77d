"""Putting a job's files in the store while its command runs (the store side is
``roar.store._staging``): the store transaction that follows the command then only links them.

Files arrive as they are hashed: inputs as first read, outputs as closed. One flush at a time
writes everything that arrived since the last: when files come slowly each is in the store
moments after it is hashed; when they come fast (20,000 small outputs) the batches grow instead
of the transactions multiplying, since each transaction costs about as much for 256 files as
for thousands (every new artifact touches a random page of each digest index).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from roar.hashing import HashResult
from roar.models import FileDigest
from roar.store import Store
from roar.store._staging import Staging


def file_digest(shown: str, result: HashResult) -> FileDigest:
    """The record of a hashed file, as a job's input or output, at the path ``shown``."""
    found = result.digests
    # blake3 alone, mostly: a single entry is in order already.
    hashes = dict(found) if len(found) == 1 else dict(sorted(found.items()))
    return FileDigest(path=shown, hash=found["blake3"], size=result.size, hashes=hashes)


class Stager:
    """Hands a running job's hashed files to the store, coalescing while a flush runs."""

    __slots__ = ("_flushing", "_pending", "_shown", "staging", "store")

    def __init__(self, store: Store, job_uid: str, shown: Callable[[str], str]) -> None:
        self.store = store
        self._shown = shown
        self.staging = Staging(job_uid)
        self._pending: dict[str, list[FileDigest]] = {"job_inputs": [], "job_outputs": []}
        self._flushing = False

    async def add(self, table: str, results: Iterable[tuple[str, HashResult]]) -> None:
        """Stage the hashed files of ``results`` (path, result) as ``table``'s; returns once
        they, or a later flush that will take them, are under way."""
        if self.staging.broken is not None:
            return
        shown = self._shown
        self._pending[table].extend(
            file_digest(shown(path), res) for path, res in results if res.error is None
        )
        if self._flushing:
            return  # the running flush takes them next
        self._flushing = True
        try:
            while any(self._pending.values()):
                for name, files in self._pending.items():
                    if files:
                        self._pending[name] = []
                        await self.store.stage(self.staging, name, files)
        finally:
            self._flushing = False
