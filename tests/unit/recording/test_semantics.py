"""The access rules, on event sequences (no tracer, no loop)."""

from __future__ import annotations

import os

from roar.recording.semantics import RENAME_EXCHANGE, AccessModel
from roar.tracing import wire

RD = os.O_RDONLY
WR_TRUNC = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT
RDWR = os.O_RDWR


Event = wire.Record


def ev(
    kind: int,
    path1: str = "",
    path2: str | None = None,
    arg0: int = 0,
    *,
    flags: int = 0,
    pid: int = 100,
    arg1: int = 0,
    arg2: int = 0,
) -> Event:
    return wire.Record(kind, flags, pid, pid, arg0, arg1, arg2, path1, path2)


def opened(path: str, flags: int, *, created: bool = False) -> Event:
    return ev(wire.EVK_OPEN, path, None, flags, arg1=3, arg2=wire.OPEN_CREATED if created else 0)


def run(*events: Event) -> AccessModel:
    model = AccessModel()
    model.feed([ev(wire.EVK_HELLO, "ptrace", None, wire.EVT_VERSION), *events])
    return model


def test_read_only_is_input_and_trunc_write_is_output_only() -> None:
    r = run(opened("/p/a", RD), opened("/p/b", WR_TRUNC)).result()
    assert r.inputs == ("/p/a",)
    assert r.outputs == ("/p/b",)


def test_rdwr_is_both_and_append_is_write() -> None:
    r = run(opened("/p/db", RDWR), opened("/p/log", APPEND)).result()
    assert r.inputs == ("/p/db",)
    assert r.outputs == ("/p/db", "/p/log")


def test_exclusive_create_is_not_an_input() -> None:
    r = run(opened("/p/tmpXYZ", RDWR | os.O_CREAT | os.O_EXCL)).result()  # mkstemp
    assert (r.inputs, r.outputs) == ((), ("/p/tmpXYZ",))


def test_rdwr_create_of_a_new_file_is_a_pure_write() -> None:
    """SQLite creating a database: O_RDWR|O_CREAT, and the tracer saw that the file was new."""
    model = AccessModel()
    assert model.feed([opened("/p/new.db", RDWR | os.O_CREAT, created=True)]) == []  # no hashing
    r = model.result()
    assert (r.inputs, r.outputs) == ((), ("/p/new.db",))


def test_rdwr_create_of_an_existing_file_reads_its_old_content() -> None:
    model = AccessModel()
    assert model.feed([opened("/p/old.db", RDWR | os.O_CREAT)]) == ["/p/old.db"]  # hash it now
    r = model.result()
    assert (r.inputs, r.outputs) == (("/p/old.db",), ("/p/old.db",))


def test_created_flag_only_counts_with_o_creat_and_on_the_first_access() -> None:
    r = run(
        opened("/p/a", RDWR, created=True),  # no O_CREAT: nothing can have been created
        opened("/p/b", RD),
        ev(wire.EVK_UNLINK, "/p/b"),
        opened("/p/b", RDWR | os.O_CREAT, created=True),  # re-created: b stays an input
        opened("/p/log", APPEND, created=True),  # a write-only create: an output either way
    ).result()
    assert r.inputs == ("/p/a", "/p/b")
    assert r.outputs == ("/p/a", "/p/b", "/p/log")


def test_a_read_only_open_that_creates_the_file_writes_it() -> None:
    lock = opened("/p/lock", RD | os.O_CREAT, created=True)  # flock(1) making its lock file
    r = run(lock, opened("/p/old", RD | os.O_CREAT)).result()
    assert (r.inputs, r.outputs) == (("/p/old",), ("/p/lock",))


def test_rdwr_with_trunc_is_not_an_input() -> None:
    r = run(opened("/p/x", RDWR | os.O_TRUNC)).result()
    assert (r.inputs, r.outputs) == ((), ("/p/x",))


def test_written_then_read_back_is_not_an_input() -> None:
    r = run(opened("/p/tmp", WR_TRUNC), opened("/p/tmp", RD)).result()
    assert (r.inputs, r.outputs) == ((), ("/p/tmp",))


def test_read_then_rewritten_is_both() -> None:
    model = AccessModel()
    assert model.feed([opened("/p/c", RD)]) == ["/p/c"]  # hash it now, before the rewrite
    assert model.feed([opened("/p/c", WR_TRUNC)]) == []
    r = model.result()
    assert (r.inputs, r.outputs) == (("/p/c",), ("/p/c",))


def test_temp_file_renamed_over_target() -> None:
    r = run(opened("/p/out.tmp", WR_TRUNC), ev(wire.EVK_RENAME, "/p/out.tmp", "/p/out")).result()
    assert r.outputs == ("/p/out",)
    assert r.discarded_writes == ("/p/out.tmp",)


