"""A picture of a split tree (PNG): boxes per node, labelled with the split edge, groups, cut
and what decided the split (``decided_by``).

Drawing only; positions and labels come from :mod:`fewshot.splitting.tree_table`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fewshot.run_folder import TREE_FIGURE
from fewshot.splitting.tree import Node, SplitTree
from fewshot.splitting.tree_table import format_groups, tree_layout

log = logging.getLogger("fewshot")


DECIDED_COLOURS = {"value": "0.4", "tie": "tab:orange", "nonfinite": "tab:red", "random": "0.4"}
"""Box edge colour by what decided a split: a tie or non-finite values stand out."""
FONT_SIZE = 9
"""Label size in points at every depth: the figure grows with the tree instead."""


def node_label(node: Node) -> str:
    """``#3  (6250 archs)`` / ``edge 1: {c3x3}`` / ``| {none,skip}`` / ``cut 2.1, by value``
    (the position named as the node's space names it: edge, layer); ``decided_by`` other than
    the metric's values says so (``by tie (3 tied)``, ``by nonfinite``, ``by random``); leaves
    show their arch count (and note)."""
    head = f"#{node.id}  ({node.mask.num_archs} archs)"
    if node.split is None:
        return head if node.note is None else f"{head}\n{node.note[:40]}"
    s = node.split
    space = node.mask.space
    groups = format_groups(s.groups, space=space).replace(" | ", "\n| ")
    by = s.decided_by + (f" ({s.ties} tied)" if s.decided_by == "tie" and s.ties > 1 else "")
    return f"{head}\n{space.position_kind} {s.edge}: {groups}\ncut {s.cut:.3g}, by {by}"


def plot_tree(tree: SplitTree, path: str | os.PathLike[str]) -> Path:
    """Draw ``tree`` into ``path`` (PNG), root on the left and leaves stacked on the right, so
    that a deeper tree grows taller rather than wider and the labels keep one size
    (:data:`FONT_SIZE`) at every depth; a split whose ``decided_by`` is not ``value`` has a
    coloured box edge. Returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    layout = tree_layout(tree)  # (leaf order, -depth): turned a quarter, depth along x
    pos = {i: (-y, -x) for i, (x, y) in layout.items()}
    n_leaves = max(len(tree.leaves()), 1)
    fig, ax = plt.subplots(figsize=(2.9 * (tree.depth + 1) + 0.4, max(3.2, 1.0 * n_leaves + 1.0)))
    try:
        for node in tree.nodes:
            if node.parent is not None:
                (x0, y0), (x1, y1) = pos[node.parent], pos[node.id]
                ax.plot([x0, x1], [y0, y1], color="0.6", lw=1, zorder=1)
        for node in tree.nodes:
            x, y = pos[node.id]
            split = node.split
            colour = "#dbe9f6" if split is not None else "#e8f3e0"
            edge = DECIDED_COLOURS.get(split.decided_by, "0.4") if split else "0.4"
            ax.text(
                x, y, node_label(node), ha="center", va="center", fontsize=FONT_SIZE, zorder=2,
                bbox={"boxstyle": "round", "fc": colour, "ec": edge,
                      "lw": 1.0 if edge == "0.4" else 2.0},
            )  # fmt: skip
        ax.set_xlim(-0.55, tree.depth + 0.55)
        ax.set_ylim(-(n_leaves - 1) - 0.6, 0.6)
        ax.axis("off")
        state = "" if tree.complete else " (incomplete)"
        ax.set_title(
            f"{tree.metric}, seed {tree.seed}, {tree.dataset}{state}\n"
            "by: what decided the split (box edge grey: the values, orange: a tie, "
            "red: non-finite values)",
            fontsize=FONT_SIZE,
        )
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


def save_tree_figure(tree: SplitTree, run_dir: Path) -> None:
    """``RUN_DIR/tree.png``; a drawing problem is logged, never raised (it must not lose a
    finished split)."""
    path = Path(run_dir) / TREE_FIGURE
    try:
        plot_tree(tree, path)
    except Exception as exc:
        log.warning("could not draw %s: %s", path, exc)


__all__ = ["node_label", "plot_tree", "save_tree_figure"]
