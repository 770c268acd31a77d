"""Registering the session's lineage after `roar put`, when a registry is configured."""

from __future__ import annotations

from roar.core.context import RoarContext


async def register_after_put(ctx: RoarContext) -> tuple[str | None, str | None]:
    """(the registry URL it was registered with, or None; what went wrong, or None)."""
    from roar.api._export import jobs_for
    from roar.registry.client import RegistryError, connect, registry_url
    from roar.registry.register import prepare, publish, session_composites

    url = registry_url(ctx.config)
    if url is None:
        return None, None
    async with ctx.store() as store:
        jobs = await jobs_for(store, ctx, None)
        composites = await session_composites(store, jobs)
    try:
        scope = ctx.config.get_str("scope.mode") or "anonymous"
        async with connect(url, config=ctx.config, anonymous=scope == "anonymous") as client:
            publication = prepare(ctx, jobs)
            publication.composites = composites
            await publish(client, publication, scope=scope)
    except RegistryError as exc:
        return None, f"registering with {url} failed: {exc} (roar register retries)"
    return url, None
