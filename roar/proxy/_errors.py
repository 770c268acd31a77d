"""The one error the proxy raises on purpose, placed under :class:`roar.errors.RoarError`.

``ProxyError`` (exit 1 unless built with another code) covers everything that stops the proxy from
starting or a daemon from being managed: no AWS credentials to sign with (exit 2), the listen port
in use (exit 2), a daemon already running or not answering, an upstream URL that is not http(s).
Failures of single requests never raise: they become S3-style XML error responses.
"""

from __future__ import annotations

from roar.errors import RoarError


class ProxyError(RoarError):
    """The S3 proxy could not start, or its daemon could not be started or stopped."""
