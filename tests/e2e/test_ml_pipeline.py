"""A four-stage pandas / scikit-learn pipeline (prepare -> featurize -> train -> evaluate), like
the DVC example projects, records exactly the files each stage opens, under every tracer."""

from __future__ import annotations

import json
import random

import pytest

from tests.conftest import TRACERS, Workspace, tracer_param

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

pd = pytest.importorskip("pandas", reason="pandas is in the dev extra (pip install -e '.[dev]')")
pytest.importorskip("sklearn", reason="scikit-learn is in the dev extra")

PREPARE = """
import json
import pandas as pd

params = json.load(open("params.json"))["prepare"]
raw = pd.read_csv("data/raw.csv")
test = raw.sample(frac=params["split"], random_state=params["seed"])
train = raw.drop(test.index)
train.to_csv("data/prepared/train.csv", index=False)
test.to_csv("data/prepared/test.csv", index=False)
"""
FEATURIZE = """
import pandas as pd

for part in ("train", "test"):
    frame = pd.read_csv(f"data/prepared/{part}.csv")
    frame["x1x2"] = frame["x1"] * frame["x2"]
    frame["x1_sq"] = frame["x1"] ** 2
    frame.to_csv(f"data/features/{part}.csv", index=False)
"""
TRAIN = """
import json
import pickle
import pandas as pd
from sklearn.linear_model import LogisticRegression

params = json.load(open("params.json"))["train"]
frame = pd.read_csv("data/features/train.csv")
model = LogisticRegression(C=params["C"], max_iter=200)
model.fit(frame.drop(columns=["label"]), frame["label"])
with open("model.pkl", "wb") as handle:
    pickle.dump(model, handle)
"""
EVALUATE = """
import json
import pickle
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

model = pickle.load(open("model.pkl", "rb"))
frame = pd.read_csv("data/features/test.csv")
features, label = frame.drop(columns=["label"]), frame["label"]
scores = model.predict_proba(features)[:, 1]
metrics = {"accuracy": accuracy_score(label, scores > 0.5), "auc": roc_auc_score(label, scores)}
json.dump(metrics, open("metrics.json", "w"))
"""


def _raw_csv(rows: int = 400) -> str:
    rng = random.Random(3)
    lines = ["x1,x2,label"]
    for _ in range(rows):
        x1, x2 = rng.uniform(-1, 1), rng.uniform(-1, 1)
        label = int(x1 + 0.5 * x2 + rng.gauss(0, 0.3) > 0)
        lines.append(f"{x1:.5f},{x2:.5f},{label}")
    return "\n".join(lines) + "\n"


EXPECTED = {
    "prepare.py": (
        {"prepare.py", "params.json", "data/raw.csv"},
        {"data/prepared/train.csv", "data/prepared/test.csv"},
    ),
    "featurize.py": (
        {"featurize.py", "data/prepared/train.csv", "data/prepared/test.csv"},
        {"data/features/train.csv", "data/features/test.csv"},
    ),
    "train.py": ({"train.py", "params.json", "data/features/train.csv"}, {"model.pkl"}),
    "evaluate.py": ({"evaluate.py", "model.pkl", "data/features/test.csv"}, {"metrics.json"}),
}


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_four_stage_pipeline_records_exactly_what_it_opens(project: Workspace, tracer: str) -> None:
    project.gen(
        {
            "prepare.py": PREPARE,
            "featurize.py": FEATURIZE,
            "train.py": TRAIN,
            "evaluate.py": EVALUATE,
            "params.json": json.dumps({"prepare": {"split": 0.25, "seed": 7}, "train": {"C": 1}}),
            "data": {"raw.csv": _raw_csv(), "prepared": {}, "features": {}},
        }
    )
    (project.root / "data" / "prepared" / ".keep").write_text("")
    (project.root / "data" / "features" / ".keep").write_text("")
    project.commit_all("pipeline")
    for stage in EXPECTED:
        project.roar("run", "--tracer", tracer, "python", stage)

    for number, (stage, (inputs, outputs)) in enumerate(EXPECTED.items(), start=1):
        job = project.roar("show", f"@{number}", "--json").json()
        assert job["tracer"] == tracer and job["exit_code"] == 0
        sources = job["metadata"]["input_sources"]
        recorded_inputs = {f["path"] for f in job["inputs"] if sources.get(f["path"]) != "config"}
        assert recorded_inputs == inputs, (stage, recorded_inputs ^ inputs)
        assert {f["path"] for f in job["outputs"]} == outputs, stage
        imported = {n.replace("_", "-").lower() for n in job["metadata"]["packages"]["pip"]}
        assert "pandas" in imported
        if stage in {"train.py", "evaluate.py"}:
            assert "scikit-learn" in imported
    dag = project.roar("dag", "--json").json()
    deps = {n["step_number"]: sorted(n["dependencies"]) for n in dag["nodes"]}
    assert deps == {1: [], 2: [1], 3: [2], 4: [2, 3]}
    assert "No unsourced inputs" in project.roar("inputs", "--unsourced").stdout
    metrics = json.loads((project.root / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.7
