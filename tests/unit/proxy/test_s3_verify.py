"""Who may use the proxy: signatures made by botocore's signers, checked by roar.proxy._verify."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from roar.proxy._verify import ClientKey, Refused, verify

KEY, SECRET = "AKIDEXAMPLE000000000", "s3cr3t/with+symbols=="
HOST = "127.0.0.1:9999"


def lookup(key_id: str) -> str | None:
    return SECRET if key_id == KEY else None


def _target(request: AWSRequest) -> str:
    parts = urlsplit(request.url)
    return parts.path + ("?" + parts.query if parts.query else "")


def sigv4(method: str, path: str, headers: dict[str, str] | None = None) -> AWSRequest:
    request = AWSRequest(method=method, url=f"http://{HOST}{path}", headers=headers or {})
    request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"

    class Signer(S3SigV4Auth):  # type: ignore[misc]
        def payload(self, request: Any) -> str:
            return "UNSIGNED-PAYLOAD"

    Signer(Credentials(KEY, SECRET), "s3", "eu-west-1").add_auth(request)
    return request


def check(request: AWSRequest, **kwargs: Any) -> str:
    headers = [(str(k), str(v)) for k, v in request.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(("Host", HOST))
    return verify(request.method, _target(request), headers, lookup, **kwargs)


def test_sigv4_header_requests_verify_and_tampering_does_not() -> None:
    request = sigv4(
        "PUT", "/bucket/dir/a%20b~c.txt?partNumber=2&uploadId=x%2By", {"Content-Length": "5"}
    )
    assert check(request) == KEY
    for field, value in [("url", f"http://{HOST}/bucket/dir/other.txt"), ("method", "DELETE")]:
        forged = sigv4("PUT", "/bucket/dir/a%20b~c.txt", {"Content-Length": "5"})
        setattr(forged, field, value)
        with pytest.raises(Refused) as refused:
            check(forged)
        assert refused.value.code == "SignatureDoesNotMatch"
    forged = sigv4("PUT", "/bucket/k", {"Content-Length": "5"})
    forged.headers.replace_header("Content-Length", "6")
    with pytest.raises(Refused, match="does not match"):
        check(forged)


def test_presigned_sigv4_and_sigv2_urls_verify_until_they_expire() -> None:
    for signer in (
        S3SigV4QueryAuth(Credentials(KEY, SECRET), "s3", "us-east-1", expires=60),
        HmacV1QueryAuth(Credentials(KEY, SECRET), expires=60),
    ):
        request = AWSRequest(method="GET", url=f"http://{HOST}/bucket/key%20x.txt")
        signer.add_auth(request)
        request.prepare()
        assert check(request) == KEY
        with pytest.raises(Refused) as refused:
            check(request, now=time.time() + 3600)
        assert (refused.value.code, str(refused.value)) == (
            "AccessDenied",
            "roar proxy: the presigned URL has expired",
        )


def test_sigv2_header_path_and_virtual_host_styles() -> None:
    request = AWSRequest(
        method="PUT", url=f"http://{HOST}/bucket/k.txt?uploads", headers={"Content-Type": "a/b"}
    )
    HmacV1Auth(Credentials(KEY, SECRET)).add_auth(request)
    assert check(request) == KEY
    virtual = AWSRequest(method="GET", url="http://bucket.localhost:9999/k.txt")
    virtual.auth_path = "/bucket/k.txt"
    HmacV1Auth(Credentials(KEY, SECRET)).add_auth(virtual)
    assert check(virtual, bucket="bucket", virtual_host=True) == KEY
    with pytest.raises(Refused, match="does not match"):
        check(virtual, bucket="other", virtual_host=True)


def test_unsigned_unknown_stale_and_malformed_requests_are_refused() -> None:
    unsigned = AWSRequest(method="GET", url=f"http://{HOST}/bucket/k")
    with pytest.raises(Refused) as refused:
        check(unsigned)
    assert refused.value.code == "AccessDenied" and "not signed" in str(refused.value)
    stranger = sigv4("GET", "/bucket/k")
    stranger.headers.replace_header(
        "Authorization", stranger.headers["Authorization"].replace(KEY, "AKIDSOMEONEELSE00000")
    )
    with pytest.raises(Refused) as refused:
        check(stranger)
    assert refused.value.code == "InvalidAccessKeyId"
    with pytest.raises(Refused) as refused:
        check(sigv4("GET", "/bucket/k"), now=time.time() + 3600)
    assert refused.value.code == "RequestTimeTooSkewed"
    for header in ("AWS4-HMAC-SHA256 Credential=AKID/x", "AWS4-HMAC-SHA256", "AWS nocolon"):
        bad = AWSRequest(method="GET", url=f"http://{HOST}/b/k", headers={"Authorization": header})
        with pytest.raises(Refused) as refused:
            check(bad)
        assert refused.value.status == 400 and refused.value.code == "AuthorizationHeaderMalformed"
    basic = AWSRequest(
        method="GET", url=f"http://{HOST}/b/k", headers={"Authorization": "Basic eA=="}
    )
    with pytest.raises(Refused, match="unsupported Authorization scheme"):
        check(basic)


def test_client_keys_are_fresh_and_never_shown() -> None:
    one, two = ClientKey.generate(), ClientKey.generate()
    assert one.access_key_id != two.access_key_id and one.secret_access_key != two.secret_access_key
    assert one.access_key_id.startswith("ROAR") and len(one.access_key_id) == 20
    assert one.secret_access_key not in repr(one)
