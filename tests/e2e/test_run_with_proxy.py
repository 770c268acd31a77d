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
    second = project.roar("show", "@2", "--json").json()
    model_in = next(f for f in second["inputs"] if f["path"].startswith("s3://"))
    assert model_in["hash"] == s3_out[0]["hash"]
    # Nothing of the credentials reached the record.
    assert "EXAMPLEKEY" not in project.roar("show", "@1", "--json").stdout
