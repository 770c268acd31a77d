"""The few S3 XML documents the proxy and `roar get`/`roar put` read or write (pure).

Read: CompleteMultipartUpload requests (which parts) and results (final ETag), CopyObject and
UploadPartCopy results, DeleteObjects requests and results, ListObjectsV2 pages, the upload id of
a new multipart upload, and ``<Error>`` documents. S3 may answer with ``200 OK`` and an
``<Error>`` document, so each result reader reports an error root as a failure. Written: the
``<Error>`` body of responses the proxy makes itself, in the shape boto3 parses into
``ClientError(Code, Message)``, and the CompleteMultipartUpload request of an upload.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

# Bodies kept for parsing are capped: CompleteMultipartUpload lists at most 10,000 parts and
# DeleteObjects at most 1,000 keys, both well under this.
MAX_XML_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class XmlResult:
    """What a result document said: an error code, or an ETag (unquoted)."""

    error: str | None = None
    etag: str | None = None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _parse(body: bytes) -> ET.Element | None:
    if not body.strip() or len(body) > MAX_XML_BYTES:
        return None
    try:
        return ET.fromstring(body)
    except ET.ParseError:
        return None


def _child_text(element: ET.Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


def unquote_etag(value: str | None) -> str | None:
    """An ETag without its surrounding quotes (S3 sends ``"…"``; the XML may use ``&quot;``)."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"')
    return value or None


def read_result(body: bytes) -> XmlResult:
    """Read a CompleteMultipartUploadResult / CopyObjectResult / CopyPartResult document."""
    root = _parse(body)
    if root is None:
        return XmlResult(error="unreadable result")
    if _local(root.tag) == "Error":
        return XmlResult(error=_child_text(root, "Code") or "Error")
    return XmlResult(etag=unquote_etag(_child_text(root, "ETag")))


def read_complete_parts(body: bytes) -> list[tuple[int, str | None]] | None:
    """``(PartNumber, ETag)`` pairs of a CompleteMultipartUpload request, or None if unreadable."""
    root = _parse(body)
    if root is None:
        return None
    parts: list[tuple[int, str | None]] = []
    for part in root:
        if _local(part.tag) != "Part":
            continue
        number = _child_text(part, "PartNumber")
        if number is None or not number.isdigit():
            return None
        parts.append((int(number), unquote_etag(_child_text(part, "ETag"))))
    return parts


def read_delete_request(body: bytes) -> list[tuple[str, str | None]] | None:
    """``(Key, VersionId)`` pairs a DeleteObjects request names, or None if unreadable."""
    root = _parse(body)
    if root is None:
        return None
    keys: list[tuple[str, str | None]] = []
    for item in root:
        if _local(item.tag) == "Object":
            key = _child_text(item, "Key")
            if key is None:
                return None
            keys.append((key, _child_text(item, "VersionId") or None))
    return keys


def read_delete_result(body: bytes) -> tuple[set[str], set[str]] | None:
    """Keys reported ``<Deleted>`` and keys reported as ``<Error>`` by DeleteObjects."""
    root = _parse(body)
    if root is None or _local(root.tag) != "DeleteResult":
        return None
    deleted: set[str] = set()
    failed: set[str] = set()
    for item in root:
        key = _child_text(item, "Key")
        if key is None:
            continue
        if _local(item.tag) == "Deleted":
            deleted.add(key)
        elif _local(item.tag) == "Error":
            failed.add(key)
    return deleted, failed


def read_error(body: bytes) -> tuple[str, str]:
    """``(Code, Message)`` of an ``<Error>`` document; ``("", "")`` when ``body`` is not one."""
    root = _parse(body)
    if root is None or _local(root.tag) != "Error":
        return "", ""
    return _child_text(root, "Code") or "", _child_text(root, "Message") or ""


@dataclass(frozen=True, slots=True)
class ListPage:
    """One ListObjectsV2 page: (Key, Size, ETag) per object, and the token of the next page."""

    objects: list[tuple[str, int, str | None]]
    next_token: str | None


def read_list_page(body: bytes) -> ListPage | None:
    """A ListObjectsV2 result, or None if unreadable."""
    root = _parse(body)
    if root is None or _local(root.tag) != "ListBucketResult":
        return None
    objects: list[tuple[str, int, str | None]] = []
    for item in root:
        if _local(item.tag) == "Contents":
            key, size = _child_text(item, "Key"), _child_text(item, "Size") or "0"
            if key is None or not size.isdigit():
                return None
            objects.append((key, int(size), unquote_etag(_child_text(item, "ETag"))))
    truncated = (_child_text(root, "IsTruncated") or "").lower() == "true"
    return ListPage(objects, _child_text(root, "NextContinuationToken") if truncated else None)


def read_upload_id(body: bytes) -> str | None:
    """The UploadId of an InitiateMultipartUpload result."""
    root = _parse(body)
    return None if root is None else _child_text(root, "UploadId") or None


def complete_request(etags: dict[int, str]) -> bytes:
    """The CompleteMultipartUpload request naming each part's ETag, in part order."""
    parts = "".join(
        f'<Part><PartNumber>{n}</PartNumber><ETag>"{escape(etags[n])}"</ETag></Part>'
        for n in sorted(etags)
    )
    return f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()


def error_body(code: str, message: str, resource: str = "") -> bytes:
    """An S3 ``<Error>`` document; boto3 shows it as ``An error occurred (code) … : message``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>roar-proxy</RequestId></Error>"
    ).encode()
