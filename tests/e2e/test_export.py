"""`roar export`: PROV-JSON read back by the `prov` package; OpenLineage events checked against
the OpenLineage JSON Schema (rebuilt from the client's generated models, see
tests/openlineage_schema.py) and rebuilt with the client's own models (validators, facet fields)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import Workspace
from tests.openlineage_schema import run_event_errors
from tests.servers import ThreadedApp

pytestmark = pytest.mark.e2e

PREP = "open('data.csv', 'w').write('1,2,3')"
TRAIN = "open('model.txt', 'w').write(str(sum(map(int, open('data.csv').read().split(',')))))"


def records(document: object, kind: type) -> list[object]:
    return list(document.get_records(kind))  # type: ignore[attr-defined]


@pytest.fixture
def pipeline(project: Workspace) -> Workspace:
    project.gen({"prep.py": PREP, "train.py": TRAIN, "fail.py": "raise SystemExit(4)"})
    project.commit_all("pipeline")
    project.roar("run", "python", "prep.py")
    project.roar("run", "python", "train.py")
    project.roar("run", "python", "fail.py", check=False)
    return project


def test_prov_json_reads_back_with_the_prov_library(pipeline: Workspace) -> None:
    from prov.model import (
        ProvActivity,
        ProvAssociation,
        ProvDerivation,
        ProvDocument,
        ProvEntity,
        ProvGeneration,
        ProvUsage,
    )

    text = pipeline.roar("export", "--format", "prov-json").stdout
    document = ProvDocument.deserialize(content=text, format="json")
    activities = records(document, ProvActivity)
    assert len(activities) == 3
    labels = {str(a.label) for a in activities}
    assert {"python prep.py", "python train.py", "python fail.py"} <= labels
    paths = {str(e.get_attribute("roar:path").pop()) for e in records(document, ProvEntity)}
    assert {"data.csv", "model.txt", "prep.py", "train.py"} <= paths
    assert records(document, ProvUsage) and records(document, ProvGeneration)
    assert len(records(document, ProvAssociation)) == 3
    derived = {
        (str(d.formal_attributes[0][1]), str(d.formal_attributes[1][1]))
        for d in records(document, ProvDerivation)
    }
    data = json.loads(text)
    by_path = {v["roar:path"]: k for k, v in data["entity"].items()}
    assert (f"{by_path['model.txt']}", f"{by_path['data.csv']}") in derived
    # Upstream of one artifact only: the model and what made its input, not fail.py.
    upstream = json.loads(pipeline.roar("export", "model.txt", "--format", "prov-json").stdout)
    assert sorted(a["prov:label"] for a in upstream["activity"].values()) == [
        "python prep.py",
        "python train.py",
    ]


def test_openlineage_events_fit_the_openlineage_client_models(pipeline: Workspace) -> None:
    from openlineage.client import event_v2
    from openlineage.client.generated import (
        datasource_dataset,
        error_message_run,
        job_type_job,
        output_statistics_output_dataset,
        processing_engine_run,
    )

    lines = pipeline.roar("export", "--format", "openlineage").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["eventType"] for e in events] == [
        "START",
        "COMPLETE",
        "START",
        "COMPLETE",
        "START",
        "FAIL",
    ]
    models = {
        "jobType": job_type_job.JobTypeJobFacet,
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
        "errorMessage": error_message_run.ErrorMessageRunFacet,
        "dataSource": datasource_dataset.DatasourceDatasetFacet,
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
    }

    def check_facets(facets: dict[str, dict[str, object]]) -> None:
        for name, facet in facets.items():
            if name not in models:
                assert name == "roar_digest" and facet["_producer"] and facet["_schemaURL"]
                continue
            fields = {k: v for k, v in facet.items() if not k.startswith("_")}
            model = models[name](**fields)  # unknown or missing fields raise here
            assert facet["_schemaURL"] == model._get_schema()

    for event in events:
        assert run_event_errors(event) == []
        check_facets(event["run"]["facets"])
        check_facets(event["job"]["facets"])
        for dataset in event["inputs"] + event["outputs"]:
            check_facets(dataset["facets"])
            check_facets(dataset.get("outputFacets", {}))
        rebuilt = event_v2.RunEvent(
            eventType=event_v2.RunState(event["eventType"]),
            eventTime=event["eventTime"],
            producer=event["producer"],
            run=event_v2.Run(runId=event["run"]["runId"]),
            job=event_v2.Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
            inputs=[event_v2.InputDataset(d["namespace"], d["name"]) for d in event["inputs"]],
            outputs=[event_v2.OutputDataset(d["namespace"], d["name"]) for d in event["outputs"]],
        )
        assert rebuilt.schemaURL == event["schemaURL"]
        assert uuid.UUID(event["run"]["runId"]).version == 5
    train_end = events[3]
    assert [d["name"] for d in train_end["outputs"]] == ["model.txt"]
    assert "data.csv" in [d["name"] for d in train_end["inputs"]]
    assert train_end["outputs"][0]["outputFacets"]["outputStatistics"]["size"] == 1
    assert "exit 4" in events[5]["run"]["facets"]["errorMessage"]["message"]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]


def test_bad_references_and_formats_are_one_line_errors(pipeline: Workspace) -> None:
    missing = pipeline.roar("export", "nope.txt", "--format", "prov-json", check=False)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
    wrong = pipeline.roar("export", "--format", "rdf", check=False)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


class _Receiver:
    """A Marquez-like endpoint on 127.0.0.1 that keeps what it is sent."""

    def __init__(self, status: int = 201) -> None:
        from aiohttp import web

        self.received: list[dict[str, object]] = []
        self.paths: list[str] = []
        self.rejected: list[list[str]] = []

        async def lineage(request: web.Request) -> web.Response:
            # Like Marquez: an event that is not a valid OpenLineage RunEvent gets a 400.
            self.paths.append(request.path)
            event = await request.json()
            errors = run_event_errors(event)
            if errors:
                self.rejected.append(errors)
                return web.json_response({"errors": errors}, status=400)
            self.received.append(event)
            return web.Response(status=status)

        self._app = ThreadedApp(lambda app: app.router.add_post("/api/v1/lineage", lineage))
        self.port = self._app.port

    def close(self) -> None:
        self._app.close()


def test_run_emits_openlineage_events_to_a_marquez_endpoint(project: Workspace) -> None:
    from openlineage.client import event_v2

    receiver = _Receiver()
    try:
        project.gen({"prep.py": PREP, "fail.py": "raise SystemExit(5)"})
        project.commit_all("steps")
        url = f"http://127.0.0.1:{receiver.port}"
        project.roar("run", "--emit-openlineage", url, "python", "prep.py")
        project.roar("config", "set", "openlineage.url", url + "/")
        failed = project.roar("run", "python", "fail.py", check=False)
        assert failed.returncode == 5  # the command's exit code, not the emitter's
    finally:
        receiver.close()
    assert receiver.rejected == []  # every event fits the OpenLineage schema
    assert receiver.paths == ["/api/v1/lineage"] * 4
    assert [e["eventType"] for e in receiver.received] == ["START", "COMPLETE", "START", "FAIL"]
    complete = receiver.received[1]
    assert [d["name"] for d in complete["outputs"]] == ["data.csv"]  # type: ignore[index]
    for event in receiver.received:
        event_v2.RunEvent(
            eventType=event_v2.RunState(event["eventType"]),
            eventTime=str(event["eventTime"]),
            producer=str(event["producer"]),
            run=event_v2.Run(runId=event["run"]["runId"]),  # type: ignore[index]
            job=event_v2.Job(namespace="ns", name="n"),
        )


def test_an_unreachable_endpoint_is_a_warning_not_a_failure(project: Workspace) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    project.gen({"prep.py": PREP})
    project.commit_all("steps")
    result = project.roar(
        "run", "--emit-openlineage", f"http://127.0.0.1:{port}", "python", "prep.py"
    )
    assert result.returncode == 0
    assert "roar: warning: OpenLineage events not delivered: cannot reach" in result.stderr
    assert project.roar("show", "@1", "--json").json()["outputs"][0]["path"] == "data.csv"
