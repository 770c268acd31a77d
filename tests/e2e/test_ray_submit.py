"""`roar run ray job submit`: the submitted job's tasks and actor method calls, run by a real Ray
cluster on 127.0.0.1 (its workers not children of anything roar traces), each recorded as a job
of the `roar run` job with the files it read and wrote, ordered by the files they exchange, at
their project paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.servers import ray_head_node

pytest.importorskip("ray", reason="Ray is not installed (scripts/test installs .[dev])")
# The job server (the dashboard) needs Ray's default extra, which aiohttp_cors stands for here.
pytest.importorskip("aiohttp_cors", reason="needs ray[default] for the job server (the dev extra)")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PIPELINE = """
import subprocess, sys
import ray

ray.init()

@ray.remote
def shard(i):
    with open(f"out/shard_{i}.txt", "w") as f:
        f.write(f"{i}:" + open("data.txt").read() * (i + 1))
    return i

@ray.remote
def reduce(n):
    total = sum(len(open(f"out/shard_{i}.txt").read()) for i in range(n))
    with open("out/total.txt", "w") as f:
        f.write(str(total))
    return total

@ray.remote
def spawn():
    # A helper process the task starts: what it writes is the task's.
    subprocess.run([sys.executable, "-c", "open('out/helper.txt', 'w').write('from a child')"],
                   check=True)

@ray.remote
class Trainer:
    def __init__(self):
        self.steps = 0

    def train(self):
        self.steps += 1

    def save(self):
        with open("out/model.ckpt", "w") as f:
            f.write(f"steps={self.steps}")

ray.get([shard.remote(i) for i in range(8)])
print("total", ray.get(reduce.remote(8)))
ray.get(spawn.remote())
trainer = Trainer.remote()
ray.get(trainer.train.remote())
ray.get(trainer.save.remote())
with open("out/report.txt", "w") as f:  # the driver's own file
    f.write("total " + open("out/total.txt").read())
"""


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("ray-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROAR_", "RAY_"))}
    env.update(
        HOME=str(home),  # no ~/.ray/auth_token of the machine's user: no token auth
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
        # The test interpreter's bin first: `ray` and the workers' `python` are the venv's.
        PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", os.defpath),
    )
    return env


@pytest.fixture(scope="module")
def cluster(cluster_env: dict[str, str]) -> Iterator[str]:
    with ray_head_node(cluster_env) as head:
        yield head.url
    assert not head.leftovers, f"Ray processes outlived the cluster: {head.leftovers}"


@pytest.fixture
def submit_project(project: Workspace, cluster_env: dict[str, str]) -> Workspace:
    for name in ("RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED", "RAY_ENABLE_UV_RUN_RUNTIME_ENV"):
        project.env[name] = cluster_env[name]
    project.gen({"pipeline.py": PIPELINE, "data.txt": "abc", "out": {".keep": ""},
                 ".gitignore": ".roar/\nout/*.txt\nout/*.ckpt\n"})  # fmt: skip
    project.commit_all("ray pipeline")
    return project


def _submit(project: Workspace, url: str, runtime_env: dict[str, Any], *more: str) -> str:
    run = project.roar(
        "run", "ray", "job", "submit", "--address", url,
        "--runtime-env-json", json.dumps(runtime_env), *more, "--", "python", "pipeline.py",
        timeout=120,
    )  # fmt: skip
    return run.stdout + run.stderr


def _jobs(project: Workspace) -> list[dict[str, Any]]:
    log = project.roar("log", "--json").json()
    return [project.roar("show", j["job_uid"], "--json").json() for j in log]


def _paths(files: list[dict[str, Any]]) -> set[str]:
    return {f["path"] for f in files}


def _tasks(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Ray tasks and actor calls (the driver's job is a ``ray_task`` job too)."""
    return [j for j in jobs if j["command"].startswith("ray_task:")]


