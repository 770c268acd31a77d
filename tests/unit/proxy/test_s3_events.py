"""Event building from request/response heads, the S3Event encoding, and read_events."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from roar.proxy import ProxyError, S3Event, read_events
from roar.proxy._classify import classify
from roar.proxy._event import decode_event, encode_event
from roar.proxy._record import Exchange, build_events, multipart_size
from roar.proxy.ingest import parse_events
from roar.s3.xml import error_body, read_delete_result, read_result

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def exchange(
    method: str,
    target: str,
    status: int,
    response: dict[str, str] | None = None,
    request: dict[str, str] | None = None,
    **observed: object,
) -> Exchange:
    request = request or {}
    call = classify(method, "127.0.0.1:9090", target, request)
    return Exchange(
        call=call,
        request_headers=request,
        status=status,
        response_headers=response or {},
        **observed,  # type: ignore[arg-type]
    )


def events(ex: Exchange, job_id: str | None = "job-1") -> list[S3Event]:
    return build_events(ex, job_id=job_id, session_id="sess", now=1700000000.0)


def test_put_object_is_an_output_with_content_hash() -> None:
    ex = exchange(
        "PUT",
        "/bkt/data/x.csv",
        200,
        {"etag": '"5d41402abc4b2a76b9719d911017c592"', "x-amz-version-id": "v1"},
        request_bytes=5,
        request_blake3="b3",
    )
    (event,) = events(ex)
    assert event == S3Event(
        op="PutObject",
        bucket="bkt",
        key="data/x.csv",
        url="s3://bkt/data/x.csv",
        direction="output",
        status=200,
        timestamp=1700000000.0,
        size=5,
        etag="5d41402abc4b2a76b9719d911017c592",
        blake3="b3",
        job_id="job-1",
        session_id="sess",
        version_id="v1",
        transferred=5,
    )


def test_full_get_records_blake3_and_ranged_get_records_ranges() -> None:
    full = exchange(
        "GET",
        "/bkt/k",
        200,
        {"etag": '"e"', "content-length": "10"},
        response_bytes=10,
        response_blake3="b3",
    )
    (event,) = events(full)
    assert (event.direction, event.size, event.blake3, event.byte_ranges) == ("input", 10, "b3", ())
    ranged = exchange(
        "GET",
        "/bkt/k",
        206,
        {"etag": '"e"', "content-length": "100", "content-range": "bytes 100-199/1000"},
        response_bytes=100,
        response_blake3="partial",
    )
    (event,) = events(ranged)
    assert (event.size, event.blake3, event.byte_ranges) == (1000, None, ((100, 199),))


def test_a_get_cut_short_records_what_was_read_without_hash() -> None:
    cut = exchange(
        "GET",
        "/bkt/k",
        200,
        {"content-length": "10"},
        response_bytes=4,
        response_complete=False,
    )
    (event,) = events(cut)
    assert (event.blake3, event.byte_ranges, event.size, event.transferred) == (
        None,
        ((0, 3),),
        10,
        4,
    )
    nothing = exchange("GET", "/bkt/k", 200, {"content-length": "10"}, response_complete=False)
    assert events(nothing) == []


def test_head_is_an_input_without_bytes() -> None:
    (event,) = events(exchange("HEAD", "/bkt/k", 200, {"content-length": "42", "etag": '"e"'}))
    assert (event.op, event.direction, event.size, event.etag, event.transferred) == (
        "HeadObject",
        "input",
        42,
        "e",
        0,
    )


@pytest.mark.parametrize("status", [304, 400, 403, 404, 500, 503])
def test_failed_requests_are_not_lineage(status: int) -> None:
    assert events(exchange("GET", "/bkt/k", status, {"etag": '"e"'})) == []
    assert events(exchange("PUT", "/bkt/k", status, {"etag": '"e"'}, request_bytes=3)) == []


def test_untracked_operations_make_no_events() -> None:
    for method, target in [
        ("GET", "/bkt?list-type=2"),
        ("PUT", "/bkt"),
        ("PUT", "/bkt/k?partNumber=1&uploadId=u"),
        ("POST", "/bkt/k?uploads"),
        ("GET", "/bkt/k?tagging"),
    ]:
        assert events(exchange(method, target, 200, {"etag": '"e"'})) == []


def complete_xml(*parts: tuple[int, str]) -> bytes:
    body = "".join(
        f"<Part><ETag>&quot;{etag}&quot;</ETag><PartNumber>{n}</PartNumber></Part>"
        for n, etag in parts
    )
    return f"<CompleteMultipartUpload {NS}>{body}</CompleteMultipartUpload>".encode()


def test_complete_multipart_is_one_output_for_the_whole_object() -> None:
    result = (
        f'<?xml version="1.0"?><CompleteMultipartUploadResult {NS}><Bucket>bkt</Bucket>'
        "<Key>big</Key><ETag>&quot;abc-3&quot;</ETag></CompleteMultipartUploadResult>"
    ).encode()
    request = complete_xml((1, "a"), (2, "b"), (3, "c"))
    size = multipart_size(request, {1: (8, "a"), 2: (8, "b"), 3: (2, "c"), 4: (9, "d")})
    assert size == 18
    ex = exchange(
        "POST",
        "/bkt/big?uploadId=u1",
        200,
        request_xml=request,
        response_xml=result,
        multipart_size=size,
    )
    (event,) = events(ex)
    assert (event.op, event.direction, event.etag, event.size, event.blake3) == (
        "CompleteMultipartUpload",
        "output",
        "abc-3",
        18,
        None,
    )


def test_multipart_size_unknown_when_a_part_was_not_seen_or_changed() -> None:
    request = complete_xml((1, "a"), (2, "b"))
    assert multipart_size(request, {1: (8, "a")}) is None
    assert multipart_size(request, {1: (8, "a"), 2: (8, "other")}) is None
    assert multipart_size(b"not xml", {1: (8, "a")}) is None


def test_a_200_carrying_an_error_document_is_a_failure() -> None:
    error = b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"
    complete = exchange("POST", "/bkt/big?uploadId=u1", 200, response_xml=error)
    assert events(complete) == []
    copy = exchange(
        "PUT", "/bkt/dst", 200, request={"x-amz-copy-source": "/bkt/src"}, response_xml=error
    )
    assert events(copy) == []
    assert read_result(error).error == "InternalError"


def test_copy_object_is_an_input_and_an_output() -> None:
    result = (
        f"<CopyObjectResult {NS}><LastModified>2024-01-01T00:00:00Z</LastModified>"
        "<ETag>&quot;ccc&quot;</ETag></CopyObjectResult>"
    ).encode()
    ex = exchange(
        "PUT",
        "/dst-bkt/out/b.bin",
        200,
        {"x-amz-copy-source-version-id": "sv1"},
        request={"x-amz-copy-source": "/src-bkt/in/a%20b.bin"},
        response_xml=result,
        copy_source_head=(7, "ccc"),
    )
    source, target = events(ex)
    assert (source.direction, source.url, source.version_id, source.size, source.etag) == (
        "input",
        "s3://src-bkt/in/a b.bin",
        "sv1",
        7,
        "ccc",
    )
    assert (target.direction, target.url, target.etag, target.size) == (
        "output",
        "s3://dst-bkt/out/b.bin",
        "ccc",
        7,
    )


def test_upload_part_copy_is_a_ranged_input() -> None:
    ex = exchange(
        "PUT",
        "/bkt/dst?partNumber=2&uploadId=u",
        200,
        request={"x-amz-copy-source": "bkt/src", "x-amz-copy-source-range": "bytes=10-19"},
        response_xml=b'<CopyPartResult><ETag>"p"</ETag></CopyPartResult>',
    )
    (event,) = events(ex)
    assert (event.op, event.url, event.byte_ranges) == (
        "UploadPartCopy",
        "s3://bkt/src",
        ((10, 19),),
    )


def test_deletes() -> None:
    (single,) = events(exchange("DELETE", "/bkt/k?versionId=v2", 204))
    assert (single.direction, single.url, single.version_id) == ("delete", "s3://bkt/k", "v2")
    request = (
        f"<Delete {NS}><Object><Key>a</Key></Object><Object><Key>b</Key>"
        "<VersionId>v</VersionId></Object><Object><Key>c</Key></Object><Quiet>true</Quiet></Delete>"
    ).encode()
    result = (
        f"<DeleteResult {NS}><Error><Key>c</Key><Code>AccessDenied</Code></Error></DeleteResult>"
    ).encode()
    many = events(exchange("POST", "/bkt?delete", 200, request_xml=request, response_xml=result))
    assert [(e.op, e.key, e.version_id) for e in many] == [
        ("DeleteObjects", "a", None),
        ("DeleteObjects", "b", "v"),
    ]
    assert read_delete_result(b"<DeleteResult><Deleted><Key>z</Key></Deleted></DeleteResult>") == (
        {"z"},
        set(),
    )


def test_error_body_is_s3_xml() -> None:
    body = error_body("BadGateway", "cannot reach <upstream> & co", "/bkt/k")
    assert b"<Code>BadGateway</Code>" in body
    assert b"cannot reach &lt;upstream&gt; &amp; co" in body


def test_event_json_lines_round_trip() -> None:
    event = S3Event(
        op="GetObject",
        bucket="b",
        key="k",
        url="s3://b/k",
        direction="input",
        status=206,
        timestamp=1.5,
        byte_ranges=((0, 9), (20, 29)),
    )
    line = encode_event(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_event(line) == event
    with pytest.raises(msgspec.ValidationError):
        decode_event(line.replace(b'"input"', b'"sideways"'))
    with pytest.raises(AttributeError):
        event.size = 3  # type: ignore[misc]


def test_read_events(tmp_path: Path) -> None:
    event = S3Event(
        op="PutObject",
        bucket="b",
        key="k",
        url="s3://b/k",
        direction="output",
        status=200,
        timestamp=2.0,
        size=3,
    )
    path = tmp_path / "proxy-events.jsonl"
    assert read_events(path) == []
    # The last line has no newline yet: a write in progress, left for the next read.
    path.write_bytes(encode_event(event) + b"\n" + encode_event(event)[:20])
    assert read_events(path) == [event]
    path.write_bytes(encode_event(event) + b'{"op": 1}\n')
    with pytest.raises(ProxyError, match=r"proxy-events.jsonl:2: not a proxy event"):
        read_events(path)
    assert parse_events(b"") == []
