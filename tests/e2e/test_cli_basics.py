"""init, config and the not-a-project rule, through the real `roar` command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import Workspace, ebpf_unusable, roar_executable


def test_version_and_help_are_fast_and_import_nothing_heavy() -> None:
    code = (
        "import sys, runpy; sys.argv=['roar','--help'];"
        "from roar.cli import run_cli; rc = run_cli(['--help']);"
        "heavy = [m for m in ('aiohttp','botocore','sqlite3','blake3','uvloop','msgspec','anyio')"
        " if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "init" in out.stdout and "dag" in out.stdout
    version = subprocess.run([roar_executable(), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("roar ")
    module = subprocess.run(
        [sys.executable, "-m", "roar", "--version"], capture_output=True, text=True
    )
    assert module.stdout == version.stdout


def test_init_in_git_repo_with_y(git_workspace: Workspace) -> None:
    out = git_workspace.roar("init", "-y")
    root = git_workspace.root
    assert "Initialized roar project" in out.stdout
    assert (root / ".roar" / "roar.db").is_file()
    config_text = (root / ".roar" / "config.toml").read_text()
    assert "# Tracer backend for run/build" in config_text
    assert ".roar/" in (root / ".gitignore").read_text().splitlines()
    assert "git add .gitignore" in out.stdout  # else every later run is "dirty"
    # Twice is safe: nothing duplicated, nothing lost.
    again = git_workspace.roar("init", "-y")
    assert "already initialized" in again.stdout
    assert "git add .gitignore" not in again.stdout
    assert (root / ".gitignore").read_text().splitlines().count(".roar/") == 1
    assert (root / ".roar" / "config.toml").read_text() == config_text


def test_init_n_leaves_gitignore_and_no_tty_does_not_ask(git_workspace: Workspace) -> None:
    git_workspace.roar("init", "-n")
    assert not (git_workspace.root / ".gitignore").exists()
    other = git_workspace.root / "sub"
    other.mkdir()
    out = git_workspace.roar("init", "--path", str(other))
    assert "no terminal to ask" in out.stderr
    assert (other / ".roar" / "roar.db").is_file()
    assert not (other / ".gitignore").exists()


def test_init_outside_git(workspace: Workspace) -> None:
    workspace.roar("init")
    assert (workspace.root / ".roar" / "roar.db").is_file()
    assert not (workspace.root / ".gitignore").exists()


@pytest.mark.parametrize(
    "args",
    [["dag"], ["show", "@1"], ["config", "list"], ["run", "true"], ["tracer", "status"]],
)
def test_commands_outside_a_project(workspace: Workspace, args: list[str]) -> None:
    result = workspace.roar(*args, check=False)
    assert result.returncode == 2
    assert result.stderr == "roar: not a roar project (run 'roar init')\n"


def test_config_list_get_set(project: Workspace) -> None:
    listing = project.roar("config", "list").stdout
    assert "proxy.upstream_endpoint" in listing and "Ignore /tmp files" in listing
    assert project.roar("config", "get", "proxy.port").stdout == "0\n"  # a free port
    project.roar("config", "set", "proxy.port", "9191")
    assert project.roar("config", "get", "proxy.port").stdout == "9191\n"
    project.roar("config", "set", "filters.ignore_paths", "scratch,cache")
    assert project.roar("config", "get", "filters.ignore_paths").stdout == "scratch, cache\n"
    as_json = project.roar("config", "list", "--json").json()
    assert {"key": "proxy.port", "value": 9191}.items() <= next(
        e for e in as_json if e["key"] == "proxy.port"
    ).items()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["config", "set", "proxy.port", "abc"],
            "roar: proxy.port expects an integer, got 'abc'\n",
        ),
        (
            ["config", "set", "no.such", "1"],
            "roar: unknown config key: no.such (see 'roar config list')\n",
        ),
        (
            ["config", "get", "no.such"],
            "roar: unknown config key: no.such (see 'roar config list')\n",
        ),
        (["config", "set", "tracer.default", "strace"], None),
        (
            ["config", "set", "hash.run", "crc32"],
            "roar: hash.run: unknown value 'crc32' (choose from blake3, sha256, sha512, md5)\n",
        ),
        (["config", "set", "hash.run", '["sha256", "crc32"]'], None),
    ],
)
def test_config_errors_leave_the_file_unchanged(
    project: Workspace, args: list[str], message: str | None
) -> None:
    path = project.root / ".roar" / "config.toml"
    before = path.read_bytes()
    result = project.roar(*args, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("roar: ")
    if message:
        assert result.stderr == message
    assert "Traceback" not in result.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [b"[proxy\n", b'[hash]\nrun = ["crc32"]\n', b"# caf\xe9\n[proxy]\nport = 9191\n"],
    ids=["bad-toml", "unknown-algorithm", "not-utf8"],
)
def test_bad_config_file_is_one_line_and_nothing_runs(project: Workspace, content: bytes) -> None:
    (project.root / ".roar" / "config.toml").write_bytes(content)
    result = project.roar("dag", check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("roar: ") and result.stderr.count("\n") == 1
    ran = project.roar("run", "touch", "ran.txt", check=False)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1
    assert not (project.root / "ran.txt").exists()  # refused before the command started


def test_newer_database_is_refused(project: Workspace) -> None:
    import sqlite3

    db = project.root / ".roar" / "roar.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()  # checkpoints the WAL: the main file now holds everything
    before = db.read_bytes()
    result = project.roar("dag", check=False)
    assert result.returncode == 2
    assert "newer than this roar supports" in result.stderr
    assert result.stderr.count("\n") == 1
    assert db.read_bytes() == before


def test_unknown_step(project: Workspace) -> None:
    result = project.roar("show", "@99", check=False)
    assert (result.returncode, result.stderr) == (2, "roar: no step @99 in this session\n")


def test_usage_error_is_one_line(project: Workspace) -> None:
    result = project.roar("dag", "--bogus", check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--bogus" in result.stderr
    assert "Traceback" not in result.stderr


def test_tracer_status_json(project: Workspace) -> None:
    status = project.roar("tracer", "status", "--json").json()
    assert status["default"] == "auto"
    backends = {b["name"]: b for b in status["backends"]}
    assert {"preload", "ptrace"} <= set(backends)
    assert backends["preload"]["usable"] is True and backends["ptrace"]["found"] is True
    assert set(backends["ptrace"]) >= {"name", "found", "usable", "reason", "location"}


def test_config_set_keeps_the_users_comments(project: Workspace) -> None:
    path = project.root / ".roar" / "config.toml"
    path.write_text(
        "# team settings: ask alice before changing\n"
        "[proxy]\n"
        "port = 9191  # the port our firewall opens\n"
        "\n"
        "[env]\n"
        'SEED = "1"  # fixed for the paper\n'
    )
    project.roar("config", "set", "tracer.default", "ptrace")
    project.roar("config", "set", "proxy.port", "9292")
    project.roar("env", "set", "LR", "0.1")
    text = path.read_text()
    assert "# team settings: ask alice before changing" in text
    assert "# the port our firewall opens" in text and "port = 9292" in text
    assert 'SEED = "1"  # fixed for the paper' in text and 'LR = "0.1"' in text
    assert project.roar("config", "get", "tracer.default").stdout == "ptrace\n"
    project.roar("config", "set", "tracer.default", "auto")  # back to the default
    assert project.roar("config", "get", "tracer.default").stdout == "auto\n"
    assert "# team settings" in path.read_text()


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [("roar pr", 1, {"proxy"}), ("roar proxy st", 2, {"start", "status", "stop"}),
     ("roar dag --fo", 2, {"--format"}), ("roar tracer set-default p", 3, {"ptrace", "preload"})],
)  # fmt: skip
def test_shell_completion_through_the_lazy_command_table(
    workspace: Workspace, words: str, cword: int, expected: set[str]
) -> None:
    env = dict(workspace.env, COMP_WORDS=words, COMP_CWORD=str(cword))
    env["_ROAR_COMPLETE"] = "bash_complete"
    proc = subprocess.run(
        [roar_executable()], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    offered = {line.split(",", 1)[1] for line in proc.stdout.splitlines() if "," in line}
    assert offered == expected


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts(workspace: Workspace, shell: str) -> None:
    env = dict(workspace.env, _ROAR_COMPLETE=f"{shell}_source")
    proc = subprocess.run(
        [roar_executable()], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    assert "_ROAR_COMPLETE" in proc.stdout and proc.stderr == ""


def test_a_configured_tracer_that_cannot_run_falls_through_unless_told_not_to(
    project: Workspace,
) -> None:
    project.env["ROAR_LIBROAR_PRELOAD.SO_BIN"] = str(project.root / "no-such-shim.so")
    project.roar("config", "set", "tracer.default", "preload")
    ran = project.roar("run", "true")
    assert "the preload tracer cannot run here" in ran.stderr
    fell_to = "ebpf" if ebpf_unusable() is None else "ptrace"  # auto's next usable choice
    assert project.roar("show", "@1", "--json").json()["tracer"] == fell_to
    # An explicit --tracer is honoured or refused, never swapped.
    refused = project.roar("run", "--tracer", "preload", "true", check=False)
    assert refused.returncode != 0 and "cannot run here" in refused.stderr
    project.roar("config", "set", "tracer.fallback_enabled", "false")
    refused = project.roar("run", "true", check=False)
    assert refused.returncode != 0 and "the preload tracer cannot run here" in refused.stderr
