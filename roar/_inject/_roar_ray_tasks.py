"""roar's Ray probe, the part that runs once ``ray`` is imported (``_roar_ray.py`` loads it):
where each Ray task and actor method call begins and ends, told to the tracer.

``ray.remote`` wraps the
user's functions and actor classes (never Ray's own: internal tasks are noise, not jobs) so that,
in the worker that runs them, a call creates ``<markers>/begin~<task id>~<name>~<n>`` before it
and ``<markers>/end~...`` after it. The tracer reports those creations in order with the file
events of the same thread, so roar can attribute every event between them to the task. Nothing
else changes: arguments, results, exceptions and signatures pass through untouched, and any
failure of the probe is swallowed.
"""

import contextlib
import functools
import inspect
import itertools
import os
import re
import threading
from collections.abc import Callable
from typing import Any

_counter = itertools.count()
_current = threading.local()  # .task: the task the thread is running, for S3 requests
_botocore_hooked = False
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def _mark(kind: str, task: str, name: str) -> None:
    where = os.environ.get("ROAR_RAY_MARKERS")
    if not where:
        return
    try:
        label = _UNSAFE.sub("_", name)[:80] or "task"
        path = os.path.join(where, f"{kind}~{task}~{label}~{os.getpid()}.{next(_counter)}")
        with open(path, "w"):
            pass
    except Exception:
        pass


def _tag_s3_request(request: Any, **_: Any) -> None:
    """An S3 request made inside a task names it (``Roar-Job-Id``, signed with the rest), so
    roar's S3 proxy attributes the object to the task rather than to the script."""
    task = getattr(_current, "task", None)
    if task:
        request.headers["Roar-Job-Id"] = f"ray-task:{task}"


def _hook_botocore() -> None:
    """Every botocore session made from now on tags the S3 requests of a running task."""
    global _botocore_hooked
    if _botocore_hooked:
        return
    _botocore_hooked = True
    try:
        import botocore.session  # type: ignore[import-untyped]
    except Exception:
        return
    original = botocore.session.Session.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        with contextlib.suppress(Exception):
            self.register("before-sign.s3", _tag_s3_request)

    botocore.session.Session.__init__ = init


def _begin(task: str, name: str) -> Any:
    _hook_botocore()
    previous = getattr(_current, "task", None)
    _current.task = task
    _mark("begin", task, name)
    return previous


def _end(task: str, name: str, previous: Any) -> None:
    _mark("end", task, name)
    _current.task = previous


def _task_id() -> str:
    try:
        import ray

        context = ray.get_runtime_context()
        return str(context.get_task_id() or context.get_actor_id() or "unknown")
    except Exception:
        return "unknown"


def _actor_id() -> str:
    try:
        import ray

        return str(ray.get_runtime_context().get_actor_id() or _task_id())
    except Exception:
        return "unknown"


def _per_actor() -> bool:
    return os.environ.get("ROAR_RAY_ACTOR_ATTRIBUTION") == "per_actor"


def _wrap_function(fn: Any, name: str, ident: Callable[[], str] = _task_id) -> Any:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def ray_task_async(*args: Any, **kwargs: Any) -> Any:
            task = ident()
            previous = _begin(task, name)
            try:
                return await fn(*args, **kwargs)
            finally:
                _end(task, name, previous)

        return ray_task_async

    @functools.wraps(fn)
    def ray_task(*args: Any, **kwargs: Any) -> Any:
        task = ident()
        previous = _begin(task, name)
        try:
            return fn(*args, **kwargs)
        finally:
            _end(task, name, previous)

    return ray_task


def _wrap_class(cls: Any) -> Any:
    per_actor = _per_actor()
    for attr, member in list(vars(cls).items()):
        if not inspect.isfunction(member) or (attr.startswith("__") and attr != "__init__"):
            continue
        name = cls.__name__ if per_actor else f"{cls.__name__}.{attr}"
        setattr(cls, attr, _wrap_function(member, name, _actor_id if per_actor else _task_id))
    return cls


def _users(target: Any) -> bool:
    module = getattr(target, "__module__", "") or ""
    return not (module == "ray" or module.startswith("ray.") or module.startswith("_roar"))


def _wrapped(target: Any) -> Any:
    if not _users(target):
        return target
    if inspect.isclass(target):
        return _wrap_class(target)
    if inspect.isfunction(target):
        return _wrap_function(target, target.__qualname__)
    return target


def patch(ray: Any) -> None:
    original = ray.remote
    if getattr(original, "_roar", False):
        return

    @functools.wraps(original)
    def remote(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and callable(args[0]):
            return original(_wrapped(args[0]))
        decorate = original(*args, **kwargs)
        return lambda target: decorate(_wrapped(target))

    remote._roar = True  # type: ignore[attr-defined]
    ray.remote = remote
