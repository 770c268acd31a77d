"""Pure S3 request analysis: which operation, which bucket and key, where to forward it.

Nothing here does I/O. The handler hands in the request line and headers exactly as received and
gets back an :class:`S3Call`; the same module builds the upstream URL and the header sets that
cross the proxy in each direction.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Operations whose successful responses are lineage (see roar.proxy._record).
TRACKED_OPS = frozenset(
    {
        "GetObject",
        "HeadObject",
        "PutObject",
        "CopyObject",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "DeleteObject",
        "DeleteObjects",
    }
)

# Query parameters that carry a presigned URL's authentication: the proxy re-signs in headers, so
# they are dropped before forwarding (and never reach a log or an event).
_AUTH_QUERY = frozenset(
    {
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-signature",
        "x-amz-security-token",
        "awsaccesskeyid",
        "signature",
        "expires",
    }
)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# Client headers never forwarded: hop-by-hop ones, the client's own signature (the proxy signs
# again with its credentials), lengths the proxy sets itself, and roar's attribution headers.
_REQUEST_DROP = HOP_BY_HOP | {
    "host",
    "content-length",
    "expect",
    "authorization",
    "date",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-amz-decoded-content-length",
    "roar-job-id",
    "roar-session-id",
}

_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}

# Sub-resources that turn a GET/PUT/DELETE on a key into a metadata operation (no object bytes).
_KEY_SUBRESOURCES = {
    "acl": "Acl",
    "tagging": "Tagging",
    "attributes": "Attributes",
    "legal-hold": "LegalHold",
    "retention": "Retention",
    "torrent": "Torrent",
    "restore": "Restore",
    "select": "Select",
}

_AWS_HOST = re.compile(
    r"^(?:(?P<bucket>.+?)\.)?s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com(?:\.cn)?$", re.IGNORECASE
)
_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class MalformedRequest(ValueError):
    """The request cannot be forwarded as it is; becomes an S3 XML error (400 unless told)."""

    def __init__(self, message: str, *, code: str = "InvalidRequest", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class S3Call:
    """What one incoming request asks of S3, with the client's addressing undone."""

    op: str
    bucket: str | None
    key: str | None
    query: tuple[tuple[str, str | None], ...]
    style: str  # "path" | "virtual"

    def param(self, name: str) -> str | None:
        """The value of query parameter ``name`` ('' for a bare ``?name``), else None."""
        for key, value in self.query:
            if key == name:
                return "" if value is None else value
        return None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key is not None else f"s3://{self.bucket}"

    @property
    def tracked(self) -> bool:
        return self.op in TRACKED_OPS

    @property
    def loggable(self) -> str:
        """Operation and target for a log line: no query string, so no presigned secrets, and
        control characters in keys escaped (a key may hold a newline or a terminal escape: it
        must not forge log lines or drive the terminal of whoever reads the log)."""
        target = self.url if self.bucket is not None else "(service)"
        return f"{self.op} {escape_controls(target)}"


