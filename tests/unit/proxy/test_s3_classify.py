"""Pure S3 request analysis: operation names, addressing styles, upstream URLs, header sets."""

from __future__ import annotations

import pytest

from roar.proxy._body_plan import plan_body
from roar.proxy._classify import (
    MalformedRequest,
    bucket_region,
    check_upstream,
    classify,
    content_range,
    copy_source,
    forward_request_headers,
    forward_response_headers,
    parse_query,
    signed_service,
    valid_job_id,
    virtual_bucket,
)
from roar.s3.urls import AWS_UPSTREAM, upstream_url

COPY = {"x-amz-copy-source": "/src/a.bin"}


@pytest.mark.parametrize(
    ("method", "target", "headers", "op"),
    [
        ("GET", "/bkt/k", {}, "GetObject"),
        ("HEAD", "/bkt/k", {}, "HeadObject"),
        ("PUT", "/bkt/k", {}, "PutObject"),
        ("PUT", "/bkt/k?x-id=PutObject", {}, "PutObject"),
        ("PUT", "/bkt/k", COPY, "CopyObject"),
        ("PUT", "/bkt/k?partNumber=2&uploadId=u1", {}, "UploadPart"),
        ("PUT", "/bkt/k?partNumber=2&uploadId=u1", COPY, "UploadPartCopy"),
        ("POST", "/bkt/k?uploads", {}, "CreateMultipartUpload"),
        ("POST", "/bkt/k?uploadId=u1", {}, "CompleteMultipartUpload"),
        ("DELETE", "/bkt/k?uploadId=u1", {}, "AbortMultipartUpload"),
        ("GET", "/bkt/k?uploadId=u1", {}, "ListParts"),
        ("DELETE", "/bkt/k", {}, "DeleteObject"),
        ("DELETE", "/bkt/k?versionId=v1", {}, "DeleteObject"),
        ("GET", "/bkt/k?tagging", {}, "GetObjectTagging"),
        ("PUT", "/bkt/k?acl", {}, "PutObjectAcl"),
        ("GET", "/bkt?list-type=2&prefix=a", {}, "ListObjectsV2"),
        ("GET", "/bkt/?list-type=2", {}, "ListObjectsV2"),
        ("GET", "/bkt", {}, "ListObjects"),
        ("GET", "/bkt?versions", {}, "ListObjectVersions"),
        ("GET", "/bkt?uploads", {}, "ListMultipartUploads"),
        ("GET", "/bkt?location", {}, "GetBucket:location"),
        ("HEAD", "/bkt", {}, "HeadBucket"),
        ("PUT", "/bkt", {}, "CreateBucket"),
        ("DELETE", "/bkt", {}, "DeleteBucket"),
        ("POST", "/bkt?delete", {}, "DeleteObjects"),
        ("GET", "/", {}, "ListBuckets"),
    ],
)
def test_operation_classification(
    method: str, target: str, headers: dict[str, str], op: str
) -> None:
    assert classify(method, "127.0.0.1:9090", target, headers).op == op


def test_tracked_operations_are_the_lineage_ones() -> None:
    tracked = {
        op
        for op, target in [
            ("GET", "/b/k"),
            ("PUT", "/b/k?partNumber=1&uploadId=u"),
            ("GET", "/b?list-type=2"),
            ("POST", "/b/k?uploadId=u"),
        ]
        if classify(op, "localhost", target, {}).tracked
    }
    assert tracked == {"GET", "POST"}


def test_path_style_keys_are_percent_decoded() -> None:
    call = classify("GET", "127.0.0.1:9090", "/my-bucket/dir/k%20y%2Bz/%C3%A4%2F.bin", {})
    assert (call.bucket, call.key, call.style) == ("my-bucket", "dir/k y+z/ä/.bin", "path")
    assert call.url == "s3://my-bucket/dir/k y+z/ä/.bin"


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("bkt.localhost:9090", "bkt"),
        ("my.dotted.bucket.localhost", "my.dotted.bucket"),
        ("bkt.s3.us-west-2.amazonaws.com", "bkt"),
        ("bkt.s3.amazonaws.com", "bkt"),
        ("bkt.s3-eu-west-1.amazonaws.com", "bkt"),
        ("s3.us-east-1.amazonaws.com", None),
        ("localhost:9090", None),
        ("127.0.0.1:9090", None),
        ("[::1]:9090", None),
        ("minio.internal", None),
    ],
)
def test_virtual_host_detection(host: str, bucket: str | None) -> None:
    assert virtual_bucket(host) == bucket


