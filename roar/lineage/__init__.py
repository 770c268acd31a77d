"""Pure functions over recorded jobs: step identity, step references, the DAG projection."""
