"""The text view of one job (`roar show @N`)."""

from __future__ import annotations

from roar.cli._job_text import LIST_LIMIT, job_lines
from roar.models import FileDigest, GitInfo, Job

B3 = "b" * 64


def _job(**overrides: object) -> Job:
    fields: dict[str, object] = {
        "job_uid": "65a34ce4",
        "step_number": 2,
        "job_type": "run",
        "command": "python train.py --lr 0.1",
        "argv": ["python", "train.py", "--lr", "0.1"],
        "cwd": ".",
        "started_at": 1_700_000_000.0,
        "duration_seconds": 3.5,
        "exit_code": 0,
        "signal": None,
        "git": GitInfo(commit="1be72af684fda62f", branch="main", dirty=True, remote_url="g:x"),
        "inputs": [
            FileDigest(
                path="data/raw.csv", hash=B3, size=4, hashes={"blake3": B3, "sha256": "5" * 64}
            ),
            FileDigest(path="feat.csv", hash="c" * 64, size=2048),
            FileDigest(path="/mnt/extra.bin", hash="d" * 64, size=1),
        ],
        "outputs": [FileDigest(path="model.pkl", hash="e" * 64, size=10)],
        "session_hash": "f" * 64,
        "step_identity": "x",
        "tracer": "preload",
        "env": {"SEED": "7"},
        "metadata": {
            "git": {"patch": {"hash": "19661c12a987ff", "tracked_changes": ["a.py"]}},
            "input_sources": {
                "data/raw.csv": "patch:19661c12a987ff",
                "feat.csv": "job:0badc0de",
                "/mnt/extra.bin": None,
            },
            "packages": {
                "pip": {f"pkg{n:02d}": "1.0" for n in range(LIST_LIMIT + 3)},
                "pip_installed": {f"pkg{n:02d}": "1.0" for n in range(40)},
                "dpkg": {"libgomp1": "12.2.0-14"},
            },
            "runtime": {
                "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/p"},
                "os": {"system": "Linux", "machine": "x86_64"},
                "cpu": {"count": 2, "model": "EPYC"},
                "memory_bytes": 2**34,
                "gpu": [{"model": "A100"}],
                "env_vars": {"CUDA_VISIBLE_DEVICES": "0", "API_TOKEN": "[REDACTED]"},
            },
        },
    }
    fields.update(overrides)
    return Job(**fields)  # type: ignore[arg-type]


def test_a_job_reads_as_how_it_was_made() -> None:
    text = "\n".join(job_lines(_job()))
    assert "Job 65a34ce4  @2  (run)" in text
    assert "Tracer:    preload" in text
    assert "1be72af684fd on main (dirty; patch 19661c12a987: 1 changed, 0 untracked" in text
    assert "Remote:    g:x" in text
    assert "Python:    CPython 3.11.7 (/p)" in text
    assert f"({LIST_LIMIT + 3} imported of 40 installed)" in text
    assert "+3 more" in text and "pkg00 1.0" in text and f"pkg{LIST_LIMIT:02d}" not in text
    assert "Debian:    libgomp1 12.2.0-14" in text
    assert "Linux x86_64, 2 CPUs EPYC, 16.0 GB memory, GPU: A100" in text
    assert "roar env:  SEED=7" in text
    assert "Env read:  API_TOKEN, CUDA_VISIBLE_DEVICES" in text  # names only, never values
    assert "[REDACTED]" not in text
    lines = job_lines(_job())
    raw = next(i for i, line in enumerate(lines) if "data/raw.csv" in line)
    assert lines[raw].endswith("patch 19661c12a987")
    assert "sha256" in lines[raw + 1] and "5" * 64 in lines[raw + 1]
    assert any("feat.csv" in line and line.endswith("written by job 0badc0de") for line in lines)
    assert any("/mnt/extra.bin" in line and line.endswith("UNSOURCED") for line in lines)
    model = next(line for line in lines if "model.pkl" in line)
    assert model.endswith("e" * 16)  # outputs carry no source column


def test_jobs_without_metadata_still_show() -> None:
    bare = _job(metadata={}, env={}, tracer=None, git=GitInfo())
    text = "\n".join(job_lines(bare))
    assert "Git:       not a git repository" in text
    for absent in ("Python:", "Packages:", "Machine:", "roar env:", "Env read:", "Tracer:"):
        assert absent not in text
    assert "Inputs (3):" in text and "Outputs (1):" in text
    assert "UNSOURCED" not in text  # no source column when the job never recorded sources


def test_a_submitted_jobs_task_says_its_files_live_on_the_cluster() -> None:
    ray = {"name": "Trainer.save", "parent_job_uid": "0badc0de", "on_cluster": True,
           "cluster_address": "http://head:8265", "nodes": ["n1"]}  # fmt: skip
    lines = job_lines(_job(job_type="ray_task", metadata={"ray": ray}))
    assert "  Ray task:  Trainer.save of job 0badc0de" in lines
    assert any(
        line.startswith("  Cluster:   ran on the Ray cluster at http://head:8265 (node n1)")
        and "outputs live on the Ray cluster" in line
        for line in lines
    )
    driver = job_lines(_job(job_type="ray_task", metadata={"ray": {**ray, "driver": True}}))
    assert any(line.startswith("  Ray driver Trainer.save") for line in driver)
    submit = job_lines(_job(metadata={"ray": {"tasks": 3, "submitted_to": "http://head:8265"}}))
    told = "3 job(s) for the tasks and driver, submitted to http://head:8265"
    assert f"  Ray:       {told}" in submit
    local = job_lines(_job(metadata={"ray": {"tasks": 2}}))
    assert "  Ray:       2 task(s) recorded as jobs of their own" in local
