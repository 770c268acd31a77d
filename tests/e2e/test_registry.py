"""The registry end to end: `roar server` on 127.0.0.1, `roar register` from a project, and
`roar reproduce <hash>` from an empty directory through the registry alone."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Workspace, _clean_env, roar_executable

pytestmark = pytest.mark.e2e

PREP = (
    "rows = open('data.csv').read().split()\n"
    "open('prep.csv', 'w').write(' '.join(r * 2 for r in rows))\n"
)
TRAIN = "open('model.txt', 'w').write(str(len(open('prep.csv').read())))\n"


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`roar server` on each database it supports."""
    db = (
        f"sqlite:///{tmp_path}/reg.db"
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_db"))
    )
    home = tmp_path / "server-home"
    home.mkdir()
    proc = subprocess.Popen(
        [roar_executable(), "server", "--port", "0", "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(home),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY http://127.0.0.1:"), line + (
        proc.stderr.read() if proc.stderr else ""
    )
    yield line.split()[1]
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()
    if proc.stderr is not None:
        proc.stderr.close()


def _published_hash(stdout: str) -> str:
    """The full session hash `roar register` says it published under (from its URL)."""
    import re

    found = re.search(r"published as [0-9a-f]{16}: \S*/sessions/([0-9a-f]{64})", stdout)
    assert found, stdout
    return found.group(1)


def _call(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def pipeline(project: Workspace, tmp_path: Path) -> Workspace:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    project.git("remote", "add", "origin", str(origin))
    project.gen(
        {
            ".gitignore": ".roar/\nprep.csv\nmodel.txt\n",
            "data.csv": "a b c\n",
            "prep.py": PREP,
            "train.py": TRAIN,
        }
    )
    project.commit_all("pipeline")
    project.git("push", "-q", "origin", "main")
    project.roar("run", "python", "prep.py")
    project.roar("run", "python", "train.py")
    return project


@pytest.mark.slow
def test_register_then_reproduce_from_an_empty_directory(
    pipeline: Workspace, registry: str, tmp_path: Path
) -> None:
    pipeline.env["GLAAS_URL"] = registry
    dry = pipeline.roar("register", "model.txt", "--dry-run")
    assert "Dry run: nothing was sent" in dry.stdout and "2 job(s)" in dry.stderr
    result = pipeline.roar("register", "model.txt")
    assert "Registered 2 job(s)" in result.stdout
    # The receipt is the reproducibility checklist, as `roar reproduce` judges the lineage.
    assert "Reproducibility - 5/5" in result.stdout and "[ok]" in result.stdout
    model_hash = pipeline.roar("show", "model.txt", "--json").json()["hash"]
    assert f"roar reproduce {model_hash[:16]}" in result.stdout
    # Registering again sends the same lineage: nothing new is created.
    again = pipeline.roar("register", "model.txt")
    assert "0 new artifact(s)" in again.stdout

    status, artifact = _call(f"{registry}/api/v1/artifacts/{model_hash[:12]}")
    assert status == 200 and artifact["success"] is True
    assert artifact["data"]["hash"] == model_hash

    home = tmp_path / "elsewhere-home"
    home.mkdir()
    empty = Workspace(tmp_path / "empty", _clean_env(home))
    empty.root.mkdir()
    empty.env["GLAAS_URL"] = registry
    reproduced = empty.roar(
        "reproduce", model_hash[:16], "--run", "-y", "--json", check=False, timeout=300
    )
    assert reproduced.returncode == 0, reproduced.stderr
    report = reproduced.json()
    assert report["mode"] == "clone" and report["ok"] is True
    verdicts = {o["path"]: o["verdict"] for o in report["outputs"]}
    assert verdicts == {"prep.csv": "reproduced", "model.txt": "reproduced"}
    clone = Path(report["checkout"])
    assert (clone / "model.txt").read_text() == (pipeline.root / "model.txt").read_text()


def test_secrets_never_leave_the_machine(project: Workspace, registry: str) -> None:
    project.gen({"fetch.py": "open('got.txt', 'w').write('x')\n"})
    project.commit_all("fetch")
    project.roar("run", "python", "fetch.py", "--api-token=s3cr3t-value-123")
    project.env["GLAAS_URL"] = registry
    refused = project.roar("register", check=False)
    assert refused.returncode != 0 and "re-run with -y" in refused.stderr
    assert "@1 command" in refused.stderr
    published = project.roar("register", "-y").stdout
    session = _published_hash(published)
    status, body = _call(f"{registry}/api/v1/sessions/{session}")
    assert status == 200
    stored = json.dumps(body)
    assert "s3cr3t-value-123" not in stored and "fetch.py" in stored


def test_bad_requests_get_4xx_in_the_envelope_never_a_500(registry: str) -> None:
    api = f"{registry}/api/v1"
    cases = [
        ("POST", "/sessions", b"{not json"),
        ("POST", "/sessions", b"[1, 2]"),
        ("POST", "/sessions", b'{"hash": 42}'),
        ("POST", "/sessions/abcd1234/jobs/batch", b'{"jobs": []}'),
        ("POST", "/artifacts/batch", b'{"artifacts": [{"hashes": "nope"}]}'),
        (
            "POST",
            "/artifacts/batch",
            b'{"artifacts": [{"hashes": [{"algorithm": "blake3", "digest": "zz"}]}]}',
        ),
        ("GET", "/artifacts/not-hex", None),
        ("GET", "/artifacts/abcdef123456", None),
        ("GET", "/artifacts/abcdef123456/dag", None),
        ("POST", "/sessions", b"x" * (17 * 1024 * 1024)),
    ]
    for method, path, body in cases:
        status, answer = _call(api + path, method, body)
        assert 400 <= status < 500, (path, status)
        assert answer["success"] is False and answer["detail"], (path, answer)
    status, _ = _call(f"{api}/sessions", "POST", json.dumps({"hash": "ab" * 32}).encode())
    assert status == 201
    status, health = _call(f"{api}/health")
    assert status == 200 and health["data"]["status"] == "healthy"
    status, listed = _call(f"{api}/sessions?limit=5")
    assert status == 200 and [s["hash"] for s in listed["data"]["sessions"]] == ["ab" * 32]
    assert _call(f"{api}/sessions?limit=lots")[0] == 400


def test_register_without_a_registry_is_one_line(project: Workspace) -> None:
    result = project.roar("register", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "roar: no registry configured: set GLAAS_URL or 'roar config set glaas.url URL' "
        "(a roar server on this machine: roar server)"
    ]


def _junk(rng: Any, depth: int = 0) -> Any:
    """A random JSON value, sometimes shaped like what the API expects, mostly not."""
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, -1, 2**63, 1e308, -0.5])
    if kind == 2:
        return "".join(rng.choice('ab09f\\"\x00é/:.') for _ in range(rng.randrange(0, 70)))
    if kind == 3:
        return "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice([4, 8, 63, 64])))
    if kind == 4:
        return rng.randrange(-5, 10**6)
    if kind in (5, 6):
        keys = ["hash", "jobs", "artifacts", "hashes", "job_uid", "command", "timestamp",
                "step_number", "metadata", "size", "path", "byte_ranges", "algorithm", "digest",
                "git_repo", "exit_code", "x"]  # fmt: skip
        return {rng.choice(keys): _junk(rng, depth + 1) for _ in range(rng.randrange(0, 6))}
    return [_junk(rng, depth + 1) for _ in range(rng.randrange(0, 5))]


