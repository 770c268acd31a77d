"""The lineage registry: `roar server` (the GLaaS protocol over SQLite) and its clients
(`roar register`, and `roar reproduce <hash>` reading lineage back from a registry)."""
