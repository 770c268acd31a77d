"""Ray under `roar run`: every task and actor method call of a script using local Ray is a job of
its own, attributed across processes, ordered by the files the tasks exchange, a child of the
script's job; and `roar reproduce` of a task's output re-runs the script. Real Ray, 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TRACERS, Workspace, tracer_param
from tests.e2e.test_proxy_daemon import _client, aws_project, moto_process  # noqa: F401

ray = pytest.importorskip("ray", reason="Ray is not installed (scripts/test installs .[dev])")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PIPELINE = """
import subprocess, sys
import ray

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

@ray.remote
def shard(i):
    with open(f"shard_{i}.txt", "w") as f:
        f.write(open("data.txt").read() * (i + 1))
    return i

@ray.remote
def reduce(n):
    total = sum(len(open(f"shard_{i}.txt").read()) for i in range(n))
    with open("total.txt", "w") as f:
        f.write(str(total))
    return total

@ray.remote
def spawn():
    # A helper process the task starts: what it writes is the task's.
    subprocess.run([sys.executable, "-c", "open('helper.txt', 'w').write('from a child')"],
                   check=True)

@ray.remote
class Trainer:
    def __init__(self):
        self.steps = 0

    def train(self):
        self.steps += 1

    def save(self):
        with open("checkpoint.ckpt", "w") as f:
            f.write(f"steps={self.steps}")

ray.get([shard.remote(i) for i in range(8)])
print(ray.get(reduce.remote(8)))
ray.get(spawn.remote())
trainer = Trainer.remote()
ray.get(trainer.train.remote())
ray.get(trainer.save.remote())
ray.shutdown()
"""


@pytest.fixture
def ray_project(project: Workspace) -> Workspace:
    project.env["RAY_USAGE_STATS_ENABLED"] = "0"  # never a call home
    project.env["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    project.gen(
        {
            "pipeline.py": PIPELINE,
            "data.txt": "abc",
            ".gitignore": ".roar/\nshard_*.txt\ntotal.txt\nhelper.txt\ncheckpoint.ckpt\n",
        }
    )
    project.commit_all("ray pipeline")
    return project


def _jobs(project: Workspace) -> list[dict[str, Any]]:
    log = project.roar("log", "--json").json()
    return [project.roar("show", j["job_uid"], "--json").json() for j in log]


def _outputs(job: dict[str, Any]) -> set[str]:
    return {f["path"] for f in job["outputs"]}


@pytest.mark.parametrize("tracer", [tracer_param(t) for t in TRACERS])
def test_each_task_and_actor_call_is_a_job(ray_project: Workspace, tracer: str) -> None:
    run = ray_project.roar("run", "--tracer", tracer, sys.executable, "pipeline.py", timeout=300)
    assert run.stdout.strip().endswith("108")  # 3 bytes x (1 + 2 + ... + 8)
    jobs = _jobs(ray_project)
    (script,) = [j for j in jobs if j["job_type"] == "run"]
    tasks = [j for j in jobs if j["job_type"] == "ray_task"]
    names = sorted(j["command"] for j in tasks)
    assert names == sorted(
        ["ray_task:shard"] * 8
        + ["ray_task:reduce", "ray_task:spawn"]
        + ["ray_task:Trainer.__init__", "ray_task:Trainer.train", "ray_task:Trainer.save"]
    )
    assert script["metadata"]["ray"] == {"tasks": len(tasks)}
    for task in tasks:
        assert task["metadata"]["ray"]["parent_job_uid"] == script["job_uid"]
    # Each task's own files, and only them; the script's job keeps none of theirs.
    shards = [j for j in tasks if j["command"] == "ray_task:shard"]
    assert sorted(o for j in shards for o in _outputs(j)) == [f"shard_{i}.txt" for i in range(8)]
    assert all(len(_outputs(j)) == 1 and {"data.txt"} <= {f["path"] for f in j["inputs"]}
               for j in shards)  # fmt: skip
    (reducer,) = [j for j in tasks if j["command"] == "ray_task:reduce"]
    assert _outputs(reducer) == {"total.txt"}
    assert {f["path"] for f in reducer["inputs"]} >= {f"shard_{i}.txt" for i in range(8)}
    (spawner,) = [j for j in tasks if j["command"] == "ray_task:spawn"]
    assert _outputs(spawner) == {"helper.txt"}  # written by the process the task started
    (saver,) = [j for j in tasks if j["command"] == "ray_task:Trainer.save"]
    assert _outputs(saver) == {"checkpoint.ckpt"}
    assert not _outputs(script) & {"total.txt", "helper.txt", "checkpoint.ckpt"}
    # Ray's own session files are neither inputs nor outputs of anything.
    every_path = {f["path"] for j in jobs for f in [*j["inputs"], *j["outputs"]]}
    assert not [p for p in every_path if p.startswith(("/tmp/ray", str(Path.home() / ".ray")))]
    # The DAG: eight shards fan out, the reduce fans them in.
    dag = ray_project.roar("dag", "--json").json()
    by_step = {n["step_number"]: n for n in dag["nodes"]}
    reduce_node = next(n for n in dag["nodes"] if n["command"] == "ray_task:reduce")
    upstream = {by_step[s]["command"] for s in reduce_node["dependencies"]}
    assert upstream == {"ray_task:shard"} and len(reduce_node["dependencies"]) == 8
    # A task is not a command: re-running one names the script that runs it.
    refused = ray_project.roar("run", step_ref(reducer), check=False)
    assert refused.returncode != 0 and f"roar run {step_ref(script)}" in refused.stderr


def step_ref(job: dict[str, Any]) -> str:
    return f"@{job['step_number']}"


def test_reproduce_a_task_output_reruns_the_ray_script(ray_project: Workspace) -> None:
    ray_project.roar("run", "-q", sys.executable, "pipeline.py", timeout=300)
    (ray_project.root / "total.txt").unlink()
    report = ray_project.roar("reproduce", "total.txt", "--run", "-y", "--json", timeout=600)
    result = report.json()
    assert result["ok"] is True, report.stderr
    verdicts = {o["path"]: o["verdict"] for o in result["outputs"]}
    assert verdicts["total.txt"] == "reproduced"
    assert [s["command"] for s in result["steps"]][-1].endswith("pipeline.py")


def test_ray_instrumentation_can_be_switched_off(ray_project: Workspace) -> None:
    ray_project.roar("config", "set", "ray.enabled", "false")
    ray_project.roar("run", "-q", sys.executable, "pipeline.py", timeout=300)
    (only,) = _jobs(ray_project)
    assert only["job_type"] == "run" and "total.txt" in _outputs(only)


S3_PIPELINE = """
import boto3, ray

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

