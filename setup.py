"""Build roar's native parts: the Cython event decoder and the C tracer executables.

The decoder is an ordinary extension module. The tracers are programs, not modules, so they are
compiled here with the same compiler setuptools found for the extension and placed in
``roar/_bin/`` inside the built package (or the source tree for an in-place/editable build).
"""

from __future__ import annotations

import os
import sys
from glob import glob
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

if not sys.platform.startswith("linux"):
    sys.exit("roar traces processes with Linux-only interfaces (ptrace, LD_PRELOAD); use Linux.")

HERE = Path(__file__).parent.resolve()
C_FLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra"]


def _rel(paths: list[str]) -> list[str]:
    return sorted(os.path.relpath(p, HERE) for p in paths)


class BuildExtAndTracers(build_ext):
    """build_ext that also compiles the ptrace tracer and the preload shim."""

    def run(self) -> None:
        super().run()
        self._build_tracers()

    def _bin_dir(self) -> Path:
        if self.inplace:
            return HERE / "roar" / "_bin"
        return Path(self.build_lib) / "roar" / "_bin"

    def _build_tracers(self) -> None:
        compiler = self.compiler
        out_dir = self._bin_dir()
        out_dir.mkdir(parents=True, exist_ok=True)
        temp = os.path.join(self.build_temp, "tracers")

        ptrace_sources = _rel(glob(str(HERE / "ext" / "ptrace" / "*.c")))
        if ptrace_sources:
            generated = Path(temp) / "generated"
            _generate_syscall_names(" ".join(compiler.compiler), generated)
            objects = compiler.compile(
                ptrace_sources,
                output_dir=os.path.join(temp, "ptrace"),
                include_dirs=["ext", str(generated)],
                extra_preargs=C_FLAGS,
            )
            compiler.link_executable(objects, "roar-ptrace", output_dir=str(out_dir))

        preload_sources = _rel(glob(str(HERE / "ext" / "preload" / "*.c")))
        if preload_sources:
            objects = compiler.compile(
                preload_sources,
                output_dir=os.path.join(temp, "preload"),
                include_dirs=["ext"],
                extra_preargs=[*C_FLAGS, "-fPIC", "-fvisibility=hidden"],
            )
            compiler.link_shared_object(
                objects,
                "libroar_preload.so",
                output_dir=str(out_dir),
                libraries=["dl", "pthread"],
            )


def _generate_syscall_names(cc: str, out_dir: Path) -> None:
    """ext/gen_syscall_names.py, run with the compiler that builds the tracer (its headers)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", HERE / "ext" / "gen_syscall_names.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(cc, out_dir)


def _extensions() -> list[Extension]:
    from Cython.Build import cythonize

    decoder = Extension(
        "roar.tracing._decoder",
        sources=["ext/decoder/_decoder.pyx"],
        include_dirs=["ext"],
    )
    # BLAKE3 subtrees for multipart objects: plain C, hot loop, so optimised harder.
    b3tree = Extension(
        "roar.hashing._b3tree",
        sources=["ext/b3tree/_b3tree.c"],
        extra_compile_args=["-std=gnu11", "-O3", "-Wall", "-Wextra"],
    )
    # The reader's half of the preload shim's shared-memory record ring (ext/ring.h).
    ring = Extension(
        "roar.tracing._ring",
        sources=["ext/ring/_ring.pyx"],
        include_dirs=["ext"],
    )
    return [
        *cythonize(
            [decoder, ring],
            compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
            quiet=True,
        ),
        b3tree,
    ]


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExtAndTracers})
