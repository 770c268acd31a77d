"""The registry's pure parts: SSH signature checks against real ssh-keygen signatures, the
server-authoritative session hash, label documents, placeholders, the upstream picture, and the
upgrade of a registry database written before accounts existed."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import subprocess
from pathlib import Path

import anyio
import pytest

from roar.registry.server._canonical import session_hash
from roar.registry.server._engine import numbered
from roar.registry.server._labels import merged, without
from roar.registry.server._picture import upstream_svg
from roar.registry.server._sshsig import (
    BadSignature,
    fingerprint,
    parse_header,
    signed_message,
    verify,
)


def _sign(key: Path, message: bytes, namespace: str = "glaas") -> bytes:
    armored = subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", namespace, "-f", str(key)],
        input=message,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return base64.b64decode(
        "".join(line for line in armored.splitlines() if not line.startswith("---"))
    )


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_ssh_signatures_verify_and_tampering_does_not(kind: str, tmp_path: Path) -> None:
    key = tmp_path / f"id_{kind}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(key)], check=True)
    public = key.with_name(key.name + ".pub").read_text()
    message = signed_message("1700000000", "post", "/api/v1/sessions?x=1", b'{"a": 1}')
    assert message.endswith(b"\n" + hashlib.sha256(b'{"a": 1}').hexdigest().encode())
    signature = _sign(key, message)
    verify(public, signature, message)
    with pytest.raises(BadSignature, match="does not match"):
        verify(public, signature, message.replace(b"/sessions", b"/artifacts"))
    with pytest.raises(BadSignature, match="namespace"):
        verify(public, _sign(key, message, "git"), message)
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(BadSignature, match="different key"):
        verify(other.with_name("other.pub").read_text(), signature, message)
    with pytest.raises(BadSignature):
        verify(public, signature[:40], message)
    assert (
        fingerprint(public)
        == subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(key)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[1]
    )


def test_the_client_header_is_what_the_server_reads(tmp_path: Path) -> None:
    from roar.registry.signing import authorization

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    header = anyio.run(authorization, key, "GET", "/api/v1/auth/me", b"")
    parsed = parse_header(header)
    assert parsed.keyid == fingerprint(key.with_name("id_ed25519.pub").read_text())
    message = signed_message(parsed.ts, "GET", "/api/v1/auth/me", b"")
    verify(key.with_name("id_ed25519.pub").read_text(), parsed.sig, message)
    with pytest.raises(BadSignature):
        parse_header('Signature keyid="x" ts="1"')
    with pytest.raises(BadSignature):
        fingerprint("ssh-ed25519 not-base64!")


def _job(uid: str, ts: float, inputs: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "jobUid": uid,
        "timestamp": ts,
        "command": "python train.py",
        "jobType": "run",
        "stepNumber": 1,
        "metadata": "{}",
        "inputs": [{"hash": h, "path": p} for h, p in inputs],
        "outputs": [{"hash": "bb" * 32, "path": "/p/model.bin"}],
    }


def test_the_session_hash_is_the_lineage_not_the_moment() -> None:
    git = {"git_repo": "r", "git_commit": "c", "git_branch": "main"}
    first = session_hash(git, [_job("u1", 1.0, [("aa" * 32, "/p/a")])], "anonymous", "public")
    again = session_hash(git, [_job("u9", 5.0, [("aa" * 32, "/p/a")])], "anonymous", "public")
    assert first == again
    # One content read under two paths is one edge (the smallest path).
    twice = [("aa" * 32, "/p/z"), ("aa" * 32, "/p/a")]
    assert session_hash(git, [_job("u1", 1.0, twice)], "anonymous", "public") == first
    assert (
        session_hash(git, [_job("u1", 1.0, [("cc" * 32, "/p/a")])], "anonymous", "public") != first
    )
    assert (
        session_hash(git, [_job("u1", 1.0, [("aa" * 32, "/p/a")])], "glaas:user:1", "private")
        != first
    )


def test_label_documents_merge_and_prune() -> None:
    current = {"owner": "a", "team": {"name": "ml", "size": 3}}
    assert merged(current, {"team": {"name": "cv"}, "x": 1}) == {
        "owner": "a",
        "team": {"name": "cv", "size": 3},
        "x": 1,
    }
    assert without(current, "team.name") == {"owner": "a", "team": {"size": 3}}
    assert without({"team": {"name": "ml"}}, "team.name") == {}
    assert without(current, "missing.key") == current


def test_placeholders_are_numbered_for_postgresql() -> None:
    assert numbered("SELECT ? FROM t WHERE a = ? AND b IN (?, ?)") == (
        "SELECT $1 FROM t WHERE a = $2 AND b IN ($3, $4)"
    )


def test_the_upstream_picture_links_every_node_and_survives_a_loop() -> None:
    job = _job("u1", 1.0, [("aa" * 32, "/p/data.csv"), ("bb" * 32, "/p/model.bin")])
    job["sessionHash"] = "ss"
    svg = upstream_svg(
        {"artifact": {"hash": "bb" * 32}, "jobs": [job]},
        lambda h: f"/artifacts/{h}",
        lambda s, u: f"/sessions/{s}/jobs/{u}",
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert f'href="/artifacts/{"aa" * 32}"' in svg and 'href="/sessions/ss/jobs/u1"' in svg
    assert "<script" not in upstream_svg(
        {"artifact": {"hash": "cc" * 32, "path": "<script>x</script>"}, "jobs": []},
        str,
        lambda s, u: u,
    )


def test_a_registry_from_before_accounts_is_upgraded_in_place(tmp_path: Path) -> None:
    from roar.registry.server._engine import open_engine
    from roar.registry.server._lineage import LineageStore
    from roar.registry.server._schema import MIGRATIONS, migrate
    from roar.registry.server._viewer import ANONYMOUS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        types = {"id": "INTEGER PRIMARY KEY", "int": "INTEGER", "real": "REAL"}
        for statement in MIGRATIONS[0]:
            old.execute(statement.format(**types))
        old.execute("INSERT INTO sessions VALUES (?, 'r', 'c', 'main', 1.0)", ("ab" * 32,))
        old.execute(
            "INSERT INTO artifacts (id, size, first_session, created_at) VALUES (1, 5, ?, 1.0)",
            ("ab" * 32,),
        )
        old.execute("INSERT INTO artifact_hashes VALUES (1, 'blake3', ?)", ("cd" * 32,))

    async def check() -> None:
        async with open_engine(f"sqlite:///{path}") as engine:
            assert await migrate(engine) == len(MIGRATIONS)
            assert await migrate(engine) == len(MIGRATIONS)  # idempotent
            lineage = LineageStore(engine)
            sessions = await lineage.list_sessions(10, ANONYMOUS)
            assert [s["hash"] for s in sessions] == ["ab" * 32]
            assert sessions[0]["visibility"] == "public"
            found = await lineage.artifacts_by_prefix("cdcd", ANONYMOUS)
            assert [a["hash"] for a in found] == ["cd" * 32]

    anyio.run(check)
