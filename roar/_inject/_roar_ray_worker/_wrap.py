"""Each task and actor method call of the user's code, bracketed where the worker runs it.

The worker looks up what to run for a task in its ``FunctionActorManager``
(``get_execution_info``); patching that lookup wraps the user's functions and actor methods there,
whatever the driver did, and leaves Ray's own (module ``ray.*``: the job supervisor, internal
actors, ``__ray_*__`` methods) alone: they are noise, not jobs.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

from . import _child, _observe, _transport
from ._record import TaskRecord

_wrapped: dict[Any, tuple[Any, Any]] = {}  # function id -> (Ray's info, the wrapped info)


def _is_users(descriptor: Any, function_name: str) -> bool:
    module = getattr(descriptor, "module_name", "") or ""
    if module == "ray" or module.startswith(("ray.", "_roar_ray_worker")):
        return False
    return not function_name.startswith("__ray")


def _task_name(descriptor: Any) -> str:
    """``shard`` for a function, ``Trainer.save`` for an actor method (as `roar run` names the
    tasks of a local Ray script)."""
    name = str(descriptor.function_name)
    module = str(getattr(descriptor, "module_name", "") or "")
    if module and name.startswith(module + "."):
        name = name[len(module) + 1 :]
    cls = getattr(descriptor, "class_name", "") or ""
    return f"{cls}.{name}" if cls else name


def _ids() -> tuple[str, str | None]:
    import ray

    context = ray.get_runtime_context()
    actor = context.get_actor_id()
    return str(context.get_task_id() or actor or "unknown"), str(actor) if actor else None


def _bracket(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def ray_task(*args: Any, **kwargs: Any) -> Any:
        try:
            task_id, actor_id = _ids()
            record: TaskRecord | None = TaskRecord(task_id, name, actor_id, "task")
        except Exception:
            record = None
        if record is None:
            return function(*args, **kwargs)
        try:
            with _observe.quiet():
                _transport.send(record.begun())
        except Exception:
            pass
        previous = _observe.begin(record)
        outer_task = os.environ.get("ROAR_RAY_TASK")
        os.environ["ROAR_RAY_TASK"] = record.task_id  # for the processes the task starts
        ok, error = False, None
        try:
            result = function(*args, **kwargs)
            ok = True
            return result
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            _observe.end(previous)
            if outer_task is None:
                os.environ.pop("ROAR_RAY_TASK", None)
            else:  # a task run while another waited in ray.get, in the same worker
                os.environ["ROAR_RAY_TASK"] = outer_task
            try:
                with _observe.quiet():
                    fragment = record.fragment(ok, error)
                    fragment["children"] = _child.collect(record.task_id)
                    _transport.send(fragment)
            except Exception:
                pass

    # Ray reads these off an actor method's executor (its name; whether it is a coroutine).
    for attr in ("name", "method"):
        if hasattr(function, attr):
            setattr(ray_task, attr, getattr(function, attr))
    return ray_task


def patch_function_manager() -> None:
    from ray._private.function_manager import FunctionActorManager

    original = FunctionActorManager.get_execution_info
    if getattr(original, "_roar", False):
        return

    def get_execution_info(self: Any, job_id: Any, descriptor: Any) -> Any:
        info = original(self, job_id, descriptor)
        key = descriptor.function_id
        seen = _wrapped.get(key)
        if seen is not None and seen[0] is info:
            return seen[1]
        function = info.function
        method = getattr(function, "method", function)
        if not _is_users(descriptor, info.function_name) or inspect.iscoroutinefunction(method):
            # Coroutine actor methods run on the actor's event loop, interleaved: their
            # accesses cannot be told apart per call by one process-wide record.
            _wrapped[key] = (info, info)
            return info
        wrapped = info._replace(function=_bracket(function, _task_name(descriptor)))
        _wrapped[key] = (info, wrapped)
        return wrapped

    get_execution_info._roar = True  # type: ignore[attr-defined]
    FunctionActorManager.get_execution_info = get_execution_info  # type: ignore[method-assign,assignment]
