"""The environment a job ran in, derived mostly from what it touched.

One thing is put into traced Python processes: a small ``sitecustomize`` probe (roar/_inject,
chained to any sitecustomize the job has) that logs the environment variables the code reads.
Everything else is derived from the job's own accesses. The distributions a job *imported* are
recovered from the files it read under ``site-packages``: every ``<dir>/<top>/...`` read is mapped
to the distribution that owns ``<top>`` through the ``*.dist-info`` directories next to it. The
distributions *installed* are those of the site-packages directories of the interpreters the job
ran (their prefix and base prefix): the probe is loaded from roar's own site-packages, which is
the job's only when the job runs roar's interpreter. Debian packages are found for the shared
libraries it loaded, with one ``dpkg -S`` call whose answers are cached per project.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from roar.tracing.programs import is_python_program

_SITE = re.compile(r"^(?P<site>.*/(?:site|dist)-packages)/(?P<rest>[^/]+)(?:/(?P<cached>[^/]+))?")
_SHARED_LIB = re.compile(r"\.so(\.\d+)*$")
OWN_DISTRIBUTIONS = frozenset({"roar"})


def _normalise(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _dist_dirs(site: str) -> dict[str, tuple[str, str, str]]:
    """normalised name -> (name, version, dist-info path) for a site-packages directory."""
    found: dict[str, tuple[str, str, str]] = {}
    try:
        entries = os.listdir(site)
    except OSError:
        return found
    for entry in entries:
        if entry.endswith(".dist-info") and "-" in entry:
            name, _, version = entry[: -len(".dist-info")].partition("-")
            found[_normalise(name)] = (name, version, os.path.join(site, entry))
    return found


def _top_levels(dist_info: str) -> set[str]:
    """Importable top-level names a distribution installs (top_level.txt, else its RECORD)."""
    from importlib.metadata import PathDistribution

    dist = PathDistribution(Path(dist_info))
    listed = dist.read_text("top_level.txt")
    if listed:
        return {line.strip() for line in listed.splitlines() if line.strip()}
    tops: set[str] = set()
    for file in dist.files or []:
        first = file.parts[0] if file.parts else ""
        if first and not first.endswith((".dist-info", ".data")) and first != "..":
            tops.add(first.removesuffix(".py").split(".", 1)[0])
    return tops


def _identity(dist_info: str, fallback: tuple[str, str]) -> tuple[str, str]:
    """The distribution's own name and version (its METADATA), not its directory's spelling."""
    from importlib.metadata import PathDistribution

    try:
        metadata = PathDistribution(Path(dist_info)).metadata
    except OSError:
        return fallback
    name = (metadata.get_all("Name") or [None])[0]
    version = (metadata.get_all("Version") or [None])[0]
    return (str(name), str(version)) if name and version else fallback


def python_distributions(read_paths: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """(imported, installed): name -> version for the distributions whose files the job read,
    and for every distribution in the site-packages directories it used."""
    imported, by_site = python_distributions_by_site(read_paths)
    installed: dict[str, str] = {}
    for site_installed in by_site.values():
        installed.update(site_installed)
    return imported, dict(sorted(installed.items()))


def sites_of(prefixes: Iterable[str | None]) -> Callable[[str], bool]:
    """Whether a site-packages directory belongs to one of the interpreters (their ``prefix`` /
    ``base_prefix``) the job ran."""
    roots = tuple(p.rstrip("/") + "/" for p in prefixes if p)
    return lambda site: site.startswith(roots)


def python_distributions_by_site(
    read_paths: Iterable[str], cache: dict[str, Any] | None = None
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(imported, installed per site-packages directory the job read from).

    ``cache`` (the contents of `.roar/site-packages-cache.json`, updated in place) remembers per
    directory, while its mtime is unchanged (installing, upgrading or removing a distribution
    adds or removes a ``.dist-info`` entry there), what it holds and which distribution each
    imported name belongs to: finding the owner of a name that is not a distribution's reads the
    RECORD of every distribution in the directory (~50 ms in a full venv, every Python job).
    """
    tops_by_site: dict[str, set[str]] = {}
    for path in read_paths:
        match = _SITE.match(path)
        if match:
            rest = match.group("rest")
            if rest == "__pycache__" and match.group("cached"):
                # A single-module distribution imported from its bytecode: six.cpython-311.pyc
                rest = match.group("cached")
            top = rest.removesuffix(".py").split(".", 1)[0]
            tops_by_site.setdefault(match.group("site"), set()).add(top)
    imported: dict[str, str] = {}
    installed: dict[str, dict[str, str]] = {}
    for site, tops in tops_by_site.items():
        remembered = _site_entry(cache, site)
        if remembered is not None and "installed" in remembered:
            installed[site] = dict(remembered["installed"])
            dists: dict[str, tuple[str, str, str]] | None = None
        else:
            dists = _dist_dirs(site)
            installed[site] = {name: version for name, version, _ in dists.values()}
            if remembered is not None:
                remembered["installed"] = installed[site]
        resolved: dict[str, list[str] | None] = (
            remembered.setdefault("owners", {}) if remembered is not None else {}
        )
        owners: dict[str, tuple[str, str, str]] | None = None
        for top in tops:
            if top.endswith((".dist-info", ".pth")) or top in {"__pycache__", "_distutils_hack"}:
                continue
            if top in resolved:
                known = resolved[top]
                if known is not None:
                    imported[known[0]] = known[1]
                continue
            if dists is None:
                dists = _dist_dirs(site)
            owner = dists.get(_normalise(top))
            if owner is None:
                if owners is None:  # only read top_level/RECORD files when a name does not match
                    owners = {}
                    for name, version, info in dists.values():
                        for owned in _top_levels(info):
                            owners.setdefault(owned, (name, version, info))
                owner = owners.get(top)
            if owner is None:
                resolved[top] = None
                continue
            name, version = _identity(owner[2], (owner[0], owner[1]))
            imported[name] = version
            resolved[top] = [name, version]
    for own in OWN_DISTRIBUTIONS:
        imported.pop(own, None)
    return dict(sorted(imported.items())), installed


