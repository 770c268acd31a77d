"""A running job's files put in the store while its command runs (roar.store._staging): what
recording the job keeps, what it removes, and what other jobs may rely on meanwhile."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from roar.models import FileDigest, GitInfo, NewJob
from roar.store import Store
from roar.store._staging import Staging

pytestmark = pytest.mark.anyio


def _file(path: str, content: str, **extra: str) -> FileDigest:
    digest = (content * 64)[:64]
    return FileDigest(path=path, hash=digest, size=len(content), hashes={"blake3": digest, **extra})


def _job(uid: str, inputs: list[FileDigest], outputs: list[FileDigest]) -> NewJob:
    return NewJob(
        job_uid=uid, job_type="run", command=f"python {uid}.py", argv=["python", f"{uid}.py"],
        cwd=".", started_at=1000.0, duration_seconds=0.5, exit_code=0, signal=None,
        git=GitInfo(), inputs=inputs, outputs=outputs, step_identity=f"id-{uid}",
    )  # fmt: skip


def _query(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql, params))


def _artifacts(db: Path) -> set[str]:
    return {str(r[0]) for r in _query(db, "SELECT uid FROM artifacts")}


def _consistent(db: Path) -> None:
    """Every edge points at an artifact, and nothing is left listed as being staged."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert _query(db, "SELECT job_uid FROM staging_jobs") == []