def test_each_task_of_a_submitted_job_is_a_job(submit_project: Workspace, cluster: str) -> None:
    output = _submit(submit_project, cluster, {"working_dir": "."})
    assert "total 124" in output  # the job ran, its logs reached the terminal
    jobs = _jobs(submit_project)
    (submit,) = [j for j in jobs if j["job_type"] == "run"]
    assert submit["argv"][:3] == ["ray", "job", "submit"]
    assert submit["argv"][6] == '{"working_dir": "."}'  # recorded as typed, not as rewritten
    tasks = _tasks(jobs)
    assert sorted(j["command"] for j in tasks) == sorted(
        ["ray_task:shard"] * 8
        + ["ray_task:reduce", "ray_task:spawn"]
        + ["ray_task:Trainer.__init__", "ray_task:Trainer.train", "ray_task:Trainer.save"]
    )
    (driver,) = [j for j in jobs if j["command"].startswith("ray_driver:")]
    assert driver["command"] == "ray_driver:python pipeline.py"
    assert submit["metadata"]["ray"]["tasks"] == len(tasks) + 1
    for task in [*tasks, driver]:
        ray_facts = task["metadata"]["ray"]
        assert ray_facts["parent_job_uid"] == submit["job_uid"] and ray_facts["on_cluster"]
    # Project-relative paths, each task its own files (its worker's copy of the working dir).
    shards = [j for j in tasks if j["command"] == "ray_task:shard"]
    written = sorted(p for j in shards for p in _paths(j["outputs"]))
    assert written == [f"out/shard_{i}.txt" for i in range(8)]
    assert all(_paths(j["inputs"]) == {"data.txt"} for j in shards)
    assert all(j["metadata"]["input_sources"] == {"data.txt": "git"} for j in shards)
    (reducer,) = [j for j in tasks if j["command"] == "ray_task:reduce"]
    assert _paths(reducer["inputs"]) == {f"out/shard_{i}.txt" for i in range(8)}
    assert _paths(reducer["outputs"]) == {"out/total.txt"}
    (spawner,) = [j for j in tasks if j["command"] == "ray_task:spawn"]
    assert _paths(spawner["outputs"]) == {"out/helper.txt"}  # written by the task's child
    (saver,) = [j for j in tasks if j["command"] == "ray_task:Trainer.save"]
    assert _paths(saver["outputs"]) == {"out/model.ckpt"}
    # Ray's own files, Python's and roar's agent are nobody's input or output.
    every = {p for j in jobs for p in _paths(j["inputs"]) | _paths(j["outputs"])}
    sources = {"data.txt", "pipeline.py", ".gitignore", "README.md", "out/.keep"}
    results = {"out/total.txt", "out/helper.txt", "out/model.ckpt", "out/report.txt", *written}
    assert every <= sources | results, every
    # The DAG: eight shards fan out, the reduce fans them in.
    dag = submit_project.roar("dag", "--json").json()
    by_step = {n["step_number"]: n for n in dag["nodes"]}
    reduce_node = next(n for n in dag["nodes"] if n["job_uid"] == reducer["job_uid"])
    assert sorted(by_step[s]["job_uid"] for s in reduce_node["dependencies"]) == sorted(
        j["job_uid"] for j in shards
    )
    assert all(by_step[j["step_number"]]["dependencies"] == [] for j in shards)
    # The driver's own files: its script, and the reduce's result it turned into a report.
    assert _paths(driver["inputs"]) == {"pipeline.py", "out/total.txt"}
    assert _paths(driver["outputs"]) == {"out/report.txt"}
    driver_node = by_step[driver["step_number"]]
    assert [by_step[s]["job_uid"] for s in driver_node["dependencies"]] == [reducer["job_uid"]]
    # What a task wrote lives on the cluster, and `roar show` says so.
    shown = submit_project.roar("show", f"@{saver['step_number']}").stdout
    assert "on the Ray cluster" in shown
    assert not (submit_project.root / "out" / "model.ckpt").exists()
    status = submit_project.roar("status", "--json").json()["artifacts"]
    assert set(status["on_cluster"]) == results and status["missing"] == []


