"""`ray job submit` command lines: recognised, their runtime env read as Ray reads it, rewritten
to carry roar's agent with every key of the user's kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roar.errors import UsageError
from roar.recording.ray_runtime_env import (
    SETUP_HOOK,
    WORKER_PACKAGE,
    WORKER_REQUIREMENT,
    WorkerSettings,
    merge_runtime_env,
    observed_entrypoint,
)
from roar.recording.ray_submit import is_ray_job_submit, parse_submit, rewrite

SETTINGS = WorkerSettings(fragments_dir="/p/.roar/tmp/j/frags", run_id="j", pip_install=False)


def test_recognised_by_program_name_and_subcommand() -> None:
    assert is_ray_job_submit(["/venv/bin/ray", "job", "submit", "--", "python", "x.py"])
    assert not is_ray_job_submit(["ray", "job", "logs", "raysubmit_1"])
    assert not is_ray_job_submit(["python", "ray", "job", "submit"])


def test_options_entrypoint_and_runtime_env_are_split(tmp_path: Path) -> None:
    argv = ["ray", "job", "submit", "--address=http://h:8265", "--runtime-env-json",
            '{"working_dir": "."}', "-v", "--working-dir", "src",
            "--", "python", "a.py", "-x"]  # fmt: skip
    command = parse_submit(argv, str(tmp_path))
    assert command.address == "http://h:8265"
    assert command.entrypoint == ["python", "a.py", "-x"]
    assert command.runtime_env == {"working_dir": "src"}  # --working-dir wins, as in Ray
    assert not command.no_wait


def test_entrypoint_without_double_dash(tmp_path: Path) -> None:
    command = parse_submit(["ray", "job", "submit", "--no-wait", "python", "a.py"], str(tmp_path))
    assert command.entrypoint == ["python", "a.py"] and command.no_wait


def test_rewritten_with_one_runtime_env_and_the_other_options_kept(tmp_path: Path) -> None:
    argv = ["ray", "job", "submit", "--submission-id", "s1", "--runtime-env-json", "{}",
            "--working-dir", ".", "--", "python", "a.py"]  # fmt: skip
    command = parse_submit(argv, str(tmp_path))
    out = rewrite(command, {"working_dir": ".", "env_vars": {"A": "1"}}, command.entrypoint)
    assert out[:5] == ["ray", "job", "submit", "--runtime-env-json", out[4]]
    assert json.loads(out[4]) == {"working_dir": ".", "env_vars": {"A": "1"}}
    assert out[5:] == ["--submission-id", "s1", "--", "python", "a.py"]


def test_yaml_runtime_env_file(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    (tmp_path / "env.yaml").write_text("working_dir: .\nenv_vars:\n  A: '1'\n")
    command = parse_submit(["ray", "job", "submit", "--runtime-env", "env.yaml", "--", "x"],
                           str(tmp_path))  # fmt: skip
    assert command.runtime_env == {"working_dir": ".", "env_vars": {"A": "1"}}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--runtime-env-json", "{nope"], "--runtime-env-json is not valid JSON"),
        (["--runtime-env-json", '"x"'], "must be a JSON object"),
        (["--runtime-env-json", "{}", "--runtime-env", "e.yaml"], "not both"),
        (["--runtime-env", "missing.yaml"], "missing.yaml"),
        (["--address"], "--address needs a value"),
    ],
)
def test_malformed_command_lines_say_what_is_wrong(
    tmp_path: Path, options: list[str], message: str
) -> None:
    with pytest.raises(UsageError, match=message.replace(".", r"\.")):
        parse_submit(["ray", "job", "submit", *options], str(tmp_path))


def test_agent_added_and_every_user_key_kept() -> None:
    user = {
        "working_dir": ".",
        "env_vars": {"MINE": "1"},
        "py_modules": ["libs/mine"],
        "excludes": ["*.bin"],
        "worker_process_setup_hook": "hooks.setup",
        "pip": ["numpy"],
    }
    merged = merge_runtime_env(user, SETTINGS)
    assert merged["worker_process_setup_hook"] == SETUP_HOOK
    assert merged["env_vars"] == {
        "MINE": "1",
        "ROAR_RAY_USER_SETUP_HOOK": "hooks.setup",  # still run, by the agent
        "ROAR_RAY_FRAGMENTS": SETTINGS.fragments_dir,
        "ROAR_RAY_RUN": "j",
    }
    assert merged["py_modules"] == ["libs/mine", WORKER_PACKAGE]
    assert merged["excludes"] == ["*.bin", ".roar/"]
    assert merged["pip"] == ["numpy"]  # ray.pip_install is off
    assert user["env_vars"] == {"MINE": "1"}  # the user's mapping is not changed in place


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {"pip": [WORKER_REQUIREMENT]}),
        ({"pip": ["numpy"]}, {"pip": ["numpy", WORKER_REQUIREMENT]}),
        ({"pip": {"packages": ["numpy"], "pip_check": False}},
         {"pip": {"packages": ["numpy", WORKER_REQUIREMENT], "pip_check": False}}),
        ({"uv": ["numpy"]}, {"uv": ["numpy", WORKER_REQUIREMENT]}),
    ],
)  # fmt: skip
def test_pip_install_adds_the_agents_requirement(
    given: dict[str, object], expected: dict[str, object]
) -> None:
    settings = WorkerSettings(fragments_dir="/f", run_id="j", pip_install=True)
    merged = merge_runtime_env(given, settings)
    assert {k: merged[k] for k in expected} == expected


@pytest.mark.parametrize(
    "given", [{"conda": "env.yml"}, {"pip": "requirements.txt"}, {"env_vars": ["A=1"]}]
)
def test_what_cannot_be_merged_is_a_usage_error(given: dict[str, object]) -> None:
    settings = WorkerSettings(fragments_dir="/f", run_id="j", pip_install=True)
    with pytest.raises(UsageError):
        merge_runtime_env(given, settings)


def test_the_entrypoint_runs_through_the_agents_driver_module() -> None:
    assert observed_entrypoint(["python3.11", "a.py", "--x=1 2"]) == [
        "python3.11", "-m", "_roar_ray_worker.driver", "python3.11", "a.py", "--x=1 2"
    ]  # fmt: skip
    assert observed_entrypoint(["./train.sh"])[:3] == ["python", "-m", "_roar_ray_worker.driver"]


def test_the_cluster_is_local_at_a_loopback_address() -> None:
    from roar.recording.ray_collect import is_loopback

    assert is_loopback(None)  # Ray's default: the local cluster
    assert is_loopback("http://127.0.0.1:8265") and is_loopback("localhost:8265")
    assert is_loopback("http://[::1]:8265")
    assert not is_loopback("http://10.0.0.7:8265") and not is_loopback("https://ray.example.com")
