"""The task graph of a session as an SVG picture, rendered on the server (no JavaScript, no CDN).

Nodes are tasks (coloured by the state of their instances) and the triggers that no task
fires (fired from outside, drawn as pills); an arrow goes from each ``after`` / ``andEvery``
trigger to the task waiting for it. Columns are the longest chain of triggers before a node.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

from .types import RESOLVED_STATUSES, TaskConfig, TaskInstance

COLOURS = {
    "failed": "#e5534b",
    "running": "#e0a526",
    "scheduled": "#6cb6ff",
    "unstarted": "#d0d7de",
    "finished": "#57ab5a",
    "skipped": "#a371f7",
    "abandoned": "#8b949e",
    "replayed": "#57ab5a",
    "none": "#ffffff",
    "external": "#f6f8fa",
}
NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 44, 70, 22, 16


def task_state(instances: list[TaskInstance]) -> str:
    """One word for a task: the most pressing status among its instances."""
    if not instances:
        return "none"
    statuses = {inst.status for inst in instances}
    for status in ("failed", "running", "scheduled", "unstarted"):
        if status in statuses:
            return status
    unresolved = statuses - RESOLVED_STATUSES
    return (
        next(iter(unresolved))
        if unresolved
        else max(statuses, key=["abandoned", "skipped", "replayed", "finished"].index)
    )


def _columns(configs: dict[str, TaskConfig]) -> dict[str, int]:
    """Column of each node: the longest chain of triggers before it (an edge closing a cycle
    is ignored). Iterative, so a chain of thousands of tasks stays within Python's recursion
    limit."""
    columns: dict[str, int] = {}
    on_path: set[str] = set()

    def parents_of(node: str) -> Iterator[str]:
        return iter(sorted(configs[node].triggers_required))

    for root in configs:
        if root in columns:
            continue
        stack = [(root, parents_of(root))]
        on_path.add(root)
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent in columns or parent in on_path:
                    continue
                if parent not in configs:
                    columns[parent] = 0  # a trigger fired from outside
                    continue
                on_path.add(parent)
                stack.append((parent, parents_of(parent)))
                break
            else:
                stack.pop()
                on_path.discard(node)
                known = [columns[p] for p in configs[node].triggers_required if p in columns]
                columns[node] = 1 + max(known, default=-1)
    return columns


def render_svg(configs: dict[str, TaskConfig], instances: list[TaskInstance]) -> str:
    by_task: dict[str, list[TaskInstance]] = {}
    for inst in instances:
        by_task.setdefault(inst.task_name, []).append(inst)
    columns = _columns(configs)
    rows: dict[int, list[str]] = {}
    for node in sorted(columns, key=lambda n: (columns[n], n)):
        rows.setdefault(columns[node], []).append(node)
    positions = {}
    for col, nodes in rows.items():
        for row, node in enumerate(nodes):
            positions[node] = (PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(rows, default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(n) for n in rows.values()), default=1) * (NODE_H + GAP_Y) - GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="triggers-graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="task graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/>'
        "</marker></defs>",
    ]
    for name, config in configs.items():
        x2, y2 = positions[name]
        for trigger in sorted(config.triggers_required):
            x1, y1 = positions[trigger]
            parts.append(
                f'<line x1="{x1 + NODE_W}" y1="{y1 + NODE_H / 2}" x2="{x2}" '
                f'y2="{y2 + NODE_H / 2}" stroke="#57606a" marker-end="url(#arrow)"/>'
            )
    for node, (x, y) in positions.items():
        if node in configs:
            state = task_state(by_task.get(node, []))
            count = len(by_task.get(node, []))
            label = f"{node}"
            detail = f"{state} ({count})" if count else "no instance yet"
            radius = 6
        else:
            state, label, detail, radius = "external", node, "trigger", NODE_H // 2
        parts.append(
            f'<g class="node node-{escape(state)}" data-node="{escape(node)}">'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{radius}" '
            f'fill="{COLOURS.get(state, "#ffffff")}" stroke="#57606a"/>'
            f'<text x="{x + NODE_W / 2}" y="{y + 18}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="13">{escape(label[:24])}</text>'
            f'<text x="{x + NODE_W / 2}" y="{y + 34}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="11">{escape(detail)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
