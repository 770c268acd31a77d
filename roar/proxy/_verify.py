"""Who may use the proxy: each incoming request's AWS signature, checked before it is re-signed.

The proxy re-signs with its owner's credentials, so an unsigned request (a plain ``curl`` from any
local user) must never reach the upstream. A request is let through when its signature verifies
with a secret the proxy knows: the per-proxy key pair it hands out (:class:`ClientKey`) or the
owner's own credentials (what ``roar run``'s jobs already sign with). Both SigV4 (header and
presigned-URL forms) and SigV2 (``AWS key:sig`` and its presigned form, boto3's default for a
custom endpoint) are accepted; the canonical strings are botocore's own, only the inputs (which
headers were signed, the declared payload hash, the client's timestamp) come from the request.

Pure functions: :func:`verify` takes the request's parts and a secret lookup, returns the access
key id that signed it, or raises :class:`Refused` carrying S3's error code for the answer.
"""

from __future__ import annotations

import base64
import calendar
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from botocore.auth import HmacV1Auth, S3SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.compat import HTTPHeaders  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

# S3 refuses a request signed more than 15 minutes away from its clock; so does the proxy.
MAX_SKEW_SECONDS = 15 * 60
_SIGV4 = "AWS4-HMAC-SHA256"
_UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

SecretLookup = Callable[[str], "str | None"]


class Refused(Exception):
    """The request may not use the proxy: ``code`` is S3's error code for the 403 answer."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A key pair a proxy hands to its clients (never an AWS credential: it works only here)."""

    access_key_id: str
    secret_access_key: str

    @classmethod
    def generate(cls) -> ClientKey:
        # 20 upper-case characters like an AWS key id, recognisably roar's ("ROAR" prefix).
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        key_id = "ROAR" + "".join(secrets.choice(alphabet) for _ in range(16))
        return cls(key_id, secrets.token_urlsafe(30))

    def __repr__(self) -> str:  # never print the secret by accident
        return f"ClientKey(access_key_id={self.access_key_id!r})"


@dataclass(frozen=True, slots=True)
class _Claim:
    """What a request says about its signature, before anything is checked."""

    version: int  # 4 or 2
    access_key_id: str
    signature: str
    presigned: bool
    # SigV4 only
    date: str = ""
    region: str = ""
    service: str = ""
    signed_headers: tuple[str, ...] = ()
    expires: int | None = None


def verify(
    method: str,
    raw_path: str,
    headers: Sequence[tuple[str, str]],
    secret_for: SecretLookup,
    *,
    bucket: str | None = None,
    virtual_host: bool = False,
    now: float | None = None,
) -> str:
    """The access key id that signed this request, or :class:`Refused`.

    ``raw_path`` is the request target as received (percent-encoded path and query);
    ``headers`` the raw header list. ``bucket``/``virtual_host`` give SigV2 its resource path.
    """
    now = time.time() if now is None else now
    path, _, query = raw_path.partition("?")
    lower = {name.lower(): value for name, value in reversed(headers)}
    claim = _claim(lower, query)
    secret = secret_for(claim.access_key_id)
    if secret is None:
        raise Refused(
            "InvalidAccessKeyId",
            "roar proxy: the access key id in this request is not one this proxy accepts (sign "
            "with your own AWS credentials or with the proxy's key pair)",
        )
    if claim.version == 4:
        _check_sigv4(method, path, query, headers, lower, claim, secret, now)
    else:
        _check_sigv2(method, path, query, headers, lower, claim, secret, now, bucket, virtual_host)
    return claim.access_key_id


# -- what the request claims -------------------------------------------------------------------


