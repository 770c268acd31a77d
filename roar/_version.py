"""The version of roar, kept apart so that `roar --version` imports nothing else."""

__version__ = "0.1.0"