def test_virtual_host_style_request() -> None:
    call = classify("PUT", "bkt.localhost:9090", "/a/b.txt", {})
    assert (call.op, call.bucket, call.key, call.style) == (
        "PutObject",
        "bkt",
        "a/b.txt",
        "virtual",
    )
    listing = classify("GET", "bkt.localhost:9090", "/?list-type=2", {})
    assert (listing.op, listing.bucket, listing.key) == ("ListObjectsV2", "bkt", None)


def test_presigned_auth_parameters_are_dropped() -> None:
    target = (
        "/bkt/k?versionId=v1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2024"
        "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=abcdef&X-Amz-Security-Token=tok"
    )
    call = classify("GET", "127.0.0.1", target, {})
    assert call.query == (("versionId", "v1"),)
    assert parse_query("AWSAccessKeyId=A&Signature=s&Expires=1&uploads") == (("uploads", None),)


@pytest.mark.parametrize(
    "target",
    ["http://example.com/bkt/k", "/bkt/%FF%FE", "/b%2Fx/key"],
)
def test_malformed_targets(target: str) -> None:
    with pytest.raises(MalformedRequest):
        classify("GET", "127.0.0.1", target, {})


def test_not_s3_methods() -> None:
    with pytest.raises(MalformedRequest, match="not an S3 method"):
        classify("PATCH", "127.0.0.1", "/bkt/k", {})
    with pytest.raises(MalformedRequest, match="no bucket"):
        classify("PUT", "127.0.0.1", "/", {})


def test_upstream_urls_are_canonically_encoded() -> None:
    pairs = (("partNumber", "3"), ("uploadId", "a/b+c="), ("uploads", None))
    url = upstream_url("http://127.0.0.1:5000", "us-east-1", "bkt", "dir/k y+z~ä", pairs)
    assert url == (
        "http://127.0.0.1:5000/bkt/dir/k%20y%2Bz~%C3%A4?partNumber=3&uploadId=a%2Fb%2Bc%3D&uploads"
    )
    assert upstream_url("http://h:1/prefix", "r", "bkt", None) == "http://h:1/prefix/bkt"
    assert upstream_url("http://h:1", "r", None, None) == "http://h:1/"


def test_aws_default_upstream_uses_virtual_hosts_for_dns_buckets() -> None:
    assert upstream_url(AWS_UPSTREAM, "eu-west-1", "my-bucket", "k") == (
        "https://my-bucket.s3.eu-west-1.amazonaws.com/k"
    )
    # Dotted names break TLS wildcard certificates: path-style.
    assert upstream_url(AWS_UPSTREAM, "eu-west-1", "my.bucket", "k") == (
        "https://s3.eu-west-1.amazonaws.com/my.bucket/k"
    )
    # A custom region-routed template keeps path style.
    assert upstream_url("http://127.0.0.1:9/{region}", "ap-south-1", "bkt", "k") == (
        "http://127.0.0.1:9/ap-south-1/bkt/k"
    )


def test_check_upstream() -> None:
    assert check_upstream("http://127.0.0.1:9000/") == "http://127.0.0.1:9000"
    for bad in ("ftp://x", "127.0.0.1:9000", "http://x/?a=1", "http://user:secret@host"):
        with pytest.raises(ValueError):
            check_upstream(bad)


