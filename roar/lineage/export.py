"""Recorded jobs in open formats: W3C PROV-JSON and OpenLineage RunEvents (pure functions).

PROV: each job is an ``activity`` (start/end time, command), each artifact an ``entity``
identified by its digest (path, size, digests as attributes), the program a ``SoftwareAgent``;
``used``, ``wasGeneratedBy``, ``wasDerivedFrom`` (each output from each input, through the job)
and ``wasAssociatedWith`` tie them together.

OpenLineage: each job is a run with a START and a COMPLETE event (FAIL when it exited non-zero
or was killed), its inputs and outputs as datasets (namespace ``file://<host>`` for files,
``s3://<bucket>`` for objects) with standard facets (``dataSource``, ``outputStatistics``,
``sourceCodeLocation``, ``jobType``, ``processing_engine``, ``errorMessage``) and a ``roar_digest``
facet carrying the BLAKE3 digests.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from roar.models import ETAG_PREFIX, FileDigest, Job

PROV_NAMESPACE = "https://roar.dev/prov#"
OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = "https://openlineage.io/spec/facets"
# Run ids are UUIDs derived from job uids: the same job always exports the same run id.
_RUN_NAMESPACE = uuid.UUID("3c9c1a40-6d0e-4a5e-9f1e-726f61726a6f")


def _iso(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _entity_id(f: FileDigest) -> str:
    if f.hash.startswith(ETAG_PREFIX):
        return f"roar:etag-{f.hash[len(ETAG_PREFIX) :]}"
    return f"roar:blake3-{f.hash}"


def prov_document(jobs: Sequence[Job]) -> dict[str, Any]:
    """A PROV-JSON document (https://www.w3.org/submissions/prov-json/) of ``jobs``."""
    entities: dict[str, Any] = {}
    activities: dict[str, Any] = {}
    agents: dict[str, Any] = {}
    relations: dict[str, dict[str, Any]] = {
        "used": {},
        "wasGeneratedBy": {},
        "wasDerivedFrom": {},
        "wasAssociatedWith": {},
    }

    def relation(kind: str, body: dict[str, Any]) -> None:
        relations[kind][f"_:{kind}{len(relations[kind]) + 1}"] = body

    for job in jobs:
        activity = f"roar:job-{job.job_uid}"
        activities[activity] = {
            "prov:label": job.command,
            "prov:startTime": _iso(job.started_at),
            "prov:endTime": _iso(job.started_at + job.duration_seconds),
            "roar:step": job.step_ref,
            "roar:exitCode": job.exit_code if job.exit_code is not None else -1,
            "roar:gitCommit": job.git.commit or "",
        }
        program = job.argv[0] if job.argv else job.command.split(" ", 1)[0]
        agent = f"roar:program-{program.rsplit('/', 1)[-1]}"
        agents.setdefault(agent, {"prov:type": "prov:SoftwareAgent", "prov:label": program})
        relation("wasAssociatedWith", {"prov:activity": activity, "prov:agent": agent})
        for f in [*job.inputs, *job.outputs]:
            entities.setdefault(
                _entity_id(f),
                {
                    "prov:label": f.path,
                    "roar:path": f.path,
                    "roar:size": {"$": f.size, "type": "xsd:long"},
                    **{f"roar:{alg}": digest for alg, digest in sorted(f.hashes.items())},
                },
            )
        for f in job.inputs:
            relation("used", {"prov:activity": activity, "prov:entity": _entity_id(f)})
        for out in job.outputs:
            relation(
                "wasGeneratedBy",
                {
                    "prov:entity": _entity_id(out),
                    "prov:activity": activity,
                    "prov:time": _iso(job.started_at + job.duration_seconds),
                },
            )
            for f in job.inputs:
                relation(
                    "wasDerivedFrom",
                    {
                        "prov:generatedEntity": _entity_id(out),
                        "prov:usedEntity": _entity_id(f),
                        "prov:activity": activity,
                    },
                )
    document: dict[str, Any] = {
        "prefix": {"roar": PROV_NAMESPACE, "xsd": "http://www.w3.org/2001/XMLSchema#"},
        "entity": entities,
        "activity": activities,
        "agent": agents,
    }
    document.update({kind: body for kind, body in relations.items() if body})
    return document


def openlineage_events(
    jobs: Iterable[Job], *, namespace: str, host: str, producer: str, version: str
) -> list[dict[str, Any]]:
    """START and COMPLETE/FAIL RunEvents per job, oldest first."""
    events: list[dict[str, Any]] = []
    for job in jobs:
        run_id = str(uuid.uuid5(_RUN_NAMESPACE, job.job_uid))
        ok = job.exit_code == 0 and not job.signal
        base_run = {"runId": run_id}
        job_facets: dict[str, Any] = {
            "jobType": {
                **_facet(producer, "JobTypeJobFacet"),
                "processingType": "BATCH",
                "integration": "ROAR",
                "jobType": "BUILD" if job.job_type == "build" else "COMMAND",
            }
        }
        if job.git.commit and job.git.remote_url:
            job_facets["sourceCodeLocation"] = {
                **_facet(producer, "SourceCodeLocationJobFacet"),
                "type": "git",
                "url": job.git.remote_url,
                "version": job.git.commit,
            }
        ol_job = {"namespace": namespace, "name": _job_name(job), "facets": job_facets}
        start_facets = {
            "processing_engine": {
                **_facet(producer, "ProcessingEngineRunFacet"),
                "version": version,
                "name": "roar",
            }
        }
        inputs = [_dataset(f, host, producer, output=False) for f in job.inputs]
        outputs = [_dataset(f, host, producer, output=True) for f in job.outputs]
        events.append(
            {
                "eventType": "START",
                "eventTime": _iso(job.started_at),
                "producer": producer,
                "schemaURL": OPENLINEAGE_SCHEMA,
                "run": {**base_run, "facets": start_facets},
                "job": ol_job,
                "inputs": inputs,
                "outputs": [],
            }
        )
        end_facets: dict[str, Any] = {}
        if not ok:
            reason = f"killed by signal {job.signal}" if job.signal else f"exit {job.exit_code}"
            end_facets["errorMessage"] = {
                **_facet(producer, "ErrorMessageRunFacet"),
                "message": f"{job.command}: {reason}",
                "programmingLanguage": "shell",
            }
        events.append(
            {
                "eventType": "COMPLETE" if ok else "FAIL",
                "eventTime": _iso(job.started_at + job.duration_seconds),
                "producer": producer,
                "schemaURL": OPENLINEAGE_SCHEMA,
                "run": {**base_run, "facets": end_facets},
                "job": ol_job,
                "inputs": inputs,
                "outputs": outputs,
            }
        )
    return events


# The facet schema versions these facets follow (OpenLineage spec 2-0-2).
_FACET_VERSIONS = {
    "JobTypeJobFacet": "2-0-4",
    "SourceCodeLocationJobFacet": "1-1-0",
    "ProcessingEngineRunFacet": "1-1-1",
    "ErrorMessageRunFacet": "1-0-1",
    "DatasourceDatasetFacet": "1-0-1",
    "OutputStatisticsOutputDatasetFacet": "1-0-2",
}


def _facet(producer: str, name: str) -> dict[str, str]:
    version = _FACET_VERSIONS[name]
    return {
        "_producer": producer,
        "_schemaURL": f"{_FACETS}/{version}/{name}.json#/$defs/{name}",
    }


def _job_name(job: Job) -> str:
    return f"{job.step_ref} {job.command}"


def _dataset(f: FileDigest, host: str, producer: str, *, output: bool) -> dict[str, Any]:
    if f.path.startswith("s3://"):
        bucket, _, key = f.path[len("s3://") :].partition("/")
        namespace, name = f"s3://{bucket}", key
    else:
        namespace, name = f"file://{host}", f.path
    facets: dict[str, Any] = {
        "dataSource": {
            **_facet(producer, "DatasourceDatasetFacet"),
            "name": namespace,
            "uri": namespace,
        },
        "roar_digest": {
            "_producer": producer,
            "_schemaURL": f"{PROV_NAMESPACE}RoarDigestDatasetFacet",
            "digests": dict(sorted(f.hashes.items())) or {"roar": f.hash},
        },
    }
    dataset: dict[str, Any] = {"namespace": namespace, "name": name, "facets": facets}
    if output:
        dataset["outputFacets"] = {
            "outputStatistics": {
                **_facet(producer, "OutputStatisticsOutputDatasetFacet"),
                "size": f.size,
            }
        }
    return dataset


def upstream_jobs(target: Job, jobs_by_output: dict[str, Job], limit: int = 10_000) -> list[Job]:
    """``target`` and every job that made something it (transitively) read, oldest first."""
    seen: dict[str, Job] = {target.job_uid: target}
    todo = [target]
    while todo and len(seen) < limit:
        job = todo.pop()
        for f in job.inputs:
            maker = jobs_by_output.get(f.hash)
            if maker is not None and maker.job_uid not in seen:
                seen[maker.job_uid] = maker
                todo.append(maker)
    return sorted(seen.values(), key=lambda j: (j.started_at, j.job_uid))
