"""From one finished request/response exchange to lineage events (pure, no I/O).

The aiohttp handler only moves bytes and counts them; it then describes what passed in an
:class:`Exchange` and :func:`build_events` decides what, if anything, is lineage:

* GetObject / HeadObject -> input (HEAD carries size and ETag; the read that follows adds ranges)
* PutObject, CompleteMultipartUpload -> output (one artifact for the whole object)
* CopyObject -> input (the source) and output (the target); UploadPartCopy -> input (the source)
* DeleteObject, DeleteObjects -> delete, one event per key S3 did not report as failed
* anything else, and every 1xx/3xx/4xx/5xx answer (or a 200 carrying an ``<Error>``) -> nothing
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from roar.proxy._classify import (
    S3Call,
    content_range,
    copy_source,
    request_range,
)
from roar.proxy._event import Direction, S3Event
from roar.proxy._multipart import ObjectDigest
from roar.s3.xml import (
    read_complete_parts,
    read_delete_request,
    read_delete_result,
    read_result,
    unquote_etag,
)


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the handler saw of one request and its response (header names lower-case).

    ``request_bytes`` counts payload bytes after any aws-chunked decoding; ``request_blake3`` is
    set when the whole payload streamed through. ``response_bytes`` / ``response_blake3`` likewise
    for the response body, ``response_complete`` False when either side stopped mid-body.
    ``request_xml`` / ``response_xml`` are the kept bodies of the operations whose outcome is in
    XML (CompleteMultipartUpload, CopyObject, UploadPartCopy, DeleteObjects).
    ``copy_source_head`` is (size, ETag) of a copy's source, from a HEAD made after the copy.
    """

    call: S3Call
    request_headers: Mapping[str, str]
    status: int
    response_headers: Mapping[str, str]
    request_bytes: int = 0
    request_blake3: str | None = None
    response_bytes: int = 0
    response_blake3: str | None = None
    response_complete: bool = True
    request_xml: bytes = b""
    response_xml: bytes = b""
    multipart_size: int | None = None
    multipart_digest: ObjectDigest | None = None
    copy_source_head: tuple[int | None, str | None] | None = None


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def multipart_size(
    complete_request: bytes, parts: Mapping[int, tuple[int, str | None]]
) -> int | None:
    """Total size of the parts a CompleteMultipartUpload lists, from the UploadParts seen.

    ``parts`` maps part number to (size, ETag) of each UploadPart that passed through this proxy.
    None when any listed part was not seen (uploaded elsewhere, or by UploadPartCopy) or was
    uploaded again with different content since.
    """
    listed = read_complete_parts(complete_request)
    if not listed:
        return None
    total = 0
    for number, etag in listed:
        seen = parts.get(number)
        if seen is None or (etag is not None and seen[1] is not None and etag != seen[1]):
            return None
        total += seen[0]
    return total


