"""The resident roar's pure parts: frames, the socket's directory and name, finding a program."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from roar.resident import address, protocol
from roar.resident.remote import _executable


def test_a_frame_carries_its_message_and_descriptors() -> None:
    left, right = socket.socketpair()
    read_end, write_end = os.pipe()
    with left, right:
        protocol.send(left, {"op": "spawn", "argv": ["a", "b"], "env": {"K": "v"}}, [write_end])
        protocol.send(left, {"op": "exit", "code": 3})
        message, fds = protocol.receive(right)
        assert message == {"op": "spawn", "argv": ["a", "b"], "env": {"K": "v"}}
        assert len(fds) == 1 and fds[0] != write_end
        os.write(fds[0], b"x")  # the same pipe, passed as a new descriptor
        assert os.read(read_end, 1) == b"x"
        for fd in (*fds, read_end, write_end):
            os.close(fd)
        assert protocol.receive(right) == ({"op": "exit", "code": 3}, [])


def test_a_large_message_arrives_whole() -> None:
    left, right = socket.socketpair()
    env = {f"VAR{i}": "x" * 1000 for i in range(3000)}  # 3 MB, more than a socket buffer
    with left, right:
        left.setblocking(True)
        import threading

        sender = threading.Thread(target=protocol.send, args=(left, {"env": env}))
        sender.start()
        message, _ = protocol.receive(right)
        sender.join()
    assert message == {"env": env}


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x05\x00\x00\x00\x00\x00\x00\x00abc", b"\x03\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff"],
    ids=["closed", "cut short", "not marshal"],
)
def test_a_broken_frame_is_a_protocol_error(raw: bytes) -> None:
    left, right = socket.socketpair()
    with right:
        left.sendall(raw)
        left.close()
        with pytest.raises(protocol.ProtocolError):
            protocol.receive(right)


def test_a_frame_that_is_not_a_message_is_refused() -> None:
    import marshal

    left, right = socket.socketpair()
    payload = marshal.dumps([1, 2])
    with left, right:
        left.sendall(len(payload).to_bytes(4, "little") + bytes(4) + payload)
        with pytest.raises(protocol.ProtocolError):
            protocol.receive(right)


def test_the_socket_directory_is_private(tmp_path: Path) -> None:
    made = address.ensure_private(str(tmp_path / "roar"))
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
    assert address.ensure_private(made) == made  # ours already: fine
    open_to_all = tmp_path / "shared"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    with pytest.raises(address.UnsafeDirectory):
        address.ensure_private(str(open_to_all))
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(address.UnsafeDirectory):
        address.ensure_private(str(a_file))


def test_the_socket_directory_follows_xdg_runtime_dir_else_tmpdir(tmp_path: Path) -> None:
    runtime = str(tmp_path)
    assert address.socket_dir({"XDG_RUNTIME_DIR": runtime}) == f"{runtime}/roar"
    assert address.socket_dir({"XDG_RUNTIME_DIR": "/no/such/dir", "TMPDIR": runtime}) == (
        f"{runtime}/roar-{os.getuid()}"
    )
    assert address.socket_dir({}) == f"/tmp/roar-{os.getuid()}"


def test_the_socket_name_changes_with_any_file_of_the_installation(tmp_path: Path) -> None:
    package = tmp_path / "roar"
    (package / "sub").mkdir(parents=True)
    module = package / "sub" / "mod.py"
    module.write_text("A = 1\n")
    (package / "sub" / "__pycache__").mkdir()
    first = address.fingerprint(str(package))
    assert len(first) == 16 and first == address.fingerprint(str(package))

    (package / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"cache")
    assert address.fingerprint(str(package)) == first  # bytecode caches do not count

    module.write_text("A = 22\n")
    edited = address.fingerprint(str(package))
    assert edited != first
    os.utime(module, ns=(1, 1))
    touched = address.fingerprint(str(package))
    assert touched != edited
    (package / "libroar_preload.so").write_bytes(b"\x7fELF")
    assert address.fingerprint(str(package)) != touched


def test_a_program_is_found_on_the_commands_own_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    env = {"PATH": f"/no/such:{bin_dir}"}
    assert _executable("tool", env, tmp_path) == str(tool)
    assert _executable("./tool", env, tmp_path) == "./tool"  # a slash: as given
    assert _executable("tool", {"PATH": "bin"}, tmp_path) == str(tool)  # relative to cwd
    with pytest.raises(FileNotFoundError):
        _executable("tool", {"PATH": "/no/such"}, tmp_path)
    tool.chmod(0o644)
    with pytest.raises(PermissionError):
        _executable("tool", env, tmp_path)


def test_a_resident_roar_is_started_at_most_once_an_interval(tmp_path: Path) -> None:
    from roar.resident.client import START_INTERVAL, _may_start

    path = str(tmp_path / "x.sock")
    assert _may_start(path)
    assert not _may_start(path)  # the one just started may still be importing, or have failed
    later = os.stat(path + ".started").st_mtime + START_INTERVAL + 1
    assert _may_start(path, now=later)
    assert not _may_start(path, now=later + 1)


def test_no_hand_over_where_no_socket_could_be_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roar.resident import client

    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    monkeypatch.delenv("ROAR_RESIDENT", raising=False)
    monkeypatch.delenv("ROAR_JOB_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    assert client.hand_over(["run", "true"]) is None
    assert list((deep / "roar").iterdir()) == []  # nothing started there either