def test_reproducing_a_cluster_output_reruns_the_submit(
    submit_project: Workspace, cluster: str
) -> None:
    _submit(submit_project, cluster, {"working_dir": "."})
    report = submit_project.roar("reproduce", "out/model.ckpt", "--run", "-y", "--json",
                                 check=False, timeout=180)  # fmt: skip
    result = report.json()
    assert [s["command"] for s in result["steps"]] == [
        f"ray job submit --address {cluster} --runtime-env-json "
        """'{"working_dir": "."}' -- python pipeline.py"""
    ]
    (verdict,) = [o for o in result["outputs"] if o["path"] == "out/model.ckpt"]
    # Ran again on the cluster; the checkpoint is there, not in the replay's project.
    assert verdict["verdict"] == "missing" and "written on the Ray cluster" in verdict["note"]


def test_the_users_runtime_env_is_kept(submit_project: Workspace, cluster: str) -> None:
    submit_project.gen(
        {
            "hooks.py": "import os\n\ndef setup():\n    os.environ['FROM_HOOK'] = 'yes'\n",
            "probe.py": """
import os, ray
ray.init()

@ray.remote
def probe():
    with open("out/probe.txt", "w") as f:
        f.write(os.environ["MINE"] + os.environ["FROM_HOOK"])

ray.get(probe.remote())
""",
        }
    )
    submit_project.commit_all("probe")
    runtime_env = {
        "working_dir": ".",
        "env_vars": {"MINE": "kept-"},
        "worker_process_setup_hook": "hooks.setup",
        "excludes": ["*.md"],
    }
    run = submit_project.roar(
        "run", "ray", "job", "submit", "--address", cluster,
        "--runtime-env-json", json.dumps(runtime_env), "--", "python", "probe.py", timeout=120,
    )  # fmt: skip
    assert "succeeded" in run.stdout + run.stderr
    (task,) = _tasks(_jobs(submit_project))
    assert task["command"] == "ray_task:probe"
    (probe,) = task["outputs"]
    import blake3

    assert probe["hash"] == blake3.blake3(b"kept-yes").hexdigest()  # their vars, their hook


def test_actor_calls_grouped_per_actor(submit_project: Workspace, cluster: str) -> None:
    submit_project.roar("config", "set", "ray.actor_attribution", "per_actor")
    _submit(submit_project, cluster, {"working_dir": "."})
    tasks = _tasks(_jobs(submit_project))
    (trainer,) = [j for j in tasks if j["command"] == "ray_task:Trainer"]
    assert len(trainer["metadata"]["ray"]["task_ids"]) == 3  # __init__, train, save
    assert _paths(trainer["outputs"]) == {"out/model.ckpt"}


