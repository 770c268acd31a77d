"""What a command will run, from the heads of its files (pure inspection, no execution).

Which program ``argv[0]`` resolves to, whether it is a script (and what its ``#!`` line runs,
through ``/usr/bin/env`` too), whether ELF executables are static (no ``PT_INTERP``: an
LD_PRELOAD shim cannot enter them) or set-id (the loader drops LD_PRELOAD). The backend chooser
(:mod:`roar.tracing.select`) and the preload backend both decide from this.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

_PYTHON = re.compile(r"python\d*(\.\d+)?t?")
_ELF_MAGIC = b"\x7fELF"
_PT_INTERP = 3
_HEAD_SIZE = 4096


def elf_header_span(head: bytes) -> int:
    """How many leading bytes of an ELF file hold its header and program header table; 0 if
    ``head`` is not the start of an ELF file (or too short to tell)."""
    layout = _elf_layout(head)
    if layout is None:
        return 0
    _, phoff, phentsize, phnum = layout
    return max(len(head[:64]), phoff + phentsize * phnum)


def _elf_layout(head: bytes) -> tuple[str, int, int, int] | None:
    if head[:4] != _ELF_MAGIC or len(head) < 52:
        return None
    order = "<" if head[5] == 1 else ">"
    if head[4] == 2:  # ELFCLASS64
        if len(head) < 64:
            return None
        (phoff,) = struct.unpack_from(order + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
    elif head[4] == 1:  # ELFCLASS32
        (phoff,) = struct.unpack_from(order + "I", head, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
    else:
        return None
    return order, phoff, phentsize, phnum


def elf_has_interp(data: bytes) -> bool | None:
    """Whether an ELF image asks for a program interpreter (``PT_INTERP``, the dynamic loader).

    ``data`` is the start of the file, at least :func:`elf_header_span` bytes. Returns None when
    it is not an ELF file. A static executable (static-pie included) has no ``PT_INTERP``: the
    loader never runs, so ``LD_PRELOAD`` is never honoured. Raises ValueError if ``data`` is too
    short to hold the program header table.
    """
    layout = _elf_layout(data)
    if layout is None:
        return None
    order, phoff, phentsize, phnum = layout
    if phnum and phentsize < 4:
        raise ValueError("ELF program headers are too small")
    if phoff + phentsize * phnum > len(data):
        raise ValueError("the ELF program header table lies beyond the bytes given")
    for index in range(phnum):
        (p_type,) = struct.unpack_from(order + "I", data, phoff + index * phentsize)
        if p_type == _PT_INTERP:
            return True
    return False


def parse_shebang(head: bytes) -> tuple[str, str | None] | None:
    """``(interpreter, optional argument)`` of a ``#!`` line as Linux reads it, or None.

    The kernel takes the first word after ``#!`` as the interpreter and the rest of the line,
    stripped, as one optional argument.
    """
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0][:254].strip(b" \t\r")
    if not line:
        return None
    parts = re.split(rb"[ \t]+", line, maxsplit=1)
    interpreter = os.fsdecode(parts[0])
    argument = os.fsdecode(parts[1]) if len(parts) > 1 and parts[1] else None
    return interpreter, argument


def _env_target(argument: str | None) -> str | None:
    """The program ``#!/usr/bin/env [-S] prog ...`` runs, if the line names one."""
    if not argument:
        return None
    words = argument.split()
    while words and words[0].startswith("-"):
        words.pop(0)  # -S, -i, --: options, not the program
    while words and "=" in words[0]:
        words.pop(0)  # NAME=value assignments
    return words[0] if words else None


@dataclass(frozen=True, slots=True)
class ExecutableInfo:
    """One file in the chain that an exec runs: the program, its interpreters."""

    path: str
    is_static: bool = False
    is_setid: bool = False


@dataclass(frozen=True, slots=True)
class ProgramInfo:
    """What running a command actually executes."""

    path: str  # the file argv[0] resolves to (absolute, as found)
    real: str  # the canonical binary the kernel runs (the final ``#!`` interpreter)
    chain: tuple[ExecutableInfo, ...] = field(default=())  # every executable involved, in order


def preload_obstacle(program: ProgramInfo) -> str | None:
    """Why the preload shim would be blind to ``program``, as the end of a sentence starting with
    its name, or None when preload can trace it. Pure: decides from :func:`inspect_program`'s
    findings."""
    for item in program.chain:
        if item.is_setid:
            return f"{item.path} is setuid/setgid"
        if item.is_static:
            return f"{item.path} is statically linked"
    return None


def read_head(path: str) -> tuple[bytes, os.stat_result] | None:
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None
            head = handle.read(_HEAD_SIZE)
            span = elf_header_span(head)
            if span > len(head):
                head += handle.read(span - len(head))
            return head, info
    except OSError:
        return None


def _which(name: str, path_env: str | None, cwd: Path) -> str | None:
    if "/" in name:
        return os.path.normpath(os.path.join(cwd, name))
    found = shutil.which(name, path=path_env if path_env is not None else os.defpath)
    return os.path.abspath(os.path.join(cwd, found)) if found else None


def inspect_program(
    argv0: str, *, path_env: str | None = None, cwd: Path | None = None
) -> ProgramInfo | None:
    """Find what running ``argv0`` executes: resolve it through ``PATH`` (like the shell), follow
    ``#!`` lines (and ``#!/usr/bin/env prog``) and read each ELF file's program headers. Returns
    None when ``argv0`` does not name a readable file (the exec will report that)."""
    base = cwd or Path.cwd()
    resolved = _which(argv0, path_env, base)
    if resolved is None:
        return None
    chain: list[ExecutableInfo] = []
    current = resolved
    real: str | None = None
    for _ in range(5):
        found = read_head(current)
        if found is None:
            break
        head, info = found
        shebang = parse_shebang(head)
        if shebang is not None:
            interpreter, argument = shebang
            current = os.path.normpath(os.path.join(base, interpreter))
            target = _env_target(argument) if os.path.basename(interpreter) == "env" else None
            if target is not None:
                # env is the binary the kernel runs, and it is traced; the program it starts
                # must be traceable too.
                env_info = read_head(current)
                if env_info is not None:
                    chain.append(_executable(current, *env_info))
                real = real or os.path.realpath(current)
                next_program = _which(target, path_env, base)
                if next_program is None:
                    break
                current = next_program
            continue
        chain.append(_executable(current, head, info))
        break
    return ProgramInfo(
        path=resolved,
        real=real or os.path.realpath(current),
        chain=tuple(chain),
    )


def _executable(path: str, head: bytes, info: os.stat_result) -> ExecutableInfo:
    try:
        interp = elf_has_interp(head)
    except ValueError:
        interp = True  # unreadable headers: do not claim it is static
    return ExecutableInfo(
        path=path,
        is_static=interp is False,
        is_setid=interp is not None and bool(info.st_mode & (stat.S_ISUID | stat.S_ISGID)),
    )


def is_python_program(path: str) -> bool:
    """Whether a program path (or name) is a Python interpreter: python, python3, python3.11,
    python3.13t. The one rule roar uses, for recording, reproducing and its checklist."""
    return bool(_PYTHON.fullmatch(os.path.basename(path)))