def escape_controls(text: str) -> str:
    """``text`` with C0/C1 control characters and DEL as ``\\xNN`` (backslashes doubled, so the
    escaped form is unambiguous)."""
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # a lone surrogate (undecodable bytes): not writable
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def split_host(host: str) -> str:
    """The host name of a ``Host`` header, without port or IPv6 brackets, lower-cased."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def virtual_bucket(host: str, bases: Iterable[str] = ("localhost",)) -> str | None:
    """The bucket named by a virtual-host-style ``Host`` (``bucket.localhost:9090``), else None.

    IP literals and bare base names are path-style. ``bases`` are the names the proxy is reached
    by; AWS host names (``bucket.s3.us-east-1.amazonaws.com``) are recognised as well, so a client
    whose DNS points AWS at the proxy also works.
    """
    name = split_host(host)
    if not name or _is_ip(name):
        return None
    for base in bases:
        if name.endswith("." + base):
            return name[: -len(base) - 1]
    match = _AWS_HOST.match(name)
    if match and match.group("bucket"):
        return match.group("bucket")
    return None


def _decode(text: str, what: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise MalformedRequest(f"the {what} is not valid UTF-8 once percent-decoded") from None


def parse_query(query: str) -> tuple[tuple[str, str | None], ...]:
    """Decode a query string into pairs (``None`` for a bare name), minus presigned-URL auth."""
    pairs: list[tuple[str, str | None]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        key = _decode(name, "query string")
        if key.lower() in _AUTH_QUERY:
            continue
        pairs.append((key, _decode(value, "query string") if sep else None))
    return tuple(pairs)


def classify(
    method: str,
    host: str,
    target: str,
    headers: Mapping[str, str],
    *,
    bases: Iterable[str] = ("localhost",),
) -> S3Call:
    """Name the S3 operation of a request from its method, ``Host``, request target and headers.

    ``target`` is the raw request target (percent-encoded path and query). ``headers`` must have
    lower-case names. Raises :class:`MalformedRequest` when no S3 request looks like this.
    """
    method = method.upper()
    if not target.startswith("/"):
        raise MalformedRequest(
            "the request target must be a path (is the proxy set as HTTP_PROXY?)"
        )
    raw_path, _, raw_query = target.partition("?")
    query = parse_query(raw_query)
    bucket = virtual_bucket(host, bases)
    if bucket is not None:
        style = "virtual"
        key_text = raw_path[1:]
    else:
        style = "path"
        bucket_text, _, key_text = raw_path[1:].partition("/")
        bucket = _decode(bucket_text, "bucket name") or None
    key = _decode(key_text, "object key") or None
    if bucket is not None and ("/" in bucket or not bucket.strip()):
        raise MalformedRequest(f"{bucket!r} is not a bucket name")
    names = {name for name, _ in query}
    if bucket is None:
        if method != "GET":
            raise MalformedRequest(f"{method} / is not an S3 operation (no bucket in the path)")
        op = "ListBuckets"
    elif key is None:
        op = _bucket_op(method, names, query)
    else:
        op = _object_op(method, names, headers)
    return S3Call(op=op, bucket=bucket, key=key, query=query, style=style)


def _object_op(method: str, names: set[str], headers: Mapping[str, str]) -> str:
    sub = next((_KEY_SUBRESOURCES[n] for n in sorted(names) if n in _KEY_SUBRESOURCES), None)
    copying = "x-amz-copy-source" in headers
    if method in {"GET", "HEAD"}:
        if sub:
            return f"GetObject{sub}"
        if "uploadId" in names and method == "GET":
            return "ListParts"
        return "GetObject" if method == "GET" else "HeadObject"
    if method == "PUT":
        if "uploadId" in names and "partNumber" in names:
            return "UploadPartCopy" if copying else "UploadPart"
        if sub:
            return f"PutObject{sub}"
        return "CopyObject" if copying else "PutObject"
    if method == "POST":
        if "uploads" in names:
            return "CreateMultipartUpload"
        if "uploadId" in names:
            return "CompleteMultipartUpload"
        if sub:
            return f"{sub}Object"
        return "PostObject"
    if method == "DELETE":
        if "uploadId" in names:
            return "AbortMultipartUpload"
        if sub:
            return f"DeleteObject{sub}"
        return "DeleteObject"
    raise MalformedRequest(f"{method} is not an S3 method")


def _bucket_op(method: str, names: set[str], query: tuple[tuple[str, str | None], ...]) -> str:
    subresource = next((n for n in sorted(names) if n not in _LIST_PARAMS), None)
    if method == "GET":
        if dict(query).get("list-type") == "2":
            return "ListObjectsV2"
        if "versions" in names:
            return "ListObjectVersions"
        if "uploads" in names:
            return "ListMultipartUploads"
        return f"GetBucket:{subresource}" if subresource else "ListObjects"
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        return f"PutBucket:{subresource}" if subresource else "CreateBucket"
    if method == "DELETE":
        return f"DeleteBucket:{subresource}" if subresource else "DeleteBucket"
    if method == "POST":
        return "DeleteObjects" if "delete" in names else "PostObject"
    raise MalformedRequest(f"{method} is not an S3 method")


_LIST_PARAMS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "continuation-token",
        "start-after",
        "fetch-owner",
        "encoding-type",
        "x-id",
        "optional-object-attributes",
    }
)


def copy_source(value: str) -> tuple[str, str, str | None] | None:
    """``(bucket, key, version)`` of an ``x-amz-copy-source`` header, or None if unreadable."""
    path, _, query = value.strip().partition("?")
    try:
        text = unquote(path.lstrip("/"), errors="strict")
        params = parse_query(query)
    except (UnicodeDecodeError, MalformedRequest):
        return None
    bucket, _, key = text.partition("/")
    if not bucket or not key:
        return None
    version = dict(params).get("versionId")
    return bucket, key, version


def request_range(value: str | None) -> tuple[int, int] | None:
    """``(first, last)`` of a ``bytes=first-last`` header (copy-source ranges), else None."""
    if not value:
        return None
    match = _RANGE.match(value.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``(first, last, total)`` of a ``Content-Range: bytes a-b/n`` header (total None for '*')."""
    if not value:
        return None
    match = _CONTENT_RANGE.match(value.strip())
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


