"""The click group, with a lazy command table (module path and one-line summary per command)."""

from __future__ import annotations

import importlib

import click

from roar._version import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("roar.cli.init", "Initialise roar in this directory"),
    "run": ("roar.cli.run", "Run a command and record its lineage"),
    "build": ("roar.cli.run", "Run a build step and record its lineage"),
    "show": ("roar.cli.show", "Show a job, a step or the session"),
    "dag": ("roar.cli.dag", "Show the current pipeline DAG"),
    "diff": ("roar.cli.diff", "Show why two jobs or artifacts differ, root cause first"),
    "label": ("roar.cli.label", "Manage labels on DAGs, jobs and artifacts"),
    "log": ("roar.cli.log", "Show the job history of the session"),
    "reset": ("roar.cli.session", "Start a fresh session (DAG)"),
    "session": ("roar.cli.session", "List, show, start and switch sessions"),
    "server": ("roar.cli.server", "Run the lineage registry (GLaaS API) on this machine"),
    "register": ("roar.cli.register", "Publish lineage to a registry"),
    "login": ("roar.cli.login", "Sign in to the registry (device code)"),
    "whoami": ("roar.cli.login", "Show the stored registry login"),
    "logout": ("roar.cli.login", "Revoke and forget the registry login"),
    "auth": ("roar.cli.auth", "Sign registry requests with your SSH key"),
    "pop": ("roar.cli.session", "Remove the newest job from the session"),
    "env": ("roar.cli.env", "Manage variables injected into run and build"),
    "export": ("roar.cli.export", "Export lineage as W3C PROV-JSON or OpenLineage events"),
    "gc": ("roar.cli.gc", "Trim the run cache in .roar/cache/"),
    "get": ("roar.cli.get", "Download data into the workspace with lineage"),
    "put": ("roar.cli.put", "Upload outputs with lineage (and register it)"),
    "status": ("roar.cli.status", "Summarise the session and the state of its artifacts"),
    "inputs": ("roar.cli.inputs", "List a job's or the session's inputs, sourced or not"),
    "reproduce": ("roar.cli.reproduce", "Re-create an artifact from its recorded lineage"),
    "config": ("roar.cli.config", "View or set configuration"),
    "tracer": ("roar.cli.tracer", "Show or choose the tracer backend"),
    "proxy": ("roar.cli.proxy", "Run the S3 lineage proxy, or enable it for roar run"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = getattr(module, f"{cmd_name}_command", None) or module.command
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Summaries come from the table: listing commands imports none of them.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="roar: Run Observation & Artifact Registration. Records the lineage of ML pipelines by "
    "watching commands run.",
)
@click.version_option(
    __version__, "-V", "--version", prog_name="roar", message="%(prog)s %(version)s"
)
def cli() -> None:
    pass
