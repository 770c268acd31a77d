from __future__ import annotations

from roar.lineage.dag import project_dag
from roar.models import FileDigest, GitInfo, Job


def _f(path: str, content: str) -> FileDigest:
    return FileDigest(path=path, hash=content * 64, size=1, hashes={"blake3": content * 64})


def _job(
    uid: str, step: int, t: float, ins: list[FileDigest], outs: list[FileDigest], kind: str = "run"
) -> Job:
    return Job(
        job_uid=uid, step_number=step, job_type=kind, command=f"cmd {uid}", argv=["cmd", uid],
        cwd=".", started_at=t, duration_seconds=1.0, exit_code=0, signal=None, git=GitInfo(),
        inputs=ins, outputs=outs, session_hash="s" * 64, step_identity=uid,
    )  # fmt: skip


def test_linear_and_diamond_dependencies() -> None:
    jobs = [
        _job("a", 1, 1, [_f("raw", "0")], [_f("train", "1"), _f("test", "2")]),
        _job("b", 2, 2, [_f("train", "1")], [_f("model", "3")]),
        _job("c", 3, 3, [_f("model", "3"), _f("test", "2")], [_f("metrics", "4")]),
    ]
    view = project_dag(jobs, session_hash="s")
    assert [(n.step_number, n.dependencies, n.state) for n in view.nodes] == [
        (1, [], "active"), (2, [1], "active"), (3, [1, 2], "active"),
    ]  # fmt: skip
    assert view.total_steps == 3 and view.stale_count == 0
    terminal = [a.path for a in view.artifacts if a.is_terminal]
    assert terminal == ["metrics"]
    test_artifact = next(a for a in view.artifacts if a.path == "test")
    assert test_artifact.producer_step == 1 and test_artifact.consumer_steps == [3]


def test_rerun_with_new_content_makes_downstream_stale() -> None:
    jobs = [
        _job("a", 1, 1, [_f("raw", "0")], [_f("feat", "1")]),
        _job("b", 2, 2, [_f("feat", "1")], [_f("model", "2")]),
        _job("c", 3, 3, [_f("model", "2")], [_f("metrics", "3")]),
        _job("a2", 1, 4, [_f("raw", "9")], [_f("feat", "8")]),  # step 1 re-run, new output
    ]
    view = project_dag(jobs, session_hash="s")
    states = {n.step_number: n.state for n in view.nodes}
    assert states == {1: "active", 2: "stale", 3: "stale"}
    assert view.stale_count == 2
    assert next(n for n in view.nodes if n.step_number == 1).job_uid == "a2"
    expanded = project_dag(jobs, session_hash="s", expanded=True)
    assert [(n.job_uid, n.state) for n in expanded.nodes if n.step_number == 1] == [
        ("a", "superseded"), ("a2", "active"),
    ]  # fmt: skip
    # Re-running the stale steps on the new content makes them active again.
    jobs += [
        _job("b2", 2, 5, [_f("feat", "8")], [_f("model", "7")]),
        _job("c2", 3, 6, [_f("model", "7")], [_f("metrics", "6")]),
    ]
    assert {n.state for n in project_dag(jobs, session_hash="s").nodes} == {"active"}


def test_empty_and_build_steps() -> None:
    assert project_dag([], session_hash=None).total_steps == 0
    jobs = [
        _job("b", 1, 1, [], [_f("cfg", "1")], kind="build"),
        _job("r", 2, 2, [_f("cfg", "1")], [_f("out", "2")]),
    ]
    view = project_dag(jobs, session_hash="s")
    assert [(n.is_build, n.dependencies) for n in view.nodes] == [(True, []), (False, [1])]