def test_renaming_a_file_the_job_never_opened_consumes_it() -> None:
    r = run(ev(wire.EVK_RENAME, "/p/raw", "/p/moved")).result()
    assert r.inputs == ("/p/raw",)
    assert r.outputs == ("/p/moved",)
    assert r.moved_inputs == {"/p/raw": "/p/moved"}
    # If the destination is rewritten afterwards, the moved content is gone.
    r2 = run(ev(wire.EVK_RENAME, "/p/raw", "/p/moved"), opened("/p/moved", WR_TRUNC)).result()
    assert r2.moved_inputs == {}


def test_rename_exchange_writes_both() -> None:
    r = run(ev(wire.EVK_RENAME, "/p/a", "/p/b", RENAME_EXCHANGE)).result()
    assert set(r.outputs) == {"/p/a", "/p/b"}


def test_unlink_of_own_output_and_of_input() -> None:
    r = run(
        opened("/p/scratch", WR_TRUNC),
        ev(wire.EVK_UNLINK, "/p/scratch"),
        opened("/p/in", RD),
        ev(wire.EVK_UNLINK, "/p/in"),
        ev(wire.EVK_UNLINK, "/p/unrelated"),
    ).result()
    assert r.outputs == ()
    assert r.inputs == ("/p/in",)
    assert r.deleted == ("/p/unrelated",)
    assert r.discarded_writes == ("/p/scratch",)


def test_recreated_after_unlink_is_an_output_again() -> None:
    r = run(
        opened("/p/f", WR_TRUNC), ev(wire.EVK_UNLINK, "/p/f"), opened("/p/f", WR_TRUNC)
    ).result()
    assert r.outputs == ("/p/f",)


def test_link_truncate_and_fd_level_events() -> None:
    r = run(
        ev(wire.EVK_LINK, "/p/a", "/p/hard"),
        ev(wire.EVK_TRUNCATE, "/p/t", arg1=0),
        ev(wire.EVK_READ, "/p/src"),
        ev(wire.EVK_WRITE, "/p/dst"),
    ).result()
    assert r.inputs == ("/p/src",)
    assert r.outputs == ("/p/hard", "/p/t", "/p/dst")


def test_exec_program_and_script_are_inputs() -> None:
    r = run(ev(wire.EVK_EXEC, "/p/run.sh", "/usr/bin/bash")).result()
    assert r.inputs == ("/p/run.sh", "/usr/bin/bash")
    assert r.programs == ("/p/run.sh", "/usr/bin/bash")


def test_directories_are_ignored() -> None:
    r = run(opened("/p/dir", RD | os.O_DIRECTORY)).result()
    assert r.inputs == ()


def test_processes_warnings_and_end() -> None:
    model = run(
        ev(wire.EVK_FORK, arg0=101, pid=100),
        ev(wire.EVK_FORK, arg0=102, pid=100, arg2=wire.FORK_THREAD),
        ev(wire.EVK_WARN, "could not read a path"),
        ev(wire.EVK_OPEN, "/p/xxxx", None, RD, flags=wire.EVF_TRUNCATED),
        ev(wire.EVK_END, arg0=3 << 8, arg1=2),
    )
    r = model.result()
    assert model.ended
    assert r.process_count == 2  # the root and one forked process; the thread is not counted
    assert r.root_status is not None and os.WEXITSTATUS(r.root_status) == 3
    assert r.events_lost == 2
    assert r.inputs == ()  # a truncated path is never guessed at
    assert "could not read a path" in r.warnings
    assert any("too long" in w for w in r.warnings)
    assert any("lost 2 events" in w for w in r.warnings)


def test_environment_lookups_keep_the_first_value_and_touch_no_path() -> None:
    r = run(
        ev(wire.EVK_ENV, "MY_SETTING", "fast", pid=100),
        ev(wire.EVK_ENV, "MY_SETTING", "slow", pid=101),  # a later process saw another value
        ev(wire.EVK_ENV, "EMPTY", None),  # set but empty: no path2 on the wire
        ev(wire.EVK_ENV, "LONG", "x" * 10, flags=wire.EVF_TRUNCATED),  # a cut value
    ).result()
    assert r.env_reads == {"MY_SETTING": "fast", "EMPTY": "", "LONG": "x" * 10}
    assert r.env_cut == ("LONG",)
    assert r.inputs == r.outputs == ()
    assert not any("too long" in w for w in r.warnings)  # a cut value is not a cut path


def test_no_environment_lookups_by_default() -> None:
    r = run(opened("/p/a", RD)).result()
    assert r.env_reads == {} and r.env_cut == ()
