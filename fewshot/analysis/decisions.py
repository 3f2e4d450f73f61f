"""What decided the splits of a set of trees: values, ties, non-finite values, chance.

Every split in a version-2 ``tree.json`` records ``decided_by`` (``value``, ``tie``,
``nonfinite`` or ``random``; see :mod:`fewshot.splitting.tree`). A consistency study must say how many
of its splits a metric's *values* decided: a split decided by a tie or by NaN/inf follows the
authors' partition order, so two seeds agree on it whatever the metric measures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from fewshot.splitting.tree import DECISIONS, SplitTree


def decision_counts(trees: Iterable[SplitTree]) -> dict[str, Counter[str]]:
    """``{metric: Counter(decided_by)}`` over every split of ``trees``."""
    counts: dict[str, Counter[str]] = {}
    for tree in trees:
        c = counts.setdefault(tree.metric, Counter())
        for _, split in tree.splits():
            c[split.decided_by] += 1
    return counts


def decision_shares(trees: Iterable[SplitTree]) -> dict[str, dict[str, float]]:
    """``{metric: {decided_by: share of its splits}}`` (every kind present, 0 when unseen)."""
    out = {}
    for metric, c in decision_counts(trees).items():
        total = sum(c.values())
        out[metric] = {k: (c[k] / total if total else 0.0) for k in DECISIONS}
        out[metric]["splits"] = float(total)
    return out


__all__ = ["decision_counts", "decision_shares"]