def _site_entry(cache: dict[str, Any] | None, site: str) -> dict[str, Any] | None:
    """``cache``'s entry for ``site``, emptied when the directory changed since (None: no cache)."""
    if cache is None:
        return None
    try:
        mtime = os.stat(site).st_mtime_ns
    except OSError:
        return None
    entry = cache.get(site)
    if not isinstance(entry, dict) or entry.get("mtime_ns") != mtime:
        entry = {"mtime_ns": mtime}
        cache[site] = entry
    return entry


def shared_libraries(read_paths: Iterable[str]) -> list[str]:
    return sorted({p for p in read_paths if _SHARED_LIB.search(p) and "-packages/" not in p})


def machine_facts() -> dict[str, Any]:
    """OS, CPU, memory and GPU basics, from files and the standard library (no subprocess)."""
    uname = platform.uname()
    facts: dict[str, Any] = {
        "os": {"system": uname.system, "release": uname.release, "machine": uname.machine},
        "cpu": {"count": os.cpu_count()},
        "hostname": uname.node,
    }
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    facts["os"]["distribution"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    facts["cpu"]["model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    facts["memory_bytes"] = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    gpus_dir = Path("/proc/driver/nvidia/gpus")
    if gpus_dir.is_dir():
        gpus = []
        for info in sorted(gpus_dir.glob("*/information")):
            text = info.read_text(errors="replace")
            model = re.search(r"Model:\s*(.+)", text)
            gpus.append({"model": model.group(1).strip() if model else None})
        facts["gpu"] = gpus
    return facts


async def interpreter_facts(interpreter: str) -> dict[str, Any] | None:
    """Version and prefix of a Python interpreter the job ran (one short subprocess)."""
    code = (
        "import json, platform, sys; print(json.dumps({'version': platform.python_version(), "
        "'implementation': platform.python_implementation(), 'executable': sys.executable, "
        "'prefix': sys.prefix, 'base_prefix': sys.base_prefix}))"
    )
    try:
        result = await anyio.run_process(
            [interpreter, "-I", "-S", "-c", code], check=False, stderr=subprocess.DEVNULL
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    try:
        facts: dict[str, Any] = json.loads(result.stdout)
    except ValueError:
        return None
    return facts


async def installed_versions(
    interpreter: str, names: Iterable[str], env: Mapping[str, str]
) -> dict[str, str | None] | None:
    """name -> the version ``interpreter`` would import now (None: not installed), as the command
    would see it (its environment ``env``: an activated venv, PYTHONPATH); None when the
    interpreter cannot run. One short subprocess."""
    code = (
        "import json, sys\n"
        "from importlib import metadata\n"
        "found = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        found[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n"
        "        found[name] = None\n"
        "print(json.dumps(found))\n"
    )
    try:
        result = await anyio.run_process(
            [interpreter, "-c", code, json.dumps(sorted(names))],
            check=False,
            stderr=subprocess.DEVNULL,
            env=dict(env),
        )
    except OSError:
        return None
    if result.returncode != 0:
        return None
    try:
        found: dict[str, str | None] = json.loads(result.stdout)
    except ValueError:
        return None
    return found


def _save_json(path: Path, value: object) -> None:
    """Concurrent runs share these caches: write a private copy, then rename it into place."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(value))
        os.replace(tmp, path)


INTERPRETER_CACHE = "interpreter-cache.json"  # under .roar/


class InterpreterCache:
    """What a Python interpreter is (``interpreter_facts``), remembered across jobs in
    `.roar/interpreter-cache.json` while its binary is the same file (device, inode, size, mtime).

    Asking means starting the interpreter: 90-170 ms of every Python job's bookkeeping on the
    2-CPU VM, for facts that change only when the interpreter is replaced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._known: dict[str, Any] = dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            self._known = {}

    @staticmethod
    def _identity(interpreter: str) -> list[int] | None:
        try:
            st = os.stat(interpreter)
        except OSError:
            return None
        return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]

    async def facts(self, interpreter: str) -> dict[str, Any] | None:
        identity = self._identity(interpreter)
        entry = self._known.get(interpreter)
        if identity is not None and isinstance(entry, dict) and entry.get("stat") == identity:
            facts: dict[str, Any] = entry["facts"]
            return facts
        found = await interpreter_facts(interpreter)
        if found is not None and identity is not None:
            self._known[interpreter] = {"stat": identity, "facts": found}
            _save_json(self.path, self._known)
        return found


class DpkgCache:
    """Which Debian package owns a file, remembered across jobs in `.roar/dpkg-cache.json`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._owners: dict[str, str | None] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._owners = {}

    async def packages(self, files: list[str]) -> dict[str, str]:
        """package -> version for the packages owning ``files`` ({} without dpkg)."""
        if not files or not os.path.exists("/var/lib/dpkg/status"):
            return {}
        unknown = [f for f in files if f not in self._owners]
        if unknown:
            # Merged-/usr systems: a file opened as /usr/lib/... may be listed as /lib/... and
            # the other way round (the loader opens /lib/...; bookworm lists libssl3 in /usr).
            aliases: dict[str, str] = {}
            for f in unknown:
                aliases[f] = f
                if f.startswith("/usr/") and f.count("/") > 2:
                    aliases[f[4:]] = f
                elif f.startswith(("/lib/", "/lib64/", "/lib32/", "/libx32/", "/bin/", "/sbin/")):
                    aliases["/usr" + f] = f
            result = await anyio.run_process(
                ["dpkg", "-S", *aliases], check=False, stderr=subprocess.DEVNULL
            )
            answered: dict[str, str | None] = dict.fromkeys(unknown)
            for line in result.stdout.decode(errors="replace").splitlines():
                owner, _, path = line.partition(": ")
                if path in aliases:
                    answered[aliases[path]] = owner.split(",")[0].strip()
            self._owners.update(answered)
            _save_json(self.path, self._owners)
        names = sorted({pkg for f in files if (pkg := self._owners.get(f))})
        if not names:
            return {}
        return await self._versions(names)

    async def _versions(self, names: list[str]) -> dict[str, str]:
        """Installed versions, remembered while dpkg's database is unchanged (a dpkg-query per
        job was ~20 ms of every job's bookkeeping)."""
        versions_path = self.path.with_name("dpkg-versions.json")
        try:
            database = os.stat("/var/lib/dpkg/status").st_mtime_ns
        except OSError:
            database = None
        known: dict[str, str] = {}
        try:
            saved = json.loads(versions_path.read_text())
            if database is not None and saved.get("status_mtime_ns") == database:
                known = dict(saved.get("versions", {}))
        except (OSError, ValueError, AttributeError):
            pass
        # Owners may carry an architecture (libc6:amd64); versions are kept by the bare name.
        missing = [n for n in names if n.split(":")[0] not in known]
        if missing:
            result = await anyio.run_process(
                ["dpkg-query", "-W", "-f", "${binary:Package} ${Version}\\n", *missing],
                check=False,
                stderr=subprocess.DEVNULL,
            )
            for line in result.stdout.decode(errors="replace").splitlines():
                name, _, version = line.partition(" ")
                if name and version:
                    known[name.split(":")[0]] = version
            if database is not None:
                _save_json(versions_path, {"status_mtime_ns": database, "versions": known})
        bare = sorted({n.split(":")[0] for n in names})
        return {n: known[n] for n in bare if n in known}


def interpreters(programs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(p for p in programs if is_python_program(p)))


async def capture(
    read_paths: Iterable[str],
    programs: Iterable[str],
    roar_dir: Path,
    machine: dict[str, Any] | None = None,
    interpreter_cache: InterpreterCache | None = None,
) -> dict[str, Any]:
    """The job's environment record: runtime, interpreters, packages (pip and dpkg).

    Its parts are independent (a walk of site-packages, one short process per interpreter,
    dpkg), so they run at the same time: this is on the path between the command's end and
    its record.  ``machine``: :func:`machine_facts`, when the caller read them already (while
    the command ran); ``interpreter_cache``: the cache the caller asked interpreters through
    while they ran.
    """
    reads = list(read_paths)
    found = interpreters(programs)
    pythons: list[dict[str, Any] | None] = [None] * len(found)
    distributions: list[tuple[dict[str, str], dict[str, dict[str, str]]]] = []
    dpkg: dict[str, str] = {}

    site_cache_path = roar_dir / "site-packages-cache.json"

    async def scan_site_packages() -> None:
        try:
            site_cache: dict[str, Any] = dict(json.loads(site_cache_path.read_text()))
        except (OSError, ValueError, TypeError):
            site_cache = {}
        before = json.dumps(site_cache, sort_keys=True)
        distributions.append(
            await anyio.to_thread.run_sync(python_distributions_by_site, reads, site_cache)
        )
        if json.dumps(site_cache, sort_keys=True) != before:
            _save_json(site_cache_path, site_cache)

    if interpreter_cache is None:
        interpreter_cache = InterpreterCache(roar_dir / INTERPRETER_CACHE)

    async def ask_interpreter(index: int, interpreter: str) -> None:
        pythons[index] = await interpreter_cache.facts(interpreter)

    async def ask_dpkg() -> None:
        dpkg.update(await DpkgCache(roar_dir / "dpkg-cache.json").packages(shared_libraries(reads)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(scan_site_packages)
        tg.start_soon(ask_dpkg)
        for index, interpreter in enumerate(found):
            tg.start_soon(ask_interpreter, index, interpreter)
    imported, by_site = distributions[0]
    known = [facts for facts in pythons if facts is not None]
    # Installed means installed for the interpreters the job ran. roar's own site-packages is
    # read too (the sitecustomize probe loads from it) but is not the job's unless the job ran
    # roar's interpreter.
    # A venv's interpreter is exec'd through its symlink, so the exec'd path names the base
    # interpreter; the venv shows in the pyvenv.cfg that interpreter read at start-up.
    venvs = [os.path.dirname(p) for p in reads if p.endswith("/pyvenv.cfg")]
    prefixes = [p for facts in known for p in (facts.get("prefix"), facts.get("base_prefix"))]
    belongs = sites_of([*prefixes, *venvs])
    installed: dict[str, str] = {}
    for site, site_installed in by_site.items():
        if belongs(site):
            installed.update(site_installed)
    installed = dict(sorted(installed.items()))
    return {
        "runtime": {
            **(machine or machine_facts()),
            "python": known[0] if known else None,
            "interpreters": known,
        },
        "packages": {"pip": imported, "pip_installed": installed, "dpkg": dpkg},
    }
