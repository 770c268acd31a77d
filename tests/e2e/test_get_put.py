"""`roar get` and `roar put` end to end: moto's S3 server and a local HTTP server on 127.0.0.1,
the real roar command, objects checked byte for byte with boto3."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest

from tests.conftest import Workspace, roar_executable
from tests.servers import ThreadedApp, free_port, moto_server, server_process

pytestmark = pytest.mark.e2e

ACCESS_KEY = "AKIAGETPUTTESTS00000"
SECRET_KEY = "get-put-tests-secret"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


def _s3(moto_url: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


@pytest.fixture
def s3(moto_url: str, request: pytest.FixtureRequest) -> Any:
    client = _s3(moto_url)
    bucket = "b-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:12]
    client.create_bucket(Bucket=bucket)
    client.bucket = bucket  # the test's own bucket
    return client


@pytest.fixture
def aws(project: Workspace, moto_url: str) -> Workspace:
    env = {k: v for k, v in project.env.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL_S3=moto_url,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return Workspace(project.root, env)


def _b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.roar-part")]


def test_get_a_prefix_records_a_composite_and_its_files(aws: Workspace, s3: Any) -> None:
    files = {f"shards/part-{i:03d}.csv": f"row,{i}\n".encode() * (i + 1) for i in range(12)}
    files["shards/README.md"] = b"boilerplate, not part of the identity\n"
    for key, body in files.items():
        s3.put_object(Bucket=s3.bucket, Key=f"datasets/v1/{key}", Body=body)

    report = aws.roar("get", f"s3://{s3.bucket}/datasets/v1/", "data", "--json").json()
    assert report["step_ref"] == "@1" and len(report["files"]) == 13
    for key, body in files.items():
        assert (aws.root / "data" / key).read_bytes() == body
    # The tree hash of the reference: sorted (relpath, blake3) leaves, boilerplate left out.
    leaves = sorted((k, _b3(v)) for k, v in files.items() if not k.endswith("README.md"))
    preimage = b"roar:blake3-tree:v1\n" + b"".join(
        p.encode() + b"\0blake3:" + d.encode() + b"\n" for p, d in leaves
    )
    assert report["composite"] == {"path": "data", "hash": _b3(preimage)}

    job = aws.roar("show", "@1", "--json").json()
    assert job["job_type"] == "get" and job["inputs"] == []
    by_path = {o["path"]: o for o in job["outputs"]}
    part = by_path["data/shards/part-003.csv"]
    assert part["hash"] == _b3(files["shards/part-003.csv"])
    assert part["hashes"]["sha256"] == hashlib.sha256(files["shards/part-003.csv"]).hexdigest()
    (composite,) = job["composites"]
    assert composite["hash"] == _b3(preimage) and len(composite["components"]) == 13

    artifact = aws.roar("show", "data/shards/part-003.csv", "--json").json()
    assert artifact["source_url"] == f"s3://{s3.bucket}/datasets/v1/shards/part-003.csv"
    assert [c["hash"] for c in artifact["in_composites"]] == [_b3(preimage)]
    listed = aws.roar("show", _b3(preimage)[:16], "--json").json()
    assert listed["kind"] == "composite" and len(listed["components"]) == 13

    # A job reading one file of the dataset is linked to it (and to the Get job in the DAG).
    aws.roar(
        "run",
        "python",
        "-c",
        "open('first.txt','w').write(open('data/shards/part-001.csv').read())",
    )
    reader = aws.roar("show", "@2", "--json").json()
    assert reader["datasets_read"] == [
        {"hash": _b3(preimage), "path": "data", "files": ["shards/part-001.csv"]}
    ]
    assert "Read from dataset data" in aws.roar("show", "@2").stdout
    dag = aws.roar("dag", "--json").json()
    node = next(n for n in dag["nodes"] if n["step_number"] == 2)
    assert node["dependencies"] == [1]


def test_get_one_object_verifies_and_never_leaves_a_partial_file(aws: Workspace, s3: Any) -> None:
    body = os.urandom(300_000)
    s3.put_object(Bucket=s3.bucket, Key="models/model.bin", Body=body)
    url = f"s3://{s3.bucket}/models/model.bin"

    wrong = aws.roar("get", url, "model.bin", "--hash", "0" * 64, check=False)
    assert wrong.returncode == 1 and "hash mismatch" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert not (aws.root / "model.bin").exists() and _leftovers(aws.root) == []

    ok = aws.roar("get", url, "weights/", "--hash", _b3(body)[:16], "-m", "v1 weights")
    assert "@1" in ok.stdout and (aws.root / "weights" / "model.bin").read_bytes() == body
    assert aws.roar("show", "@1", "--json").json()["metadata"]["message"] == "v1 weights"

    (aws.root / "weights" / "model.bin").write_bytes(b"my own edits")
    refused = aws.roar("get", url, "weights/", check=False)
    assert refused.returncode == 1 and "--force overwrites" in refused.stderr
    assert (aws.root / "weights" / "model.bin").read_bytes() == b"my own edits"
    aws.roar("get", url, "weights/", "--force")
    assert (aws.root / "weights" / "model.bin").read_bytes() == body

    dry = aws.roar("get", url, "elsewhere.bin", "--dry-run")
    assert "Dry run: 1 file(s)" in dry.stdout and not (aws.root / "elsewhere.bin").exists()


def test_bad_input_is_one_line_and_a_non_zero_exit(aws: Workspace, s3: Any, tmp_path: Path) -> None:
    cases = {
        "ftp://host/file": (2, "unknown scheme ftp://"),
        f"s3://{s3.bucket}/missing/key": (1, "does not exist"),
        "s3://no-such-bucket-here/x": (1, "does not exist"),
    }
    for src, (code, text) in cases.items():
        result = aws.roar("get", src, check=False)
        assert result.returncode == code and text in result.stderr, (src, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

    bare = {
        k: v for k, v in aws.env.items() if not k.startswith("AWS_ACCESS") and "SECRET" not in k
    }
    bare["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    no_keys = Workspace(aws.root, bare).roar("get", f"s3://{s3.bucket}/x", check=False)
    assert no_keys.returncode == 2 and "no AWS credentials" in no_keys.stderr

    # Without google-cloud-storage (a `google` package that refuses to import shadows it).
    blocked = tmp_path / "blocked"
    (blocked / "google").mkdir(parents=True)
    (blocked / "google" / "__init__.py").write_text("raise ImportError('blocked by the test')\n")
    without = Workspace(aws.root, {**aws.env, "PYTHONPATH": str(blocked)})
    gcs = without.roar("get", "gs://bucket/object", check=False)
    assert gcs.returncode == 2 and "pip install google-cloud-storage" in gcs.stderr
    assert len(gcs.stderr.strip().splitlines()) == 1


def test_a_full_disk_leaves_no_partial_file(aws: Workspace, s3: Any) -> None:
    """The download fails while writing (RLIMIT_FSIZE: the kernel refuses the write, as a full
    disk does): one line, exit 1, nothing where the file should be."""
    s3.put_object(Bucket=s3.bucket, Key="big.bin", Body=os.urandom(4 << 20))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = subprocess.run(
        [roar_executable(), "get", f"s3://{s3.bucket}/big.bin"],
        cwd=aws.root, env=aws.env, capture_output=True, text=True, preexec_fn=limit, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "cannot write" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (aws.root / "big.bin").exists() and _leftovers(aws.root) == []


def _flaky_server(body: bytes, requests: list[str | None]) -> ThreadedApp:
    """/weights.pt is cut after half its bytes on the first request, served with Range support
    after; /secret is 403; everything else 404. Each request's Range goes into ``requests``."""
    from aiohttp import web

    async def weights(request: web.Request) -> web.StreamResponse:
        requests.append(request.headers.get("Range"))
        start = 0
        if request.headers.get("Range"):
            start = int(request.headers["Range"].removeprefix("bytes=").split("-")[0])
        response = web.StreamResponse(
            status=206 if start else 200,
            headers={
                "Accept-Ranges": "bytes",
                "ETag": '"v1"',
                "Content-Length": str(len(body) - start),
            },
        )
        await response.prepare(request)
        if len(requests) == 1:
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-way
            return response
        await response.write(body[start:])
        return response

    async def secret(request: web.Request) -> web.Response:
        return web.Response(status=403)

    def routes(app: web.Application) -> None:
        app.router.add_get("/weights.pt", weights)
        app.router.add_get("/secret", secret)

    return ThreadedApp(routes)


