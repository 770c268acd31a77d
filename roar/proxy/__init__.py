"""The S3 lineage proxy: forward S3 traffic unchanged, record which objects a job read and wrote.

A reverse proxy on 127.0.0.1 that S3 clients reach through ``AWS_ENDPOINT_URL_S3`` (what
`roar run` and `roar proxy start` set: other services keep their endpoints). Each request is
re-signed with SigV4 by botocore, using the proxy's own credential chain, and forwarded to the
upstream (AWS by default; MinIO, moto, R2... with ``upstream=``). Bodies stream both ways; each
successful object read, write, copy or delete becomes an :class:`S3Event`.

Embedding it (asyncio only: the server is aiohttp, which runs on asyncio and uvloop, not trio)::

    import asyncio, os
    import boto3
    import roar.proxy

    async def main() -> None:
        async with roar.proxy.serve(upstream="http://127.0.0.1:9000", port=0) as proxy:
            s3 = boto3.client("s3", endpoint_url=proxy.url)
            await asyncio.to_thread(s3.put_object, Bucket="data", Key="x.csv", Body=b"a,b\\n")
            async for event in proxy.events():
                print(event.direction, event.url, event.size, event.etag, event.blake3)
                break

    asyncio.run(main())

:func:`job_proxy` wraps this for one ``roar run``; :func:`read_events` parses the JSON lines the
standalone daemon (``roar proxy start``) appends to ``.roar/proxy-events.jsonl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roar._lazy import lazy_exports

if TYPE_CHECKING:
    from roar.proxy._errors import ProxyError
    from roar.proxy._event import S3Event, encode_event
    from roar.proxy._server import Limits, Proxy, new_session_id, serve
    from roar.proxy._verify import ClientKey
    from roar.proxy.ingest import read_events
    from roar.proxy.job import JobProxy, job_proxy

__all__ = (
    "ClientKey",
    "JobProxy",
    "Limits",
    "Proxy",
    "ProxyError",
    "S3Event",
    "encode_event",
    "job_proxy",
    "new_session_id",
    "read_events",
    "serve",
)

_LAZY = {
    "ClientKey": "roar.proxy._verify",
    "JobProxy": "roar.proxy.job",
    "Limits": "roar.proxy._server",
    "Proxy": "roar.proxy._server",
    "ProxyError": "roar.proxy._errors",
    "S3Event": "roar.proxy._event",
    "encode_event": "roar.proxy._event",
    "new_session_id": "roar.proxy._server",
    "job_proxy": "roar.proxy.job",
    "read_events": "roar.proxy.ingest",
    "serve": "roar.proxy._server",
}


__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
