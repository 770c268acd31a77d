"""`roar server`: the lineage registry (the GLaaS protocol's server side).

``_engine`` and ``_schema`` hold the data (SQLite or PostgreSQL); ``_lineage``, ``_accounts``
and ``_labels`` what is stored; ``_auth`` who asks; ``_api``, ``_auth_api``, ``_labels_api`` and
``_web`` what is served, put together by ``_app``; ``_run`` serves it.
"""

from roar.registry.server._run import serve

__all__ = ["serve"]
