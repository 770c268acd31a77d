"""Which reads and writes are noise: pure rules, each with a named reason that is counted.

Paths inside the project are the user's files: the system, package and /tmp rules never drop them
(a project may well live under /tmp or /opt); only roar's own `.roar/`, `.git/` metadata and
bytecode caches are dropped there.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from roar.core.config import Config
from roar.tracing.base import SKIP_NOTHING, SkipReads
from roar.tracing.programs import is_python_program

SYSTEM_PREFIXES = (
    "/proc/", "/sys/", "/dev/", "/run/", "/etc/", "/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/",
    "/lib64/", "/libx32/", "/opt/", "/boot/", "/snap/", "/var/lib/", "/var/cache/",
)  # fmt: skip
SYSTEM_WRITE_PREFIXES = ("/proc/", "/sys/", "/dev/", "/run/")
TORCH_CACHE = re.compile(r"^/tmp/(torchinductor_|torch_|triton)")
LIBRARY_CACHE_DIRS = (
    ".cache/huggingface", ".cache/pip", ".cache/uv", ".cache/conda", ".cache/wandb",
    ".cache/torch", ".cache/triton", ".triton/cache", ".cache/matplotlib", ".cache/fontconfig",
)  # fmt: skip
TOOLCHAIN_DIRS = (
    ".pyenv", ".local/share/uv", ".local/lib", ".conda", "miniconda3", "anaconda3", "miniforge3",
    ".cargo", ".rustup", ".nvm",
)  # fmt: skip
PACKAGE_PATTERN = re.compile(r"/(site-packages|dist-packages)/|/lib/python\d+(\.\d+)?t?/")
# Reads dropped as "system" that roar still needs to see (roar/recording/environment.py): the
# Python distributions a job imported are found from its site-packages reads, and its Debian
# packages from the shared libraries it loaded (any name containing ".so", a superset of them).
SYSTEM_READS_USED = ("/site-packages/", "/dist-packages/", ".so")


@dataclass(frozen=True, slots=True)
class FilterSettings:
    project_root: str
    home: str
    ignore_system: bool = True
    ignore_packages: bool = True
    ignore_torch_cache: bool = True
    ignore_library_caches: bool = True
    ignore_tmp: bool = True
    ignore_paths: tuple[str, ...] = ()
    package_roots: tuple[str, ...] = ()
    # A replay project lives inside the user's project (`<work>/.roar/reproductions/N`) while its
    # steps run in `<work>`: those files are the user's too, wherever `<work>` is (even /tmp).
    outer_roots: tuple[str, ...] = ()

    @property
    def work_roots(self) -> tuple[str, ...]:
        return (self.project_root, *self.outer_roots)

    @classmethod
    def from_config(
        cls, config: Config, project_root: str, package_roots: Iterable[str] = ()
    ) -> FilterSettings:
        extra = tuple(
            p if os.path.isabs(p) else os.path.normpath(os.path.join(project_root, p))
            for p in config.get_list("filters.ignore_paths")
        )
        return cls(
            project_root=project_root,
            outer_roots=_enclosing_projects(project_root),
            home=os.path.expanduser("~"),
            ignore_system=config.get_bool("filters.ignore_system_reads"),
            ignore_packages=config.get_bool("filters.ignore_package_reads"),
            ignore_torch_cache=config.get_bool("filters.ignore_torch_cache"),
            ignore_library_caches=config.get_bool("filters.ignore_library_caches"),
            ignore_tmp=config.get_bool("filters.ignore_tmp_files"),
            ignore_paths=extra,
            package_roots=tuple(package_roots),
        )


def _enclosing_projects(root: str) -> tuple[str, ...]:
    """The directories whose `.roar/` holds ``root`` (innermost first)."""
    found = []
    head = root
    while "/.roar/" in head + "/":
        head = head[: (head + "/").rfind("/.roar/")]
        found.append(head or "/")
    return tuple(found)


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


@functools.lru_cache(maxsize=64)
def _dirs(bases: tuple[str, ...]) -> tuple[str, ...]:
    """Directory prefixes with a trailing slash, for one ``str.startswith`` per check (this runs
    for every path a job touches: tens of thousands of times)."""
    return tuple(b.rstrip("/") + "/" for b in bases if b)


@functools.lru_cache(maxsize=16)
def _home_dirs(home: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return _dirs(tuple(os.path.join(home, n) for n in names))


def _common_reason(path: str, s: FilterSettings) -> str | None:
    """Reasons that apply to reads and writes alike."""
    roots = s.work_roots
    if path.startswith(_dirs(tuple(r + "/.roar" for r in roots))):
        return "roar"
    if "/.git/" in path or path.endswith("/.git"):
        return "git"
    if "/__pycache__/" in path or path.endswith((".pyc", ".pyo")):
        return "bytecode"
    if s.ignore_paths and (path in s.ignore_paths or path.startswith(_dirs(s.ignore_paths))):
        return "ignored path"
    if s.ignore_packages and (
        path.startswith(_dirs(s.package_roots))
        or path.startswith(_home_dirs(s.home, TOOLCHAIN_DIRS))
        or path.endswith("/pyvenv.cfg")
        or PACKAGE_PATTERN.search(path)
    ):
        return "package"
    if path.startswith(_dirs(roots)):
        return None
    if s.ignore_torch_cache and TORCH_CACHE.match(path):
        return "torch cache"
    if s.ignore_library_caches and path.startswith(_home_dirs(s.home, LIBRARY_CACHE_DIRS)):
        return "library cache"
    return None


def read_reason(path: str, s: FilterSettings, written_by_job: bool) -> str | None:
    """Why a read of ``path`` is dropped, or None to keep it as an input."""
    reason = _common_reason(path, s)
    if reason or any(_under(path, root) for root in s.work_roots):
        return reason
    if s.ignore_system and path.startswith(SYSTEM_PREFIXES):
        return "system"
    if s.ignore_tmp and written_by_job and (_under(path, "/tmp") or _under(path, "/var/tmp")):
        return "tmp"
    return None


def tracer_skip_reads(s: FilterSettings) -> SkipReads:
    """The reads the tracers need not report at all: those ``read_reason`` drops as "system"
    (under ``SYSTEM_PREFIXES``, outside the project) and nothing else uses.

    Leaving them out saves roar-ptrace a stop per open and the preload shim a message. Every
    path this skips would get a reason from ``read_reason`` (most often "system"); with
    ``ignore_system`` off nothing is skipped.
    """
    if not s.ignore_system:
        return SKIP_NOTHING
    return SkipReads(
        under=SYSTEM_PREFIXES,
        keep_under=tuple(r.rstrip("/") or "/" for r in s.work_roots),
        keep_containing=SYSTEM_READS_USED,
    )


def write_reason(path: str, s: FilterSettings) -> str | None:
    """Why a write to ``path`` is dropped, or None to keep it as an output."""
    reason = _common_reason(path, s)
    if reason or any(_under(path, root) for root in s.work_roots):
        return reason
    if path.startswith(SYSTEM_WRITE_PREFIXES):
        return "system"
    if s.ignore_tmp and (_under(path, "/tmp") or _under(path, "/var/tmp")):
        return "tmp"
    return None


class Verdicts:
    """``read_reason`` and ``write_reason`` under one :class:`FilterSettings`, remembered per
    directory: a job writes 20,000 files into a handful of directories, and each path is
    classified as it is closed and again when the job is settled.

    Almost every rule is a prefix or a substring that ends in "/" (``/usr/``, ``/.git/``, a
    root's ``.roar/``, the package pattern), which a path matches exactly when its directory
    followed by "/" does: every path of a directory gets the same verdict. The rules that look
    past the directory never take a remembered verdict: a name ending ``.pyc``/``.pyo``, or
    ``.git`` or ``pyvenv.cfg``; a path equal to a root, an ignored path, /tmp or /var/tmp (the
    ``_under`` and ``in`` checks); a file directly in /tmp (the torch-cache pattern).
    """

    __slots__ = ("_exact", "_reads", "_writes", "settings")

    def __init__(self, settings: FilterSettings) -> None:
        self.settings = settings
        exact = {"/tmp", "/var/tmp", *settings.ignore_paths, *settings.work_roots}
        self._exact = frozenset(exact | {p.rstrip("/") for p in exact})
        self._writes: dict[str, str | None] = {}
        self._reads: dict[tuple[str, bool], str | None] = {}

    def _directory(self, path: str) -> str | None:
        """The key ``path``'s verdict is remembered under, or None to classify it afresh."""
        head, sep, name = path.rpartition("/")
        if (
            not sep
            or head == "/tmp"
            or name in (".git", "pyvenv.cfg")
            or name.endswith((".pyc", ".pyo"))
            or path in self._exact
        ):
            return None
        return head

    def write(self, path: str) -> str | None:
        """``write_reason(path, settings)``."""
        head = self._directory(path)
        if head is None:
            return write_reason(path, self.settings)
        try:
            return self._writes[head]
        except KeyError:
            reason = self._writes[head] = write_reason(path, self.settings)
            return reason

    def read(self, path: str, written_by_job: bool) -> str | None:
        """``read_reason(path, settings, written_by_job)``."""
        head = self._directory(path)
        if head is None:
            return read_reason(path, self.settings, written_by_job)
        key = (head, written_by_job)
        try:
            return self._reads[key]
        except KeyError:
            reason = self._reads[key] = read_reason(path, self.settings, written_by_job)
            return reason


@dataclass
class FilterOutcome:
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, path, reason)

    @property
    def counts(self) -> Counter[str]:
        return Counter(reason for _, _, reason in self.dropped)