def test_https_style_download_resumes_after_a_dropped_connection(project: Workspace) -> None:
    body = os.urandom(3 << 20)
    requests: list[str | None] = []
    server = _flaky_server(body, requests)
    try:
        base = server.url
        result = project.roar("get", f"{base}/weights.pt", "--hash", _b3(body))
        assert (project.root / "weights.pt").read_bytes() == body
        assert "@1" in result.stdout
        # The second request asked only for what had not arrived.
        assert requests[0] is None and len(requests) == 2
        resumed_at = int(str(requests[1]).removeprefix("bytes=").rstrip("-"))
        assert 0 < resumed_at <= len(body) // 2
        job = project.roar("show", "@1", "--json").json()
        assert job["outputs"][0]["hash"] == _b3(body)
        # The server's ETag "v1" resumed the download; it is no content digest to record.
        assert set(job["outputs"][0]["hashes"]) == {"blake3", "sha256"}
        artifact = project.roar("show", "weights.pt", "--json").json()
        assert artifact["source_url"] == f"{base}/weights.pt"

        forbidden = project.roar("get", f"{base}/secret", "s.bin", check=False)
        assert forbidden.returncode == 1 and "access denied" in forbidden.stderr
        missing = project.roar("get", f"{base}/nothing.bin", check=False)
        assert missing.returncode == 1 and "does not exist" in missing.stderr
        assert _leftovers(project.root) == []
    finally:
        server.close()


