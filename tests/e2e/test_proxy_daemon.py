"""`roar proxy` through the real command: status, enable/disable, and the daemon's life cycle.

The upstream is moto's server in its own process (so objects it stores do not weigh on the
daemon's or the test's memory); the daemon is started and stopped with `roar proxy start|stop`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from roar.proxy import read_events
from tests.conftest import Workspace
from tests.servers import moto_server

pytestmark = pytest.mark.e2e

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _aws(env: dict[str, str], home: Path) -> dict[str, str]:
    clean = {k: v for k, v in env.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
    return clean | {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }


@pytest.fixture
def aws_project(project: Workspace) -> Workspace:
    project.env = _aws(project.env, project.root.parent)
    return project


def _client(url: str, **config: Any) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=url, config=BotoConfig(**config))


def _start(project: Workspace, upstream: str, *extra: str) -> tuple[str, int]:
    result = project.roar("proxy", "start", "--port", "0", "--upstream", upstream, *extra)
    export = result.stdout.strip()
    assert export.startswith("export AWS_ENDPOINT_URL_S3=http://127.0.0.1:"), result
    assert "Proxy daemon started (pid=" in result.stderr
    url = export.partition("=")[2]
    pid = int(result.stderr.split("pid=", 1)[1].split(",", 1)[0])
    return url, pid


def _hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_status_enable_disable(aws_project: Workspace) -> None:
    status = aws_project.roar("proxy").stdout
    assert "enabled:  no" in status and "daemon:   not running" in status
    assert "port:     a free one, chosen at start" in status
    aws_project.roar("proxy", "enable")
    assert aws_project.roar("config", "get", "proxy.enabled").stdout.strip() == "true"
    assert "enabled:  yes" in aws_project.roar("proxy", "status").stdout
    aws_project.roar("proxy", "disable")
    assert aws_project.roar("config", "get", "proxy.enabled").stdout.strip() == "false"


def test_daemon_start_use_stop_cycle(aws_project: Workspace, moto_process: str) -> None:
    url, pid = _start(aws_project, moto_process)
    roar_dir = aws_project.root / ".roar"
    try:
        status = aws_project.roar("proxy").stdout
        assert f"running (pid={pid}" in status and url in status and moto_process in status
        for args in (["proxy", "--json"], ["proxy", "status", "--json"]):
            running = aws_project.roar(*args).json()
            assert running["running"] is True and running["pid"] == pid
            assert running["url"] == url and running["upstream"] == moto_process
        again = aws_project.roar("proxy", "start", "--port", "0", check=False)
        assert again.returncode == 2 and "already running" in again.stderr

        s3 = _client(url)
        s3.create_bucket(Bucket="daemon-bucket")
        s3.put_object(Bucket="daemon-bucket", Key="in.txt", Body=b"daemon data")

        def tag(request: Any, **_: Any) -> None:
            request.headers["Roar-Job-Id"] = "job-9"

        s3.meta.events.register("before-sign.s3.GetObject", tag)
        assert s3.get_object(Bucket="daemon-bucket", Key="in.txt")["Body"].read() == b"daemon data"
        presigned = _client(url, signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": "daemon-bucket", "Key": "in.txt"}
        )
        with urllib.request.urlopen(presigned, timeout=30) as response:
            assert response.read() == b"daemon data"
        s3.close()
        session_id = (roar_dir / "proxy.json").read_text().split('"session_id":"')[1][:32]
    finally:
        stop = aws_project.roar("proxy", "stop")
    assert f"Proxy daemon stopped (pid={pid}" in stop.stderr
    assert not (roar_dir / "proxy.json").exists()
    assert "not running" in aws_project.roar("proxy").stdout
    stopped = aws_project.roar("proxy", "status", "--json").json()
    assert stopped["running"] is False and stopped["pid"] is None and "enabled" in stopped
    assert "No proxy daemon is running" in aws_project.roar("proxy", "stop").stderr

    # Stopping brought the events into the store; the file was set aside, never read twice.
    assert not (roar_dir / "proxy-events.jsonl").exists()
    ingested = roar_dir / "proxy-events.ingested.jsonl"
    assert "Recorded 3 S3 event(s)" in stop.stderr
    jobs = aws_project.roar("log", "--json").json()
    by_command = {j["command"]: j for j in jobs}
    session_job = by_command[f"roar proxy (session {session_id})"]
    assert [f["path"] for f in session_job["outputs"]] == ["s3://daemon-bucket/in.txt"]
    assert [f["path"] for f in session_job["inputs"]] == ["s3://daemon-bucket/in.txt"]
    assert session_job["outputs"][0]["hash"] == blake3.blake3(b"daemon data").hexdigest()
    # job-9 is not a recorded job: its event is kept in a session of its own, not dropped.
    assert by_command["roar proxy (session unknown-job)"]["inputs"][0]["path"] == (
        "s3://daemon-bucket/in.txt"
    )
    events = read_events(ingested)
    assert [(e.op, e.direction, e.url, e.job_id) for e in events] == [
        ("PutObject", "output", "s3://daemon-bucket/in.txt", None),
        ("GetObject", "input", "s3://daemon-bucket/in.txt", "job-9"),
        ("GetObject", "input", "s3://daemon-bucket/in.txt", None),
    ]
    digest = blake3.blake3(b"daemon data").hexdigest()
    assert all(e.session_id == session_id and e.blake3 == digest for e in events)
    log = (roar_dir / "proxy.log").read_text()
    assert "PutObject s3://daemon-bucket/in.txt 200" in log and "stopped" in log
    for secret in (SECRET_KEY, ACCESS_KEY, "X-Amz-Signature", "X-Amz-Credential"):
        assert secret not in log
        assert secret not in ingested.read_text()
        assert secret not in aws_project.roar("log", "--json").stdout


def test_port_in_use_is_one_line_and_exit_2(aws_project: Workspace, moto_process: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = aws_project.roar(
            "proxy", "start", "--port", str(port), "--upstream", moto_process, check=False
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"roar: port {port} on 127.0.0.1 is in use (choose another with --port, or stop what "
        "holds it, e.g. 'roar proxy stop')"
    ]
    assert result.stdout == ""
    assert not (aws_project.root / ".roar" / "proxy.json").exists()


def test_no_credentials_refuses_quickly_in_one_line(project: Workspace) -> None:
    project.env = {
        k: v
        for k, v in _aws(project.env, project.root.parent).items()
        if k not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    }
    started = time.monotonic()
    result = project.roar("proxy", "start", "--port", "0", check=False)
    assert time.monotonic() - started < 20  # no instance-metadata probing
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("roar: no AWS credentials for the S3 proxy")
    assert not (project.root / ".roar" / "proxy.json").exists()


def test_memory_stays_flat_for_a_large_object(aws_project: Workspace, moto_process: str) -> None:
    url, pid = _start(aws_project, moto_process)
    try:
        s3 = _client(url)
        s3.create_bucket(Bucket="large-bucket")
        size = 192 * 1024 * 1024
        block = os.urandom(1024 * 1024)
        hasher = blake3.blake3()
        source = aws_project.root.parent / "large.bin"
        with open(source, "wb") as handle:
            for _ in range(size // len(block)):
                handle.write(block)
                hasher.update(block)
        with open(source, "rb") as handle:
            s3.put_object(Bucket="large-bucket", Key="large.bin", Body=handle)
        body = s3.get_object(Bucket="large-bucket", Key="large.bin")["Body"]
        got = blake3.blake3()
        while chunk := body.read(1024 * 1024):
            got.update(chunk)
        s3.close()
        assert got.hexdigest() == hasher.hexdigest()
        peak_mib = _hwm_kib(pid) / 1024
    finally:
        aws_project.roar("proxy", "stop")
    # Python + aiohttp + botocore + uvloop is ~48 MiB before the first byte.
    assert peak_mib < 80, f"daemon peaked at {peak_mib:.0f} MiB for a {size >> 20} MiB object"
    ingested = aws_project.root / ".roar" / "proxy-events.ingested.jsonl"
    events = read_events(ingested)
    assert [(e.op, e.size, e.blake3) for e in events] == [
        ("PutObject", size, hasher.hexdigest()),
        ("GetObject", size, hasher.hexdigest()),
    ]


def test_the_daemon_picks_a_free_port_unless_one_is_set(
    aws_project: Workspace, moto_process: str
) -> None:
    assert "a free one" in aws_project.roar("proxy", "status").stdout
    result = aws_project.roar("proxy", "start", "--upstream", moto_process)  # no --port
    try:
        url = result.stdout.strip().partition("=")[2]
        port = int(url.rsplit(":", 1)[1])
        assert port != 9090 and port > 0
        status = aws_project.roar("proxy", "status", "--json").json()
        assert status["running"] is True and status["port"] == port and status["url"] == url
    finally:
        aws_project.roar("proxy", "stop")


def test_only_clients_holding_a_key_may_use_the_daemon(
    aws_project: Workspace, moto_process: str
) -> None:
    started = aws_project.roar(
        "proxy", "start", "--port", "0", "--upstream", moto_process, "--credentials"
    )
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in started.stdout.splitlines()
        if line.startswith("export ")
    )
    url = exports["AWS_ENDPOINT_URL_S3"]
    key_id, secret = exports["AWS_ACCESS_KEY_ID"], exports["AWS_SECRET_ACCESS_KEY"]
    assert key_id.startswith("ROAR") and len(key_id) == 20 and key_id != ACCESS_KEY
    credentials = aws_project.root / ".roar" / "proxy-credentials"
    assert credentials.stat().st_mode & 0o777 == 0o600
    assert key_id in credentials.read_text() and secret in credentials.read_text()
    try:
        _client(url).create_bucket(Bucket="guarded")  # the owner's own credentials: served
        # Anyone else on the machine, with no credentials: refused, nothing reaches S3.
        request = urllib.request.Request(f"{url}/guarded/x.txt", data=b"sneaky", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403
        assert b"<Code>AccessDenied</Code>" in refused.value.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/guarded/x.txt", timeout=30)
        assert refused.value.code == 403
        if shutil.which("curl"):
            curl = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{url}/guarded/"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert curl.stdout == "403"
        # A key id it does not know, or the right id with the wrong secret: refused.
        stranger = boto3.session.Session(
            aws_access_key_id="AKIASTRANGER00000000",
            aws_secret_access_key="x" * 40,
            region_name="us-east-1",
        ).client("s3", endpoint_url=url)
        with pytest.raises(ClientError) as error:
            stranger.put_object(Bucket="guarded", Key="x.txt", Body=b"sneaky")
        assert error.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        forger = boto3.session.Session(
            aws_access_key_id=key_id, aws_secret_access_key="y" * 40, region_name="us-east-1"
        ).client("s3", endpoint_url=url)
        with pytest.raises(ClientError) as error:
            forger.put_object(Bucket="guarded", Key="x.txt", Body=b"sneaky")
        assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        direct = _client(moto_process)
        assert direct.list_objects_v2(Bucket="guarded").get("KeyCount") == 0
        # A client with only the daemon's key pair: served, and re-signed with the owner's.
        holder = boto3.session.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret, region_name="us-east-1"
        ).client("s3", endpoint_url=url)
        holder.put_object(Bucket="guarded", Key="ok.txt", Body=b"allowed")
        assert direct.get_object(Bucket="guarded", Key="ok.txt")["Body"].read() == b"allowed"
        for made in (stranger, forger, holder, direct):
            made.close()
    finally:
        aws_project.roar("proxy", "stop")
    assert not credentials.exists()
    log = (aws_project.root / ".roar" / "proxy.log").read_text()
    assert "AccessDenied 403" in log and "SignatureDoesNotMatch 403" in log
    assert secret not in log and key_id not in log


def test_events_stream_into_the_store_while_the_daemon_runs(
    aws_project: Workspace, moto_process: str
) -> None:
    aws_project.roar("config", "set", "proxy.ingest_interval", "1")
    url, _ = _start(aws_project, moto_process)
    roar_dir = aws_project.root / ".roar"

    def session_jobs() -> list[dict[str, Any]]:
        jobs = aws_project.roar("log", "--json").json()
        return [j for j in jobs if j["command"].startswith("roar proxy (session")]

    def wait_for(predicate: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 60
        while not predicate(found := session_jobs()):
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
        return found

    try:
        s3 = _client(url)
        s3.create_bucket(Bucket="streamed")
        s3.put_object(Bucket="streamed", Key="one.txt", Body=b"first")
        # In the store while the daemon still runs; the events file does not keep growing.
        (job,) = wait_for(lambda jobs: len(jobs) == 1)
        assert [f["path"] for f in job["outputs"]] == ["s3://streamed/one.txt"]

        def tag(request: Any, **_: Any) -> None:
            request.headers["Roar-Job-Id"] = "not-yet-recorded"

        s3.put_object(Bucket="streamed", Key="two.txt", Body=b"second")
        s3.meta.events.register("before-sign.s3.GetObject", tag)
        s3.get_object(Bucket="streamed", Key="one.txt")["Body"].read()
        s3.close()
        # The same session's job grows (one job per session, however many ingests).
        (job,) = wait_for(lambda jobs: len(jobs) == 1 and len(jobs[0]["outputs"]) == 2)
        assert sorted(f["path"] for f in job["outputs"]) == [
            "s3://streamed/one.txt",
            "s3://streamed/two.txt",
        ]
        # An event naming a job the store does not know yet waits in the events file.
        deadline = time.monotonic() + 30
        while "not-yet-recorded" not in (roar_dir / "proxy-events.jsonl").read_text():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert not list(roar_dir.glob("proxy-events.jsonl.*.ingesting"))
    finally:
        stop = aws_project.roar("proxy", "stop")
    assert "Recorded 1 S3 event(s)" in stop.stderr  # only the waiting one was left
    commands = sorted(j["command"] for j in session_jobs())
    assert commands[-1] == "roar proxy (session unknown-job)" and len(commands) == 2
    assert not (roar_dir / "proxy-events.jsonl").exists()
    archived = read_events(roar_dir / "proxy-events.ingested.jsonl")
    assert [(e.op, e.key) for e in archived if e.op.endswith("Object")] == [
        ("PutObject", "one.txt"),
        ("PutObject", "two.txt"),
        ("GetObject", "one.txt"),
    ]
