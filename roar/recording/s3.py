"""S3 requests seen by the proxy, as a job's inputs and outputs (pure).

Several requests may touch one object (a HEAD then a GET, many ranged GETs, the parts of a
multipart upload): they become one edge per (direction, object), carrying the object's ETag, its
BLAKE3 when some request streamed all of its bytes, and the byte ranges read when none did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from roar.models import ETAG_PREFIX, FileDigest

if TYPE_CHECKING:
    from roar.proxy import S3Event


@dataclass
class _Edge:
    size: int = 0
    etag: str | None = None
    blake3: str | None = None
    blake3_of_parts: str | None = None
    whole: bool = False
    ranges: set[tuple[int, int]] = field(default_factory=set)


def s3_edges(events: Iterable[S3Event]) -> tuple[list[FileDigest], list[FileDigest], list[str]]:
    """(inputs, outputs, deleted object URLs) of a job from its proxy events, first seen first."""
    edges: dict[tuple[str, str], _Edge] = {}
    deleted: list[str] = []
    for event in events:
        if event.status >= 400:
            continue
        if event.direction == "delete":
            deleted.append(event.url)
            continue
        if event.op == "HeadObject":
            continue  # looking at an object is not reading it
        edge = edges.setdefault((event.direction, event.url), _Edge())
        edge.size = max(edge.size, event.size or 0, event.transferred)
        edge.etag = event.etag or edge.etag
        edge.blake3 = event.blake3 or edge.blake3
        edge.blake3_of_parts = event.blake3_of_parts or edge.blake3_of_parts
        if event.byte_ranges:
            edge.ranges.update(event.byte_ranges)
        else:
            edge.whole = True
    inputs: list[FileDigest] = []
    outputs: list[FileDigest] = []
    for (direction, url), edge in edges.items():
        if edge.blake3 is None and edge.etag is None:
            continue  # nothing identifies the content
        named = (
            ("blake3", edge.blake3),
            ("etag", edge.etag),
            # What a multipart object whose parts did not allow its BLAKE3 is known by.
            ("blake3-of-parts", None if edge.blake3 else edge.blake3_of_parts),
        )
        hashes = {k: v for k, v in named if v}
        digest = FileDigest(
            path=url,
            hash=edge.blake3 or f"{ETAG_PREFIX}{edge.etag}",
            size=edge.size,
            hashes=dict(sorted(hashes.items())),
            byte_ranges=() if edge.whole else tuple(sorted(edge.ranges)),
        )
        (inputs if direction == "input" else outputs).append(digest)
    return inputs, outputs, list(dict.fromkeys(deleted))
