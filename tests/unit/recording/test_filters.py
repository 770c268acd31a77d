from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from roar.core.config import Config
from roar.recording.filters import (
    SYSTEM_PREFIXES,
    FilterSettings,
    Verdicts,
    apply_filters,
    python_prefixes,
    read_reason,
    tracer_skip_reads,
    write_reason,
)
from roar.tracing.base import SKIP_NOTHING, SkipReads

ROOT = "/tmp/proj"  # a project under /tmp: its files must survive the /tmp rule
S = FilterSettings(project_root=ROOT, home="/home/u", package_roots=("/opt/py",))


@pytest.mark.parametrize(
    ("path", "written", "reason"),
    [
        ("/tmp/proj/data.csv", False, None),
        ("/tmp/proj/data.csv", True, None),
        ("/tmp/proj/.roar/roar.db", False, "roar"),
        ("/tmp/proj/.git/HEAD", False, "git"),
        ("/tmp/proj/__pycache__/x.cpython-311.pyc", False, "bytecode"),
        ("/tmp/proj/.venv/lib/python3.11/site-packages/x.py", False, "package"),
        ("/etc/passwd", False, "system"),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", False, "system"),
        ("/opt/py/lib/python3.11/os.py", False, "package"),
        ("/home/u/.pyenv/versions/3.11.7/bin/python3.11", False, "package"),
        ("/home/u/.cache/huggingface/hub/x", False, "library cache"),
        ("/tmp/torchinductor_u/abc.py", False, "torch cache"),
        ("/tmp/scratch.bin", False, None),  # read only: an input from outside the project
        ("/tmp/scratch.bin", True, "tmp"),  # the job made it itself
        ("/data/shared/x.parquet", False, None),
    ],
)
def test_read_reason(path: str, written: bool, reason: str | None) -> None:
    assert read_reason(path, S, written) == reason


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/tmp/proj/out/model.pt", None),
        ("/tmp/elsewhere.txt", "tmp"),
        ("/dev/null", "system"),
        ("/proc/self/status", "system"),
        ("/data/out.bin", None),
        ("/tmp/proj/.roar/x", "roar"),
    ],
)
def test_write_reason(path: str, reason: str | None) -> None:
    assert write_reason(path, S) == reason


def test_switches_and_ignore_paths() -> None:
    config = (
        Config.defaults()
        .with_value("filters.ignore_system_reads", False)
        .with_value("filters.ignore_tmp_files", False)
        .with_value("filters.ignore_paths", ["scratch", "/data/cache"])
    )
    s = FilterSettings.from_config(config, ROOT)
    assert read_reason("/etc/hosts", s, False) is None
    assert write_reason("/tmp/elsewhere.txt", s) is None
    assert read_reason("/tmp/proj/scratch/a", s, False) == "ignored path"
    assert write_reason("/data/cache/b", s) == "ignored path"


def test_apply_filters_keeps_order_and_counts() -> None:
    outcome = apply_filters(
        ["/tmp/proj/a", "/etc/x", "/tmp/proj/b"],
        ["/tmp/proj/z", "/dev/null", "/tmp/proj/y"],
        S,
    )
    assert outcome.inputs == ["/tmp/proj/a", "/tmp/proj/b"]
    assert outcome.outputs == ["/tmp/proj/z", "/tmp/proj/y"]
    assert outcome.counts == {"system": 2}


def test_python_prefixes() -> None:
    assert python_prefixes(
        ["/opt/conda/bin/python3.11", "/usr/bin/cat", "/x/venv/bin/python", "/x/tool/python"]
    ) == ["/opt/conda", "/x/venv"]


def test_tracer_skip_reads_follows_the_settings() -> None:
    assert tracer_skip_reads(S) == SkipReads(
        under=SYSTEM_PREFIXES,
        keep_under=(ROOT,),
        keep_containing=("/site-packages/", "/dist-packages/", ".so"),
    )
    assert tracer_skip_reads(replace(S, ignore_system=False)) == SKIP_NOTHING
    assert not SKIP_NOTHING.skips("/usr/lib/locale/C.utf8/LC_CTYPE")


@pytest.mark.parametrize(
    ("path", "skipped"),
    [
        ("/usr/lib/locale/C.utf8/LC_CTYPE", True),
        ("/etc/hostname", True),
        ("/usr/lib/python3.11/os.py", True),
        ("/opt/proj/data.csv", False),  # the project, under /opt
        ("/opt/proj", False),
        ("/opt/projx/data.csv", True),  # a sibling whose name starts like the project's
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", False),  # Debian packages come from these
        ("/etc/ld.so.cache", False),  # ".so" anywhere in the name keeps it
        ("/usr/lib/python3/dist-packages/yaml/__init__.py", False),  # imported distributions
        ("/usr/local/lib/python3.11/site-packages/six.py", False),
        ("/usr", False),  # "/usr/" matches what is below it, as str.startswith
        ("/tmp/x.txt", False),
        ("/data/x.parquet", False),
    ],
)
def test_tracer_skip_rule(path: str, skipped: bool) -> None:
    assert tracer_skip_reads(replace(S, project_root="/opt/proj")).skips(path) is skipped


