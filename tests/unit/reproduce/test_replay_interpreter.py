from __future__ import annotations

from roar.reproduce._interpreter import interpreter_note, replay_argv, venv_program

VENV_BIN = "/r/.roar/venv/bin"


def test_a_venvs_interpreter_and_scripts_map_to_the_rebuilt_environment() -> None:
    exists = {f"{VENV_BIN}/python", f"{VENV_BIN}/python3", f"{VENV_BIN}/mytool"}.__contains__
    assert replay_argv(["/home/u/p/.venv/bin/python", "t.py"], VENV_BIN, exists) == [
        f"{VENV_BIN}/python",
        "t.py",
    ]
    assert replay_argv(["/home/u/p/.venv/bin/python3.11", "t.py"], VENV_BIN, exists)[0] == (
        f"{VENV_BIN}/python"
    )
    assert replay_argv(["/opt/envs/x/bin/mytool", "-v"], VENV_BIN, exists) == [
        f"{VENV_BIN}/mytool",
        "-v",
    ]
    # A script the rebuilt environment does not have, system programs, relative names: as is.
    assert replay_argv(["/opt/envs/x/bin/other"], VENV_BIN, exists) == ["/opt/envs/x/bin/other"]
    for argv in (["/usr/bin/python3", "t.py"], ["/bin/sh", "-c", "x"], ["python", "t.py"]):
        assert replay_argv(argv, VENV_BIN, exists) == argv
    assert replay_argv(["/home/u/p/.venv/bin/python"], None, exists) == [
        "/home/u/p/.venv/bin/python"
    ]


def test_the_preview_says_which_program_runs() -> None:
    note = interpreter_note(["/home/u/p/.venv/bin/python", "t.py"])
    assert note == "runs the rebuilt environment's python (recorded /home/u/p/.venv/bin/python)"
    assert interpreter_note(["python", "t.py"]) is None
    assert not venv_program("/usr/local/bin/python3")