def test_header_sets() -> None:
    sent = forward_request_headers(
        [
            ("Host", "127.0.0.1:9090"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=..."),
            ("X-Amz-Date", "20240101T000000Z"),
            ("X-Amz-Security-Token", "tok"),
            ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD"),
            ("Content-Length", "5"),
            ("Expect", "100-continue"),
            ("Connection", "keep-alive"),
            ("Roar-Job-Id", "j1"),
            ("Content-Type", "text/csv"),
            ("x-amz-meta-owner", "me"),
            ("x-amz-checksum-crc32", "AAAAAA=="),
        ]
    )
    assert sent == [
        ("content-type", "text/csv"),
        ("x-amz-meta-owner", "me"),
        ("x-amz-checksum-crc32", "AAAAAA=="),
    ]
    back = forward_response_headers(
        [("ETag", '"e"'), ("Transfer-Encoding", "chunked"), ("Content-Length", "3")]
    )
    assert back == [("ETag", '"e"')]


def test_redirect_region_detection() -> None:
    assert bucket_region(301, {"x-amz-bucket-region": "eu-west-1"}, "us-east-1") == "eu-west-1"
    assert bucket_region(400, {"x-amz-bucket-region": "eu-west-1"}, "us-east-1") == "eu-west-1"
    assert bucket_region(301, {"x-amz-bucket-region": "us-east-1"}, "us-east-1") is None
    assert bucket_region(200, {"x-amz-bucket-region": "eu-west-1"}, "us-east-1") is None
    assert bucket_region(301, {}, "us-east-1") is None


def test_small_parsers() -> None:
    assert copy_source("/src/dir/a%20b.bin?versionId=v9") == ("src", "dir/a b.bin", "v9")
    assert copy_source("src/k") == ("src", "k", None)
    assert copy_source("nokey") is None
    assert content_range("bytes 0-99/1000") == (0, 99, 1000)
    assert content_range("bytes 5-9/*") == (5, 9, None)
    assert content_range("items 1-2/3") is None
    assert signed_service(
        "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/aws4_request, SignedHeaders=host"
    ) == ("sts")
    assert valid_job_id(" job-1 ") == "job-1"
    assert valid_job_id("a b") is None and valid_job_id("x" * 200) is None


def test_body_plans() -> None:
    sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    raw = plan_body("PUT", [("Content-Length", "5"), ("X-Amz-Content-SHA256", sha)])
    assert (raw.mode, raw.length, raw.payload_hash) == ("raw", 5, sha)
    get = plan_body("GET", [("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")])
    assert (get.mode, get.length) == ("none", None)
    empty_put = plan_body("PUT", [("Content-Length", "0")])
    assert (empty_put.mode, empty_put.length) == ("none", 0)
    signed = plan_body(
        "PUT",
        [
            ("Content-Length", "200"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "100"),
        ],
    )
    assert (signed.mode, signed.length, signed.payload_hash) == ("decode", 100, "UNSIGNED-PAYLOAD")
    assert ("content-encoding", "aws-chunked") not in signed.headers
    trailer = plan_body(
        "PUT",
        [
            ("Transfer-Encoding", "chunked"),
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("Content-Encoding", "gzip,aws-chunked"),
            ("x-amz-decoded-content-length", "70000"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
    )
    assert trailer.mode == "reencode" and trailer.trailers == ("x-amz-checksum-crc32",)
    assert ("content-encoding", "gzip,aws-chunked") in trailer.headers
    assert ("x-amz-decoded-content-length", "70000") in trailer.headers
    with pytest.raises(MalformedRequest, match="Content-Length") as missing:
        plan_body("PUT", [("Transfer-Encoding", "chunked")])
    assert missing.value.status == 411
    with pytest.raises(MalformedRequest, match="decoded-content-length"):
        plan_body("PUT", [("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")])
    with pytest.raises(MalformedRequest, match="cannot forward the trailer"):
        plan_body(
            "PUT",
            [
                ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                ("x-amz-decoded-content-length", "1"),
                ("x-amz-trailer", "x-amz-checksum-md7"),
            ],
        )
    with pytest.raises(MalformedRequest, match="number of bytes"):
        plan_body("PUT", [("Content-Length", "-1")])


def test_control_bytes_in_keys_are_escaped_in_log_lines() -> None:
    from roar.proxy._classify import escape_controls

    call = classify("PUT", "127.0.0.1:9", "/b/evil%0AGET%20s3://b/forged%1B%5B31m%5Cx", {})
    line = call.loggable
    assert line == "PutObject s3://b/evil\\x0aGET s3://b/forged\\x1b[31m\\\\x"
    assert line.isprintable()
    assert escape_controls("plain/key ünïcode.bin") == "plain/key ünïcode.bin"
    assert escape_controls("\x7f\x85\udcff") == "\\x7f\\x85\\udcff"
