"""The task graph of a session as an SVG picture, rendered on the server (no JavaScript, no CDN).

Nodes are tasks (coloured by the most pressing state of their instances, with a count per
status) and the triggers that no task fires (fired from outside, drawn as pills); an arrow goes
from each ``after`` / ``andEvery`` trigger to the task waiting for it, a dashed line ending in a
stop sign from each ``unless`` trigger. Columns are the longest chain of triggers before a node.
Colours are CSS classes (``tg-<status>``), defined in ``triggers/static/triggers/admin.css``.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

from . import session_index
from .types import RESOLVED_STATUSES, TaskConfig, TaskInstance

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 44, 70, 22, 16


def task_state(instances: list[TaskInstance]) -> str:
    """One word for a task: the most pressing status among its instances."""
    return state_of({inst.status for inst in instances})


def state_of(statuses: set[str]) -> str:
    """One word for a task whose instances are in ``statuses``: the most pressing one."""
    if not statuses:
        return "none"
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


COUNT_ORDER = ("failed", "running", "scheduled", "unstarted", "finished", "skipped", "replayed",
               "abandoned")  # fmt: skip
LABEL_CHARS = 22
UNLESS_DIP = 30


def counts_text(counts: dict[str, int]) -> str:
    """``1 failed · 2 replayed``: every status of a task's instances, never mixed together."""
    parts = [f"{counts[s]} {s}" for s in COUNT_ORDER if counts.get(s)]
    text = " · ".join(parts)
    if len(text) > 28:  # keep it inside the box: abbreviate, the tooltip has it in full
        text = " ".join(f"{counts[s]}{s[:4]}" for s in COUNT_ORDER if counts.get(s))
    return text or "no instance yet"


def legend_html() -> str:
    """The colour key shown under the graph (the same CSS variables as the nodes)."""
    items = [*COUNT_ORDER, "external"]
    names = {"external": "trigger fired from outside"}
    chips = "".join(
        f'<span class="tg-legend-item"><span class="tg-chip tg-{s}"></span>{names.get(s, s)}</span>'
        for s in items
    )
    return (
        f'<div class="tg-legend">{chips}<span class="tg-legend-item"><span class="tg-edge-key">'
        "&rarr;</span>after / andEvery</span>"
        '<span class="tg-legend-item"><span class="tg-edge-key tg-unless-key">- - &#8856;</span>'
        "unless (abandons when all fired)</span></div>"
    )


def render_svg(
    configs: dict[str, TaskConfig],
    instances: list[TaskInstance],
    links: dict[str, str] | None = None,
    counts: dict[str, dict[str, int]] | None = None,
) -> str:
    """The graph as inline SVG; colours come from CSS classes (``tg-<status>``) so that the admin's
    stylesheet (and dark mode) decides them, and ``links`` maps task names to their instances.

    ``counts`` (task -> status -> number, from the status index) replaces ``instances``."""
    links = links or {}
    if counts is None:
        counts = session_index.task_counts(instances)
    columns = _columns(configs)
    for config in configs.values():
        for trigger in config.unless:
            columns.setdefault(trigger, 0)
    rows: dict[int, list[str]] = {}
    for node in sorted(columns, key=lambda n: (columns[n], n)):
        rows.setdefault(columns[node], []).append(node)
    positions = {}
    for col, nodes in rows.items():
        for row, node in enumerate(nodes):
            positions[node] = (PAD + col * (NODE_W + GAP_X), PAD + row * (NODE_H + GAP_Y))
    width = PAD * 2 + (max(rows, default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(n) for n in rows.values()), default=1) * (NODE_H + GAP_Y) - GAP_Y
    if any(config.unless for config in configs.values()):
        height += UNLESS_DIP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="triggers-graph" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="task graph">',
        '<defs><marker id="tg-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="tg-arrowhead"/>'
        '</marker><marker id="tg-stop" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
        'markerHeight="9" orient="auto"><circle cx="5" cy="5" r="4" class="tg-stophead"/>'
        '<path d="M2,8 L8,2" class="tg-stophead"/></marker></defs>',
    ]
    for name, config in configs.items():
        x2, y2 = positions[name]
        for trigger in sorted(config.triggers_required):
            x1, y1 = positions[trigger]
            parts.append(
                f'<line class="tg-edge" x1="{x1 + NODE_W}" y1="{y1 + NODE_H / 2}" x2="{x2}" '
                f'y2="{y2 + NODE_H / 2}" marker-end="url(#tg-arrow)"/>'
            )
        for trigger in sorted(config.unless):
            x1, y1 = positions[trigger]
            # a dashed curve under the boxes (never through them), ending in a stop sign
            sx, sy, ex, ey = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2 + NODE_H
            low = max(sy, ey) + UNLESS_DIP
            parts.append(
                f'<path class="tg-edge tg-edge-unless" fill="none" d="M{sx},{sy} '
                f'C{sx},{low} {ex},{low} {ex},{ey}" marker-end="url(#tg-stop)">'
                f"<title>{escape(name)} unless {escape(trigger)}</title></path>"
            )
    for node, (x, y) in positions.items():
        if node in configs:
            task_counts = {status: n for status, n in counts.get(node, {}).items() if n}
            state = state_of(set(task_counts))
            detail = counts_text(task_counts)
            radius = 6
        else:
            state, detail, radius = "external", "trigger", NODE_H // 2
        label = node if len(node) <= LABEL_CHARS else node[: LABEL_CHARS - 1] + "…"
        tooltip = f"{node}: {detail}" if node in configs else f"trigger {node} (fired from outside)"
        body = (
            f'<g class="node tg-{escape(state)}" data-node="{escape(node)}">'
            f"<title>{escape(tooltip)}</title>"
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{radius}"/>'
            f'<text x="{x + NODE_W / 2}" y="{y + 18}" text-anchor="middle" '
            f'class="tg-label">{escape(label)}</text>'
            f'<text x="{x + NODE_W / 2}" y="{y + 34}" text-anchor="middle" '
            f'class="tg-counts">{escape(detail)}</text></g>'
        )
        if node in links:
            body = f'<a href="{escape(links[node])}">{body}</a>'
        parts.append(body)
    parts.append("</svg>")
    return "".join(parts)
