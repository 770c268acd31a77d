"""`roar server` for end-to-end tests: started on a free port with its own HOME, its users, and
the web-page steps a person takes (approving a device login)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import Workspace, _clean_env, roar_executable

PASSWORD = "correct horse battery"


class Registry:
    def __init__(self, url: str, db: str, home: Path) -> None:
        self.url, self.db, self.home = url, db, home

    def add_user(self, name: str, *extra: str) -> None:
        subprocess.run(
            [
                roar_executable(),
                "server",
                "--db",
                self.db,
                "user",
                "add",
                name,
                "--password-stdin",
                *extra,
            ],
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
            env=_clean_env(self.home),
        )

    def call(
        self,
        path: str,
        method: str = "GET",
        body: Any = None,
        token: str | None = None,
        form: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = None
        request = urllib.request.Request(self.url + path, method=method)
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        elif body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, data=data, timeout=30) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def token_for(self, name: str) -> str:
        """A bearer token for ``name`` through the device flow, approved on the web page."""
        _, start = self.call("/api/v1/auth/device/start", "POST", {"client_id": "test"})
        code = start["data"]["user_code"]
        status, _ = self.call(
            "/device",
            "POST",
            form={"user_code": code, "username": name, "password": PASSWORD, "decision": "approve"},
        )
        assert status == 200
        status, tokens = self.call(
            "/api/v1/auth/device/token", "POST", {"device_code": start["data"]["device_code"]}
        )
        assert status == 200, tokens
        return str(tokens["data"]["access_token"])


@contextmanager
def start_registry(db: str, home: Path, *extra: str) -> Iterator[Registry]:
    proc = subprocess.Popen(
        [
            roar_executable(),
            "server",
            "--port",
            "0",
            "--db",
            db,
            "--device-poll-interval",
            "0.1",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(home),
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    assert line.startswith("READY http://127.0.0.1:"), line + proc.stderr.read()
    try:
        yield Registry(line.split()[1], db, home)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def start_login(project: Workspace) -> tuple[subprocess.Popen[str], str, str, str]:
    """`roar login --no-browser` started: the process, its first line, the page to approve it
    on, and the code to enter there."""
    proc = subprocess.Popen(
        [roar_executable(), "login", "--no-browser"],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"Open (\S+) and enter the code ([A-Z0-9]{4}-[A-Z0-9]{4})", line)
    assert found, line
    return proc, line, found.group(1), found.group(2)


def login(project: Workspace, registry: Registry, user: str) -> subprocess.CompletedProcess[str]:
    """`roar login`, approved on the web page with the code it prints."""
    proc, line, page_url, code = start_login(project)
    assert page_url == f"{registry.url}/device"
    status, page = registry.call(
        "/device",
        "POST",
        form={
            "user_code": code,
            "username": user,
            "password": PASSWORD,
            "decision": "approve",
        },
    )
    assert status == 200 and "approved" in page
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, line + stderr)
