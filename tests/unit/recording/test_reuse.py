"""The run cache's rule for what a command saw besides files (no store, no processes)."""

from __future__ import annotations

from roar.models import GitInfo, Job
from roar.recording.reuse import env_change, package_change

REDACTED = "[REDACTED]"


def _job() -> Job:
    return Job(
        job_uid="abc12345",
        step_number=3,
        job_type="run",
        command="python train.py",
        argv=["python", "train.py"],
        cwd=".",
        started_at=0.0,
        duration_seconds=1.0,
        exit_code=0,
        signal=None,
        git=GitInfo(commit=None, branch=None, dirty=None, repo=None, remote_url=None),
        inputs=[],
        outputs=[],
        session_hash="s",
        step_identity="i",
        tracer="preload",
        env={},
        metadata={},
    )


def test_equal_variables_and_secret_values_are_no_change() -> None:
    recorded = {"LR": "0.1", "AWS_SECRET_ACCESS_KEY": REDACTED, "UNSET_ONE": None}
    env = {"LR": "0.1", "AWS_SECRET_ACCESS_KEY": "anything", "OTHER": "x"}
    assert env_change(_job(), recorded, env, REDACTED) is None


def test_a_changed_set_or_unset_variable_is_named() -> None:
    job = _job()
    assert env_change(job, {"LR": "0.1"}, {"LR": "0.2"}, REDACTED) == (
        "$LR is '0.2' now, '0.1' when @3 (abc12345) ran"
    )
    assert env_change(job, {"SEED": None}, {"SEED": "7"}, REDACTED) == (
        "$SEED is '7' now, unset when @3 (abc12345) ran"
    )
    assert env_change(job, {"SEED": "7"}, {}, REDACTED) == (
        "$SEED is unset now, '7' when @3 (abc12345) ran"
    )


def test_package_versions_are_compared_and_a_missing_one_is_a_change() -> None:
    job = _job()
    recorded = {"numpy": "2.4.6", "pandas": "2.2.0"}
    assert package_change(job, recorded, {"numpy": "2.4.6", "pandas": "2.2.0"}) is None
    assert package_change(job, recorded, {"numpy": "2.4.6", "pandas": "2.3.1"}) == (
        "pandas 2.3.1 is installed now, 2.2.0 when @3 (abc12345) ran"
    )
    assert package_change(job, recorded, {"numpy": None, "pandas": "2.2.0"}) == (
        "numpy is not installed now, 2.4.6 when @3 (abc12345) ran"
    )