async def _edges(store: Store, uid: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    job = await store.job_by_uid(uid)
    return {(f.path, f.hash) for f in job.inputs}, {(f.path, f.hash) for f in job.outputs}


async def test_staged_files_are_in_the_store_before_the_job_and_linked_by_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "roar.db"
    data, model, log = _file("data.csv", "d"), _file("model.pt", "m"), _file("log.txt", "l")
    async with Store.open(db, create=True) as store:
        staging = Staging("a1")
        await store.stage(staging, "job_inputs", [data])
        await store.stage(staging, "job_outputs", [model])
        # Visible to every other connection while the command runs, before any job is.
        assert _artifacts(db) == {data.hash, model.hash}
        assert _query(db, "SELECT job_uid FROM staging_jobs") == [("a1",)]
        assert _query(db, "SELECT count(*) FROM jobs") == [(0,)]
        # log.txt was not staged (closed after the command ended): written when recorded.
        await store.record_job(_job("a1", [data], [model, log]), staging)
        assert await _edges(store, "a1") == (
            {("data.csv", data.hash)},
            {("model.pt", model.hash), ("log.txt", log.hash)},
        )
    assert _artifacts(db) == {data.hash, model.hash, log.hash}
    _consistent(db)


async def test_lookups_by_digest_see_a_staged_artifact_only_once_it_is_recorded(
    tmp_path: Path,
) -> None:
    db = tmp_path / "roar.db"
    model = _file("model.pt", "7")
    async with Store.open(db, create=True) as store:
        staging = Staging("h1")
        await store.stage(staging, "job_outputs", [model])
        assert model.hash in _artifacts(db)  # in the store: a job is running
        assert await store.artifact_id_for_digest(model.hash) is None
        assert await store.artifacts_by_digest_prefix(model.hash[:8]) == []
        await store.record_job(_job("h1", [], [model]), staging)
        found = await store.artifact_id_for_digest(model.hash)
        assert found is not None
        assert await store.artifacts_by_digest_prefix(model.hash[:8]) == [(found, model.hash)]


async def test_recording_removes_what_was_staged_for_files_the_job_did_not_keep(
    tmp_path: Path,
) -> None:
    db = tmp_path / "roar.db"
    temp, first, second = _file("tmp.bin", "t"), _file("out.bin", "1"), _file("out.bin", "2")
    shared = _file("a.bin", "s")
    async with Store.open(db, create=True) as store:
        await store.record_job(_job("b0", [], [shared]))
        staging = Staging("b1")
        # A scratch file deleted later, an output closed twice, content another job has.
        await store.stage(staging, "job_outputs", [temp, first, _file("b.bin", "s")])
        await store.stage(staging, "job_outputs", [second])
        assert _artifacts(db) == {shared.hash, temp.hash, first.hash, second.hash}
        await store.record_job(_job("b1", [], [second]), staging)
        assert await _edges(store, "b1") == (set(), {("out.bin", second.hash)})
    # What the job created and kept nothing of is gone; content another job refers to stays.
    assert _artifacts(db) == {shared.hash, second.hash}
    assert _query(db, "SELECT count(*) FROM artifact_hashes") == [(2,)]
    _consistent(db)


async def test_a_file_staged_with_other_digests_than_recorded_is_written_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "roar.db"
    plain = _file("x.bin", "x")
    richer = _file("x.bin", "x", sha256="f" * 64)
    async with Store.open(db, create=True) as store:
        staging = Staging("c1")
        await store.stage(staging, "job_outputs", [plain])
        await store.record_job(_job("c1", [], [richer]), staging)
        job = await store.job_by_uid("c1")
    assert job.outputs[0].hashes == {"blake3": plain.hash, "sha256": "f" * 64}
    assert {str(r[0]) for r in _query(db, "SELECT algorithm FROM artifact_hashes")} == {
        "blake3",
        "sha256",
    }
    _consistent(db)


async def test_an_artifact_another_running_job_created_is_written_again_when_recorded(
    tmp_path: Path,
) -> None:
    """Job A stages content X first; job B, running at the same time, finds X and so does not
    create it. A then drops X and removes it: B must still record X."""
    db = tmp_path / "roar.db"
    x_of_a, x_of_b = _file("scratch.bin", "x"), _file("kept.bin", "x")
    async with Store.open(db, create=True) as a, Store.open(db) as b:
        staging_a, staging_b = Staging("d1"), Staging("d2")
        await a.stage(staging_a, "job_outputs", [x_of_a])
        await b.stage(staging_b, "job_outputs", [x_of_b])
        assert staging_b.borrowed == {("job_outputs", "kept.bin")}
        await a.record_job(_job("d1", [], []), staging_a)
        assert _artifacts(db) == set()
        await b.record_job(_job("d2", [], [x_of_b]), staging_b)
        assert await b.job_by_uid("d2") is not None
        assert await _edges(b, "d2") == (set(), {("kept.bin", x_of_b.hash)})
    assert _artifacts(db) == {x_of_b.hash}
    _consistent(db)


async def test_an_abandoned_job_leaves_nothing_it_staged(tmp_path: Path) -> None:
    db = tmp_path / "roar.db"
    async with Store.open(db, create=True) as store:
        staging = Staging("e1")
        await store.stage(staging, "job_inputs", [_file("in.csv", "i")])
        await store.abandon_staging(staging)
    assert _artifacts(db) == set()
    _consistent(db)


async def test_the_sweep_removes_what_a_job_that_never_got_recorded_created(
    tmp_path: Path,
) -> None:
    db = tmp_path / "roar.db"
    lost, also_used = _file("lost.bin", "l"), _file("used.bin", "u")
    async with Store.open(db, create=True) as store:
        await store.stage(Staging("f1"), "job_outputs", [lost, also_used])  # then roar is killed
        await store.record_job(_job("f2", [also_used], []))  # a later job reads used.bin
        running = Staging("f3")
        await store.stage(running, "job_outputs", [_file("mine.bin", "r")])
        # A job still running (its scratch space exists) keeps what it staged.
        assert await store.sweep_staged(lambda uid: uid == "f3") == ["f1"]
        assert _artifacts(db) == {also_used.hash, _file("mine.bin", "r").hash}
        assert await store.sweep_staged(lambda uid: uid == "f3") == []
        await store.record_job(_job("f3", [], [_file("mine.bin", "r")]), running)
    _consistent(db)


async def test_a_store_error_stops_staging_and_the_job_is_recorded_whole(tmp_path: Path) -> None:
    db = tmp_path / "roar.db"
    staged, later = _file("a.bin", "a"), _file("b.bin", "b")
    async with Store.open(db, create=True) as store:
        staging = Staging("g1")
        await store.stage(staging, "job_outputs", [staged])
        # Another connection holds the write lock beyond the busy timeout.
        await store._conn.execute("PRAGMA busy_timeout = 50")
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            await store.stage(staging, "job_outputs", [later])
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert staging.broken is not None and "locked" in staging.broken
        await store.stage(staging, "job_outputs", [_file("c.bin", "c")])  # stays stopped
        await store.record_job(_job("g1", [], [staged, later]), staging)
        assert await _edges(store, "g1") == (set(), {("a.bin", staged.hash), ("b.bin", later.hash)})
    assert _artifacts(db) == {staged.hash, later.hash}
    _consistent(db)
