"""`roar session list|show|new|switch`: pipelines as sessions, through the real command."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.e2e


def test_start_list_show_and_switch_between_sessions(project: Workspace) -> None:
    project.gen({"a.py": "open('a.txt', 'w').write('a')", "b.py": "open('b.txt', 'w').write('b')"})
    project.commit_all("steps")
    project.roar("run", "python", "a.py")
    first = project.roar("session", "list", "--json").json()
    assert [(s["is_active"], s["jobs"], s["steps"]) for s in first] == [(True, 1, 1)]
    first_hash = first[0]["session_hash"]

    assert "New session" in project.roar("session", "new", "-y").stdout
    project.roar("run", "python", "b.py")
    project.roar("run", "python", "b.py")
    listed = project.roar("session", "list", "--json").json()
    assert [(s["is_active"], s["jobs"], s["steps"]) for s in listed] == [
        (False, 1, 1),
        (True, 2, 1),
    ]
    second_hash = listed[1]["session_hash"]
    text = project.roar("session", "list").stdout.splitlines()
    assert text[1].startswith(f"* {second_hash[:12]}") and text[0].startswith(
        f"  {first_hash[:12]}"
    )

    shown = project.roar("session", "show", first_hash[:8], "--json").json()
    assert shown["is_active"] is False
    assert [j["command"] for j in shown["jobs"]] == ["python a.py"]

    switched = project.roar("session", "switch", first_hash[:10])
    assert f"Switched to session {first_hash[:12]} (1 jobs)" in switched.stdout
    dag = project.roar("dag", "--json").json()
    assert [n["command"] for n in dag["nodes"]] == ["python a.py"]
    # Recording goes to the active session again: step @2 of the first pipeline.
    project.roar("run", "python", "b.py")
    assert project.roar("show", "@2", "--json").json()["session_hash"] == first_hash
    assert "already active" in project.roar("session", "switch", first_hash[:10]).stdout

    unknown = project.roar("session", "switch", "ffffffff", check=False)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
