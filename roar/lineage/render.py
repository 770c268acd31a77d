"""The text view of a DAG: one line per step with what it depends on."""

from __future__ import annotations

import click

from roar.lineage.dag import DagView

_STATE_COLOURS = {"active": "green", "stale": "yellow", "superseded": "bright_black"}


def _ref(step: int, is_build: bool) -> str:
    return f"@B{step}" if is_build else f"@{step}"


def render_text(view: DagView) -> str:
    """Lines with ANSI colours; click.echo strips them when not writing to a terminal."""
    if view.session_id is None:
        return "No active session"
    if not view.nodes:
        return "Pipeline: 0 steps\nNo steps in pipeline"
    build_steps = {n.step_number for n in view.nodes if n.is_build}
    header = f"Pipeline: {view.total_steps} steps"
    if view.stale_count:
        header += f" ({view.stale_count} stale)"
    lines = [click.style(header, bold=True)]
    refs = [_ref(n.step_number, n.is_build) for n in view.nodes]
    ref_width = max(len(r) for r in refs)
    cmd_width = min(60, max(len(n.command) for n in view.nodes))
    for node, ref in zip(view.nodes, refs, strict=True):
        command = node.command if len(node.command) <= 60 else node.command[:57] + "..."
        line = f"{click.style(ref.ljust(ref_width), fg='cyan', bold=True)}  {command:<{cmd_width}}"
        if node.dependencies:
            deps = " ".join(_ref(d, d in build_steps) for d in node.dependencies)
            line += f"  <- {deps}"
        if node.state != "active":
            line += "  " + click.style(f"[{node.state}]", fg=_STATE_COLOURS[node.state])
        if node.exit_code not in (0, None):
            line += "  " + click.style(f"(exit {node.exit_code})", fg="red")
        lines.append(line.rstrip())
    if build_steps:
        lines.append(click.style("B = build step", dim=True))
    return "\n".join(lines)
