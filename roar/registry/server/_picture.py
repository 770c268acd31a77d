"""An artifact's upstream graph as an SVG picture (pure): artifacts and the jobs between them,
laid out left to right by longest path, each node a link to its page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

_W, _H, _COL, _ROW = 190, 44, 250, 70


@dataclass
class _Node:
    key: str
    label: str
    href: str
    kind: str  # artifact | job
    layer: int = 0
    row: int = 0


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def upstream_svg(
    dag: dict[str, Any],
    artifact_href: Callable[[str], str],
    job_href: Callable[[str, str], str],
) -> str:
    target = str(dag["artifact"]["hash"])
    jobs = [j for j in dag.get("jobs", []) if j.get("jobType") != "build"]
    nodes: dict[str, _Node] = {}
    edges: list[tuple[str, str]] = []

    def artifact(digest: str, path: str) -> str:
        key = f"a:{digest}"
        if key not in nodes:
            nodes[key] = _Node(
                key,
                _short(path.rsplit("/", 1)[-1] or digest[:12]),
                artifact_href(digest),
                "artifact",
            )
        return key

    wanted = {target} | {i["hash"] for j in jobs for i in j.get("inputs", [])}
    for job in jobs:
        key = f"j:{job['sessionHash']}/{job['jobUid']}"
        nodes[key] = _Node(
            key,
            _short(f"@{job.get('stepNumber')} {job.get('command', '')}"),
            job_href(job["sessionHash"], job["jobUid"]),
            "job",
        )
        for entry in job.get("inputs", []):
            edges.append((artifact(entry["hash"], entry.get("path") or ""), key))
        read = {entry["hash"] for entry in job.get("inputs", [])}
        for entry in job.get("outputs", []):
            # A job that writes what it read (same content) would be a loop, not a step.
            if entry["hash"] in wanted and entry["hash"] not in read:
                edges.append((key, artifact(entry["hash"], entry.get("path") or "")))
    if f"a:{target}" not in nodes:
        artifact(target, str(dag["artifact"].get("path") or target[:12]))

    # Longest-path layers; a cycle (a job reading what it wrote) cannot loop forever.
    for _ in range(len(nodes)):
        changed = False
        for src, dst in edges:
            if nodes[dst].layer < nodes[src].layer + 1 <= len(nodes):
                nodes[dst].layer = nodes[src].layer + 1
                changed = True
        if not changed:
            break
    rows: dict[int, int] = {}
    for node in sorted(nodes.values(), key=lambda n: (n.layer, n.label)):
        node.row = rows.get(node.layer, 0)
        rows[node.layer] = node.row + 1
    width = (max((n.layer for n in nodes.values()), default=0) + 1) * _COL
    height = max(rows.values(), default=1) * _ROW + 20

    def anchor(node: _Node) -> tuple[int, int]:
        return 20 + node.layer * _COL, 10 + node.row * _ROW

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="upstream" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="upstream graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker>'
        "</defs>",
    ]
    for src, dst in edges:
        (x1, y1), (x2, y2) = anchor(nodes[src]), anchor(nodes[dst])
        parts.append(
            f'<line x1="{x1 + _W}" y1="{y1 + _H // 2}" x2="{x2}" y2="{y2 + _H // 2}" '
            'stroke="#666" marker-end="url(#arrow)"/>'
        )
    for node in nodes.values():
        x, y = anchor(node)
        is_target = node.key == f"a:{target}"
        fill = "#ffe9a8" if is_target else ("#dbe8ff" if node.kind == "job" else "#eef7e8")
        radius = 4 if node.kind == "job" else 18
        parts.append(
            f'<a href="{escape(node.href)}" class="node {node.kind}" '
            f'data-key="{escape(node.key)}"><rect x="{x}" y="{y}" width="{_W}" height="{_H}" '
            f'rx="{radius}" fill="{fill}" stroke="#333"/><text x="{x + 10}" y="{y + 27}" '
            f'font-family="monospace" font-size="12">{escape(node.label)}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