@ray.remote
def upload(i):
    s3 = boto3.client("s3")
    s3.put_object(Bucket="ckpt", Key=f"part-{i}.bin", Body=open("data.txt", "rb").read() * i)

@ray.remote
def gather():
    s3 = boto3.client("s3")
    parts = [s3.get_object(Bucket="ckpt", Key=f"part-{i}.bin")["Body"].read() for i in (1, 2)]
    open("gathered.bin", "wb").write(b"".join(parts))

ray.get([upload.remote(i) for i in (1, 2)])
ray.get(gather.remote())
ray.shutdown()
"""


def test_s3_objects_a_task_moves_through_the_proxy_are_the_tasks(
    aws_project: Workspace,  # noqa: F811
    moto_process: str,  # noqa: F811
) -> None:
    aws_project.env["RAY_USAGE_STATS_ENABLED"] = "0"
    aws_project.env["AWS_ENDPOINT_URL"] = moto_process  # the proxy chains to it
    _client(moto_process).create_bucket(Bucket="ckpt")
    aws_project.gen({"s3_pipeline.py": S3_PIPELINE, "data.txt": "abc",
                     ".gitignore": ".roar/\ngathered.bin\n"})  # fmt: skip
    aws_project.commit_all("s3 pipeline")
    aws_project.roar("proxy", "enable")
    aws_project.roar("run", "-q", sys.executable, "s3_pipeline.py", timeout=300)
    jobs = _jobs(aws_project)
    (script,) = [j for j in jobs if j["job_type"] == "run"]
    uploads = [j for j in jobs if j["command"] == "ray_task:upload"]
    (gather,) = [j for j in jobs if j["command"] == "ray_task:gather"]
    assert sorted(o for j in uploads for o in _outputs(j)) == [
        "s3://ckpt/part-1.bin",
        "s3://ckpt/part-2.bin",
    ]
    assert {f["path"] for f in gather["inputs"]} >= {"s3://ckpt/part-1.bin", "s3://ckpt/part-2.bin"}
    assert _outputs(gather) == {"gathered.bin"}
    assert not [f for f in [*script["inputs"], *script["outputs"]] if "s3://" in f["path"]]
    # Ordered by the objects they exchange: the uploads feed the gather.
    dag = aws_project.roar("dag", "--json").json()
    node = next(n for n in dag["nodes"] if n["command"] == "ray_task:gather")
    steps = {n["step_number"]: n["command"] for n in dag["nodes"]}
    assert sorted(steps[s] for s in node["dependencies"]) == ["ray_task:upload"] * 2