def check_upstream(url: str) -> str:
    """Validate an upstream endpoint (http or https, no query); returns it without a final '/'."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"upstream {url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError(f"upstream {url!r} must not have a query or fragment")
    if "@" in parts.netloc:
        # Credentials in the URL would end up in logs and error messages; the proxy signs.
        raise ValueError("the upstream URL must not carry credentials (user:password@)")
    return url.strip().rstrip("/")


def forward_request_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Client headers that go upstream (names lower-cased); see ``_REQUEST_DROP`` for the rest."""
    return [(k.lower(), v) for k, v in headers if k.lower() not in _REQUEST_DROP]


def must_sign(name: str) -> bool:
    """Whether a forwarded header goes into the SigV4 signature (``name`` lower-case).

    S3 requires every ``x-amz-*`` header to be signed; ``host`` always is, and the two that
    describe the body (MD5, type) are worth protecting. Like boto3, the proxy leaves the rest
    (User-Agent, amz-sdk-*, Accept-Encoding, ...) unsigned: less to canonicalise per request, and
    nothing an intermediary may rewrite can break the signature.
    """
    return name.startswith("x-amz-") or name in {"host", "content-md5", "content-type"}


def forward_response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Upstream response headers passed back to the client (the proxy sets the length itself)."""
    return [(k, v) for k, v in headers if k.lower() not in _RESPONSE_DROP]


def bucket_region(status: int, headers: Mapping[str, str], signed_region: str) -> str | None:
    """The region to retry in when S3 says the bucket lives elsewhere, else None.

    S3 answers a request signed for the wrong region with 301 (PermanentRedirect), 307 or 400
    (AuthorizationHeaderMalformed) and names the bucket's region in ``x-amz-bucket-region``.
    """
    if status not in {301, 307, 400}:
        return None
    region = headers.get("x-amz-bucket-region")
    if not region or region == signed_region or not re.fullmatch(r"[a-z0-9-]{1,40}", region):
        return None
    return region


def signed_service(authorization: str | None) -> str | None:
    """The service a SigV4 ``Authorization`` header was signed for (``s3``, ``sts``...), if any."""
    if not authorization:
        return None
    match = re.search(r"Credential=[^/,\s]+/\d{8}/[^/,\s]*/([^/,\s]+)/aws4_request", authorization)
    return match.group(1) if match else None


def valid_job_id(value: str | None) -> str | None:
    """A ``Roar-Job-Id`` header value worth recording (printable, at most 128 chars), else None."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 128 or not re.fullmatch(r"[A-Za-z0-9._:@/+=-]+", value):
        return None
    return value