def build_events(
    ex: Exchange, *, job_id: str | None, session_id: str | None, now: float
) -> list[S3Event]:
    """The lineage events of one exchange (often none). See the module docstring for the rules."""
    call = ex.call
    if not (200 <= ex.status < 300) or not call.tracked or call.bucket is None:
        return []
    headers = ex.response_headers
    version = headers.get("x-amz-version-id")
    event = _Maker(call.op, job_id, session_id, ex.status, now)
    bucket, key = call.bucket, call.key
    if call.op in {"GetObject", "HeadObject"}:
        assert key is not None
        return _read_events(ex, event, bucket, key, version)
    if call.op == "PutObject":
        assert key is not None
        return [
            event(
                "output",
                bucket,
                key,
                size=ex.request_bytes,
                etag=unquote_etag(headers.get("etag")),
                blake3=ex.request_blake3,
                version_id=version,
                transferred=ex.request_bytes,
            )
        ]
    if call.op == "CompleteMultipartUpload":
        assert key is not None
        result = read_result(ex.response_xml)
        if result.error:
            return []
        digest = ex.multipart_digest or ObjectDigest()
        return [
            event(
                "output",
                bucket,
                key,
                size=ex.multipart_size,
                etag=result.etag or unquote_etag(headers.get("etag")),
                blake3=digest.blake3,
                version_id=version,
                blake3_of_parts=digest.blake3_of_parts,
                digest_note=digest.note,
            )
        ]
    if call.op in {"CopyObject", "UploadPartCopy"}:
        assert key is not None
        result = read_result(ex.response_xml)
        source = copy_source(ex.request_headers.get("x-amz-copy-source", ""))
        if result.error or source is None:
            return []
        src_bucket, src_key, src_version = source
        src_range = request_range(ex.request_headers.get("x-amz-copy-source-range"))
        src_size, src_etag = ex.copy_source_head or (None, None)
        events = [
            event(
                "input",
                src_bucket,
                src_key,
                size=src_size,
                etag=src_etag,
                byte_ranges=(src_range,) if src_range else (),
                version_id=headers.get("x-amz-copy-source-version-id") or src_version,
            )
        ]
        if call.op == "CopyObject":
            events.append(
                event("output", bucket, key, size=src_size, etag=result.etag, version_id=version)
            )
        return events
    if call.op == "DeleteObject":
        assert key is not None
        return [event("delete", bucket, key, version_id=call.param("versionId") or version)]
    if call.op == "DeleteObjects":
        return _delete_events(ex, event, bucket)
    return []


def _read_events(
    ex: Exchange, event: _Maker, bucket: str, key: str, version: str | None
) -> list[S3Event]:
    headers = ex.response_headers
    etag = unquote_etag(headers.get("etag"))
    length = _int(headers.get("content-length"))
    rng = content_range(headers.get("content-range"))
    if ex.call.op == "HeadObject":
        size = rng[2] if rng else length
        return [event("input", bucket, key, size=size, etag=etag, version_id=version)]
    got = ex.response_bytes
    if rng is not None:
        first, last, total = rng
        if not ex.response_complete:
            if got == 0:
                return []
            last = first + got - 1
        return [
            event(
                "input",
                bucket,
                key,
                size=total,
                etag=etag,
                byte_ranges=((first, last),),
                version_id=version,
                transferred=got,
            )
        ]
    whole = ex.response_complete and (length is None or got == length)
    if not whole and got == 0:
        return []
    return [
        event(
            "input",
            bucket,
            key,
            size=length if length is not None else got,
            etag=etag,
            blake3=ex.response_blake3 if whole else None,
            byte_ranges=() if whole else ((0, got - 1),),
            version_id=version,
            transferred=got,
        )
    ]


def _delete_events(ex: Exchange, event: _Maker, bucket: str) -> list[S3Event]:
    requested = read_delete_request(ex.request_xml) or []
    outcome = read_delete_result(ex.response_xml)
    if outcome is None:
        return []
    deleted, failed = outcome
    events = [
        event("delete", bucket, key, version_id=version)
        for key, version in requested
        if key not in failed
    ]
    named = {key for key, _ in requested}
    events += [event("delete", bucket, key) for key in sorted(deleted - named)]
    return events


@dataclass(frozen=True, slots=True)
class _Maker:
    """Builds the events of one exchange: what they share is fixed once."""

    op: str
    job_id: str | None
    session_id: str | None
    status: int
    timestamp: float

    def __call__(
        self,
        direction: Direction,
        bucket: str,
        key: str,
        *,
        size: int | None = None,
        etag: str | None = None,
        blake3: str | None = None,
        byte_ranges: tuple[tuple[int, int], ...] = (),
        version_id: str | None = None,
        transferred: int = 0,
        blake3_of_parts: str | None = None,
        digest_note: str | None = None,
    ) -> S3Event:
        return S3Event(
            op=self.op,
            bucket=bucket,
            key=key,
            url=f"s3://{bucket}/{key}",
            direction=direction,
            status=self.status,
            timestamp=self.timestamp,
            size=size,
            etag=etag,
            blake3=blake3,
            byte_ranges=byte_ranges,
            job_id=self.job_id,
            session_id=self.session_id,
            version_id=version_id,
            transferred=transferred,
            blake3_of_parts=blake3_of_parts,
            digest_note=digest_note,
        )
