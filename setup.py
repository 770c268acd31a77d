"""Build roar's native parts: the Cython event decoder and the C tracer executables.

The decoder is an ordinary extension module. The tracers are programs, not modules, so they are
compiled here with the same compiler setuptools found for the extension and placed in
``roar/_bin/`` inside the built package (or the source tree for an in-place/editable build).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from glob import glob
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

if not sys.platform.startswith("linux"):
    sys.exit("roar traces processes with Linux-only interfaces (ptrace, LD_PRELOAD); use Linux.")

HERE = Path(__file__).parent.resolve()
C_FLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra"]
# roar-ebpf shares the record writer, descriptor tables, path helpers, logging and snapshots
# with roar-ptrace rather than carrying copies.
EBPF_SHARED = ["emit.c", "fdtable.c", "paths.c", "log.c", "snapshot.c"]
BPF_TARGET_ARCH = {"x86_64": "x86", "aarch64": "arm64"}


def _rel(paths: list[str]) -> list[str]:
    return sorted(os.path.relpath(p, HERE) for p in paths)


class BuildExtAndTracers(build_ext):
    """build_ext that also compiles the ptrace tracer, the preload shim and the eBPF tracer."""

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

        missing = _ebpf_missing()
        if missing:
            # roar installs and runs without it: `roar tracer status` says the backend is absent.
            print(f"roar: not building the eBPF tracer: {missing}", file=sys.stderr)
        else:
            self._build_ebpf(out_dir, os.path.join(temp, "ebpf"))

    def _build_ebpf(self, out_dir: Path, temp: str) -> None:
        """roar-ebpf (the loader, linked with libbpf) and roar-ebpf.bpf.o (its kernel half,
        compiled CO-RE against a vmlinux.h generated from this machine's kernel BTF)."""
        os.makedirs(temp, exist_ok=True)
        header = os.path.join(temp, "vmlinux.h")
        with open(header, "wb") as out:
            btf = "/sys/kernel/btf/vmlinux"
            subprocess.run(
                [_bpftool() or "bpftool", "btf", "dump", "file", btf, "format", "c"],
                stdout=out,
                check=True,
            )
        arch = BPF_TARGET_ARCH[platform.machine()]
        subprocess.run(
            [
                "clang", "-target", "bpf", f"-D__TARGET_ARCH_{arch}", "-g", "-O2",
                "-Wall", "-Wextra", "-Wno-unused-parameter",  # BPF_PROG's hidden ctx argument
                "-I", temp, "-I", str(HERE / "ext" / "ebpf"),
                "-c", str(HERE / "ext" / "ebpf" / "roar.bpf.c"),
                "-o", str(out_dir / "roar-ebpf.bpf.o"),
            ],
            check=True,
        )  # fmt: skip
        _write_minimal_btf(out_dir / "roar-ebpf.bpf.o", out_dir / "roar-ebpf.min.btf")
        sources = _rel(
            [p for p in glob(str(HERE / "ext" / "ebpf" / "*.c")) if not p.endswith(".bpf.c")]
            + [str(HERE / "ext" / "ptrace" / name) for name in EBPF_SHARED]
        )
        objects = self.compiler.compile(
            sources,
            output_dir=temp,
            include_dirs=["ext", "ext/ptrace"],
            extra_preargs=C_FLAGS,
        )
        self.compiler.link_executable(
            objects, "roar-ebpf", output_dir=str(out_dir), libraries=["bpf", "pthread"]
        )


def _write_minimal_btf(bpf_object: Path, out: Path) -> None:
    """The kernel types roar-ebpf.bpf.o relocates against, cut from this kernel's BTF
    (`bpftool gen min_core_btf`), and the kernel they belong to in ``<out>.kernel``: the loader
    parses this small file instead of all of /sys/kernel/btf/vmlinux while the kernel is the
    same (ext/ebpf/bpf_setup.c). Without it the loader simply reads the kernel's BTF."""
    sidecar = out.with_name(out.name + ".kernel")
    for stale in (out, sidecar):
        stale.unlink(missing_ok=True)
    btf = "/sys/kernel/btf/vmlinux"
    cut = subprocess.run(
        [_bpftool() or "bpftool", "gen", "min_core_btf", btf, str(out), str(bpf_object)],
        capture_output=True,
    )
    if cut.returncode != 0:
        print(
            "roar: no minimal BTF for the eBPF tracer (it will read the kernel's)", file=sys.stderr
        )
        out.unlink(missing_ok=True)
        return
    u = os.uname()
    sidecar.write_text(f"{u.release}\n{u.version}\n{u.machine}\n{os.stat(btf).st_size}\n")


def _bpftool() -> str | None:
    """bpftool, which Debian installs in /usr/sbin (not on every user's PATH)."""
    return shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")


def _ebpf_missing() -> str | None:
    """Why roar-ebpf cannot be built here, or None."""
    if platform.machine() not in BPF_TARGET_ARCH:
        return f"no BPF target for {platform.machine()}"
    if shutil.which("clang") is None:
        return "clang is missing (apt-get install clang)"
    if _bpftool() is None:
        return "bpftool is missing (apt-get install bpftool)"
    if not os.path.exists("/usr/include/bpf/libbpf.h"):
        return "libbpf headers are missing (apt-get install libbpf-dev)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "the running kernel has no BTF (/sys/kernel/btf/vmlinux)"
    return None


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
