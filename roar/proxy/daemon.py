"""The standalone proxy daemon's public face: start, find, stop it, and read what it wrote.

What ``roar proxy start|stop|status`` and ``roar run`` (to chain a job's proxy to a running
daemon) use. Light on purpose, like :mod:`roar.proxy._control` behind it: no aiohttp, no botocore.
"""

from roar.proxy._control import (
    CREDENTIALS_NAME,
    EVENTS_NAME,
    LOG_NAME,
    STATE_NAME,
    DaemonInfo,
    daemon_upstream,
    read_client_key,
    read_daemon,
    start_daemon,
    stop_daemon,
)

__all__ = (
    "CREDENTIALS_NAME",
    "EVENTS_NAME",
    "LOG_NAME",
    "STATE_NAME",
    "DaemonInfo",
    "daemon_upstream",
    "read_client_key",
    "read_daemon",
    "start_daemon",
    "stop_daemon",
)