@pytest.mark.slow
def test_thousands_of_malformed_requests_never_break_the_server(registry: str) -> None:
    import http.client
    import random
    from concurrent.futures import ThreadPoolExecutor

    host, port = registry.removeprefix("http://").split(":")
    session = "cd" * 32
    _call(f"{registry}/api/v1/sessions", "POST", json.dumps({"hash": session}).encode())
    paths = [
        "/api/v1/sessions",
        f"/api/v1/sessions/{session}",
        f"/api/v1/sessions/{session}/jobs",
        f"/api/v1/sessions/{session}/jobs/batch",
        f"/api/v1/sessions/{session}/jobs/j1/inputs",
        f"/api/v1/sessions/{session}/jobs/j1/outputs",
        "/api/v1/artifacts",
        "/api/v1/artifacts/batch",
        "/api/v1/artifacts/abcd",
        "/api/v1/artifacts/%00%ff/dag",
        "/api/v1/public/artifacts/0000",
        "/api/v1/nothing/here",
    ]

    def worker(seed: int) -> list[tuple[str, int]]:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        bad: list[tuple[str, int]] = []
        for _ in range(400):
            path = rng.choice(paths)
            method = rng.choice(["POST", "POST", "GET", "PUT", "DELETE"])
            if rng.random() < 0.2:
                body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
            else:
                body = json.dumps(_junk(rng)).encode()
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status >= 500:
                bad.append((f"{method} {path} {body[:80]!r}", response.status))
            elif response.status >= 400:
                assert json.loads(payload)["success"] is False
        conn.close()
        return bad

    with ThreadPoolExecutor(8) as pool:
        failures = [f for found in pool.map(worker, range(8)) for f in found]
    assert failures == []
    status, health = _call(f"{registry}/api/v1/health")
    assert status == 200 and health["data"]["status"] == "healthy"


def test_concurrent_overlapping_registrations_do_not_duplicate(registry: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    shared = [f"{i:064x}" for i in range(50)]

    def register(worker: int) -> None:
        session = f"{worker + 1:02x}" * 32
        _call(f"{registry}/api/v1/sessions", "POST", json.dumps({"hash": session}).encode())
        own = [f"{worker:08x}{i:056x}" for i in range(10)]
        artifacts = [
            {"hashes": [{"algorithm": "blake3", "digest": d}], "size": 1, "session_hash": session}
            for d in [*shared, *own]
        ]
        status, _ = _call(
            f"{registry}/api/v1/artifacts/batch",
            "POST",
            json.dumps({"artifacts": artifacts}).encode(),
        )
        assert status == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(register, range(8)))
    for digest in shared[:10]:
        status, found = _call(f"{registry}/api/v1/artifacts/{digest}")
        assert status == 200 and found["data"]["hash"] == digest  # exactly one match


def test_the_openapi_document_lists_every_route_served(registry: str) -> None:
    status, spec = _call(f"{registry}/api/v1/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    from roar.registry.server._app import make_app

    class _NoStore:
        pass

    app = make_app(_NoStore())  # type: ignore[arg-type]
    served = {
        route.resource.canonical
        for route in app.router.routes()
        if route.resource is not None
        and route.method in {"GET", "POST"}
        and route.resource.canonical.startswith("/api/")
    }
    described = set(spec["paths"])
    assert served == described, served ^ described
