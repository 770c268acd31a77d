"""Launching a command under a tracer and reading its event stream.

Backends sit behind :class:`roar.tracing.base.Backend`; :func:`roar.tracing.select.choose`
resolves ``auto`` and the configured default. The event wire format is defined once, in
``ext/events.h``, mirrored by :mod:`roar.tracing.wire`.
"""
