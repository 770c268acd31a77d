"""Registry identities end to end: `roar login` approved on the server's web page, private
lineage that nobody else can see, SSH-key signatures, logout, the legacy flow for servers
without anonymous registration sessions, and labels travelling with a registration."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Workspace, _clean_env, roar_executable
from tests.registry_server import PASSWORD, Registry, login, start_registry

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/registry.db"
    return str(request.getfixturevalue("postgres_db"))


@pytest.fixture
def registry(registry_db: str, tmp_path: Path) -> Iterator[Registry]:
    home = tmp_path / "server-home"
    home.mkdir()
    with start_registry(registry_db, home) as registry:
        yield registry


def _pipeline(project: Workspace) -> str:
    project.gen(
        {"make.py": "open('out.txt', 'w').write(open('in.txt').read() * 2)\n", "in.txt": "data\n"}
    )
    project.commit_all("pipeline")
    project.roar("run", "python", "make.py")
    return str(project.roar("show", "out.txt", "--json").json()["hash"])


def test_login_registers_privately_and_others_cannot_see_it(
    project: Workspace, registry: Registry, tmp_path: Path
) -> None:
    registry.add_user("alice")
    registry.add_user("bob")
    project.env["GLAAS_URL"] = registry.url
    digest = _pipeline(project)

    logged_in = login(project, registry, "alice")
    assert logged_in.returncode == 0, logged_in.stderr
    assert "Logged in to" in logged_in.stdout and "as alice" in logged_in.stdout
    auth = Path(project.env["HOME"]) / ".config" / "roar" / "auth.json"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    token = json.loads(auth.read_text())["access_token"]
    assert "scope.mode = private" in logged_in.stdout
    assert project.roar("whoami").stdout.startswith("alice on http://127.0.0.1:")

    registered = project.roar("register", "out.txt")
    assert "(private, signed in as alice" in registered.stdout

    # The owner sees it; anonymous readers and another user do not even learn it exists.
    status, found = registry.call(f"/api/v1/artifacts/{digest}", token=token)
    assert status == 200 and found["data"]["hash"] == digest
    status, dag = registry.call(f"/api/v1/artifacts/{digest}/dag", token=token)
    assert status == 200 and dag["data"]["jobs"][0]["command"].startswith("python make.py")
    assert registry.call(f"/api/v1/artifacts/{digest}")[0] == 404
    assert registry.call(f"/api/v1/public/artifacts/{digest}")[0] == 404
    assert registry.call(f"/api/v1/artifacts/{digest}/dag")[0] == 404
    _, listed = registry.call("/api/v1/sessions")
    assert listed["data"]["sessions"] == []
    bob = registry.token_for("bob")
    assert registry.call(f"/api/v1/artifacts/{digest}", token=bob)[0] == 404
    assert registry.call(f"/artifacts/{digest}")[0] == 404  # the web page too
    # Signed in on the web, the owner sees it there; the other user does not.
    alice_cookie = _web_sign_in(registry, "alice")
    status, page = _page(registry, f"/artifacts/{digest}", alice_cookie)
    assert status == 200 and digest in page and "make.py" in page
    assert _page(registry, f"/artifacts/{digest}", _web_sign_in(registry, "bob"))[0] == 404
    _page(registry, "/logout", alice_cookie, method="POST")
    assert _page(registry, f"/artifacts/{digest}", alice_cookie)[0] == 404  # revoked

    # Reproduce from the hash: the owner's login finds it, an anonymous machine does not.
    owner_elsewhere = Workspace(tmp_path / "owner-empty", dict(project.env))
    owner_elsewhere.root.mkdir()
    plan = owner_elsewhere.roar("reproduce", digest[:16], check=False)
    assert plan.returncode == 0 and "make.py" in plan.stdout, plan.stderr
    home = tmp_path / "stranger-home"
    home.mkdir()
    stranger = Workspace(tmp_path / "stranger", _clean_env(home))
    stranger.root.mkdir()
    stranger.env["GLAAS_URL"] = registry.url
    refused = stranger.roar("reproduce", digest[:16], check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr

    # Logging out revokes the token on the server, not only on this machine.
    assert "Logged out" in project.roar("logout").stdout
    assert not auth.exists()
    assert registry.call(f"/api/v1/artifacts/{digest}", token=token)[0] == 401
    assert project.roar("whoami", check=False).returncode == 1


def _web_sign_in(registry: Registry, user: str) -> str:
    """The session cookie the web page's sign-in sets."""
    data = urllib.parse.urlencode({"username": user, "password": PASSWORD}).encode()
    with urllib.request.urlopen(registry.url + "/login", data=data, timeout=30) as response:
        cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    return cookie.split(";", 1)[0]


