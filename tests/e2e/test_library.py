"""roar as a library: docs/library.md's examples run as written, and the API behaves the same
under asyncio, uvloop and trio (the S3 proxy, asyncio only, says so under trio)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
from moto.server import ThreadedMotoServer

import roar
from roar.errors import NotFoundError
from tests.conftest import Workspace

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "library.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_env(env: dict[str, str], moto_url: str, home: Path) -> dict[str, str]:
    clean = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    return clean | {
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "S3_UPSTREAM": moto_url,
    }


EXAMPLES = BLOCK.findall(DOC.read_text())


def test_the_doc_has_examples_for_every_loop_and_the_proxy() -> None:
    text = "\n".join(EXAMPLES)
    for needle in ("asyncio.run(", "trio.run(", "uvloop.run(", "project.proxy(", "serve("):
        assert needle in text, needle
    for call in ("project.run(", "project.trace(", "project.dag(", "project.show("):
        assert call in text, call


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_each_example_in_docs_library_md_runs(
    index: int, git_workspace: Workspace, moto_url: str
) -> None:
    script = git_workspace.root / "example.py"
    script.write_text(EXAMPLES[index])
    git_workspace.git("add", "example.py")
    git_workspace.commit_all("example")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=git_workspace.root,
        env=s3_env(git_workspace.env, moto_url, git_workspace.root.parent),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.stdout.strip()  # each example shows what it found


@pytest.mark.anyio
async def test_run_trace_dag_show_on_every_loop(
    anyio_backend: object, git_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(git_workspace.root)
    for name, value in git_workspace.env.items():
        monkeypatch.setenv(name, value)
    root = git_workspace.root
    (root / "in.txt").write_text("abc\n")
    copy = "open('out.txt', 'w').write(open('in.txt').read().upper())"
    async with roar.open_project(root, create=True) as project:
        result = await project.run([sys.executable, "-c", copy], name="upper")
        assert result.exit_code == 0 and result.job is not None
        assert [f.path for f in result.job.outputs] == ["out.txt"]
        assert result.job.outputs[0].hash == blake3.blake3(b"ABC\n").hexdigest()

        events = [e async for e in project.trace([sys.executable, "-c", "open('x.txt','w')"])]
        last = events[-1]
        assert isinstance(last, roar.JobRecorded) and last.exit_code == 0
        assert last.job is not None and [f.path for f in last.job.outputs] == ["x.txt"]
        kinds = {e.kind for e in events[:-1] if isinstance(e, roar.TraceEvent)}
        assert {"exec", "create", "exit"} <= kinds, kinds
        assert any(
            isinstance(e, roar.TraceEvent) and e.kind == "create" and str(e.path).endswith("x.txt")
            for e in events
        )

        dag = await project.dag()
        assert [n.step_number for n in dag.nodes] == [1, 2]
        shown = await project.show("@1")
        assert shown.kind == "job" and shown.job is not None
        assert shown.payload["labels"] == {"name": "upper"} and shown.payload["step_ref"] == "@1"
        artifact = await project.show("out.txt")
        assert artifact.kind == "artifact"
        assert artifact.payload["produced_by"][0]["job_uid"] == result.job.job_uid
        assert len(await project.jobs()) == 2
        with pytest.raises(NotFoundError):
            await project.show("@9")
        failed = await project.run([sys.executable, "-c", "raise SystemExit(7)"])
        assert failed.exit_code == 7 and failed.job is not None and failed.job.exit_code == 7


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_the_proxy_says_it_needs_asyncio_under_trio(
    anyio_backend: str, git_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roar.proxy import ProxyError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    async with roar.open_project(git_workspace.root, create=True) as project:
        with pytest.raises(ProxyError, match="needs asyncio"):
            async with project.proxy(upstream="http://127.0.0.1:1"):
                pass


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_open_project_refuses_a_directory_that_is_not_one(
    anyio_backend: str, tmp_path: Path
) -> None:
    from roar.errors import NotAProjectError

    with pytest.raises(NotAProjectError):
        async with roar.open_project(tmp_path):
            pass
    assert not (tmp_path / ".roar").exists()


@pytest.mark.slow
def test_the_checkpoint_example_records_true_digests_of_multipart_checkpoints(
    git_workspace: Workspace, moto_url: str
) -> None:
    env = s3_env(git_workspace.env, moto_url, git_workspace.root.parent)
    argv = [sys.executable, str(ROOT / "examples" / "checkpoint" / "train.py")]
    argv += ["--project", str(git_workspace.root), "--epochs", "2", "--size-mb", "20"]
    argv += ["--bucket", "ckpt-test"]
    result = subprocess.run(
        argv, cwd=git_workspace.root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    verified = [line for line in result.stdout.splitlines() if "(verified)" in line]
    assert len(verified) == 2, result.stdout
    assert "s3://ckpt-test/data/train.npz: read by 1 job(s)" in result.stdout
    # The same lineage through the CLI: one proxy-session job wrote both 20 MiB checkpoints,
    # each uploaded as three 8 MiB parts (the ETag says so) yet known by its whole BLAKE3.
    jobs = git_workspace.roar("log", "--json").json()
    (session,) = [j for j in jobs if j["command"].startswith("roar proxy (session")]
    outputs = {f["path"]: f for f in session["outputs"]}
    checkpoint = outputs["s3://ckpt-test/runs/demo/epoch-002.ckpt"]
    assert checkpoint["hashes"]["etag"].endswith("-3") and checkpoint["size"] == 20 << 20
    assert len(checkpoint["hashes"]["blake3"]) == 64
