#!/usr/bin/env python3
"""A tiny streaming S3-compatible sink/source, for scripts/bench/proxy.py only (not a test server).

moto stores every object in memory and takes 512 MB PUTs at ~65 MB/s, which would hide the
proxy's own cost; this server discards PUT bodies as they arrive (remembering only their size)
and serves GETs from one repeated 1 MiB buffer, so both directions run at socket speed and its
memory stays flat. It speaks just enough HTTP/1.1 for boto3: keep-alive, ``Expect:
100-continue``, Content-Length bodies, PUT/GET/HEAD on ``/bucket[/key]`` and the three multipart
calls (create, upload part, complete). It checks no signature.

    python scripts/bench/proxy_sink.py PORT        # prints "READY <port>" when listening
"""

from __future__ import annotations

import asyncio
import os
import sys

_BLOCK = os.urandom(1 << 20)
_sizes: dict[bytes, int] = {}


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.split(b"\r\n")
            method, target, _ = lines[0].split(b" ", 2)
            path = target.split(b"?", 1)[0]
            headers = {}
            for line in lines[1:]:
                if b":" in line:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if headers.get(b"expect", b"").lower() == b"100-continue" and length:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            left = length
            while left:
                chunk = await reader.read(min(left, 1 << 20))
                if not chunk:
                    return
                left -= len(chunk)
            query = target.split(b"?", 1)[1] if b"?" in target else b""
            if method == b"POST" and query.startswith(b"uploads"):
                body = (
                    b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                    b"<UploadId>sink-upload</UploadId></InitiateMultipartUploadResult>"
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            elif method == b"POST" and b"uploadId=" in query:
                body = (
                    b"<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                    b'<ETag>"0123456789abcdef0123456789abcdef-1"</ETag>'
                    b"</CompleteMultipartUploadResult>"
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            elif method == b"PUT":
                if path.count(b"/") > 1 and b"uploadId=" not in query:
                    _sizes[path] = length
                writer.write(
                    b'HTTP/1.1 200 OK\r\nETag: "0123456789abcdef0123456789abcdef"\r\n'
                    b"Content-Length: 0\r\n\r\n"
                )
            elif method in (b"GET", b"HEAD") and path in _sizes:
                size = _sizes[path]
                writer.write(
                    b'HTTP/1.1 200 OK\r\nETag: "0123456789abcdef0123456789abcdef"\r\n'
                    b"Content-Type: binary/octet-stream\r\nContent-Length: %d\r\n\r\n" % size
                )
                if method == b"GET":
                    left = size
                    while left:
                        piece = _BLOCK if left >= len(_BLOCK) else _BLOCK[:left]
                        writer.write(piece)
                        left -= len(piece)
                        await writer.drain()
            else:
                body = b"<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>"
                writer.write(
                    b"HTTP/1.1 404 Not Found\r\nContent-Type: application/xml\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()


async def _main(port: int) -> None:
    server = await asyncio.start_server(_serve_one, "127.0.0.1", port, limit=1 << 20)
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
