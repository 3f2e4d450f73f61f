"""Presentation of a split tree as text: table rows, the printed table, a drawing layout.

Everything here is computed from a :class:`~fewshot.splitting.tree.SplitTree` (no drawing: see
:mod:`fewshot.plotting.tree`); ``python -m fewshot.split`` prints :func:`format_table`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fewshot.run_folder import TREE
from fewshot.spaces import SearchSpace
from fewshot.splitting.tree import Node, SplitTree


@dataclass(frozen=True)
class NodeRow:
    """One line of the summary table."""

    node: int
    parent: int | None
    depth: int
    edge: int | None
    groups: str
    cut: float | None
    normalized_cut: float | None
    archs: int
    note: str | None


def format_groups(groups: tuple[tuple[str, ...], ...], *, space: SearchSpace) -> str:
    """``{c3x3} | {none,skip,c1x1,pool}``: op groups with the space's short op labels."""
    return " | ".join("{" + ",".join(space.op_label(op) for op in g) + "}" for g in groups)


def normalized_cut(node: Node) -> float | None:
    """The split's cut divided by the total distance over op pairs (0 if all distances 0)."""
    if node.split is None:
        return None
    total = float(np.triu(np.asarray(node.split.distance, dtype=float), k=1).sum())
    return node.split.cut / total if total > 0 else 0.0


def summary_rows(tree: SplitTree) -> list[NodeRow]:
    """One row per node, in id order."""
    rows = []
    for n in tree.nodes:
        s = n.split
        rows.append(
            NodeRow(
                node=n.id,
                parent=n.parent,
                depth=n.depth,
                edge=s.edge if s else None,
                groups=format_groups(s.groups, space=tree.space)
                if s
                else ("(leaf)" if n.note is None else "-"),
                cut=s.cut if s else None,
                normalized_cut=normalized_cut(n),
                archs=n.mask.num_archs,
                note=n.note,
            )
        )
    return rows


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def format_table(tree: SplitTree) -> str:
    """A fixed-width table: node, depth, split position (the space's edge / layer), groups,
    cut, normalised cut, archs in node."""
    header = ("node", "depth", tree.space.position_kind, "groups", "cut", "ncut", "archs")
    lines = [header]
    for r in summary_rows(tree):
        groups = r.groups if r.note is None else f"{r.groups} ({r.note})"
        lines.append(
            (
                str(r.node),
                str(r.depth),
                "-" if r.edge is None else str(r.edge),
                groups,
                _fmt(r.cut),
                _fmt(r.normalized_cut),
                str(r.archs),
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    leaves = tree.leaves()
    out.append(
        f"{len(leaves)} leaves, {sum(1 for _ in tree.splits())} splits, metric {tree.metric}, "
        f"seed {tree.seed}, data {tree.dataset}, space {tree.space.name}"
        f"{'' if tree.complete else ' (INCOMPLETE)'}"
    )
    return "\n".join(out)


def print_split_report(tree: SplitTree, run_dir: Path) -> None:
    """What a split run prints when it stops (``python -m fewshot.split``, and each run of the
    consistency sweep into its log): the table, timings and passes, leaf notes, the splits
    that values did not decide (stderr) and, if unfinished, how to resume (stderr)."""
    from fewshot.splitting.run import decision_warnings  # torch: only when a run reports

    print(format_table(tree))
    t = tree.timings
    print(
        f"\n{run_dir / TREE}: {t.get('total_seconds', 0):.1f} s, "
        f"{t.get('forward_passes', 0)} forward / {t.get('backward_passes', 0)} backward passes"
    )
    leaves_short = [n for n in tree.leaves() if n.note]
    if leaves_short:
        print(f"{len(leaves_short)} node(s) could not be split: see their notes above")
    for line in decision_warnings(tree):
        print(f"warning: {line}", file=sys.stderr)
    if not tree.complete:
        print("incomplete: continue with the same flags plus --resume", file=sys.stderr)


def tree_layout(tree: SplitTree) -> dict[int, tuple[float, float]]:
    """(x, y) per node: leaves evenly spaced on x in tree order, parents centred, y = -depth."""
    children: dict[int, list[int]] = {n.id: [] for n in tree.nodes}
    for n in tree.nodes:
        if n.parent is not None:
            children[n.parent].append(n.id)
    pos: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(node_id: int) -> float:
        kids = children[node_id]
        if kids:
            x = float(np.mean([place(k) for k in kids]))
        else:
            x = next_x[0]
            next_x[0] += 1.0
        pos[node_id] = (x, -float(tree.nodes[node_id].depth))
        return x

    if tree.nodes:
        place(0)
    return pos


__all__ = [
    "print_split_report",
    "NodeRow",
    "format_groups",
    "format_table",
    "normalized_cut",
    "summary_rows",
    "tree_layout",
]
