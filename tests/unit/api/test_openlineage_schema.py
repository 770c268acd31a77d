"""The OpenLineage schema the export tests check against accepts the client's own events and
rejects each kind of mistake (so a passing check means something)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openlineage.client import event_v2
from openlineage.client.generated import error_message_run, output_statistics_output_dataset
from openlineage.client.serde import Serde

from tests.openlineage_schema import run_event_errors


def _client_event() -> dict[str, Any]:
    event = event_v2.RunEvent(
        eventType=event_v2.RunState.FAIL,
        eventTime="2026-12-05T14:00:00.000000+00:00",
        producer="https://example.invalid/roar-tests",
        run=event_v2.Run(
            runId="0193a1f4-7c2e-7b3a-9a51-3f6c2d8e4b10",
            facets={"errorMessage": error_message_run.ErrorMessageRunFacet("exit 4", "shell")},
        ),
        job=event_v2.Job(namespace="ns", name="python train.py"),
        outputs=[
            event_v2.OutputDataset(
                "file://host",
                "model.txt",
                outputFacets={
                    "outputStatistics": (
                        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            rowCount=None, size=12
                        )
                    )
                },
            )
        ],
    )
    result: dict[str, Any] = json.loads(Serde.to_json(event))
    return result


def test_the_clients_own_event_is_valid() -> None:
    assert run_event_errors(_client_event()) == []


def _drop(key: str) -> Any:
    return lambda e: e.pop(key)


MISTAKES = {
    "no producer": _drop("producer"),
    "no run": _drop("run"),
    "event time without a time": lambda e: e.update(eventTime="yesterday"),
    "run id not a uuid": lambda e: e["run"].update(runId="run-1"),
    "unknown event type": lambda e: e.update(eventType="DONE"),
    "inputs not a list": lambda e: e.update(inputs={}),
    "dataset without a name": lambda e: e["outputs"][0].pop("name"),
    "standard facet field of the wrong type": lambda e: e["outputs"][0]["outputFacets"][
        "outputStatistics"
    ].update(size="twelve"),
    "standard facet missing a required field": lambda e: e["run"]["facets"]["errorMessage"].pop(
        "message"
    ),
    "custom facet without _producer": lambda e: e["run"]["facets"].update(
        mine={"_schemaURL": "https://example.invalid/MyFacet.json"}
    ),
    "schemaURL not a URI": lambda e: e.update(schemaURL="not a uri"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_is_rejected(mistake: str) -> None:
    event = copy.deepcopy(_client_event())
    MISTAKES[mistake](event)
    assert run_event_errors(event), mistake
