from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from roar.errors import NotFoundError, SchemaTooNewError, StoreError
from roar.models import FileDigest, GitInfo, NewJob
from roar.store import Store
from roar.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.anyio


def _file(path: str, content: str, **extra: str) -> FileDigest:
    digest = (content * 64)[:64]
    return FileDigest(path=path, hash=digest, size=len(content), hashes=dict(extra))


def _job(
    uid: str, identity: str, inputs: list[FileDigest], outputs: list[FileDigest], **kw: object
) -> NewJob:
    fields: dict[str, object] = {
        "job_uid": uid,
        "job_type": "run",
        "command": f"python {uid}.py",
        "argv": ["python", f"{uid}.py"],
        "cwd": ".",
        "started_at": 1000.0 + int(uid, 16) % 1000,
        "duration_seconds": 0.5,
        "exit_code": 0,
        "signal": None,
        "git": GitInfo(commit="c" * 40, branch="main", dirty=False),
        "inputs": inputs,
        "outputs": outputs,
        "step_identity": identity,
        "env": {"SEED": "1"},
    }
    fields.update(kw)
    return NewJob(**fields)  # type: ignore[arg-type]


async def test_create_migrate_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "roar.db"
    async with Store.open(db, create=True) as store:
        assert await store.schema_version() == SCHEMA_VERSION
        assert await store.active_session() is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "sessions", "jobs", "artifacts", "artifact_hashes", "job_inputs", "job_outputs",
        "hash_cache", "labels", "job_env",
    } <= tables  # fmt: skip
    async with Store.open(db) as store:
        assert await store.schema_version() == SCHEMA_VERSION


