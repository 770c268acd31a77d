"""`roar dag`: the current pipeline DAG of the active session, as text, JSON or a picture."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click
import msgspec

from roar.cli._format import json_text
from roar.core.loop import run
from roar.errors import RoarError, UsageError


@click.command(help="Display the pipeline DAG for the current session.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--expanded", is_flag=True, help="Show every execution, including superseded ones.")
@click.option("--show-artifacts", is_flag=True, help="List intermediate artifacts too.")
@click.option("--stale-only", is_flag=True, help="Show only stale steps.")
@click.option("--no-color", is_flag=True, help="Never colour the output.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "dot", "mermaid", "svg"]),
    default="text",
    help="Output format (svg needs Graphviz).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
def command(
    as_json: bool,
    expanded: bool,
    show_artifacts: bool,
    stale_only: bool,
    no_color: bool,
    fmt: str,
    output: Path | None,
) -> int:
    if as_json:
        fmt = "json"
    if fmt == "svg" and output is None:
        raise UsageError("--format svg needs -o FILE.svg")
    return run(_dag(fmt, expanded, show_artifacts, stale_only, no_color, output))


async def _dag(
    fmt: str,
    expanded: bool,
    show_artifacts: bool,
    stale_only: bool,
    no_color: bool,
    output: Path | None,
) -> int:
    from roar.api import Project
    from roar.cli import _dag_render as render
    from roar.core.context import RoarContext

    pictures = fmt in {"dot", "mermaid", "svg"}
    view = await Project(RoarContext.load()).dag(
        expanded=expanded, show_artifacts=show_artifacts or pictures
    )
    if stale_only:
        view = msgspec.structs.replace(
            view,
            nodes=[n for n in view.nodes if n.state == "stale"],
            artifacts=[a for a in view.artifacts if a.state == "stale"],
        )
    if fmt == "json":
        text = json_text(view)
    elif fmt == "dot":
        text = render.render_dot(view)
    elif fmt == "mermaid":
        text = render.render_mermaid(view)
    elif fmt == "svg":
        assert output is not None
        _render_svg(render.render_dot(view), output)
        click.echo(f"Wrote {output}", err=True)
        return 0
    else:
        text = render.render_text(view, show_artifacts=show_artifacts)
    if output is not None:
        output.write_text(text if text.endswith("\n") else text + "\n")
        click.echo(f"Wrote {output}", err=True)
    else:
        from roar.cli._format import colour_wanted

        click.echo(text.rstrip("\n"), color=False if no_color or not colour_wanted() else None)
    return 0


def _render_svg(dot_source: str, output: Path) -> None:
    dot = shutil.which("dot")
    if dot is None:
        raise RoarError(
            "rendering SVG needs Graphviz's `dot`: install it (apt-get install graphviz, "
            "brew install graphviz) or use --format dot"
        )
    result = subprocess.run(
        [dot, "-Tsvg", "-o", str(output)], input=dot_source, text=True, capture_output=True
    )
    if result.returncode != 0:
        raise RoarError(f"Graphviz failed: {result.stderr.strip().splitlines()[-1:]}")
