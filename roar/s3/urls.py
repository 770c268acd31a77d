"""Where an S3 request goes: the upstream URL (virtual-host or path style), its SigV4-canonical
query, and the Host header botocore signs for it (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

AWS_UPSTREAM = "https://s3.{region}.amazonaws.com"
"""The default upstream: AWS S3 in the signing region (``{region}`` is filled per bucket)."""

_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def region_routed(upstream: str) -> bool:
    """True when the upstream names the region in its URL, so a redirect may move the host."""
    return "{region}" in upstream


def upstream_url(
    upstream: str,
    region: str,
    bucket: str | None,
    key: str | None,
    query: Iterable[tuple[str, str | None]] = (),
) -> str:
    """The URL to forward to, percent-encoded the way SigV4 canonicalises S3 paths.

    The default AWS endpoint uses virtual-host addressing for buckets that are valid DNS labels
    (AWS is retiring path-style for new buckets); every other upstream gets path-style, which
    MinIO, moto, R2, Ceph and LocalStack all accept. A path prefix in the upstream is kept.
    """
    base = upstream.replace("{region}", region)
    path = ""
    if bucket is not None:
        if upstream == AWS_UPSTREAM and _DNS_BUCKET.match(bucket):
            parts = urlsplit(base)
            base = f"{parts.scheme}://{bucket}.{parts.netloc}{parts.path}"
        else:
            path = "/" + quote(bucket, safe="")
        if key is not None:
            path += "/" + quote(key, safe="/~")
        elif path == "":
            path = "/"
    else:
        path = "/"
    encoded = canonical_query(query)
    return base + path + ("?" + encoded if encoded else "")


def canonical_query(pairs: Iterable[tuple[str, str | None]]) -> str:
    """Encode query pairs as SigV4 expects (RFC 3986 unreserved kept, everything else %XX)."""
    out = []
    for name, value in pairs:
        encoded = quote(name, safe="-_.~")
        out.append(encoded if value is None else f"{encoded}={quote(value, safe='-_.~')}")
    return "&".join(out)


def host_header(url: str) -> str:
    # The Host botocore signs for a URL (default ports omitted), sent as signed.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    return host