def test_fragments_through_the_clusters_kv_store(submit_project: Workspace, cluster: str) -> None:
    # As on a cluster that shares no filesystem with the host: the workers put what each task
    # did in the GCS KV store, and roar fetches it with a job of its own after the user's.
    submit_project.roar("config", "set", "ray.fragment_transport", "kv")
    _submit(submit_project, cluster, {"working_dir": "."})
    jobs = _jobs(submit_project)
    tasks = _tasks(jobs)
    assert len(tasks) == 13
    (driver,) = [j for j in jobs if j["command"].startswith("ray_driver:")]  # from the spool
    assert _paths(driver["outputs"]) == {"out/report.txt"}
    (reducer,) = [j for j in tasks if j["command"] == "ray_task:reduce"]
    assert _paths(reducer["inputs"]) == {f"out/shard_{i}.txt" for i in range(8)}
    (spawner,) = [j for j in tasks if j["command"] == "ray_task:spawn"]
    assert _paths(spawner["outputs"]) == {"out/helper.txt"}
    # Taken out of the store once fetched.
    count = (
        "import ray; from ray.experimental import internal_kv as kv; ray.init(); "
        "print('left', len(kv._internal_kv_list('', namespace='roar-fragments')))"
    )
    left = subprocess.run(
        ["ray", "job", "submit", "--address", cluster, "--", "python", "-c", count],
        env=submit_project.env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "left 0" in left.stdout


def test_pip_install_has_ray_install_the_agents_requirement(
    submit_project: Workspace, cluster: str
) -> None:
    submit_project.gen(
        {
            "where.py": """
import ray
ray.init()

@ray.remote
def where():
    import blake3
    with open("out/where.txt", "w") as f:
        f.write(blake3.__file__)

ray.get(where.remote())
"""
        }
    )
    submit_project.commit_all("where")
    submit_project.roar("config", "set", "ray.pip_install", "true")
    submit_project.roar(
        "run", "ray", "job", "submit", "--address", cluster,
        "--runtime-env-json", '{"working_dir": ".", "pip": ["six"]}', "--",
        "python", "where.py", timeout=180,
    )  # fmt: skip
    (task,) = _tasks(_jobs(submit_project))
    assert _paths(task["outputs"]) == {"out/where.txt"}
    # Ray built the job's pip env from the user's list, with the agent's requirement added.
    logs = subprocess.run(
        ["ray", "job", "list", "--address", cluster], env=submit_project.env,
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "'pip': {'packages': ['six', 'blake3>=0.4']" in logs.replace('"', "'"), logs


def test_failed_tasks_and_a_failed_job(submit_project: Workspace, cluster: str) -> None:
    submit_project.gen(
        {
            "fails.py": """
import ray
ray.init()

@ray.remote(max_retries=0)
def boom():
    open("out/partial.txt", "w").write("half")
    raise ValueError("no")

@ray.remote(max_retries=0)
def die():
    import os
    os._exit(1)  # the worker itself goes, as when it is killed or runs out of memory

try:
    ray.get(die.remote())
except ray.exceptions.WorkerCrashedError:
    pass
try:
    ray.get(boom.remote())
finally:
    open("out/after.txt", "w").write("driver")
"""
        }
    )
    submit_project.commit_all("fails")
    run = submit_project.roar(
        "run", "ray", "job", "submit", "--address", cluster, "--runtime-env-json",
        '{"working_dir": "."}', "--", "python", "fails.py", check=False, timeout=120,
    )  # fmt: skip
    assert run.returncode == 1  # `ray job submit`'s own status for a failed job, passed through
    jobs = _jobs(submit_project)
    (task,) = [j for j in _tasks(jobs) if j["command"] == "ray_task:boom"]
    assert task["exit_code"] == 1 and "ValueError" in task["metadata"]["ray"]["error"]
    assert task["metadata"]["ray"]["completed"]
    assert _paths(task["outputs"]) == {"out/partial.txt"}  # what it wrote before it failed
    (died,) = [j for j in _tasks(jobs) if j["command"] == "ray_task:die"]
    assert died["exit_code"] is None and not died["metadata"]["ray"]["completed"]
    (driver,) = [j for j in jobs if j["command"] == "ray_driver:python fails.py"]
    assert driver["exit_code"] == 1 and _paths(driver["outputs"]) == {"out/after.txt"}


def test_switched_off_the_command_runs_as_typed(submit_project: Workspace, cluster: str) -> None:
    submit_project.roar("config", "set", "ray.enabled", "false")
    _submit(submit_project, cluster, {"working_dir": "."})
    (only,) = _jobs(submit_project)
    assert only["job_type"] == "run" and "ray" not in only["metadata"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--runtime-env-json", "{not json"], "--runtime-env-json is not valid JSON"),
        (["--runtime-env-json", "[1]"], "the runtime env must be a JSON object"),
        (["--no-wait", "--runtime-env-json", "{}"], "drop --no-wait"),
    ],
)
def test_a_command_roar_cannot_record_is_one_line(
    submit_project: Workspace, given: list[str], message: str
) -> None:
    # No cluster: nothing may start before the command line is understood.
    run = submit_project.roar(
        "run", "ray", "job", "submit", "--address", "http://127.0.0.1:9", *given,
        "--", "python", "pipeline.py", check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert submit_project.roar("log", "--json").json() == []