@pytest.fixture(scope="module")
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator (a GCS JSON API server) on 127.0.0.1, in memory."""
    port = free_port()
    emulator = Path(sys.executable).with_name("gcp-storage-emulator")
    argv = [str(emulator), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    url = f"http://127.0.0.1:{port}"
    with server_process(argv, url + "/storage/v1/b?project=test"):
        yield url


def test_gs_get_and_put_through_google_cloud_storage(project: Workspace, gcs_emulator: str) -> None:
    from google.cloud import storage  # type: ignore[import-untyped]

    os.environ["STORAGE_EMULATOR_HOST"] = gcs_emulator
    try:
        bucket = storage.Client(project="test").create_bucket("roar-gs-tests")
        for i in range(3):
            bucket.blob(f"ds/p{i}.txt").upload_from_string(f"part {i}\n")
    finally:
        del os.environ["STORAGE_EMULATOR_HOST"]
    ws = Workspace(project.root, {**project.env, "STORAGE_EMULATOR_HOST": gcs_emulator,
                                  "GOOGLE_CLOUD_PROJECT": "test"})  # fmt: skip
    got = ws.roar("get", "gs://roar-gs-tests/ds/", "data", "--json").json()
    assert sorted(p.name for p in (ws.root / "data").iterdir()) == ["p0.txt", "p1.txt", "p2.txt"]
    assert got["composite"]["path"] == "data"
    put = ws.roar("put", "data", "gs://roar-gs-tests/back/", "-m", "back", "--no-tag", "--json")
    assert put.json()["composites"][0]["hash"] == got["composite"]["hash"]
    job = ws.roar("show", got["step_ref"], "--json").json()
    assert all("etag" not in o["hashes"] for o in job["outputs"])
    names = sorted(b.name for b in bucket.list_blobs(prefix="back/"))
    assert names == ["back/p0.txt", "back/p1.txt", "back/p2.txt"]
    missing = ws.roar("get", "gs://roar-gs-tests/nothing/here", check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def _objects(s3: Any, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=s3.bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_put_files_directories_steps_and_the_session(aws: Workspace, s3: Any) -> None:
    aws.gen({"make.py": "import os\nos.makedirs('ckpt', exist_ok=True)\n"
             "for i in range(3): open(f'ckpt/e{i}.pt', 'wb').write(bytes([i]) * 1000)\n"
             "open('model.pt', 'wb').write(b'final')\n"})  # fmt: skip
    aws.commit_all("trainer")
    aws.roar("run", "python", "make.py")
    bucket = f"s3://{s3.bucket}"

    dry = aws.roar("put", "model.pt", f"{bucket}/models/", "-m", "final", "--dry-run")
    assert "Dry run: 1 file(s)" in dry.stdout and _objects(s3, "models/") == {}

    one = aws.roar("put", "model.pt", f"{bucket}/models/", "-m", "final", "--json").json()
    assert _objects(s3, "models/") == {"models/model.pt": b"final"}
    job = aws.roar("show", one["step_ref"], "--json").json()
    assert job["job_type"] == "put" and job["metadata"]["message"] == "final"
    assert [i["path"] for i in job["inputs"]] == ["model.pt"]
    assert [o["path"] for o in job["outputs"]] == [f"{bucket}/models/model.pt"]
    assert job["inputs"][0]["hash"] == job["outputs"][0]["hash"] == _b3(b"final")
    assert job["outputs"][0]["hashes"]["etag"]  # the uploaded object's ETag, as S3 gave it
    assert one["tag"] and one["tag"] in aws.git("tag")

    directory = aws.roar("put", "ckpt", f"{bucket}/run-42/", "-m", "ckpts", "--json").json()
    assert set(_objects(s3, "run-42/")) == {f"run-42/e{i}.pt" for i in range(3)}
    local, remote = directory["composites"]
    assert local["role"] == "input" and local["path"] == "ckpt"
    assert remote["role"] == "output" and remote["path"] == f"{bucket}/run-42/"
    assert local["hash"] == remote["hash"]  # the same dataset on both sides

    step = aws.roar("put", "@1", f"{bucket}/step1/", "-m", "step 1", "--no-tag", "--json").json()
    assert set(_objects(s3, "step1/")) == {
        "step1/model.pt",
        *(f"step1/ckpt/e{i}.pt" for i in range(3)),
    }
    assert step["tag"] is None

    everything = aws.roar("put", f"{bucket}/all/", "-m", "all outputs", "--json").json()
    assert len(everything["files"]) == 4
    # Downloading what was put gives back the same artifacts (content addressing links them).
    aws.roar("get", f"{bucket}/all/model.pt", "copy.pt")
    assert aws.roar("show", "copy.pt", "--json").json()["hash"] == _b3(b"final")


@pytest.mark.slow
def test_a_large_file_goes_up_in_parts_and_comes_back_whole(aws: Workspace, s3: Any) -> None:
    data = os.urandom(70 << 20)  # over the 64 MiB multipart threshold
    (aws.root / "big.bin").write_bytes(data)
    put = aws.roar("put", "big.bin", f"s3://{s3.bucket}/big.bin", "-m", "big", "--no-tag", "--json")
    # Hashed in the pass that sent it: the parts' BLAKE3 subtrees, combined.
    job = aws.roar("show", put.json()["step_ref"], "--json").json()
    assert job["inputs"][0]["hash"] == job["outputs"][0]["hash"] == _b3(data)
    head = s3.head_object(Bucket=s3.bucket, Key="big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].strip('"').endswith("-2")
    aws.roar("get", f"s3://{s3.bucket}/big.bin", "back.bin")
    assert _b3((aws.root / "back.bin").read_bytes()) == _b3(data)


def test_bad_put_input(aws: Workspace, s3: Any) -> None:
    cases = [
        (["put", "nope.txt", f"s3://{s3.bucket}/x", "-m", "m"], 2, "does not exist"),
        (["put", "README.md", "https://example.invalid/x", "-m", "m"], 2, "download only"),
        (["put", "README.md", f"s3://{s3.bucket}/x"], 2, "Missing option"),
        (
            ["put", "README.md", "s3://no-such-bucket-here/x", "-m", "m", "--no-tag"],
            1,
            "does not exist",
        ),
    ]
    for argv, code, text in cases:
        result = aws.roar(*argv, check=False)
        assert result.returncode == code and text in result.stderr, (argv, result.stderr)
        assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_put_registers_the_lineage_when_a_registry_is_configured(
    aws: Workspace, s3: Any, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [roar_executable(), "server", "--port", "0", "--db", f"sqlite:///{tmp_path}/reg.db"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[1]
        aws.gen({"model.txt": "weights\n"})
        registered = Workspace(aws.root, {**aws.env, "GLAAS_URL": url})
        result = registered.roar("put", "model.txt", f"s3://{s3.bucket}/m/", "-m", "m", "--json")
        assert result.json()["registered"] == url
        digest = _b3(b"weights\n")
        with urllib.request.urlopen(f"{url}/api/v1/artifacts/{digest[:16]}") as response:
            found = json.load(response)
        assert digest in json.dumps(found)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_progress_bar_is_drawn_on_a_terminal_only(project: Workspace, tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    source = tmp_path / "shared" / "dataset"
    source.mkdir(parents=True)
    for i in range(3):
        (source / f"f{i}.bin").write_bytes(os.urandom(1 << 20))
    leader, follower = pty.openpty()
    # A terminal has a size (tqdm draws nothing on a 0x0 one).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run(
            [roar_executable(), "get", str(source), "on-tty"],
            cwd=project.root, env={**project.env, "TERM": "xterm"}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=follower, timeout=60,
        )  # fmt: skip
        os.close(follower)
        follower = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert proc.returncode == 0
    assert b"get dataset" in drawn and b"3.00M" in drawn  # tqdm's bar, in bytes
    piped = project.roar("get", str(source), "piped")
    assert "get dataset" not in piped.stderr and piped.stderr == ""
    job = project.roar("show", "@1", "--json").json()
    assert job["outputs"][0]["path"].startswith("on-tty/")
    assert len(job["composites"][0]["components"]) == 3


def test_reproduce_downloads_again_what_a_get_step_fetched(
    project: Workspace, tmp_path: Path
) -> None:
    from aiohttp import web

    body = b"x,y\n1,2\n3,4\n"

    async def data(request: web.Request) -> web.Response:
        return web.Response(body=body)

    server = ThreadedApp(lambda app: app.router.add_get("/data.csv", data))
    try:
        with open(project.root / ".gitignore", "a") as ignore:
            ignore.write("data.csv\nrows.txt\n")
        project.gen(
            {"count.py": "open('rows.txt','w').write(str(len(open('data.csv').readlines())))\n"}
        )
        project.commit_all("counter")
        project.roar("get", f"{server.url}/data.csv")
        project.roar("run", "python", "count.py")
        (project.root / "data.csv").unlink()  # gone from this machine: only its URL is left

        preview = project.roar("reproduce", "rows.txt").stdout
        assert "Downloads (roar get) (1):" in preview
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        report = (
            Workspace(elsewhere, project.env)
            .roar("reproduce", "rows.txt", "--from", str(project.root), "--run", "-y", "--json")
            .json()
        )
    finally:
        server.close()
    assert [s["outcome"] for s in report["steps"]] == ["ran", "ran"]
    assert {o["path"]: o["verdict"] for o in report["outputs"]} == {
        "data.csv": "reproduced",
        "rows.txt": "reproduced",
    }
    assert (Path(report["checkout"]) / "rows.txt").read_text() == "3"


def test_an_s3_download_cut_mid_way_resumes_with_range_and_if_match(project: Workspace) -> None:
    """An S3-compatible endpoint (listing, GET with Range) that drops the first GET half-way
    and answers 503 SlowDown once: roar retries, resumes on the same ETag, and gets it whole."""
    from aiohttp import web

    body = os.urandom(2 << 20)
    etag = hashlib.md5(body).hexdigest()  # S3's ETag of a single-part object
    seen: list[tuple[str | None, str | None]] = []

    async def bucket(request: web.Request) -> web.StreamResponse:
        if request.query.get("prefix") == "secret":
            denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            return web.Response(status=403, text=denied, content_type="application/xml")
        if "list-type" in request.query:
            xml = (
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                "<IsTruncated>false</IsTruncated><Contents><Key>w.bin</Key>"
                f'<Size>{len(body)}</Size><ETag>"{etag}"</ETag></Contents></ListBucketResult>'
            )
            return web.Response(text=xml, content_type="application/xml")
        return web.Response(status=404)

    async def obj(request: web.Request) -> web.StreamResponse:
        seen.append((request.headers.get("Range"), request.headers.get("If-Match")))
        if len(seen) == 2:
            return web.Response(
                status=503, text="<Error><Code>SlowDown</Code><Message>x</Message></Error>"
            )
        start = int(request.headers.get("Range", "bytes=0-")[6:].split("-")[0])
        response = web.StreamResponse(
            status=206 if start else 200,
            headers={"ETag": f'"{etag}"', "Content-Length": str(len(body) - start)},
        )
        await response.prepare(request)
        if len(seen) == 1:
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(body[start:])
        return response

    def routes(app: web.Application) -> None:
        app.router.add_get("/bkt", bucket)
        app.router.add_get("/bkt/w.bin", obj)

    server = ThreadedApp(routes)
    try:
        env = {k: v for k, v in project.env.items() if not k.startswith("AWS_")}
        env |= {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_ENDPOINT_URL_S3": server.url, "AWS_REGION": "us-east-1"}  # fmt: skip
        s3_ws = Workspace(project.root, env)
        s3_ws.roar("get", "s3://bkt/w.bin", "--hash", _b3(body))
        denied = s3_ws.roar("get", "s3://bkt/secret", check=False)
        assert denied.returncode == 1 and len(denied.stderr.strip().splitlines()) == 1
        assert "access denied to s3://bkt/secret (403 AccessDenied: Access Denied)" in denied.stderr
    finally:
        server.close()
    assert (project.root / "w.bin").read_bytes() == body
    assert seen[0] == (None, None)
    resumed = [r for r in seen[1:] if r[0]]
    assert resumed and all(match == f'"{etag}"' for _, match in resumed)
    assert 0 < int(resumed[-1][0][6:].rstrip("-")) <= len(body) // 2  # type: ignore[index]


def test_the_same_download_again_is_the_same_step(project: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "shared.csv"
    source.write_text("a,b\n")
    first = project.roar("get", str(source), "in.csv", "--json").json()
    source.write_text("a,b\n1,2\n")
    again = project.roar("get", str(source), "in.csv", "--force", "--json").json()
    other = project.roar("get", str(source), "other.csv", "--json").json()
    assert first["step_ref"] == again["step_ref"] == "@1" and other["step_ref"] == "@2"
    assert len(project.roar("log", "--json").json()) == 3  # every execution is kept
