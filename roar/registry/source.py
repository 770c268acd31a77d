"""A registry as a lineage source for `roar reproduce` (the `LineageSource` seam)."""

from __future__ import annotations

from roar.models import Job
from roar.recording.reuse import OutputCache
from roar.registry._wire import job_from_dag
from roar.reproduce._model import Lineage, Target


class RegistrySource:
    """Lineage read from a registry's reproduction DAG (``GET /artifacts/{hash}/dag``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @property
    def name(self) -> str:
        return f"registry {self.url}"

    async def artifact(self, ref: str) -> Lineage | None:
        import re

        from roar.registry.client import NotInRegistry, connect

        if not re.fullmatch(r"[0-9a-fA-F]{4,64}", ref):
            return None  # a path means nothing to a registry
        async with connect(self.url) as client:
            try:
                dag = await client.get(f"/api/v1/artifacts/{ref.lower()}/dag")
            except NotInRegistry:
                return None
        if not isinstance(dag, dict) or not isinstance(dag.get("jobs"), list):
            return None
        repo = dag.get("gitRepo")
        jobs: list[Job] = [job_from_dag(entry, repo) for entry in dag["jobs"]]
        digest = str((dag.get("artifact") or {}).get("hash") or ref)
        producers = [j for j in jobs if any(o.hash == digest for o in j.outputs)]
        if not producers:
            return None
        latest = producers[-1]
        path = next(o.path for o in latest.outputs if o.hash == digest)
        target = Target(kind="artifact", ref=ref, hash=digest, path=path, producer=latest.job_uid)
        return Lineage(target=target, jobs=jobs, source=self.name, project_subdir="")

    async def session(self, ref: str) -> Lineage | None:
        return None  # sessions are reproduced from the project that recorded them, for now

    async def patch(self, digest: str) -> bytes | None:
        return None  # dirty-tree patches are not published

    async def local_copy(self, path: str, digest: str) -> str | None:
        return None

    def output_cache(self) -> OutputCache | None:
        return None  # a registry holds lineage, not content