def apply_filters(
    inputs: Iterable[str], outputs: Iterable[str], settings: FilterSettings
) -> FilterOutcome:
    outcome = FilterOutcome()
    verdicts = Verdicts(settings)
    written = set(outputs)
    for path in inputs:
        reason = verdicts.read(path, path in written)
        if reason:
            outcome.dropped.append(("read", path, reason))
        else:
            outcome.inputs.append(path)
    for path in written:
        reason = verdicts.write(path)
        if reason:
            outcome.dropped.append(("write", path, reason))
        else:
            outcome.outputs.append(path)
    order = {p: i for i, p in enumerate(outputs)}
    outcome.outputs.sort(key=order.__getitem__)
    return outcome


def python_prefixes(programs: Iterable[str]) -> list[str]:
    """Installation prefixes of the Python interpreters a job exec'd (their stdlib is package
    code, wherever the interpreter lives: pyenv, conda, a venv)."""
    roots: list[str] = []
    for program in programs:
        if is_python_program(program):
            bin_dir = os.path.dirname(program)
            if os.path.basename(bin_dir) == "bin":
                roots.append(os.path.dirname(bin_dir))
    return list(dict.fromkeys(roots))


def is_config_file(path: str, patterns: Iterable[str], project_root: str, home: str) -> bool:
    """Whether ``path`` (absolute) is tool configuration that libraries read on their own
    (``filters.config_files``): recorded, shown, but never required to reproduce a job."""
    import fnmatch

    relative = path[len(project_root.rstrip("/")) + 1 :] if _under(path, project_root) else None
    for pattern in patterns:
        if pattern.startswith("~"):
            pattern = home.rstrip("/") + pattern[1:]
        if pattern.startswith("/"):
            if fnmatch.fnmatchcase(path, pattern):
                return True
        elif relative is not None and fnmatch.fnmatchcase(relative, pattern):
            return True
    return False
