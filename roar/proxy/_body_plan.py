"""How a request's body and headers cross the proxy (pure): the plan the handler then executes.

Four body modes:

``none``      no body (GET, HEAD, DELETE...).
``raw``       the bytes go through unchanged with the client's ``Content-Length``. If the client
              signed a SHA-256 of them, the proxy signs with the same hash, so S3 still verifies
              the payload end to end; otherwise ``UNSIGNED-PAYLOAD``.
``decode``    aws-chunked without trailers: the framing (and its chunk signatures, which only the
              client's signing key could continue) is removed and the raw payload is sent with
              ``Content-Length: x-amz-decoded-content-length`` and ``UNSIGNED-PAYLOAD``.
``reencode``  aws-chunked with trailing checksums: decoded as above, then re-framed as
              ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` in fixed 64 KiB chunks whose encoded length
              is known up front, carrying the client's trailers (minus its trailer signature).
              S3 verifies and stores the checksum exactly as if the client had sent it, which a
              multipart upload created with a checksum algorithm requires of every part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from roar.proxy._chunked import (
    STREAMING_PREFIX,
    TRAILER_VALUE_LENGTHS,
    UNSIGNED_TRAILER,
    encoded_length,
    trailer_names,
)
from roar.proxy._classify import (
    MalformedRequest,
    forward_request_headers,
)
from roar.s3.signing import UNSIGNED_PAYLOAD

REENCODE_CHUNK = 64 * 1024
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class BodyPlan:
    """What to send upstream: mode, exact ``Content-Length``, payload hash and headers."""

    mode: str  # "none" | "raw" | "decode" | "reencode"
    length: int | None  # Content-Length upstream (None: send no Content-Length)
    payload_length: int  # payload bytes the client will send once decoded
    payload_hash: str
    headers: list[tuple[str, str]]  # forwarded headers, lower-case names
    trailers: tuple[str, ...] = ()


def _length(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit():
        raise MalformedRequest(f"{what} must be a number of bytes, got {value[:40]!r}")
    return int(value)


def plan_body(method: str, headers: list[tuple[str, str]]) -> BodyPlan:
    """Decide how to forward a request, from its method and headers (any case)."""
    lower = [(k.lower(), v) for k, v in headers]
    first = dict(reversed(lower))
    forwarded = forward_request_headers(lower)
    declared = _length(first.get("content-length"), "Content-Length")
    chunked_transfer = "chunked" in first.get("transfer-encoding", "").lower()
    content_sha = first.get("x-amz-content-sha256", "").strip()
    encodings = [e.strip() for e in first.get("content-encoding", "").split(",") if e.strip()]
    aws_chunked = content_sha.startswith(STREAMING_PREFIX) or "aws-chunked" in encodings

    if not aws_chunked:
        if declared is None and chunked_transfer:
            raise MalformedRequest(
                "S3 needs a Content-Length (or aws-chunked with x-amz-decoded-content-length)",
                code="MissingContentLength",
                status=411,
            )
        size = declared or 0
        has_body = size > 0 or method.upper() in {"PUT", "POST"}
        payload_hash = content_sha if _SHA256_HEX.match(content_sha) else UNSIGNED_PAYLOAD
        return BodyPlan(
            mode="raw" if size > 0 else "none",
            length=size if has_body else None,
            payload_length=size,
            payload_hash=payload_hash,
            headers=forwarded,
        )

    decoded = _length(first.get("x-amz-decoded-content-length"), "x-amz-decoded-content-length")
    if decoded is None:
        raise MalformedRequest(
            "an aws-chunked upload needs x-amz-decoded-content-length",
            code="MissingContentLength",
            status=411,
        )
    others = [e for e in encodings if e.lower() != "aws-chunked"]
    forwarded = [(k, v) for k, v in forwarded if k not in {"content-encoding", "x-amz-trailer"}]
    names = trailer_names(first.get("x-amz-trailer"))
    names = [n for n in names if n != "x-amz-trailer-signature"]
    unknown = [n for n in names if n not in TRAILER_VALUE_LENGTHS]
    if unknown:
        raise MalformedRequest(
            f"the roar proxy cannot forward the trailer {unknown[0]}",
            code="NotImplemented",
            status=501,
        )
    if not names:
        if others:
            forwarded.append(("content-encoding", ",".join(others)))
        return BodyPlan(
            mode="decode",
            length=decoded,
            payload_length=decoded,
            payload_hash=UNSIGNED_PAYLOAD,
            headers=forwarded,
        )
    forwarded += [
        ("content-encoding", ",".join([*others, "aws-chunked"])),
        ("x-amz-decoded-content-length", str(decoded)),
        ("x-amz-trailer", ",".join(names)),
    ]
    return BodyPlan(
        mode="reencode",
        length=encoded_length(decoded, REENCODE_CHUNK, names),
        payload_length=decoded,
        payload_hash=UNSIGNED_TRAILER,
        headers=forwarded,
        trailers=tuple(names),
    )
