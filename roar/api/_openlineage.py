"""Posting a job's OpenLineage RunEvents to a Marquez-compatible endpoint (`--emit-openlineage`).

The events are posted once the job is recorded (their ``eventTime`` carries the real start and
end): START, then COMPLETE or FAIL, each as one ``POST <url>/api/v1/lineage`` (a URL that already
ends in ``/lineage`` is used as given). A failure to deliver is a warning, never the run's
failure: the job is recorded either way and the command's exit code stands.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roar.core.context import RoarContext
    from roar.models import Job


def lineage_endpoint(url: str) -> str:
    base = url.rstrip("/")
    return base if base.endswith("/lineage") else f"{base}/api/v1/lineage"


def job_events(ctx: RoarContext, job: Job) -> list[dict[str, Any]]:
    from roar._version import __version__
    from roar.lineage.export import openlineage_events

    return openlineage_events(
        [job],
        namespace=f"roar/{ctx.project.root.name}",
        host=socket.gethostname(),
        producer=f"https://pypi.org/project/roar/{__version__}",
        version=__version__,
    )


# A registry that does not answer must not hold up the end of `roar run` for long.
_POST_SECONDS = 10.0


async def emit(events: list[dict[str, Any]], url: str) -> str | None:
    """Post ``events`` in order; None when all were accepted, else a one-line reason."""
    import aiohttp

    endpoint = lineage_endpoint(url)
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=_POST_SECONDS), trust_env=True
        ) as http:
            for event in events:
                async with http.post(
                    endpoint,
                    data=json.dumps(event),
                    headers={"Content-Type": "application/json"},
                ) as response:
                    if response.status >= 300:
                        return f"{endpoint} answered {response.status} {response.reason}"
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return f"cannot reach {endpoint}: {exc or type(exc).__name__}"
    except ValueError as exc:  # a malformed URL
        return f"cannot post to {url!r}: {exc}"
    return None
