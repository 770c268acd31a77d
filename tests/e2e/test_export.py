"""`roar export`: PROV-JSON read back by the `prov` package, OpenLineage events rebuilt with
the OpenLineage Python client's own models (their validators and facet fields)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import Workspace

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
