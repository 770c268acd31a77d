"""roar's probe in traced Python processes: which environment variables the program reads.

Put on PYTHONPATH by `roar run` only. It records the *names* of the variables read through
``os.environ`` (values are taken by roar from the environment it launched, secrets hidden), writes
them to ``$ROAR_ENV_LOG/<pid>`` at exit, and then imports the user's own ``sitecustomize``, if any,
so nothing the program relies on changes. Any failure here is swallowed: the program must run
exactly as it would without roar.

``os.environ`` is a copy Python makes at start-up, so C ``getenv`` never sees these reads, nor this
probe C code's: those (the interpreter's own, extension modules', other programs') are reported by
the preload tracer's shim (``ext/preload/env.c``), and the recorder merges both.
"""

import os
import sys


def _install() -> None:
    log_dir = os.environ.get("ROAR_ENV_LOG")
    if not log_dir:
        return
    seen = set()
    base = type(os.environ)

    class _RecordingEnviron(base):  # type: ignore[misc,valid-type]
        def __getitem__(self, key):  # type: ignore[no-untyped-def]
            seen.add(key)
            return base.__getitem__(self, key)

        def __contains__(self, key):  # type: ignore[no-untyped-def]
            seen.add(key)
            return base.__contains__(self, key)

    os.environ.__class__ = _RecordingEnviron

    def _flush() -> None:
        names = sorted(k for k in seen if isinstance(k, str) and not k.startswith("ROAR_"))
        if not names:
            return
        try:
            path = os.path.join(log_dir, str(os.getpid()))
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("\n".join(names) + "\n")
        except OSError:
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
try:  # noqa: SIM105
    _chain_user_sitecustomize()
except Exception:
    pass