def _claim(lower: dict[str, str], query: str) -> _Claim:
    params = _query_params(query)
    authorization = lower.get("authorization", "").strip()
    if authorization.split(" ", 1)[0] == _SIGV4:
        fields = _auth_fields(authorization[len(_SIGV4) :])
        credential = fields.get("credential", "")
        return _sigv4_claim(
            credential,
            fields.get("signedheaders", ""),
            fields.get("signature", ""),
            lower.get("x-amz-date") or lower.get("date", ""),
            expires=None,
        )
    if authorization.startswith("AWS "):
        key_id, _, signature = authorization[4:].strip().rpartition(":")
        if not key_id or not signature:
            raise _malformed("the Authorization header is not 'AWS <key id>:<signature>'")
        return _Claim(version=2, access_key_id=key_id, signature=signature, presigned=False)
    if authorization:
        raise Refused(
            "AccessDenied",
            "roar proxy: unsupported Authorization scheme (sign with AWS Signature Version 4)",
        )
    if params.get("X-Amz-Algorithm") == _SIGV4:
        expires = params.get("X-Amz-Expires", "")
        if not expires.isdigit():
            raise _malformed("X-Amz-Expires must be a number of seconds")
        return _sigv4_claim(
            params.get("X-Amz-Credential", ""),
            params.get("X-Amz-SignedHeaders", ""),
            params.get("X-Amz-Signature", ""),
            params.get("X-Amz-Date", ""),
            expires=int(expires),
        )
    if "Signature" in params and "AWSAccessKeyId" in params:
        expires = params.get("Expires", "")
        if not expires.isdigit():
            raise _malformed("Expires must be a Unix time")
        return _Claim(
            version=2,
            access_key_id=params["AWSAccessKeyId"],
            signature=params["Signature"],
            presigned=True,
            expires=int(expires),
        )
    raise Refused(
        "AccessDenied",
        "roar proxy: the request is not signed; only clients holding your AWS credentials or "
        "the proxy's key pair may use it",
    )


def _sigv4_claim(
    credential: str, signed: str, signature: str, date: str, *, expires: int | None
) -> _Claim:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        raise _malformed("the credential must be <key id>/<date>/<region>/<service>/aws4_request")
    if not signature or not signed:
        raise _malformed("the signature and the list of signed headers must both be given")
    if not date:
        raise _malformed("a SigV4 request needs X-Amz-Date (or Date)")
    if parts[1] != date[:8]:
        raise Refused(
            "SignatureDoesNotMatch",
            "roar proxy: the credential scope's date is not the request's date",
        )
    return _Claim(
        version=4,
        access_key_id=parts[0],
        signature=signature,
        presigned=expires is not None,
        date=date,
        region=parts[2],
        service=parts[3],
        signed_headers=tuple(name.strip().lower() for name in signed.split(";") if name.strip()),
        expires=expires,
    )


def _auth_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def _query_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in query.split("&") if query else ():
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name), unquote(value))
    return params


def _malformed(message: str) -> Refused:
    return Refused("AuthorizationHeaderMalformed", f"roar proxy: {message}", status=400)


# -- SigV4 -------------------------------------------------------------------------------------


