"""The pieces every command stands on: the one event loop, the project, its config and context."""
