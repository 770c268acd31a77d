from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import pytest

from roar.recording.environment import (
    InterpreterCache,
    capture,
    interpreters,
    machine_facts,
    python_distributions,
    python_distributions_by_site,
    shared_libraries,
)
from tests.conftest import gen


def test_imported_distributions_come_from_files_read(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    gen(
        site,
        {
            "numpy": {"__init__.py": ""},
            "numpy-2.1.0.dist-info": {"METADATA": ""},
            "yaml": {"__init__.py": ""},
            "PyYAML-6.0.1.dist-info": {"top_level.txt": "_yaml\nyaml\n"},
            "six.py": "",
            "six-1.16.0.dist-info": {"RECORD": "six.py,sha256=x,1\n"},
            "unused": {"__init__.py": ""},
            "unused-0.1.dist-info": {},
            "roar": {"__init__.py": ""},
            "roar-0.1.0.dist-info": {},
        },
    )
    reads = [
        f"{site}/numpy/__init__.py",
        f"{site}/yaml/__init__.py",
        f"{site}/__pycache__/six.cpython-311.pyc",
        f"{site}/roar/__init__.py",
        "/work/proj/train.py",
    ]
    imported, installed = python_distributions(reads)
    assert imported == {"PyYAML": "6.0.1", "numpy": "2.1.0", "six": "1.16.0"}
    assert installed == {
        "PyYAML": "6.0.1", "numpy": "2.1.0", "roar": "0.1.0", "six": "1.16.0", "unused": "0.1",
    }  # fmt: skip


def test_shared_libraries_and_interpreters() -> None:
    reads = ["/usr/lib/x86_64-linux-gnu/libm.so.6", "/x/site-packages/np/_core.so", "/p/a.csv"]
    assert shared_libraries(reads) == ["/usr/lib/x86_64-linux-gnu/libm.so.6"]
    assert interpreters(["/usr/bin/bash", "/usr/bin/python3.11", "/v/bin/python"]) == [
        "/usr/bin/python3.11", "/v/bin/python",
    ]  # fmt: skip


def test_machine_facts() -> None:
    facts = machine_facts()
    assert facts["os"]["system"] == "Linux"
    assert facts["cpu"]["count"] >= 1
    assert facts["memory_bytes"] > 0


@pytest.mark.anyio
async def test_installed_packages_are_the_jobs_never_roars(tmp_path: Path) -> None:
    # roar installed from a wheel: its probe is loaded from roar's own site-packages.
    roar_site = tmp_path / "roar-venv" / "lib" / "python3.11" / "site-packages"
    gen(
        roar_site,
        {
            "roar": {"_inject": {"sitecustomize.py": ""}},
            "roar-1.0.dist-info": {"METADATA": ""},
            "moto-5.0.0.dist-info": {"METADATA": ""},
            "boto3-1.34.0.dist-info": {"METADATA": ""},
        },
    )
    job_venv = tmp_path / "job-venv"
    job_site = job_venv / "lib" / "python3.11" / "site-packages"
    gen(job_venv, {"pyvenv.cfg": "home = /usr/bin\n"})
    gen(job_site, {"pip": {"__init__.py": ""}, "pip-24.0.dist-info": {"METADATA": ""},
                   "setuptools-69.0.0.dist-info": {"METADATA": ""}})  # fmt: skip
    reads = [
        str(roar_site / "roar" / "_inject" / "sitecustomize.py"),
        str(job_venv / "pyvenv.cfg"),
        str(job_site / "pip" / "__init__.py"),
    ]
    record = await capture(reads, [], tmp_path)
    assert record["packages"]["pip_installed"] == {"pip": "24.0", "setuptools": "69.0.0"}
    assert record["packages"]["pip"] == {"pip": "24.0"}


def test_the_site_packages_cache_answers_as_a_scan_and_notices_an_upgrade(tmp_path: Path) -> None:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    gen(
        site,
        {
            "numpy": {"__init__.py": ""},
            "numpy-2.1.0.dist-info": {"METADATA": ""},
            "yaml": {"__init__.py": ""},
            "PyYAML-6.0.1.dist-info": {"top_level.txt": "yaml\n"},
        },
    )
    reads = [f"{site}/numpy/__init__.py", f"{site}/yaml/__init__.py", f"{site}/gone.py"]
    scanned = python_distributions_by_site(reads)
    cache: dict[str, Any] = {}
    first = python_distributions_by_site(reads, cache)
    assert first == scanned
    assert cache[str(site)]["owners"] == {
        "numpy": ["numpy", "2.1.0"], "yaml": ["PyYAML", "6.0.1"], "gone": None,
    }  # fmt: skip
    # From the cache alone: a distribution's files may even be gone, the answer is the same.
    (site / "PyYAML-6.0.1.dist-info" / "top_level.txt").unlink()
    assert python_distributions_by_site(reads, cache) == scanned
    # pip upgrades numpy: the directory's entries change, so it is read again.
    (site / "numpy-2.1.0.dist-info" / "METADATA").unlink()
    (site / "numpy-2.1.0.dist-info").rmdir()
    gen(site, {"numpy-2.2.0.dist-info": {"METADATA": ""}})
    os.utime(site, ns=(0, cache[str(site)]["mtime_ns"] + 1))  # a coarse clock must not hide it
    imported, installed = python_distributions_by_site(reads, cache)
    assert imported["numpy"] == "2.2.0"
    assert installed[str(site)]["numpy"] == "2.2.0"


@pytest.mark.anyio
async def test_interpreter_facts_are_asked_once_per_interpreter_file(tmp_path: Path) -> None:
    log = tmp_path / "asked.log"
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()

    def write_wrapper(extra: str = "") -> None:
        python.write_text(f'#!/bin/sh\necho asked >> {log}\nexec {sys.executable} "$@"\n{extra}')
        python.chmod(0o755)

    write_wrapper()
    cache = InterpreterCache(tmp_path / "interpreter-cache.json")
    facts = await cache.facts(str(python))
    assert facts is not None and facts["version"] == platform.python_version()
    again = InterpreterCache(tmp_path / "interpreter-cache.json")  # the next job
    assert await again.facts(str(python)) == facts
    assert log.read_text().count("asked") == 1
    write_wrapper("# replaced\n")  # another interpreter at the same path: asked again
    assert await InterpreterCache(tmp_path / "interpreter-cache.json").facts(str(python)) == facts
    assert log.read_text().count("asked") == 2
