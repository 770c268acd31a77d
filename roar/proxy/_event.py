"""`S3Event`: one lineage fact the proxy observed, and its JSON-lines encoding.

The schema evolves the msgspec way: new fields get defaults, nothing is retyped or removed, so a
``proxy-events.jsonl`` written by an older roar still decodes.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Direction = Literal["input", "output", "delete"]


class S3Event(msgspec.Struct, frozen=True, kw_only=True):
    """One S3 object read, written or deleted through the proxy by a successful request.

    ``size`` is the size of the whole object when the exchange revealed it (the body of a
    PutObject, ``Content-Length`` of a full GET, the total of a ``Content-Range``, the sum of the
    parts of a multipart upload), else None. ``byte_ranges`` lists the inclusive ``(first, last)``
    byte offsets that were transferred; it is empty when the whole object was. ``blake3`` is the
    BLAKE3 of the object's bytes, set only when every byte of the object streamed through the proxy
    (a single PutObject, a full GetObject read to the end). ``etag`` has its quotes removed; for a
    multipart object it is the ``<md5-of-md5s>-<parts>`` form, not a content digest.
    ``transferred`` counts the object bytes this request carried. For a multipart upload
    ``blake3`` is the whole object's, combined from the parts' BLAKE3 subtrees as they passed
    (see :mod:`roar.proxy._multipart`); when the parts did not allow it, ``blake3_of_parts``
    and ``digest_note`` say what was hashed instead.
    """

    op: str
    bucket: str
    key: str
    url: str
    direction: Direction
    status: int
    timestamp: float
    size: int | None = None
    etag: str | None = None
    blake3: str | None = None
    byte_ranges: tuple[tuple[int, int], ...] = ()
    job_id: str | None = None
    session_id: str | None = None
    version_id: str | None = None
    transferred: int = 0
    # A multipart object whose true BLAKE3 could not be had from its parts: the BLAKE3 of its
    # parts' BLAKE3 digests in part order when every part was hashed on its own, and in
    # ``digest_note`` what was (or was not) hashed, and why.
    blake3_of_parts: str | None = None
    digest_note: str | None = None


_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(S3Event)


def encode_event(event: S3Event) -> bytes:
    """The event as one JSON line, newline included (stable key order)."""
    return _encoder.encode(event) + b"\n"


def decode_event(line: bytes | str) -> S3Event:
    """Decode one JSON line; raises :class:`msgspec.ValidationError` / ``DecodeError``."""
    return _decoder.decode(line)
