"""A picture of a split tree (PNG): boxes per node, labelled with the split edge and groups.

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


def node_label(node: Node) -> str:
    """``#3  edge 1`` / ``{c3x3} | {none,skip}`` / ``cut 2.1`` (the position named as the
    node's space names it: edge, layer); leaves show their arch count."""
    head = f"#{node.id}  ({node.mask.num_archs} archs)"
    if node.split is None:
        return head if node.note is None else f"{head}\n{node.note[:40]}"
    s = node.split
    groups = format_groups(s.groups, space=node.mask.space).replace(" | ", "\n| ")
    return f"{head}\n{node.mask.space.position_kind} {s.edge}: {groups}\ncut {s.cut:.3g}"


def plot_tree(tree: SplitTree, path: str | os.PathLike[str]) -> Path:
    """Draw ``tree`` into ``path`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pos = tree_layout(tree)
    n_leaves = len(tree.leaves())
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * n_leaves), 2.2 * (tree.depth + 1) + 0.8))
    try:
        for node in tree.nodes:
            if node.parent is not None:
                (x0, y0), (x1, y1) = pos[node.parent], pos[node.id]
                ax.plot([x0, x1], [y0, y1], color="0.6", lw=1, zorder=1)
        for node in tree.nodes:
            x, y = pos[node.id]
            colour = "#dbe9f6" if node.split is not None else "#e8f3e0"
            ax.text(
                x, y, node_label(node), ha="center", va="center", fontsize=7, zorder=2,
                bbox={"boxstyle": "round", "fc": colour, "ec": "0.4"},
            )  # fmt: skip
        ax.set_xlim(-0.7, max(n_leaves - 1, 0) + 0.7)
        ax.set_ylim(-tree.depth - 0.6, 0.6)
        ax.axis("off")
        state = "" if tree.complete else " (incomplete)"
        ax.set_title(f"{tree.metric}, seed {tree.seed}, {tree.dataset}{state}", fontsize=9)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
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
