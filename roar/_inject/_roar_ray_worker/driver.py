"""``python -m _roar_ray_worker.driver CMD...``: the job's entrypoint, run observed.

`roar run ray job submit` puts this in front of the entrypoint (Ray runs the entrypoint with the
shell, as ``shlex.join`` of its words, so the words arrive here exactly as the user gave them). The
job supervisor that starts the entrypoint is no worker roar's setup hook reaches: this names the
run's working dir and spool and puts ``child/`` on ``PYTHONPATH`` for it, marks the process
``ROAR_RAY_DRIVER`` (so ``child/sitecustomize.py`` observes it, and the Python processes it starts,
as the driver), and becomes the entrypoint.
"""

from __future__ import annotations

import os
import sys

from ._transport import workdir_of_this_worker


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m _roar_ray_worker.driver CMD [ARG...]")
    try:
        workdir_of_this_worker()
        os.environ["ROAR_RAY_DRIVER"] = "1"
    except Exception:  # the job must run as it would without roar
        pass
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        # As the shell Ray would have run it with says it: not found 127, not runnable 126.
        sys.stderr.write(f"{argv[0]}: {exc.strerror}\n")
        sys.exit(127 if isinstance(exc, FileNotFoundError) else 126)


if __name__ == "__main__":
    main(sys.argv[1:])
