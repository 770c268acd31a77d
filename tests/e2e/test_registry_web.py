"""The registry's web pages in headless Chromium (Debian's, driven by Playwright): register a
pipeline, find its model by path, see the upstream graph, click through to the job that made it,
on to an input and back, to the session; and approve a `roar login` on the device page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.registry_server import PASSWORD, start_login, start_registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "server-home"
    home.mkdir()
    with start_registry(f"sqlite:///{tmp_path}/registry.db", home) as server:
        server.add_user("dana")
        yield server.url


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_browse_from_a_path_to_the_job_and_back(
    project: Workspace, registry: str, browser: Any, tmp_path: Path
) -> None:
    project.gen(
        {
            "data.csv": "1\n2\n3\n",
            "prep.py": "open('clean.csv','w').write(open('data.csv').read().replace('\\n', ','))\n",
            "train.py": "open('model.txt','w').write(str(len(open('clean.csv').read())))\n",
        }
    )
    project.commit_all("pipeline")
    project.roar("run", "python", "prep.py")
    project.roar("run", "python", "train.py")
    project.env["GLAAS_URL"] = registry
    project.roar("register", "model.txt")
    model = project.roar("show", "model.txt", "--json").json()["hash"]
    clean = project.roar("show", "clean.csv", "--json").json()["hash"]

    page = browser.new_page()
    page.goto(registry)
    page.fill("#q", "model.txt")
    page.click("header button[type=submit]")
    page.wait_for_url(f"**/artifacts/{model}")
    assert page.locator("h1").inner_text() == "model.txt"
    # The upstream graph: the model, the job that made it, its input, the job before.
    graph = page.locator("svg.upstream")
    assert graph.is_visible()
    keys = sorted(graph.locator("a.node").evaluate_all("ns => ns.map(n => n.dataset.key)"))
    data = project.roar("show", "data.csv", "--json").json()["hash"]
    assert len([k for k in keys if k.startswith("j:")]) == 2
    # The data, the intermediate and the model (the scripts each job ran are inputs too).
    assert {f"a:{model}", f"a:{clean}", f"a:{data}"} <= set(keys)
    command = page.locator("#reproduce-command").inner_text()
    assert command == f"GLAAS_URL={registry} roar reproduce {model[:16]}"
    page.screenshot(path=str(tmp_path / "artifact-page.png"), full_page=True)
    assert (tmp_path / "artifact-page.png").stat().st_size > 5000

    # Click through to the job that produced it.
    page.locator("a.job-link", has_text="python train.py").first.click()
    page.wait_for_url(re.compile(r".*/sessions/[0-9a-f]{64}/jobs/[0-9a-f]+$"))
    assert "python train.py" in page.locator("#job-command").inner_text()
    # Its input is clean.csv: on to that artifact, then back to the job.
    page.locator("a.artifact-link", has_text="clean.csv").click()
    page.wait_for_url(f"**/artifacts/{clean}")
    assert "python prep.py" in page.locator("a.job-link").first.inner_text()
    page.go_back()
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f]+$"))
    assert "python train.py" in page.locator("#job-command").inner_text()
    # And up to the session, which lists both jobs.
    page.locator("a.session-link").click()
    page.wait_for_url(re.compile(r".*/sessions/[0-9a-f]{64}$"))
    commands = page.locator("a.job-link").all_inner_texts()
    assert commands == ["python prep.py", "python train.py"]
    # A node of the graph is a link too.
    page.goto(f"{registry}/artifacts/{model}")
    page.locator(f"svg.upstream a.node[data-key='a:{clean}']").click()
    page.wait_for_url(f"**/artifacts/{clean}")
    page.screenshot(path=str(tmp_path / "input-page.png"))


def test_approve_a_login_on_the_device_page(
    project: Workspace, registry: str, browser: Any
) -> None:
    project.env["GLAAS_URL"] = registry
    proc, _, page_url, code = start_login(project)
    page = browser.new_page()
    page.goto(page_url)
    page.fill("#user_code", code)
    page.fill("#username", "dana")
    page.fill("#password", PASSWORD)
    page.click("#approve")
    assert "approved" in page.locator("#verdict").inner_text()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "as dana" in stdout
