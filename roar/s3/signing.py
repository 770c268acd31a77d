"""Credentials and SigV4 signing, both botocore's own (nothing here hand-rolls SigV4).

The proxy (and `roar get`/`roar put`) signs each request with
:class:`botocore.auth.S3SigV4Auth`, the signer boto3 uses for S3, over the headers it sends. The
payload hash is chosen by the caller, not computed here: the client's own SHA-256 when it sent
one (S3 then verifies the bytes end to end), ``UNSIGNED-PAYLOAD`` otherwise,
``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` for re-framed aws-chunked bodies, so the body never has to
be read before it is sent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import botocore.session  # type: ignore[import-untyped]
from botocore.auth import S3SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import RefreshableCredentials  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]

from roar.errors import RoarError

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class CredentialsError(RoarError):
    """No AWS credentials could be loaded (exit 2: the user's setup, not a failure of roar)."""

    exit_code = 2


NO_CREDENTIALS = (
    "no AWS credentials for the S3 proxy to sign with (set AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run 'aws configure')"
)


class _FixedPayloadSigner(S3SigV4Auth):  # type: ignore[misc]
    """S3SigV4Auth with the payload hash given instead of computed from an in-memory body."""

    def __init__(self, credentials: Any, region: str, payload_hash: str) -> None:
        super().__init__(credentials, "s3", region)
        self._payload_hash = payload_hash

    def payload(self, request: Any) -> str:
        return self._payload_hash


@dataclass(frozen=True, slots=True)
class Identity:
    """The credentials the proxy signs with and the region it signs for by default."""

    credentials: Any  # botocore Credentials or RefreshableCredentials
    region: str | None
    method: str  # where botocore found them: "env", "shared-credentials-file", ...


def load_identity(profile: str | None = None) -> Identity:
    """Resolve credentials through botocore's chain (blocking: run it on a worker thread).

    The EC2 instance-metadata provider is left out unless ``AWS_EC2_METADATA_DISABLED=false`` is
    set explicitly: off EC2 it would stall for seconds probing 169.254.169.254 before reporting
    that there are no credentials. Raises :class:`CredentialsError` when none are found.
    """
    try:
        session = botocore.session.Session(profile=profile)
        resolver = session.get_component("credential_provider")
        if os.environ.get("AWS_EC2_METADATA_DISABLED", "true").lower() != "false":
            resolver.remove("iam-role")
        credentials = resolver.load_credentials()
        region = os.environ.get("AWS_REGION") or session.get_config_variable("region")
    except BotoCoreError as exc:
        raise CredentialsError(f"cannot load AWS credentials for S3: {exc}") from exc
    if credentials is None:
        raise CredentialsError(NO_CREDENTIALS)
    return Identity(credentials, region or None, str(getattr(credentials, "method", "")))


def needs_refresh(identity: Identity) -> bool:
    """True when fetching the frozen credentials may block (an STS/SSO refresh is due)."""
    credentials = identity.credentials
    return isinstance(credentials, RefreshableCredentials) and bool(credentials.refresh_needed())


def frozen(identity: Identity) -> Any:
    """A consistent snapshot of the credentials (may block when :func:`needs_refresh`)."""
    return identity.credentials.get_frozen_credentials()


def sign(
    credentials: Any,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    *,
    region: str,
    payload_hash: str,
) -> list[tuple[str, str]]:
    """The forwarded headers plus ``Authorization``, ``X-Amz-Date`` and friends for ``url``.

    ``url`` must already be percent-encoded as S3 canonicalises it (S3 paths are signed as
    sent, not normalised); every header in ``headers`` is signed except the few botocore never
    signs (User-Agent, Expect, ...), and none of them may be changed afterwards.
    """
    merged: dict[str, str] = {}
    for name, value in headers:
        merged[name] = f"{merged[name]},{value}" if name in merged else value
    request = AWSRequest(method=method, url=url, headers=merged)
    _FixedPayloadSigner(credentials, region, payload_hash).add_auth(request)
    return [(str(k), str(v)) for k, v in request.headers.items()]
