"""What `roar get` and `roar put` are pointed at: an object store URL or a local path (pure)."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from roar.errors import UsageError

REMOTE_SCHEMES = ("s3", "gs", "https", "http")


@dataclass(frozen=True, slots=True)
class Location:
    """``scheme`` is s3, gs, https, http or file; for buckets ``bucket`` and ``key`` (a key, a
    prefix ending in ``/``, or empty: the whole bucket); for http(s) the URL; for file a path."""

    scheme: str
    bucket: str
    key: str
    raw: str

    @property
    def is_bucket_store(self) -> bool:
        return self.scheme in ("s3", "gs")

    @property
    def names_prefix(self) -> bool:
        """Written as a prefix (``s3://b/dir/``, ``s3://b``): a directory, never one object."""
        return self.is_bucket_store and (self.key == "" or self.key.endswith("/"))

    def child(self, relpath: str) -> str:
        """The URL of ``relpath`` under this prefix."""
        base = self.key if self.key == "" or self.key.endswith("/") else self.key + "/"
        return f"{self.scheme}://{self.bucket}/{base}{relpath}"

    @property
    def basename(self) -> str:
        """The last name in the key, path or URL path ('' for a bucket)."""
        if self.scheme in ("http", "https"):
            return unquote(posixpath.basename(urlsplit(self.raw).path))
        if self.scheme == "file":
            return os.path.basename(os.path.normpath(self.key))
        return posixpath.basename(self.key.rstrip("/"))


def parse(text: str) -> Location:
    """A location from the command line; an unknown scheme is a one-line UsageError."""
    if "://" not in text:
        if not text:
            raise UsageError("an empty path is not a location")
        return Location("file", "", text, text)
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if scheme == "file":
        return Location("file", "", rest or "/", text)
    if scheme in ("http", "https"):
        if not urlsplit(text).netloc:
            raise UsageError(f"{text}: no host in the URL")
        return Location(scheme, urlsplit(text).netloc, text, text)
    if scheme in ("s3", "gs"):
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise UsageError(f"{text}: no bucket in the URL")
        return Location(scheme, bucket, key, text)
    known = ", ".join(f"{s}://" for s in REMOTE_SCHEMES)
    raise UsageError(f"{text}: unknown scheme {scheme}:// (roar knows {known} and local paths)")
