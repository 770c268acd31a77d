"""roar as a library: docs/library.md's examples run as written, and the API behaves the same
under asyncio, uvloop and trio (the S3 proxy, asyncio only, says so under trio)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import blake3
import pytest
from moto.server import ThreadedMotoServer

import roar
from roar.errors import CommandNotFoundError, NotFoundError
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


@pytest.fixture
def cwd_workspace(git_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A git workspace as the current directory, with its environment, for in-process calls."""
    monkeypatch.chdir(git_workspace.root)
    for name, value in git_workspace.env.items():
        monkeypatch.setenv(name, value)
    return git_workspace


def test_the_doc_has_examples_for_every_loop_and_the_proxy() -> None:
    # Every fenced block is a python example, so the test below runs each one.
    fences = re.findall(r"^```(\w*)$", DOC.read_text(), re.MULTILINE)
    assert fences == ["python", ""] * len(EXAMPLES), fences
    text = "\n".join(EXAMPLES)
    for needle in ("asyncio.run(", "trio.run(", "uvloop.run(", "project.proxy(", "serve("):
        assert needle in text, needle
    assert "project.record_s3(proxy)" in text
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
    anyio_backend: object, cwd_workspace: Workspace
) -> None:
    root = cwd_workspace.root
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


MANY_FILES = "for i in range(40):\n    open(f'f{i}.txt', 'w').write(str(i))\n"


@pytest.mark.anyio
async def test_leaving_a_trace_early_still_records_the_whole_job(
    anyio_backend: object, cwd_workspace: Workspace
) -> None:
    root = cwd_workspace.root
    async with roar.open_project(root, create=True) as project:
        # A plain `break`: the iterator is simply dropped, as most code will do it.
        async for event in project.trace([sys.executable, "-c", MANY_FILES]):
            assert isinstance(event, roar.TraceEvent)
            break
        # Closed explicitly, and iterating a finished stream again ends at once.
        stream = project.trace([sys.executable, "-c", MANY_FILES.replace("f{i}", "g{i}")])
        async with contextlib.aclosing(stream):
            first = await stream.__anext__()
            assert isinstance(first, roar.TraceEvent)
        assert [e async for e in stream] == []
        # The consumer cancelled while waiting for the first event.
        with anyio.CancelScope() as scope:
            scope.cancel()
            async for _ in project.trace(
                [sys.executable, "-c", MANY_FILES.replace("f{i}", "h{i}")]
            ):
                pass
        with pytest.raises(CommandNotFoundError):
            async for _ in project.trace(["no-such-program-anywhere"]):
                pass
    # The project waited for all three commands: each job is there with every file it wrote.
    async with roar.open_project(root) as project:
        jobs = await project.jobs()
    outputs = sorted(sorted(f.path[0] for f in job.outputs) for job in jobs)
    assert outputs == [["f"] * 40, ["g"] * 40, ["h"] * 40]


@pytest.mark.anyio
async def test_an_error_in_the_project_block_is_raised_as_it_is(
    anyio_backend: object, cwd_workspace: Workspace
) -> None:
    with pytest.raises(NotFoundError, match="@9"):
        async with roar.open_project(cwd_workspace.root, create=True) as project:
            await project.show("@9")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param("asyncio", id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ],
)
async def test_a_bare_proxy_records_into_the_project_as_a_session_of_its_own(
    anyio_backend: object,
    git_workspace: Workspace,
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    import boto3

    import roar.proxy

    home = git_workspace.root.parent
    for name, value in s3_env(git_workspace.env, moto_url, home).items():
        monkeypatch.setenv(name, value)
    async with roar.open_project(git_workspace.root, create=True) as project:
        async with roar.proxy.serve(upstream=moto_url) as proxy:
            assert proxy.session_id is None
            s3 = boto3.client("s3", endpoint_url=proxy.url)
            await asyncio.to_thread(s3.create_bucket, Bucket="bare")
            await asyncio.to_thread(s3.put_object, Bucket="bare", Key="one", Body=b"1")
            first = await project.record_s3(proxy)
            await asyncio.to_thread(s3.put_object, Bucket="bare", Key="two", Body=b"22")
            s3.close()
        second = await project.record_s3(proxy)
        jobs = await project.jobs()
    # Both calls grew one job, a session of this proxy's own: not the daemon's "session daemon".
    assert first.session_jobs == second.session_jobs
    (job,) = jobs
    assert job.command.startswith("roar proxy (session ") and "daemon" not in job.command
    written = {f.path: f.hashes["blake3"] for f in job.outputs}
    assert written == {
        "s3://bare/one": blake3.blake3(b"1").hexdigest(),
        "s3://bare/two": blake3.blake3(b"22").hexdigest(),
    }


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