async def test_record_and_read_back(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        raw = _file("data/raw.csv", "a", sha256="f" * 64)
        feat = _file("work/feat.csv", "b")
        one = await store.record_job(_job("0000000a", "id-1", [raw], [feat]))
        assert one.step_number == 1
        assert one.inputs == [
            FileDigest(
                path="data/raw.csv",
                hash="a" * 64,
                size=1,
                hashes={"blake3": "a" * 64, "sha256": "f" * 64},
            )
        ]
        assert [f.path for f in one.outputs] == ["work/feat.csv"]
        assert one.env == {"SEED": "1"}
        assert one.git.branch == "main"
        two = await store.record_job(_job("0000000b", "id-2", [feat], [_file("m.pkl", "c")]))
        assert two.step_number == 2
        # Same identity again: a re-run of step 1 keeps its number.
        again = await store.record_job(_job("0000000c", "id-1", [raw], [feat]))
        assert again.step_number == 1
        session = await store.active_session()
        assert session is not None and len(session.hash) == 64
        jobs = await store.session_jobs(session.id)
        assert [j.job_uid for j in jobs] == ["0000000a", "0000000b", "0000000c"]
        # One artifact per content, shared by the jobs that touched it.
        assert jobs[0].outputs[0].hash == jobs[1].inputs[0].hash
        assert [j.job_uid for j in await store.step_jobs(session.id, 1, build=False)] == [
            "0000000a", "0000000c",
        ]  # fmt: skip
        assert [j.job_uid for j in await store.jobs_by_uid_prefix("0000000")] == [
            "0000000a", "0000000b", "0000000c",
        ]  # fmt: skip
        with pytest.raises(NotFoundError):
            await store.job_by_uid("ffffffff")


async def test_partial_reads_for_queries(tmp_path: Path) -> None:
    """Queries over many jobs load only the metadata keys they use, and the newest N jobs."""
    meta = {"input_sources": {"a.csv": "git"}, "packages": {"pip": {"x": "1"}}, "flag": False}
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        for n in range(1, 6):
            await store.record_job(_job(f"0000000{n}", f"id-{n}", [], [], metadata=meta))
        session = await store.active_session()
        assert session is not None
        whole = await store.session_jobs(session.id)
        assert whole[0].metadata == meta
        picked = await store.session_jobs(session.id, metadata_keys=("input_sources",))
        assert [j.metadata for j in picked] == [{"input_sources": {"a.csv": "git"}}] * 5
        two = await store.session_jobs(session.id, metadata_keys=("flag", "absent", "packages"))
        assert two[0].metadata == {"flag": False, "packages": {"pip": {"x": "1"}}}
        assert (await store.session_jobs(session.id, metadata_keys=()))[0].metadata == {}
        with pytest.raises(ValueError):
            await store.session_jobs(session.id, metadata_keys=("a') OR 1=1 --",))
        newest = await store.recent_jobs(2, with_edges=False, metadata_keys=())
        assert [j.job_uid for j in newest] == ["00000004", "00000005"]
        assert [j.job_uid for j in await store.recent_jobs()] == [j.job_uid for j in whole]
        assert await store.session_job_count(session.id) == 5


async def test_build_and_run_share_numbering(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        build = await store.record_job(_job("00000001", "b", [], [], job_type="build"))
        run = await store.record_job(_job("00000002", "r", [], []))
        assert (build.step_ref, run.step_ref) == ("@B1", "@2")


async def test_hash_cache(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        key = (1, 2, 3, 4, 5)
        await store.remember_digests([(key, "blake3", "ab" * 32, "/x")])
        assert await store.cached_digests([key], "blake3") == {key: "ab" * 32}
        changed = (1, 2, 3, 4, 6)  # ctime moved: the cached digest no longer applies
        assert await store.cached_digests([changed], "blake3") == {}
        assert await store.cached_digests([key], "sha256") == {}


async def test_the_hash_cache_keeps_one_row_per_path(tmp_path: Path) -> None:
    db = tmp_path / "roar.db"
    async with Store.open(db, create=True) as store:
        for run in range(5):  # a job rewriting its outputs: new inodes each run (tmpfs)
            await store.remember_digests(
                [
                    ((1, 100 * run + i, 3, 4, 5), "blake3", f"{run}{i}" * 32, f"/out/{i}")
                    for i in range(3)
                ]
            )
        await store.remember_digests([((1, 7, 3, 4, 5), "sha256", "cd" * 32, "/out/0")])
        latest = {(1, 400 + i, 3, 4, 5) for i in range(3)}
        assert set(await store.cached_digests(latest, "blake3")) == latest
        assert await store.cached_digests([(1, 300, 3, 4, 5)], "blake3") == {}
        assert await store.cached_digests([(1, 7, 3, 4, 5)], "sha256") != {}  # its own algorithm
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM hash_cache").fetchone()[0] == 4


async def test_the_hash_cache_is_capped_oldest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roar.store import _hash_cache

    monkeypatch.setattr(_hash_cache, "MAX_ROWS", 10)
    db = tmp_path / "roar.db"
    async with Store.open(db, create=True) as store:
        for i in range(25):  # files under names never used again
            await store.remember_digests([((1, i, 3, 4, 5), "blake3", "ab" * 32, f"/tmp/u{i}")])
        kept = await store.cached_digests([(1, i, 3, 4, 5) for i in range(25)], "blake3")
    assert sorted(key[1] for key in kept) == list(range(15, 25))


async def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "roar.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    before = db.read_bytes()
    with pytest.raises(SchemaTooNewError, match="newer than this roar supports"):
        async with Store.open(db):
            pass
    assert db.read_bytes() == before


async def test_damaged_database(tmp_path: Path) -> None:
    db = tmp_path / "roar.db"
    db.write_bytes(b"this is not sqlite" * 100)
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a database"):
        async with Store.open(db):
            pass
    assert db.read_bytes() == before


async def test_failed_job_leaves_nothing_half_written(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        await store.record_job(_job("0000000a", "id", [], []))
        with pytest.raises(StoreError):
            # Same uid again violates the unique constraint after artifacts were inserted.
            await store.record_job(_job("0000000a", "id2", [_file("x", "d")], [_file("y", "e")]))
        session = await store.active_session()
        assert session is not None
        jobs = await store.session_jobs(session.id)
        assert len(jobs) == 1
    with sqlite3.connect(tmp_path / "roar.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM artifacts").fetchone()[0] == 0


async def test_s3_objects_known_by_etag(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "roar.db", create=True) as store:
        ranged = FileDigest(
            path="s3://bkt/data.bin", hash="etag:abc123", size=100, hashes={"etag": "abc123"},
            byte_ranges=((0, 9), (50, 59)),
        )  # fmt: skip
        first = await store.record_job(_job("00000001", "a", [ranged], []))
        assert first.inputs[0].hash == "etag:abc123"
        assert first.inputs[0].byte_ranges == ((0, 9), (50, 59))
        session = await store.active_session()
        assert session is not None
        stored = (await store.session_jobs(session.id))[0].inputs[0]
        assert stored.hash == "etag:abc123" and stored.byte_ranges == ((0, 9), (50, 59))
        assert stored.hashes == {"etag": "abc123"}
        # A full read later brings the BLAKE3 of the same object: the same artifact gains it.
        whole = FileDigest(
            path="s3://bkt/data.bin", hash="etag:abc123", size=100,
            hashes={"etag": "abc123", "blake3": "b" * 64},
        )  # fmt: skip
        await store.record_job(_job("00000002", "b", [whole], []))
        again = (await store.session_jobs(session.id))[1].inputs[0]
        assert again.hash == "b" * 64
        assert again.hashes == {"blake3": "b" * 64, "etag": "abc123"}
        first_again = (await store.session_jobs(session.id))[0].inputs[0]
        assert first_again.hashes == again.hashes  # one artifact, two digests
