"""Drawing a DAG view for the terminal and other tools (text, Graphviz dot, Mermaid): the CLI's
rendering, styled with click."""

from __future__ import annotations

import click

from roar.lineage.dag import DagArtifact, DagView
from roar.models import format_step_ref

_STATE_COLOURS = {"active": "green", "stale": "yellow", "superseded": "bright_black"}


def _ref(step: int, is_build: bool) -> str:
    return format_step_ref(step, build=is_build)


def render_text(view: DagView, *, show_artifacts: bool = False) -> str:
    """Lines with ANSI colours; click.echo strips them when not writing to a terminal."""
    if view.session_id is None:
        return "No active session"
    if not view.nodes:
        return "Pipeline: 0 steps\nNo steps in pipeline"
    build_steps = {n.step_number for n in view.nodes if n.is_build}
    by_producer: dict[int, list[DagArtifact]] = {}
    for artifact in view.artifacts:
        by_producer.setdefault(artifact.producer_step, []).append(artifact)
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
        if node.step_name:
            line += "  " + click.style(f"({node.step_name})", dim=True)
        lines.append(line.rstrip())
        if show_artifacts:
            for artifact in by_producer.get(node.step_number, []):
                mark = "" if artifact.state == "active" else f" [{artifact.state}]"
                lines.append(f"{'':<{ref_width}}    -> {artifact.path}{mark}")
    if build_steps:
        lines.append(click.style("B = build step", dim=True))
    return "\n".join(lines)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _artifact_edges(view: DagView) -> list[tuple[str, int, list[int], str, str]]:
    """(node id, producer step, consumer steps, label, state) per artifact in the view."""
    rows = []
    for artifact in view.artifacts:
        node_id = f"a_{artifact.hash[:12]}_{artifact.producer_step}"
        rows.append(
            (
                node_id,
                artifact.producer_step,
                artifact.consumer_steps,
                artifact.path,
                artifact.state,
            )
        )
    return rows


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render_dot(view: DagView) -> str:
    """Graphviz: steps are boxes, artifacts ellipses; stale ones yellow, superseded grey."""
    fill = {"active": "#d4edda", "stale": "#fff3cd", "superseded": "#e2e3e5", "orphaned": "#f8d7da"}
    lines = [
        "digraph roar {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
    ]
    for node in view.nodes:
        ref = _ref(node.step_number, node.is_build)
        label = f"{ref}\\n{_dot_escape(_short(node.command))}"
        if node.state != "active":
            label += f"\\n[{node.state}]"
        lines.append(
            f'  s{node.step_number} [label="{label}", shape=box, style="rounded,filled", '
            f'fillcolor="{fill.get(node.state, "#ffffff")}"];'
        )
    for node_id, producer, consumers, path, state in _artifact_edges(view):
        label = _dot_escape(path) + (f"\\n[{state}]" if state in {"stale", "superseded"} else "")
        lines.append(
            f'  {node_id} [label="{label}", shape=ellipse, style=filled, '
            f'fillcolor="{fill.get(state, "#ffffff")}"];'
        )
        lines.append(f"  s{producer} -> {node_id};")
        lines += [f"  {node_id} -> s{c};" for c in consumers]
    seen_edges = {(p, c) for _, p, cs, _, _ in _artifact_edges(view) for c in cs}
    for node in view.nodes:
        for dep in node.dependencies:
            if (dep, node.step_number) not in seen_edges:
                lines.append(f"  s{dep} -> s{node.step_number} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_escape(text: str) -> str:
    return text.replace('"', "#quot;")


def render_mermaid(view: DagView) -> str:
    """A Mermaid flowchart for Markdown: steps as rectangles, artifacts as stadiums."""
    lines = ["flowchart LR"]
    for node in view.nodes:
        ref = _ref(node.step_number, node.is_build)
        lines.append(f'  s{node.step_number}["{ref} {_mermaid_escape(_short(node.command))}"]')
    styled: dict[str, list[str]] = {"stale": [], "superseded": []}
    for node_id, producer, consumers, path, state in _artifact_edges(view):
        lines.append(f'  {node_id}(["{_mermaid_escape(path)}"])')
        lines.append(f"  s{producer} --> {node_id}")
        lines += [f"  {node_id} --> s{c}" for c in consumers]
        if state in styled:
            styled[state].append(node_id)
    for node in view.nodes:
        if node.state in styled:
            styled[node.state].append(f"s{node.step_number}")
    lines.append("  classDef stale fill:#fff3cd,stroke:#d39e00")
    lines.append("  classDef superseded fill:#e2e3e5,stroke:#6c757d")
    for state, ids in styled.items():
        if ids:
            lines.append(f"  class {','.join(ids)} {state}")
    return "\n".join(lines) + "\n"
