from __future__ import annotations

from pathlib import Path

import pytest

from roar.recording.environment import (
    capture,
    interpreters,
    machine_facts,
    python_distributions,
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
