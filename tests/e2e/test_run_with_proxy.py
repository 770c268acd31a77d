"""`roar run` with the S3 proxy enabled: a job's S3 reads and writes land on the job, against a
real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import textwrap
from typing import Any

import blake3
import pytest

from tests.conftest import Workspace
from tests.e2e.test_proxy_daemon import _client, aws_project, moto_process  # noqa: F401

pytestmark = pytest.mark.e2e

SCRIPT_PULL = """
import boto3
s3 = boto3.client("s3")
body = s3.get_object(Bucket="lineage", Key="data/raw.csv")["Body"].read()
open("local.csv", "wb").write(body.upper())
s3.put_object(Bucket="lineage", Key="models/model.bin", Body=body * 3)
"""

SCRIPT_EVAL = """
import boto3
s3 = boto3.client("s3")
model = s3.get_object(Bucket="lineage", Key="models/model.bin")["Body"].read()
open("score.txt", "w").write(str(len(model)))
"""


def test_run_records_s3_objects(aws_project: Workspace, moto_process: str) -> None:  # noqa: F811
    project = aws_project
    raw = b"a,b\n1,2\n" * 1000
    s3: Any = _client(moto_process)
    s3.create_bucket(Bucket="lineage")
    s3.put_object(Bucket="lineage", Key="data/raw.csv", Body=raw)
    project.env["AWS_ENDPOINT_URL"] = moto_process  # the proxy chains to the endpoint in use
    project.gen({"pull.py": textwrap.dedent(SCRIPT_PULL), "score.py": textwrap.dedent(SCRIPT_EVAL)})
    project.commit_all("scripts")
    project.roar("proxy", "enable")
    project.roar("run", "python", "pull.py")
    project.roar("run", "python", "score.py")

    first = project.roar("show", "@1", "--json").json()
    s3_in = [f for f in first["inputs"] if f["path"].startswith("s3://")]
    s3_out = [f for f in first["outputs"] if f["path"].startswith("s3://")]
    assert [f["path"] for f in s3_in] == ["s3://lineage/data/raw.csv"]
    assert s3_in[0]["hash"] == blake3.blake3(raw).hexdigest()
    assert s3_in[0]["hashes"]["etag"] == hashlib.md5(raw).hexdigest()
    assert s3_in[0]["size"] == len(raw)
    assert [f["path"] for f in s3_out] == ["s3://lineage/models/model.bin"]
    assert s3_out[0]["hash"] == blake3.blake3(raw * 3).hexdigest()
    assert s3_out[0]["hashes"]["etag"] == hashlib.md5(raw * 3).hexdigest()
    assert "local.csv" in {f["path"] for f in first["outputs"]}

    dag = project.roar("dag", "--json").json()
    assert [(n["step_number"], n["dependencies"]) for n in dag["nodes"]] == [(1, []), (2, [1])]

    # Only S3 is pointed at the proxy: the user's all-services endpoint reaches the job as it was.
    project.roar("run", "sh", "-c", 'echo "$AWS_ENDPOINT_URL_S3|$AWS_ENDPOINT_URL" > endpoints')
    s3_endpoint, _, all_services = (project.root / "endpoints").read_text().strip().partition("|")
    assert s3_endpoint.startswith("http://127.0.0.1:") and s3_endpoint != moto_process
    assert all_services == moto_process
    second = project.roar("show", "@2", "--json").json()
    model_in = next(f for f in second["inputs"] if f["path"].startswith("s3://"))
    assert model_in["hash"] == s3_out[0]["hash"]
    # Nothing of the credentials reached the record.
    assert "EXAMPLEKEY" not in project.roar("show", "@1", "--json").stdout


def test_a_run_chained_to_the_daemon_is_recorded_once(
    aws_project: Workspace,  # noqa: F811
    moto_process: str,  # noqa: F811
) -> None:
    """`roar run` with the proxy enabled while the project's daemon runs: the job's proxy
    forwards to the daemon and tells it whose requests these are, so stopping the daemon adds
    no second, session-level record of the same traffic."""
    from roar.proxy import read_events
    from tests.e2e.test_proxy_daemon import _start

    project = aws_project
    url, _pid = _start(project, moto_process)
    try:
        s3: Any = _client(url)
        s3.create_bucket(Bucket="lineage")
        s3.put_object(Bucket="lineage", Key="data/raw.csv", Body=b"x,y\n")
        s3.close()
        project.env["AWS_ENDPOINT_URL_S3"] = url  # what `roar proxy start` told the shell to set
        project.gen({"pull.py": textwrap.dedent(SCRIPT_PULL)})
        project.commit_all("script")
        project.roar("proxy", "enable")
        project.roar("run", "python", "pull.py")
        job_uid = project.roar("show", "@1", "--json").json()["job_uid"]
    finally:
        stop = project.roar("proxy", "stop")
    assert stop.returncode == 0
    jobs = project.roar("log", "--json").json()
    by_command = {j["command"]: j for j in jobs}
    (session_job,) = [j for c, j in by_command.items() if c.startswith("roar proxy (session")]
    # Only the test's own setup traffic (the seeding PUT) is the daemon's session.
    assert [f["path"] for f in session_job["outputs"]] == ["s3://lineage/data/raw.csv"]
    assert not session_job["inputs"]
    run = by_command["python pull.py"]
    assert [f["path"] for f in run["inputs"] if f["path"].startswith("s3://")] == [
        "s3://lineage/data/raw.csv"
    ]
    assert [f["path"] for f in run["outputs"] if f["path"].startswith("s3://")] == [
        "s3://lineage/models/model.bin"
    ]
    ingested = project.root / ".roar" / "proxy-events.ingested.jsonl"
    daemon_saw = [(e.op, e.job_id) for e in read_events(ingested) if e.op.endswith("Object")]
    assert daemon_saw == [
        ("PutObject", None),
        ("GetObject", job_uid),
        ("PutObject", job_uid),
    ]