class _Checker(S3SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 with the request's own choices: headers signed, payload hash, query."""

    def __init__(
        self,
        credentials: Any,
        region: str,
        service: str,
        signed: HTTPHeaders,
        payload_hash: str,
        canonical_query: str,
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed
        self._payload_hash = payload_hash
        self._canonical_query = canonical_query

    def headers_to_sign(self, request: Any) -> HTTPHeaders:
        return self._signed

    def canonical_query_string(self, request: Any) -> str:
        return self._canonical_query

    def payload(self, request: Any) -> str:
        return self._payload_hash


def _check_sigv4(
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    lower: dict[str, str],
    claim: _Claim,
    secret: str,
    now: float,
) -> None:
    signed_at = _amz_time(claim.date)
    if claim.expires is not None:
        if now > signed_at + claim.expires:
            raise Refused("AccessDenied", "roar proxy: the presigned URL has expired")
        if signed_at - now > MAX_SKEW_SECONDS:
            raise _skewed()
    elif abs(now - signed_at) > MAX_SKEW_SECONDS:
        raise _skewed()
    signed = HTTPHeaders()
    wanted = set(claim.signed_headers)
    for name, value in headers:
        if name.lower() in wanted:
            signed[name.lower()] = value
    if claim.presigned:
        payload_hash = lower.get("x-amz-content-sha256", _UNSIGNED_PAYLOAD)
        pairs = [p for p in query.split("&") if p and not p.startswith("X-Amz-Signature=")]
    else:
        payload_hash = lower.get("x-amz-content-sha256", "")
        if not payload_hash:
            raise _malformed("a SigV4-signed S3 request needs X-Amz-Content-SHA256")
        pairs = [p for p in query.split("&") if p]
    credentials = Credentials(claim.access_key_id, secret)
    # As sent first (botocore, the AWS CLI and most SDKs sign exactly what they send), then
    # re-encoded the way the SigV4 specification canonicalises (for clients that send, say,
    # an unencoded '~' or '!' and encode it only when signing).
    for canonical_path, canonical_query in (
        (path, _sorted_query(pairs)),
        (_reencoded_path(path), _sorted_query(_reencoded_pairs(pairs))),
    ):
        checker = _Checker(
            credentials, claim.region, claim.service, signed, payload_hash, canonical_query
        )
        request = AWSRequest(method=method, url="http://proxy" + (canonical_path or "/"))
        request.context["timestamp"] = claim.date
        expected = checker.signature(
            checker.string_to_sign(request, checker.canonical_request(request)), request
        )
        if hmac.compare_digest(expected.encode(), claim.signature.encode("utf-8", "replace")):
            return
    raise _mismatch()


def _sorted_query(pairs: list[str]) -> str:
    split = [pair.partition("=") for pair in pairs]
    return "&".join(
        f"{name}={value}" for name, _, value in sorted(split, key=lambda p: (p[0], p[2]))
    )


def _reencoded_pairs(pairs: list[str]) -> list[str]:
    out = []
    for pair in pairs:
        name, _, value = pair.partition("=")
        out.append(f"{quote(unquote(name), safe='-_.~')}={quote(unquote(value), safe='-_.~')}")
    return out


def _reencoded_path(path: str) -> str:
    return "/".join(quote(unquote(segment), safe="-_.~") for segment in path.split("/"))


def _amz_time(value: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).timestamp()  # a Date header, RFC 7231
    except (TypeError, ValueError):
        raise _malformed(f"cannot read the request's date {value[:40]!r}") from None


def _skewed() -> Refused:
    return Refused(
        "RequestTimeTooSkewed",
        "roar proxy: the request was signed more than 15 minutes away from this machine's clock",
    )


def _mismatch() -> Refused:
    return Refused(
        "SignatureDoesNotMatch",
        "roar proxy: the request signature does not match the secret of its access key id",
    )


# -- SigV2 -------------------------------------------------------------------------------------


class _V2Checker(HmacV1Auth):  # type: ignore[misc]
    """botocore's SigV2 string with the request's own date (or presigned expiry)."""

    def __init__(self, credentials: Any, date: str) -> None:
        super().__init__(credentials)
        self._date = date

    def _get_date(self) -> str:
        return self._date


def _check_sigv2(
    method: str,
    path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    lower: dict[str, str],
    claim: _Claim,
    secret: str,
    now: float,
    bucket: str | None,
    virtual_host: bool,
) -> None:
    if claim.presigned:
        assert claim.expires is not None
        if now > claim.expires:
            raise Refused("AccessDenied", "roar proxy: the presigned URL has expired")
        date = str(claim.expires)
    else:
        # With x-amz-date present the Date line is signed empty and x-amz-date goes in the
        # x-amz-* block; botocore always sends Date.
        date = lower.get("date", "")
        stamp = lower.get("x-amz-date") or date
        if abs(now - _amz_time(stamp)) > MAX_SKEW_SECONDS:
            raise _skewed()
        if "x-amz-date" in lower and "date" not in lower:
            date = ""
    header_map = HTTPHeaders()
    for name, value in headers:
        if name.lower() in {"content-md5", "content-type"} or name.lower().startswith("x-amz-"):
            header_map[name] = value
    resource = f"/{bucket}{path}" if virtual_host and bucket else path
    split = urlsplit(resource + ("?" + query if query else ""))
    checker = _V2Checker(Credentials(claim.access_key_id, secret), date)
    expected = checker.sign_string(checker.canonical_string(method, split, header_map))
    given = claim.signature
    if not hmac.compare_digest(_b64norm(expected), _b64norm(given)):
        raise _mismatch()


def _b64norm(value: str) -> bytes:
    try:
        return base64.b64decode(value.replace(" ", "+"), validate=False)
    except (ValueError, TypeError):
        return b""
