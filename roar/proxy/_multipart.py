"""The whole object's BLAKE3 for a multipart upload, from parts that arrive in any order.

Each UploadPart is hashed as it streams through, never buffered: as a BLAKE3 subtree placed
where the part sits in the object when that place is knowable, else as a digest of its own.
At CompleteMultipartUpload the listed parts decide what the object's record can say:

* every part a subtree in the right place -> the object's true BLAKE3 (``blake3``);
* every part hashed on its own -> ``blake3-of-parts``, the BLAKE3 of the parts' 32-byte
  digests in part order (a digest of the object's content, not its BLAKE3), and a note why;
* anything else (a part copied server-side, uploaded around the proxy, or placed on a wrong
  guess) -> no digest, and a note naming the reason.

A part's place is ``(number - 1) * P`` where ``P`` is the upload's part size: part 1's size,
when it is a power-of-two number of KiB (as boto3's 8 MiB default and every power-of-two
chunk size are). Parts sent concurrently wait (briefly) for part 1 to name ``P``; if it never
comes, a power-of-two part is taken for a full one, anything else is hashed on its own.
Plain functions and data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from roar.hashing.tree import CHUNK_LEN, combine, subtree_sized


@dataclass(frozen=True, slots=True)
class PartHashing:
    """How one UploadPart is hashed: as a subtree at ``chunk_offset``, or on its own."""

    subtree: bool
    chunk_offset: int = 0
    part_size: int | None = None  # the upload's full-part size this placement assumed


@dataclass(frozen=True, slots=True)
class PartRecord:
    """What the proxy kept of one UploadPart that passed whole."""

    size: int
    etag: str | None
    hashing: PartHashing
    output: bytes | None = None  # the subtree's final node (subtree hashing)
    digest: bytes | None = None  # the part's own BLAKE3 (hashing on its own)

    def own_digest(self) -> bytes | None:
        """The part's own BLAKE3: hashed on its own, or a subtree at the object's start."""
        if self.digest is not None:
            return self.digest
        if self.output is not None and self.hashing.chunk_offset == 0:
            import roar.hashing._b3tree as _b3tree

            return bytes(_b3tree.root_hash(self.output))
        return None


@dataclass(frozen=True, slots=True)
class ObjectDigest:
    """What a completed multipart object's record carries about its content."""

    blake3: str | None = None
    blake3_of_parts: str | None = None
    note: str | None = None


def plan_part(
    number: int, size: int, part_size: int | None, *, first_part_seen: bool = True
) -> PartHashing:
    """How to hash part ``number`` of ``size`` bytes.

    ``part_size`` is the upload's full-part size: part 1's size when that is a power-of-two
    number of KiB (part 1 is always a full part), None otherwise. When part 1 has not been
    seen (``first_part_seen`` False: it is late, or was sent around the proxy), a part of a
    power-of-two size is taken for a full one.
    """
    if number == 1:
        # The first part starts the object: its place is known whatever its size.
        return PartHashing(True, 0, size if subtree_sized(size) else None)
    if part_size is not None:
        if size <= part_size:
            return PartHashing(True, (number - 1) * part_size // CHUNK_LEN, part_size)
        return PartHashing(False)
    if not first_part_seen and subtree_sized(size):
        return PartHashing(True, (number - 1) * size // CHUNK_LEN, size)
    return PartHashing(False)


def object_digest(listed: Sequence[int], parts: Mapping[int, PartRecord]) -> ObjectDigest:
    """The record of the object the listed parts (numbers, in order) make up."""
    if not listed:
        return ObjectDigest(note="the completion listed no parts")
    records = []
    for number in listed:
        record = parts.get(number)
        if record is None:
            return ObjectDigest(
                note=f"part {number} did not pass through the proxy whole (uploaded elsewhere,"
                " copied server-side, or cut off): the object was not hashed"
            )
        records.append(record)
    sizes = [r.size for r in records]
    if all(r.hashing.subtree and r.output is not None for r in records):
        reason = _placement_problem(listed, records)
        if reason is None:
            try:
                return ObjectDigest(blake3=combine([r.output for r in records if r.output], sizes))
            except ValueError as exc:
                reason = str(exc)
        return ObjectDigest(note=f"whole-object BLAKE3 not computed: {reason}")
    own = [r.own_digest() for r in records]
    if all(d is not None for d in own):
        import blake3

        joined = b"".join(d for d in own if d is not None)
        return ObjectDigest(
            blake3_of_parts=blake3.blake3(joined).hexdigest(),
            note="whole-object BLAKE3 not computed: the parts are not equal power-of-two "
            f"sizes of KiB ({_sizes_text(sizes)}); blake3-of-parts is the BLAKE3 of the parts' "
            "BLAKE3 digests in part order",
        )
    return ObjectDigest(
        note="whole-object BLAKE3 not computed: a part arrived long before part 1, "
        "so its place in the object was unknown"
    )


def _placement_problem(listed: Sequence[int], records: Sequence[PartRecord]) -> str | None:
    if list(listed) != list(range(1, len(listed) + 1)):
        return "the parts are not numbered 1, 2, 3... without gaps"
    if len(records) == 1:
        return None if records[0].hashing.chunk_offset == 0 else "part 1 was misplaced"
    full = records[0].size
    for number, record in zip(listed, records, strict=True):
        expected = (number - 1) * full // CHUNK_LEN
        if record.hashing.chunk_offset != expected:
            return f"part {number} was hashed for another place (its part size was guessed)"
    return None


def _sizes_text(sizes: Sequence[int]) -> str:
    distinct = sorted(set(sizes), reverse=True)
    shown = ", ".join(f"{s:,}" for s in distinct[:3])
    return f"part sizes {shown} bytes" if len(distinct) > 1 else f"part size {shown} bytes"
