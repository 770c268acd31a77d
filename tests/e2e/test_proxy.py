"""The S3 proxy against a real S3-compatible server (moto, on 127.0.0.1), driven by boto3.

Each test runs `roar.proxy.serve` on its own event loop in a thread (aiohttp is asyncio-only)
and talks to it with boto3 at default settings, then checks two things: the bytes at the upstream
are exact (read back directly, bypassing the proxy), and the recorded events are right (ETag,
BLAKE3 computed here with the blake3 library, sizes, ranges).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import http.server
import io
import itertools
import os
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import anyio
import anyio.to_thread
import blake3
import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from moto.server import ThreadedMotoServer

from roar.core.config import Config
from roar.proxy import ProxyError, S3Event, job_proxy, serve

pytestmark = pytest.mark.e2e

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the whole run (tests use their own buckets)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> dict[str, str]:
    """Fake credentials in the environment, and nothing else of the user's AWS setup."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


class ProxyThread:
    """`serve()` on a private asyncio loop in a thread, collecting its events as they come."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self.events: list[S3Event] = []
        self.url = ""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with serve(**self._kwargs) as proxy:
                self.url = proxy.url
                self._ready.set()
                collector = asyncio.ensure_future(self._collect(proxy.events()))
                await self._stop.wait()
            await collector
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _collect(self, events: Any) -> None:
        async for event in events:
            self.events.append(event)

    def wait_events(
        self, predicate: Callable[[list[S3Event]], bool], timeout: float = 10
    ) -> list[S3Event]:
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"events never matched; got {self.events}")
            time.sleep(0.01)
        return list(self.events)

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture
def proxy(aws_env: dict[str, str], moto_url: str) -> Iterator[ProxyThread]:
    running = ProxyThread(upstream=moto_url)
    yield running
    running.close()


_CLIENTS: list[Any] = []


def client(endpoint: str, **config: Any) -> Any:
    """boto3 at default settings (credentials and region from the environment)."""
    session = boto3.session.Session()
    made = session.client("s3", endpoint_url=endpoint, config=BotoConfig(**config))
    _CLIENTS.append(made)
    return made


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    # Closed explicitly: a pooled socket collected mid-test is a ResourceWarning, an error here.
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


@pytest.fixture
def bucket(proxy: ProxyThread, moto_url: str) -> str:
    name = f"bkt-{uuid.uuid4().hex[:12]}"
    client(moto_url).create_bucket(Bucket=name)
    return name


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def of(events: list[S3Event], op: str, key: str | None = None) -> list[S3Event]:
    return [e for e in events if e.op == op and (key is None or e.key == key)]


def test_single_put_full_get_ranged_get_and_head(
    proxy: ProxyThread, bucket: str, moto_url: str
) -> None:
    data = os.urandom(1_000_003)
    key = "data/train set+v1 ü.bin"
    s3 = client(proxy.url)
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/x-test")
    direct = client(moto_url).get_object(Bucket=bucket, Key=key)
    assert direct["Body"].read() == data
    assert direct["ContentType"] == "application/x-test"

    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert (
        s3.get_object(Bucket=bucket, Key=key, Range="bytes=100-199")["Body"].read()
        == (data[100:200])
    )
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)

    events = proxy.wait_events(lambda ev: len(ev) >= 4)
    md5 = hashlib.md5(data).hexdigest()
    (put,) = of(events, "PutObject")
    assert (put.direction, put.url, put.size, put.etag, put.blake3) == (
        "output",
        f"s3://{bucket}/{key}",
        len(data),
        md5,
        b3(data),
    )
    full, ranged = of(events, "GetObject")
    assert (full.direction, full.size, full.etag, full.blake3, full.byte_ranges) == (
        "input",
        len(data),
        md5,
        b3(data),
        (),
    )
    assert (ranged.size, ranged.blake3, ranged.byte_ranges, ranged.transferred, ranged.status) == (
        len(data),
        None,
        ((100, 199),),
        100,
        206,
    )
    (head_event,) = of(events, "HeadObject")
    assert (head_event.direction, head_event.size, head_event.etag) == ("input", len(data), md5)
    assert all(e.job_id is None and e.session_id is None for e in events)


def test_multipart_upload_40mb_with_concurrent_parts_and_download(
    proxy: ProxyThread, bucket: str, moto_url: str
) -> None:
    data = os.urandom(37 * 1024 * 1024 + 12345)
    s3 = client(proxy.url)
    s3.upload_fileobj(io.BytesIO(data), bucket, "big.bin")  # 5 parts of 8 MiB, 10 threads
    direct = client(moto_url)
    assert direct.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == data
    upstream_etag = direct.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"')
    assert upstream_etag.endswith("-5")

    out = io.BytesIO()
    s3.download_fileobj(bucket, "big.bin", out)  # HEAD, then concurrent ranged GETs
    assert out.getvalue() == data

    events = proxy.wait_events(lambda ev: len(of(ev, "GetObject")) >= 5)
    (complete,) = of(events, "CompleteMultipartUpload")
    # The whole object's BLAKE3, combined from the parts' subtrees as they streamed through.
    assert (complete.direction, complete.size, complete.etag, complete.blake3) == (
        "output",
        len(data),
        upstream_etag,
        b3(data),
    )
    assert complete.digest_note is None and complete.blake3_of_parts is None
    assert not of(events, "UploadPart") and not of(events, "CreateMultipartUpload")
    gets = of(events, "GetObject")
    ranges = sorted(r for e in gets for r in e.byte_ranges)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data) - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))
    assert all(e.size == len(data) and e.etag == upstream_etag for e in gets)


def test_multipart_digests_for_any_part_layout(proxy: ProxyThread, bucket: str) -> None:
    from boto3.s3.transfer import TransferConfig

    s3 = client(proxy.url)
    # 16 MiB parts uploaded 8 at a time: still the object's true BLAKE3.
    pow2 = os.urandom(3 * 16 * 1024 * 1024 + 1)
    s3.upload_fileobj(
        io.BytesIO(pow2),
        bucket,
        "pow2.bin",
        Config=TransferConfig(multipart_chunksize=16 * 1024 * 1024, max_concurrency=8),
    )
    # 6 MiB parts (not a power-of-two number of KiB): the record says what was hashed instead.
    odd_part = 6 * 1024 * 1024
    odd = os.urandom(3 * odd_part + 7)
    s3.upload_fileobj(
        io.BytesIO(odd),
        bucket,
        "odd.bin",
        Config=TransferConfig(
            multipart_threshold=odd_part, multipart_chunksize=odd_part, max_concurrency=4
        ),
    )
    # Parts sent by hand, the last one first and out of order: its place was unknown.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="backwards.bin")["UploadId"]
    size = 8 * 1024 * 1024  # power-of-two parts, but the small last one comes alone, first
    pieces = [os.urandom(size), os.urandom(size), os.urandom(1000)]
    etags = {}
    for number in (3, 1, 2):
        etags[number] = s3.upload_part(
            Bucket=bucket,
            Key="backwards.bin",
            UploadId=upload,
            PartNumber=number,
            Body=pieces[number - 1],
        )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="backwards.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]},
    )
    events = proxy.wait_events(lambda ev: len(of(ev, "CompleteMultipartUpload")) == 3)
    done = {e.key: e for e in of(events, "CompleteMultipartUpload")}
    assert (done["pow2.bin"].blake3, done["pow2.bin"].size) == (b3(pow2), len(pow2))
    part_digests = b"".join(
        blake3.blake3(odd[i : i + odd_part]).digest() for i in range(0, len(odd), odd_part)
    )
    assert done["odd.bin"].blake3 is None
    assert done["odd.bin"].blake3_of_parts == blake3.blake3(part_digests).hexdigest()
    assert "not equal power-of-two" in (done["odd.bin"].digest_note or "")
    assert done["backwards.bin"].blake3 is None and done["backwards.bin"].blake3_of_parts is None
    assert "place in the object was unknown" in (done["backwards.bin"].digest_note or "")


def test_copy_delete_list_and_failures(proxy: ProxyThread, bucket: str, moto_url: str) -> None:
    s3 = client(proxy.url)
    s3.put_object(Bucket=bucket, Key="src.txt", Body=b"source bytes")
    s3.copy_object(Bucket=bucket, Key="dst.txt", CopySource={"Bucket": bucket, "Key": "src.txt"})
    assert client(moto_url).get_object(Bucket=bucket, Key="dst.txt")["Body"].read() == (
        b"source bytes"
    )
    listed = s3.list_objects_v2(Bucket=bucket)
    assert sorted(o["Key"] for o in listed["Contents"]) == ["dst.txt", "src.txt"]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dst.txt"}]})
    s3.delete_object(Bucket=bucket, Key="src.txt")
    assert client(moto_url).list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="src.txt")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"

    # A marker written after the failed GET: once its event is in, a GET event would be too.
    s3.put_object(Bucket=bucket, Key="marker.txt", Body=b"m")
    proxy.wait_events(lambda ev: any(e.key == "marker.txt" for e in ev))
    events = [e for e in proxy.events if e.key != "marker.txt"]
    assert [(e.op, e.direction, e.key) for e in events] == [
        ("PutObject", "output", "src.txt"),
        ("CopyObject", "input", "src.txt"),
        ("CopyObject", "output", "dst.txt"),
        ("DeleteObjects", "delete", "dst.txt"),
        ("DeleteObject", "delete", "src.txt"),
    ]
    copy_in, copy_out = of(events, "CopyObject")
    md5 = hashlib.md5(b"source bytes").hexdigest()
    assert (copy_in.url, copy_in.size, copy_in.etag) == (f"s3://{bucket}/src.txt", 12, md5)
    assert (copy_out.url, copy_out.size, copy_out.etag) == (f"s3://{bucket}/dst.txt", 12, md5)


def signed(
    method: str, host: str, path: str, headers: dict[str, str], secret: str = SECRET_KEY
) -> dict[str, str]:
    """``headers`` plus a SigV4 signature over them (botocore's signer, as boto3 would sign)."""
    payload_hash = headers.get("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")

    class _Signer(S3SigV4Auth):  # type: ignore[misc]
        def payload(self, request: Any) -> str:
            return payload_hash  # as declared: the body is not the signer's to read here

    request = AWSRequest(
        method=method, url=f"http://{host}{path}", headers={"Host": host, **headers}
    )
    _Signer(Credentials(ACCESS_KEY, secret), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def chunked_request(
    url: str, path: str, body: bytes | Iterator[bytes], headers: dict[str, str], sign: bool = True
) -> tuple[int, bytes]:
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request(
            "PUT",
            path,
            body=body,
            headers=signed("PUT", host, path, headers) if sign else {"Host": host, **headers},
            encode_chunked="Transfer-Encoding" in headers,
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_aws_chunked_uploads_arrive_decoded(proxy: ProxyThread, bucket: str, moto_url: str) -> None:
    payload = os.urandom(300_000)
    # boto3's own encoder, as it sends over TLS: HTTP-chunked transfer, CRC32 trailer.
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=Crc32Checksum,
        checksum_name="x-amz-checksum-crc32",
        chunk_size=64 * 1024,
    )
    status, body = chunked_request(
        proxy.url,
        f"/{bucket}/trailer.bin",
        iter(lambda: wrapper.read(10_000), b""),
        {
            "Transfer-Encoding": "chunked",
            "Content-Encoding": "aws-chunked",
            "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "X-Amz-Decoded-Content-Length": str(len(payload)),
            "X-Amz-Trailer": "x-amz-checksum-crc32",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/us-east-1/s3/"
            "aws4_request, SignedHeaders=host, Signature=" + "0" * 64,
        },
    )
    assert status == 200, body
    # Signed chunks (Java v1 / Go v1 / MinIO clients), with a Content-Length.
    signed = bytearray()
    for start in range(0, len(payload), 65536):
        piece = payload[start : start + 65536]
        signed += f"{len(piece):x};chunk-signature={'a' * 64}\r\n".encode() + piece + b"\r\n"
    signed += f"0;chunk-signature={'a' * 64}\r\n\r\n".encode()
    status, body = chunked_request(
        proxy.url,
        f"/{bucket}/signed.bin",
        bytes(signed),
        {
            "Content-Length": str(len(signed)),
            "Content-Encoding": "aws-chunked",
            "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "X-Amz-Decoded-Content-Length": str(len(payload)),
        },
    )
    assert status == 200, body
    direct = client(moto_url)
    for key in ("trailer.bin", "signed.bin"):
        stored = direct.get_object(Bucket=bucket, Key=key)
        assert stored["Body"].read() == payload
        assert stored.get("ContentEncoding") in (None, "")
    events = proxy.wait_events(lambda ev: len(ev) >= 2)
    assert {(e.key, e.size, e.blake3) for e in events} == {
        ("trailer.bin", len(payload), b3(payload)),
        ("signed.bin", len(payload), b3(payload)),
    }


def test_malformed_requests_get_s3_xml_errors_and_the_proxy_survives(
    proxy: ProxyThread, bucket: str, moto_url: str
) -> None:
    status, body = chunked_request(
        proxy.url,
        f"/{bucket}/broken.bin",
        b"zz\r\nnot a chunk\r\n0\r\n\r\n",
        {
            "Content-Length": "22",
            "Content-Encoding": "aws-chunked",
            "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "X-Amz-Decoded-Content-Length": "11",
        },
    )
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body and b"chunk size" in body
    status, body = chunked_request(
        proxy.url,
        f"/{bucket}/nolength.bin",
        iter([b"abc"]),
        {"Transfer-Encoding": "chunked"},
    )
    assert status == 411 and b"<Code>MissingContentLength</Code>" in body
    status, body = chunked_request(
        proxy.url,
        f"/{bucket}/short.bin",
        b"3\r\nabc\r\n0\r\n\r\n",
        {
            "Content-Length": "13",
            "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "X-Amz-Decoded-Content-Length": "5",
        },
    )
    assert status == 400 and b"<Code>IncompleteBody</Code>" in body
    status, body = chunked_request(
        proxy.url,
        "/",
        b"",
        {
            "Content-Length": "0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sts/"
            "aws4_request, SignedHeaders=host, Signature=00",
        },
        sign=False,
    )
    assert status == 400 and b"<Code>NotS3Request</Code>" in body
    # Not even HTTP (here a TLS hello): a 400 in XML, the connection closed, the proxy serving.
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"\x16\x03\x01 GARBAGE \r\n\r\n")
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    assert answer.split(b" ")[1] == b"400"
    assert b"<Code>InvalidRequest</Code>" in answer and b"malformed HTTP request" in answer
    keys = client(moto_url).list_objects_v2(Bucket=bucket).get("Contents", [])
    assert keys == []
    client(proxy.url).put_object(Bucket=bucket, Key="after.txt", Body=b"still alive")
    assert proxy.wait_events(lambda ev: len(ev) == 1)[0].key == "after.txt"


def test_virtual_host_style_and_presigned_urls(
    proxy: ProxyThread, bucket: str, moto_url: str
) -> None:
    port = proxy.url.rsplit(":", 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    conn.request(
        "PUT",
        "/dir/v%20host.txt",
        body=b"virtual",
        headers=signed(
            "PUT", f"{bucket}.localhost:{port}", "/dir/v%20host.txt", {"Content-Length": "7"}
        ),
    )
    assert conn.getresponse().status == 200
    conn.close()
    assert client(moto_url).get_object(Bucket=bucket, Key="dir/v host.txt")["Body"].read() == (
        b"virtual"
    )
    # Presigned with SigV2 (boto3's default for a custom endpoint) and with SigV4.
    for signature_version, marker in [(None, "Signature="), ("s3v4", "X-Amz-Signature=")]:
        options = {"signature_version": signature_version} if signature_version else {}
        url = client(proxy.url, **options).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "dir/v host.txt"}, ExpiresIn=60
        )
        assert marker in url
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.read() == b"virtual"
    put, get, get4 = proxy.wait_events(lambda ev: len(ev) == 3)
    assert (put.op, put.url, get.op, get.blake3, get4.blake3) == (
        "PutObject",
        f"s3://{bucket}/dir/v host.txt",
        "GetObject",
        b3(b"virtual"),
        b3(b"virtual"),
    )
    assert "Signature" not in repr(proxy.events) and ACCESS_KEY not in repr(proxy.events)


