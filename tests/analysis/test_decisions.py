"""Shares of splits decided by values, ties, non-finite values."""

from __future__ import annotations

import pytest

from fewshot.analysis.decisions import decision_counts, decision_shares
from fewshot.spaces.nb201 import Mask
from fewshot.splitting.tree import Split, SplitTree


def tree_with(metric: str, decisions: list[str]) -> SplitTree:
    tree = SplitTree(metric, 0, "synthetic")
    tree.add_root()
    for node_id, decided in enumerate(decisions):  # node i splits edge i: a chain of splits
        ops = tree.nodes[node_id].mask.ops(node_id)
        groups = (ops[:1], ops[1:])
        distance = tuple((0.0,) * len(ops) for _ in ops)
        tree.apply_split(node_id, Split(node_id, ops, groups, distance, 0.0, decided_by=decided))
    return tree


def test_shares_count_every_split_per_metric():
    trees = [tree_with("lr", ["tie", "tie"]), tree_with("lr", ["value"]),
             tree_with("synflow", ["nonfinite"])]  # fmt: skip
    counts = decision_counts(trees)
    assert counts["lr"] == {"tie": 2, "value": 1}
    shares = decision_shares(trees)
    assert shares["lr"]["tie"] == pytest.approx(2 / 3) and shares["lr"]["nonfinite"] == 0.0
    assert shares["synflow"]["nonfinite"] == 1.0 and shares["synflow"]["splits"] == 1


def test_unknown_decision_is_rejected_when_loading():
    split = Split(0, Mask.full().ops(0), ((),), ((0.0,),), 0.0).to_dict()
    split["decided_by"] = "luck"
    with pytest.raises(ValueError, match="decided_by"):
        Split.from_dict(split)