def _page(registry: Registry, path: str, cookie: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(
        registry.url + path, method=method, data=b"" if method == "POST" else None
    )
    request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_device_login_can_be_denied_and_bad_credentials_are_refused(
    registry: Registry,
) -> None:
    registry.add_user("alice")
    _, start = registry.call("/api/v1/auth/device/start", "POST", {})
    device, code = start["data"]["device_code"], start["data"]["user_code"]
    status, pending = registry.call("/api/v1/auth/device/token", "POST", {"device_code": device})
    assert status == 400 and pending["error"] == "authorization_pending"
    status, _ = registry.call(
        "/device",
        "POST",
        form={"user_code": code, "username": "alice", "password": "wrong password", "decision": ""},
    )
    assert status == 401
    status, _ = registry.call(
        "/device",
        "POST",
        form={"user_code": code, "username": "alice", "password": PASSWORD, "decision": "deny"},
    )
    assert status == 200
    status, denied = registry.call("/api/v1/auth/device/token", "POST", {"device_code": device})
    assert status == 400 and denied["error"] == "access_denied"
    assert registry.call("/api/v1/auth/me", token="not-a-token")[0] == 401
    status, answer = registry.call("/api/v1/auth/access-context")
    assert status == 401 and "roar login" in answer["detail"]
    # A private registration needs someone to own it.
    status, answer = registry.call(
        "/api/v1/sessions", "POST", {"hash": "ab" * 32, "scope_request": {"visibility": "private"}}
    )
    assert status == 401


def test_ssh_key_signed_requests(project: Workspace, registry: Registry) -> None:
    registry.add_user("carol")
    ssh = Path(project.env["HOME"]) / ".ssh"
    ssh.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "id_ed25519")], check=True
    )
    project.env["GLAAS_URL"] = registry.url
    shown = project.roar("auth", "key")
    assert shown.stdout.strip() == (ssh / "id_ed25519.pub").read_text().strip()
    assert "Fingerprint: SHA256:" in shown.stderr
    # Unknown to the registry: a clear refusal, and registering falls back to anonymous.
    unknown = project.roar("auth", "test", check=False)
    assert unknown.returncode != 0 and "unknown SSH key" in unknown.stderr
    subprocess.run(
        [
            roar_executable(),
            "server",
            "--db",
            registry.db,
            "user",
            "key",
            "carol",
            str(ssh / "id_ed25519.pub"),
        ],
        check=True,
        capture_output=True,
        env=_clean_env(registry.home),
    )
    assert "as carol with your SSH key" in project.roar("auth", "test").stdout
    assert "accepted by the registry" in project.roar("auth", "status").stdout
    digest = _pipeline(project)
    registered = project.roar("register", "--scope", "private")
    assert "(private, signed with SSH key" in registered.stdout
    assert registry.call(f"/api/v1/artifacts/{digest}")[0] == 404

    # A signature over another request, or replayed for another path, is refused.
    header = subprocess.run(
        [roar_executable(), "auth", "test"],
        cwd=project.root,
        env=project.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert header.returncode == 0
    import asyncio

    from roar.registry.signing import authorization

    signed = asyncio.run(authorization(ssh / "id_ed25519", "GET", "/api/v1/auth/me", b""))
    request = urllib.request.Request(registry.url + f"/api/v1/artifacts/{digest}")
    request.add_header("Authorization", signed)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401
    assert "bad signature" in json.loads(refused.value.read())["detail"]
    request = urllib.request.Request(registry.url + "/api/v1/auth/me")
    request.add_header("Authorization", signed)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["data"]["user"]["username"] == "carol"


def test_legacy_flow_when_anonymous_sessions_are_off(project: Workspace, tmp_path: Path) -> None:
    home = tmp_path / "server-home"
    home.mkdir()
    with start_registry(f"sqlite:///{tmp_path}/legacy.db", home, "--no-anonymous") as registry:
        status, _ = registry.call(
            "/api/v1/registration-sessions", "POST", {"mode": "anonymous_public"}
        )
        assert status == 403
        project.env["GLAAS_URL"] = registry.url
        digest = _pipeline(project)
        registered = project.roar("register")
        assert "(anonymous, anonymous)" in registered.stdout
        # The legacy flow publishes under the local session hash.
        local = project.roar("show", "--json").json()["session_hash"]
        status, session = registry.call(f"/api/v1/sessions/{local}")
        assert status == 200 and session["data"]["jobs"][0]["outputs"][0]["hash"] == digest


def test_labels_travel_with_a_registration_and_have_history(
    project: Workspace, registry: Registry
) -> None:
    project.env["GLAAS_URL"] = registry.url
    _pipeline(project)
    project.roar("label", "set", "dag", "current", "owner=alice", "team.name=ml")
    registered = project.roar("register").stdout
    published = re.search(r"/sessions/([0-9a-f]{64})", registered)
    assert published, registered
    session = published.group(1)
    # The project remembers where its session went.
    (remembered,) = project.roar("status", "--json").json()["registrations"]
    assert remembered["remote_hash"] == session and remembered["registry"] == registry.url
    assert remembered["scope"] == "anonymous"
    assert f"Registered: {session[:16]} on {registry.url}" in project.roar("status").stdout
    query = f"entity_type=dag&session_hash={session}"
    status, label = registry.call(f"/api/v1/labels/current?{query}")
    assert status == 200
    assert label["data"]["metadata"] == {"owner": "alice", "team": {"name": "ml"}}
    # Reconcile merges and removes keys; the same document again is no new version.
    change = {
        "session_hash": session,
        "mode": "sync_user_labels",
        "dry_run": False,
        "prune": False,
        "labels": [
            {"entity_type": "dag", "metadata": {"stage": "prod"}, "deleted_keys": ["team.name"]}
        ],
    }
    status, result = registry.call("/api/v1/labels/reconcile", "POST", change)
    assert status == 200 and result["data"]["updated"] == 1
    status, result = registry.call("/api/v1/labels/reconcile", "POST", change)
    assert result["data"]["unchanged"] == 1
    _, label = registry.call(f"/api/v1/labels/current?{query}")
    assert label["data"]["metadata"] == {"owner": "alice", "stage": "prod"}
    _, history = registry.call(f"/api/v1/labels/history?{query}")
    assert [v["version"] for v in history["data"]["versions"]] == [1, 2]


def test_the_reference_clients_registration_is_understood(registry: Registry) -> None:
    """The calls the live capture shows the reference client making, in its order, with the
    response fields it needs."""
    _, health = registry.call("/api/v1/health")
    features = health["data"]["features"]["registration_sessions"]
    assert features == {"anonymous_public": True, "finalize_server_authoritative_hash": True}
    _, opened = registry.call("/api/v1/registration-sessions", "POST", {"mode": "anonymous_public"})
    rid = opened["data"]["registration_session_id"]
    token = opened["data"]["registration_session_token"]
    assert opened["data"]["status"] == "open" and opened["data"]["created"] is True

    def call(path: str, body: Any) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{registry.url}/api/v1/registration-sessions/{rid}{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"RegistrationSession {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())["data"]
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    raw, features_h, model, metrics = ("0f" * 32, "a6" * 32, "03" * 32, "ff07" * 16)
    jobs = [
        {
            "command": "python preprocess.py",
            "timestamp": 1795393979.05,
            "job_uid": "be18a061ed5829fe7875af547301a1ae",
            "git_commit": "2380b0cf" * 5,
            "git_branch": "master",
            "duration_seconds": 0.4,
            "exit_code": 0,
            "job_type": "run",
            "step_number": 1,
            "metadata": json.dumps({"roar_version": "0.4.7"}),
        },
        {
            "command": "python train.py",
            "timestamp": 1795393980.0,
            "job_uid": "cb046bf011371b5508a3f8f81e54d089",
            "git_commit": "2380b0cf" * 5,
            "git_branch": "master",
            "duration_seconds": 1.0,
            "exit_code": 0,
            "job_type": "run",
            "step_number": 2,
            "metadata": "{}",
        },
    ]
    status, staged = call("/jobs/batch", {"jobs": jobs})
    assert status == 201 and len(staged["job_ids"]) == 2 and staged["errors"] == []
    assert staged["created_count"] == 2 and staged["existing_count"] == 0
    artifacts = [
        {"hashes": [{"algorithm": "blake3", "digest": d}], "size": 10, "source_type": None}
        for d in (raw, features_h, model, metrics)
    ]
    status, answer = call("/artifacts/batch", {"artifacts": artifacts})
    assert status == 200 and answer["created"] == 4 and answer["errors"] == 0
    assert isinstance(answer["errors"], int)  # a list makes the reference client crash
    links = [
        ("be18a061ed5829fe7875af547301a1ae", "inputs", raw, "/p/data/raw.csv"),
        ("be18a061ed5829fe7875af547301a1ae", "outputs", features_h, "/p/data/features.csv"),
        ("cb046bf011371b5508a3f8f81e54d089", "inputs", features_h, "/p/data/features.csv"),
        ("cb046bf011371b5508a3f8f81e54d089", "outputs", model, "/p/model.bin"),
    ]
    for uid, side, digest, path in links:
        status, _ = call(f"/jobs/{uid}/{side}", {"artifacts": [{"hash": digest, "path": path}]})
        assert status == 200
    wrong = {
        "git_repo": "",
        "git_commit": "2380b0cf" * 5,
        "git_branch": "master",
        "expected": {"jobs": 3, "inputs": 2, "outputs": 2},
    }
    status, refused = call("/finalize", wrong)
    assert status == 409 and "jobs: expected 3, received 2" in refused["detail"]
    status, done = call("/finalize", {**wrong, "expected": {"jobs": 2, "inputs": 2, "outputs": 2}})
    assert status == 200 and done["status"] == "closed" and done["mode"] == "anonymous_public"
    published = done["published_session_hash"]
    assert done["published_url"].endswith(f"/sessions/{published}")
    status, labelled = call(
        "/labels/batch",
        {
            "labels": [
                {
                    "entity_type": "dag",
                    "session_hash": published,
                    "metadata": {"owner": "alice"},
                    "key_origins": {"owner": "user"},
                },
                {
                    "entity_type": "job",
                    "session_hash": published,
                    "job_uid": "be18a061ed5829fe7875af547301a1ae",
                    "metadata": {"roar": {"cwd": ""}},
                    "key_origins": {"roar": "system"},
                },
            ]
        },
    )
    assert status == 200 and labelled == {"created": 2, "updated": 0, "noops": 0}
    # What was staged is now public lineage: the model's reproduction DAG has both jobs.
    status, dag = registry.call(f"/api/v1/artifacts/{model[:12]}/dag")
    assert status == 200
    assert [j["command"] for j in dag["data"]["jobs"]] == [
        "python preprocess.py",
        "python train.py",
    ]
    _, near = registry.call(f"/api/v1/artifacts/{model}/lineage?depth=1")
    assert [j["command"] for j in near["data"]["jobs"]] == ["python train.py"]
    _, far = registry.call(f"/api/v1/artifacts/{model}/lineage?depth=2")
    assert len(far["data"]["jobs"]) == 2
    assert registry.call(f"/api/v1/artifacts/{model}/lineage?depth=11")[0] == 400
    # The token is good for its own registration session only.
    status, _ = registry.call("/api/v1/registration-sessions/someone-else/finalize", "POST", {})
    assert status == 404


def test_a_running_roar_server_is_the_default_registry(project: Workspace, tmp_path: Path) -> None:
    home = Path(project.env["HOME"])
    note = home / ".local" / "state" / "roar" / "server.json"
    digest = _pipeline(project)
    with start_registry(f"sqlite:///{tmp_path}/mine.db", home) as registry:
        assert json.loads(note.read_text())["url"] == registry.url
        registered = project.roar("register")
        assert f"with {registry.url}" in registered.stdout
        assert registry.call(f"/api/v1/artifacts/{digest}")[0] == 200
    # Stopped: the note is gone, and roar names no registry instead of guessing.
    assert not note.exists()
    refused = project.roar("register", check=False)
    assert refused.returncode != 0 and "no registry configured" in refused.stderr


def test_a_dataset_is_registered_with_its_components(
    project: Workspace, registry: Registry, tmp_path: Path
) -> None:
    source = tmp_path / "dataset"
    (source / "shards").mkdir(parents=True)
    for i in range(3):
        (source / "shards" / f"part-{i}.csv").write_text(f"row,{i}\n" * (i + 1))
    project.env["GLAAS_URL"] = registry.url
    got = project.roar("get", str(source), "data", "--json").json()
    composite = got["composite"]["hash"]
    project.gen(
        {"count.py": "import os; open('n.txt','w').write(str(len(os.listdir('data/shards'))))\n"}
    )
    project.commit_all("count")
    project.roar("run", "python", "count.py")
    project.roar("register", "-y")
    status, stored = registry.call(f"/api/v1/artifacts/{composite}/components")
    assert status == 200, stored
    parts = {c["relative_path"]: c for c in stored["data"]["components"]}
    assert sorted(parts) == [f"shards/part-{i}.csv" for i in range(3)]
    assert stored["data"]["component_count_total"] == 3
    assert all(c["component_algorithm"] == "blake3" and len(c["component_digest"]) == 64
               for c in parts.values())  # fmt: skip
    assert stored["data"]["artifact"]["hash"] == composite
    # Registering again changes nothing, and a composite without its composite hash is refused.
    project.roar("register", "-y")
    status, refused = registry.call(
        "/api/v1/artifacts/composites",
        "POST",
        {"hashes": [{"algorithm": "blake3", "digest": "ab" * 32}], "components": []},
    )
    assert status == 400 and "composite-" in refused["detail"]
