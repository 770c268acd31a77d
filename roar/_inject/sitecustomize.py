"""roar's probe in traced Python processes: which environment variables the program reads.

Put on PYTHONPATH by `roar run` only. It records the variables read through ``os.environ``, each
with the value this process saw at its first read (a script may have exported it after roar
launched the command), writes them to ``$ROAR_ENV_LOG/<pid>`` at exit, and then imports the
user's own ``sitecustomize``, if any, so nothing the program relies on changes. Any failure here is
swallowed: the program must run exactly as it would without roar.

Secrets never reach the log: for a credential-looking name only the fact that it was set is
written (the rule is roar's own, ``_roar_credential_rule.py`` beside this file, shared with
``roar/recording/secrets.py``), and the recorder scrubs the values it stores as for every other
source.

``os.environ`` is a copy Python makes at start-up, so C ``getenv`` never sees these reads, nor this
probe C code's: those (the interpreter's own, extension modules', other programs') are reported by
the preload tracer's shim (``ext/preload/env.c``), and the recorder merges both.

Log format, one record per variable, each ending in NUL (which no name or value can contain):
``NAME=VALUE`` (set, seen as VALUE), ``NAME`` (not set), ``NAME\x01`` (set, value withheld).
"""

import os
import sys


def _install() -> None:
    log_dir = os.environ.get("ROAR_ENV_LOG")
    if not log_dir:
        return
    seen: dict[str, str | None] = {}  # name -> value at the first read (None: not set)
    base = type(os.environ)

    class _RecordingEnviron(base):  # type: ignore[misc,valid-type]
        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            try:
                value = base.__getitem__(self, key)
            except KeyError:
                if key not in seen:
                    seen[key] = None
                raise
            if key not in seen:
                seen[key] = value
            return value

        def __contains__(self, key):  # type: ignore[no-untyped-def]
            present = base.__contains__(self, key)
            if key not in seen:
                seen[key] = base.__getitem__(self, key) if present else None
            return present

    os.environ.__class__ = _RecordingEnviron

    def _flush() -> None:
        names = sorted(k for k in seen if not k.startswith("ROAR_"))
        if not names:
            return
        import re

        # roar's own rule, from the module beside this one (roar/_inject is on PYTHONPATH).
        from _roar_credential_rule import CREDENTIAL_NAME_PATTERN, NOT_CREDENTIALS

        credential = re.compile(CREDENTIAL_NAME_PATTERN)
        records = []
        for name in names:
            value = seen[name]
            raw = os.fsencode(name)
            if value is None:
                records.append(raw)
            elif name not in NOT_CREDENTIALS and credential.search(name):
                records.append(raw + b"\x01")
            else:
                records.append(raw + b"=" + os.fsencode(value))
        try:
            path = os.path.join(log_dir, str(os.getpid()))
            with open(path, "ab") as handle:
                handle.write(b"\0".join(records) + b"\0")
        except (OSError, ValueError):
            pass

    import atexit

    atexit.register(_flush)


def _chain_user_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    me = sys.modules.pop("sitecustomize")
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401  (the user's, if any)
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        # The import system looks this name up once this module finishes: it must be there.
        sys.modules.setdefault("sitecustomize", me)


try:  # noqa: SIM105 - contextlib would be one more import in every traced Python start
    _install()
except Exception:
    pass
try:
    if os.environ.get("ROAR_RAY_MARKERS"):  # `roar run` with ray.enabled: see _roar_ray.py
        import _roar_ray  # type: ignore[import-not-found]

        _roar_ray.install()
except Exception:
    pass
try:  # noqa: SIM105
    _chain_user_sitecustomize()
except Exception:
    pass