def test_job_id_header_attributes_the_event(proxy: ProxyThread, bucket: str) -> None:
    s3 = client(proxy.url)

    def tag(request: Any, **_: Any) -> None:
        request.headers["Roar-Job-Id"] = "job-42"

    s3.meta.events.register("before-sign.s3.PutObject", tag)
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x")
    (event,) = proxy.wait_events(lambda ev: len(ev) == 1)
    assert event.job_id == "job-42"


def test_unreachable_upstream_is_a_clear_502(aws_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    running = ProxyThread(upstream=f"http://127.0.0.1:{closed}")
    try:
        s3 = client(running.url, retries={"max_attempts": 1})
        with pytest.raises(ClientError) as failure:
            s3.get_object(Bucket="some-bucket", Key="k")
        error = failure.value.response["Error"]
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert error["Code"] == "BadGateway"
        assert f"cannot reach the S3 upstream http://127.0.0.1:{closed}" in error["Message"]
        assert running.events == []
    finally:
        running.close()


class _RegionalUpstream(http.server.BaseHTTPRequestHandler):
    """A fake S3 whose buckets all live in eu-west-1, behind a region-routed URL template."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, str, bytes]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        scope = auth.split("Credential=", 1)[1].split("/")[2] if "Credential=" in auth else ""
        self.seen.append((self.command, self.path, scope, body))
        in_path = self.path.split("/")[1]
        if in_path != "eu-west-1" or scope != "eu-west-1":
            payload = (
                b"" if self.command == "HEAD" else b"<Error><Code>PermanentRedirect</Code></Error>"
            )
            self.send_response(301)
            self.send_header("x-amz-bucket-region", "eu-west-1")
        else:
            payload = b"" if self.command in {"HEAD", "PUT"} else b"hello from eu"
            self.send_response(200)
            self.send_header("ETag", '"eu-etag"')
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_HEAD = _answer

    def log_message(self, *args: Any) -> None:
        pass


def test_bucket_region_redirects_are_followed(aws_env: dict[str, str]) -> None:
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RegionalUpstream)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    _RegionalUpstream.seen = []
    running = ProxyThread(upstream=f"http://127.0.0.1:{fake.server_port}/{{region}}")
    try:
        s3 = client(running.url)
        assert s3.get_object(Bucket="far-bucket", Key="k")["Body"].read() == b"hello from eu"
        s3.put_object(Bucket="other-bucket", Key="k", Body=b"body crosses once")
        seen = [(method, path, scope) for method, path, scope, _ in _RegionalUpstream.seen]
        assert seen == [
            ("GET", "/us-east-1/far-bucket/k", "us-east-1"),
            ("GET", "/eu-west-1/far-bucket/k", "eu-west-1"),
            # A body cannot be replayed: the region is asked first, then the PUT goes there.
            ("HEAD", "/us-east-1/other-bucket", "us-east-1"),
            ("HEAD", "/eu-west-1/other-bucket", "eu-west-1"),
            ("PUT", "/eu-west-1/other-bucket/k", "eu-west-1"),
        ]
        assert _RegionalUpstream.seen[-1][3] == b"body crosses once"
        get, put = running.wait_events(lambda ev: len(ev) == 2)
        assert (get.etag, get.blake3, put.etag, put.blake3) == (
            "eu-etag",
            b3(b"hello from eu"),
            "eu-etag",
            b3(b"body crosses once"),
        )
    finally:
        running.close()
        fake.shutdown()
        fake.server_close()


def test_no_credentials_refuses_to_start(aws_env: dict[str, str], monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    started = time.monotonic()
    with pytest.raises(ProxyError, match="no AWS credentials") as failure:
        ProxyThread(upstream="http://127.0.0.1:1")
    assert failure.value.exit_code == 2
    assert time.monotonic() - started < 5  # no instance-metadata probing


def test_an_upstream_pointing_at_the_proxy_itself_is_refused(aws_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProxyError, match="is this proxy itself") as failure:
        ProxyThread(upstream=f"http://localhost:{port}", port=port)
    assert failure.value.exit_code == 2


# The embeddable API runs where aiohttp runs: asyncio, with or without uvloop.
@pytest.fixture(
    params=[
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


@pytest.mark.anyio
async def test_serve_yields_url_and_event_stream(aws_env: dict[str, str], moto_url: str) -> None:
    name = f"bkt-{uuid.uuid4().hex[:12]}"
    await anyio.to_thread.run_sync(lambda: client(moto_url).create_bucket(Bucket=name))
    async with serve(upstream=moto_url, port=0) as proxy:
        assert proxy.url.startswith("http://127.0.0.1:")
        s3 = client(proxy.url)
        await anyio.to_thread.run_sync(lambda: s3.put_object(Bucket=name, Key="k", Body=b"abc"))
        with anyio.fail_after(10):
            event = await anext(aiter(proxy.events()))
    assert (event.op, event.url, event.blake3) == ("PutObject", f"s3://{name}/k", b3(b"abc"))


@pytest.mark.anyio
async def test_job_proxy_chains_to_the_users_endpoint(
    aws_env: dict[str, str], moto_url: str
) -> None:
    name = f"bkt-{uuid.uuid4().hex[:12]}"
    await anyio.to_thread.run_sync(lambda: client(moto_url).create_bucket(Bucket=name))
    child_env = {**aws_env, "AWS_ENDPOINT_URL": moto_url}
    async with job_proxy(Config.defaults(), "job-7", env=child_env) as job:
        assert job.upstream == moto_url
        # S3 only: STS, SQS and the rest keep their endpoints (AWS_ENDPOINT_URL is left alone).
        assert job.env == {"AWS_ENDPOINT_URL_S3": job.url}
        s3 = client(job.env["AWS_ENDPOINT_URL_S3"])
        await anyio.to_thread.run_sync(lambda: s3.put_object(Bucket=name, Key="o", Body=b"out"))
        await anyio.to_thread.run_sync(lambda: s3.get_object(Bucket=name, Key="o")["Body"].read())
        assert job.events == []  # complete only after the block
    assert [(e.op, e.job_id, e.blake3) for e in job.events] == [
        ("PutObject", "job-7", b3(b"out")),
        ("GetObject", "job-7", b3(b"out")),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_serve_under_trio_says_it_needs_asyncio(anyio_backend: str) -> None:
    with pytest.raises(ProxyError, match="needs asyncio"):
        async with serve(upstream="http://127.0.0.1:1"):
            pass


def test_a_client_hanging_up_mid_download_is_a_partial_read(
    proxy: ProxyThread, bucket: str, moto_url: str
) -> None:
    data = os.urandom(8 * 1024 * 1024)
    client(moto_url).put_object(Bucket=bucket, Key="big", Body=data)
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        head = signed("GET", f"{host}:{port}", f"/{bucket}/big", {})
        lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
        raw.sendall(f"GET /{bucket}/big HTTP/1.1\r\n{lines}\r\n".encode())
        received = 0
        while received < 1024 * 1024:
            received += len(raw.recv(65536))
    (event,) = proxy.wait_events(lambda ev: len(ev) == 1)
    assert (event.op, event.size, event.blake3) == ("GetObject", len(data), None)
    assert 0 < event.transferred < len(data)
    assert event.byte_ranges == ((0, event.transferred - 1),)
    # The proxy is unharmed.
    assert client(proxy.url).get_object(Bucket=bucket, Key="big")["Body"].read() == data
    assert proxy.wait_events(lambda ev: len(ev) == 2)[1].blake3 == b3(data)


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """An HTTP forward proxy (what HTTP_PROXY names) in front of moto: it takes absolute-URI
    requests for any host and sends them to moto, remembering which hosts were asked for."""

    protocol_version = "HTTP/1.1"
    target: ClassVar[tuple[str, int]] = ("127.0.0.1", 0)
    hosts: ClassVar[list[str]] = []

    def _forward(self) -> None:
        from urllib.parse import urlsplit

        asked = urlsplit(self.path)
        type(self).hosts.append(asked.netloc)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in {"proxy-connection", "host"}
        }
        headers["Host"] = f"{self.target[0]}:{self.target[1]}"  # moto routes by Host only
        conn = http.client.HTTPConnection(*self.target, timeout=30)
        try:
            path = asked.path + (f"?{asked.query}" if asked.query else "")
            conn.request(self.command, path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_the_upstream_is_reached_through_https_proxy_and_loopback_never(
    aws_env: dict[str, str], moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    moto = urlsplit(moto_url)
    _ForwardProxy.target = (moto.hostname or "127.0.0.1", moto.port or 80)
    _ForwardProxy.hosts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    forward = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HTTP_PROXY", forward)
    monkeypatch.setenv("HTTPS_PROXY", forward)
    # As on a corporate machine: clients reach local services (roar's proxy) directly.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("no_proxy", raising=False)
    # A name only the forward proxy can reach (it never resolves here): S3 through HTTP_PROXY.
    remote = ProxyThread(upstream=f"http://s3.roar-upstream.invalid:{moto.port}")
    try:
        s3 = client(remote.url)
        s3.create_bucket(Bucket="via-proxy")
        s3.put_object(Bucket="via-proxy", Key="k", Body=b"through the proxy")
        assert s3.get_object(Bucket="via-proxy", Key="k")["Body"].read() == b"through the proxy"
    finally:
        remote.close()
    assert f"s3.roar-upstream.invalid:{moto.port}" in set(_ForwardProxy.hosts)
    # A loopback upstream is reached directly whatever HTTP_PROXY says.
    _ForwardProxy.hosts = []
    local = ProxyThread(upstream=moto_url)
    try:
        client(local.url).head_bucket(Bucket="via-proxy")
    finally:
        local.close()
        server.shutdown()
        server.server_close()
    assert _ForwardProxy.hosts == []


@pytest.mark.slow
def test_slow_and_idle_clients_cannot_freeze_the_proxy(
    aws_env: dict[str, str], moto_url: str
) -> None:
    import resource
    import select

    from roar.proxy import ClientKey, Limits

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    key = ClientKey.generate()
    limits = Limits(idle_timeout=3, body_timeout=4, uploads_per_client=16, upload_pool=64)
    running = ProxyThread(upstream=moto_url, client_key=key, limits=limits)
    host = running.url.removeprefix("http://")
    name = f"bkt-{uuid.uuid4().hex[:12]}"
    client(moto_url).create_bucket(Bucket=name)
    client(moto_url).put_object(Bucket=name, Key="wanted.txt", Body=b"served")
    half_headers: list[socket.socket] = []
    tricklers: list[socket.socket] = []
    stop = threading.Event()

    def trickle() -> None:
        # One body byte per second per upload: never silent long enough to be cut.
        while not stop.wait(1.0):
            for sock in tricklers:
                with contextlib.suppress(OSError):
                    sock.sendall(b"x")

    feeder = threading.Thread(target=trickle, daemon=True)
    try:
        for number in range(256):
            sock = socket.create_connection(("127.0.0.1", int(host.split(":")[1])), timeout=30)
            sock.sendall(f"PUT /{name}/half-{number} HTTP/1.1\r\nHost: {host}\r\nContent-".encode())
            half_headers.append(sock)
        for number in range(256):
            sock = socket.create_connection(("127.0.0.1", int(host.split(":")[1])), timeout=30)
            head = signed("PUT", host, f"/{name}/slow-{number}", {"Content-Length": "100000"})
            lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
            sock.sendall(f"PUT /{name}/slow-{number} HTTP/1.1\r\n{lines}\r\n".encode() + b"x")
            tricklers.append(sock)
        feeder.start()
        # 512 clients hold connections: 256 half-sent heads, 256 uploads trickling in (one
        # client key: at most 16 of them upstream at once, the rest wait their turn).
        patient = client(running.url, retries={"max_attempts": 1}, read_timeout=60)
        assert patient.get_object(Bucket=name, Key="wanted.txt")["Body"].read() == b"served"
        other = boto3.session.Session(
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            region_name="us-east-1",
        ).client("s3", endpoint_url=running.url, config=BotoConfig(retries={"max_attempts": 1}))
        _CLIENTS.append(other)
        other.put_object(Bucket=name, Key="fresh.txt", Body=b"a different client's upload")
        assert client(moto_url).get_object(Bucket=name, Key="fresh.txt")["Body"].read() == (
            b"a different client's upload"
        )
        # The uploads are still being held open (served while they hold, not after).
        poller = select.poll()
        for sock in tricklers:
            poller.register(sock, select.POLLIN)
        assert poller.poll(0) == [], tricklers[0].recv(4096)
        # Half-sent heads are closed once idle for 3 s: the proxy hangs up, answering nothing.
        for sock in half_headers:
            sock.settimeout(30)
            assert sock.recv(4096) == b""
        # Uploads whose client goes silent are cut with S3's RequestTimeout.
        stop.set()
        feeder.join()
        tricklers[0].settimeout(60)
        answer = b""
        while b"</Error>" not in answer:
            chunk = tricklers[0].recv(4096)
            assert chunk, answer
            answer += chunk
        assert b" 400 " in answer.split(b"\r\n", 1)[0] and b"<Code>RequestTimeout</Code>" in answer
    finally:
        stop.set()
        for sock in half_headers + tricklers:
            sock.close()
        running.close()
