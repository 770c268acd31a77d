"""One proxy per ``roar run``: started on a free port, torn down when the command ends.

The recorder wraps the traced command in :func:`job_proxy`, adds ``proxy.env`` to the child's
environment and, after the block, attributes ``proxy.events`` to the job::

    async with job_proxy(ctx.config, job_uid) as proxy:
        exit_code = await run_traced(argv, env={**child_env, **proxy.env})
    record(proxy.events)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from roar.core.config import Config
from roar.proxy._event import S3Event

# Where the child's S3 traffic would have gone without roar, most specific first.
_CHAIN_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "ROAR_UPSTREAM_S3_ENDPOINT")


@dataclass
class JobProxy:
    """The running proxy of one job: its URL, the variables for the child, then its events.

    ``env`` sets ``AWS_ENDPOINT_URL_S3`` only: S3 clients come to the proxy, while STS, SQS and
    every other service keep going where ``AWS_ENDPOINT_URL`` (if the user set one) or AWS sends
    them. A request signed for another service that reaches the proxy anyway gets a clear
    ``NotS3Request`` error.
    ``events`` is complete once the ``async with`` block has exited.
    """

    url: str
    upstream: str
    env: dict[str, str]
    events: list[S3Event] = field(default_factory=list)


def job_upstream(config: Config, env: Mapping[str, str]) -> str | None:
    """The upstream for a job's proxy: an endpoint the user already set, else the config's.

    An ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` already in the environment is where the
    command's clients would have sent their requests, so the proxy chains to it; then
    ``ROAR_UPSTREAM_S3_ENDPOINT``, then ``proxy.upstream_endpoint``; None means AWS.
    """
    for name in _CHAIN_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return value
    return config.get_str("proxy.upstream_endpoint")


@asynccontextmanager
async def job_proxy(
    config: Config,
    job_uid: str,
    *,
    env: Mapping[str, str] | None = None,
    daemon_url: str | None = None,
) -> AsyncIterator[JobProxy]:
    """Run a proxy for one job on a free loopback port (asyncio only; see ``roar.proxy``).

    ``env`` is the environment the command would get without the proxy (default: this process's
    plus the project's ``[env]``); it decides the upstream. Every event is attributed to
    ``job_uid`` unless its request carries another ``Roar-Job-Id``. Raises
    :class:`roar.proxy.ProxyError` (exit 2) when there are no AWS credentials to sign with.

    ``daemon_url`` is the project's running proxy daemon, if any: when the upstream is that
    daemon, each request forwarded to it names this job, so the daemon files the events under
    the job (where they already are) rather than as a session job of its own.
    """
    from roar.proxy._server import serve

    base = dict(os.environ) | dict(config.env) if env is None else dict(env)
    upstream = job_upstream(config, base)
    chained_to_daemon = daemon_url is not None and _same_endpoint(upstream, daemon_url)
    async with serve(
        upstream=upstream, port=0, job_id=job_uid, upstream_is_roar=chained_to_daemon
    ) as proxy:
        job = JobProxy(
            url=proxy.url,
            upstream=proxy.upstream,
            env={"AWS_ENDPOINT_URL_S3": proxy.url},
        )
        yield job
    # The server has stopped: every event is in the stream, which now ends after the last one.
    job.events.extend([event async for event in proxy.events()])


def _same_endpoint(a: str | None, b: str) -> bool:
    from urllib.parse import urlsplit

    if a is None:
        return False
    left, right = urlsplit(a.strip()), urlsplit(b.strip())
    return (left.scheme, left.hostname, left.port) == (right.scheme, right.hostname, right.port)
