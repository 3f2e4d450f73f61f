"""Tables for docs/split_distance: what decided each metric's splits, and its frequent splits.

    python docs/split_distance/decisions_report.py runs/sweep-ly [more run parents] > out.md

Reads every complete ``tree.json`` under the given folders and prints two Markdown tables:
the share of splits decided by values, ties, non-finite values or chance per metric
(:mod:`fewshot.analysis.decisions`), and the most frequent split per level (ops as letters:
n = none, s = skip, 1/3 = conv 1x1/3x3, p = avg pool; counts out of the trees' splits).
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

from fewshot.analysis.decisions import decision_shares
from fewshot.splitting.tree import SplitTree, load_tree
from fewshot.tables import markdown_table

LETTER = {"none": "n", "skip_connect": "s", "nor_conv_1x1": "1", "nor_conv_3x3": "3",
          "avg_pool_3x3": "p"}  # fmt: skip


def trees_under(folders: list[str]) -> list[SplitTree]:
    trees = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*/tree.json")):
            tree = load_tree(path)
            if tree.complete:
                trees.append(tree)
    return trees


def split_code(groups: tuple[tuple[str, ...], ...]) -> str:
    parts = sorted("".join(sorted(LETTER[o] for o in g)) for g in groups)
    return "".join("{" + p + "}" for p in sorted(parts, key=len))


def frequent_splits(trees: list[SplitTree], top: int = 2) -> dict[str, list[str]]:
    by_level: dict[str, dict[int, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for tree in trees:
        for node, split in tree.splits():
            by_level[tree.metric][node.depth + 1][split_code(split.groups)] += 1
    rows = {}
    for metric, levels in by_level.items():
        rows[metric] = [
            ", ".join(f"{code} {n}" for code, n in levels[lv].most_common(top))
            for lv in sorted(levels)
        ]
    return rows


def main(folders: list[str]) -> None:
    trees = trees_under(folders)
    seeds = Counter(t.metric for t in trees)
    shares = decision_shares(trees)
    rows = [
        [m, str(seeds[m]), str(int(s["splits"])),
         *(f"{100 * s[k]:.0f}%" for k in ("value", "tie", "nonfinite", "random"))]
        for m, s in shares.items()
    ]  # fmt: skip
    print(markdown_table(["metric", "trees", "splits", "value", "tie", "non-finite", "random"],
                         rows))  # fmt: skip
    print()
    freq = frequent_splits(trees)
    print(markdown_table(["metric", "L1", "L2", "L3"], [[m, *v] for m, v in freq.items()]))


if __name__ == "__main__":
    main(sys.argv[1:])