def _sample_paths() -> list[str]:
    tops = ["/usr", "/etc", "/opt", "/opt/proj", "/opt/projx", "/proc/self", "/dev", "/var/lib"]
    tops += ["/var/log", "/tmp", "/home/u", "/lib64", "/snap", "/data", "/run", "/sys", "/"]
    middles = ["", "/lib/python3.11", "/lib/python3/dist-packages/yaml", "/share/locale"]
    middles += ["/local/lib/python3.11/site-packages/np", "/__pycache__", "/.git", "/a.so.d"]
    middles += ["/.cache/huggingface", "/.pyenv/versions/3.11.7/lib", "/.roar"]
    names = ["f.txt", "libc.so.6", "ld.so.cache", "m.cpython-311.pyc", "LC_CTYPE", "status", ""]
    paths = {
        top.rstrip("/") + mid + "/" + name for top in tops for mid in middles for name in names
    }
    return sorted(p.rstrip("/") or "/" for p in paths)


def test_every_read_the_tracers_skip_is_one_roar_drops() -> None:
    """Property over many paths and every combination of the other switches: a read the tracers
    leave out is one ``read_reason`` drops, as "system" unless an earlier rule (bytecode, git,
    package, library cache...) already drops it; with those rules off, always as "system"."""
    paths = _sample_paths()
    base = replace(S, project_root="/opt/proj", package_roots=("/opt/py",))
    switches = ("ignore_packages", "ignore_torch_cache", "ignore_library_caches", "ignore_tmp")
    skipped_any = kept_any = False
    for values in itertools.product((False, True), repeat=len(switches)):
        settings = replace(base, **dict(zip(switches, values, strict=True)))
        rule = tracer_skip_reads(settings)
        for path, written in itertools.product(paths, (False, True)):
            if not rule.skips(path):
                kept_any = True
                continue
            skipped_any = True
            reason = read_reason(path, settings, written)
            assert reason is not None, path
            bytecode_or_git = "/__pycache__/" in path or path.endswith(".pyc") or "/.git" in path
            if not any(values) and not bytecode_or_git:
                assert reason == "system", path
    assert skipped_any and kept_any


def test_a_replay_project_keeps_the_enclosing_projects_files() -> None:
    # In-place replay: the replay's project sits in the user's `.roar/`, its steps run in the
    # user's directory, which may be under /tmp. Those writes are outputs, not temp files.
    s = FilterSettings.from_config(Config.defaults(), "/tmp/proj/.roar/reproductions/3")
    assert s.work_roots == ("/tmp/proj/.roar/reproductions/3", "/tmp/proj")
    assert write_reason("/tmp/proj/model.pt", s) is None
    assert read_reason("/tmp/proj/data.csv", s, written_by_job=True) is None
    assert write_reason("/tmp/proj/.roar/roar.db", s) == "roar"
    assert write_reason("/tmp/scratch.bin", s) == "tmp"
    plain = FilterSettings.from_config(Config.defaults(), "/tmp/proj")
    assert plain.work_roots == ("/tmp/proj",)
    assert write_reason("/tmp/other/model.pt", plain) == "tmp"


def _tricky_paths() -> list[str]:
    """Paths that share a directory but not a verdict, when a rule looks past the directory."""
    dirs = ["/tmp/proj", "/tmp/proj/out", "/tmp", "/var", "/var/tmp", "/tmp/x", "/tmp/proj/.git"]
    dirs += ["/data/cache", "/data", "/opt/py", "/opt/py/bin", "/home/u/venv", "/", "/data/keep"]
    dirs += ["/tmp/torch_x", "/usr/lib/python3.11", "/tmp/proj/.roar", "/tmp/proj/__pycache__"]
    names = ["a.bin", "x.pyc", "x.pyo", ".git", "pyvenv.cfg", "proj", "cache", "keep", "tmp"]
    names += ["torch_1.py", "torchinductor_u", "triton", "py", ".roar", "HEAD", ""]
    return [d.rstrip("/") + "/" + n for d in dirs for n in names] + ["rel", "rel.pyc", "r/a"]


@pytest.mark.parametrize(
    "settings",
    [
        S,
        replace(S, ignore_paths=("/data/cache", "/data/keep/keep", "/tmp/x/")),
        replace(S, project_root="/", home="/"),
        replace(S, project_root="/tmp/x/proj/"),  # "/tmp/x/proj" is under it; "/tmp/x/a" is not
        replace(S, ignore_paths=("/",)),  # "/a.bin" is ignored; the relative "rel" is not
        replace(S, project_root="/tmp/proj/.roar/reproductions/3", outer_roots=("/tmp/proj",)),
        replace(S, ignore_tmp=False, ignore_system=False, ignore_packages=False),
    ],
)
def test_verdicts_remembered_per_directory_are_the_rules_verdicts(
    settings: FilterSettings,
) -> None:
    # In both orders: whichever path of a directory is classified first, a remembered verdict
    # must be the one the rules give every other path there.
    paths = _tricky_paths()
    for ordered in (paths, paths[::-1]):
        verdicts = Verdicts(settings)
        for path in ordered:
            assert verdicts.write(path) == write_reason(path, settings), path
            for written in (False, True):
                assert verdicts.read(path, written) == read_reason(path, settings, written), path
