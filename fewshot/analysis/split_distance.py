"""Split distance: how consistently a metric splits the supernet, within a tree and across seeds.

The formula S(A, B) is in :mod:`fewshot.analysis.partition_distance` and reading the trees in
:mod:`fewshot.analysis.tree_groups` (both re-exported here); this module aggregates: pairs of
splits within a tree (internal) and across seeds (external), overall and by level.

Definition (SPEC section 6). For two partitions A, B of the same op set O, n = |O|, and
G_{o,A} the ops other than o in o's group in A::

    S(A, B) = sum over o in O of |G_{o,A} symmetric-difference G_{o,B}|  /  (2 (n - 1))

Each op pair {o, p} that is together in one partition and apart in the other appears in both
G_o's and G_p's symmetric difference, so the sum counts it twice: S is the number of such
pairs divided by n - 1. Example: {a,b}{c,d,e} vs {a,c}{b,d,e} over n = 5 ops differ on the
6 pairs ab, cd, ce, ac, bd, be; the sum over ops is 12 and S = 12 / 8 = 6 / 4 = 1.5 (the
formula and the pair-count reading agree; "sum = 6" would be the pair count, not the sum).

Choices made here (and why):
- Splits over different op sets are compared on their common ops: both partitions are
  restricted to them (empty groups dropped) and n is the number of common ops; a pair with
  fewer than 2 common ops is skipped and counted in ``n_skipped``.
- Splits on different edges are compared by default, as the paper compares splits as partitions
  of op sets (with the ``fixed`` edge policy, splits at one level share their edge anyway).
  ``same_edge_only=True`` drops pairs on different edges (they are not pairs at all, so they
  are not counted as skips).
- Levels are numbered from 1: level 1 is the root's split (node depth 0), level 2 its
  children's splits, and so on, as in the paper's Fig. 2. Level 1 has one split per tree, so it
  has no internal pairs.
- Internal distance pools, over the metric's trees, the pairs of distinct splits of one tree;
  external pools the pairs of splits of two trees of the metric with different seeds (each
  unordered pair of trees once). Spread is the sample standard deviation over those pairs
  (0 for a single pair); per-seed internal means and per-seed-pair external means are kept too.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fewshot.analysis.partition_distance import (
    Partition,
    as_partition,
    partition_distance,
    partition_ops,
    restrict,
    split_distance,
)
from fewshot.analysis.tree_groups import (
    MixedConfigError,
    MixedRecipeError,
    MixedSpaceError,
    SourcedTree,
    check_space,
    config_signature,
    find_tree_files,
    group_by_metric,
    load_trees,
)
from fewshot.spaces import SearchSpace, get_space
from fewshot.spaces.base import DEFAULT_SPACE
from fewshot.splitting.tree import SplitTree
from fewshot.tables import markdown_table


# -- summaries -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DistanceSummary:
    """Split distances over a set of pairs: mean and sample std (``None`` when no pair)."""

    mean: float | None
    std: float | None
    n_pairs: int
    n_skipped: int = 0

    @classmethod
    def of(cls, values: Sequence[float], n_skipped: int = 0) -> DistanceSummary:
        if not values:
            return cls(None, None, 0, n_skipped)
        arr = np.asarray(values, dtype=float)
        std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
        return cls(float(arr.mean()), std, len(arr), n_skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "n_pairs": self.n_pairs,
            "n_skipped": self.n_skipped,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DistanceSummary:
        return cls(d["mean"], d["std"], int(d["n_pairs"]), int(d.get("n_skipped", 0)))


@dataclass
class PairValues:
    """Distances collected over pairs, and how many pairs had too few common ops."""

    values: list[float] = field(default_factory=list)
    n_skipped: int = 0

    def add(self, d: float | None) -> None:
        if d is None:
            self.n_skipped += 1
        else:
            self.values.append(d)

    def extend(self, other: PairValues) -> None:
        self.values.extend(other.values)
        self.n_skipped += other.n_skipped

    def summary(self) -> DistanceSummary:
        return DistanceSummary.of(self.values, self.n_skipped)


@dataclass(frozen=True)
class SplitRecord:
    """One split of one tree, as the analysis sees it."""

    node_id: int
    level: int
    edge: int
    partition: Partition


def tree_splits(tree: SplitTree) -> list[SplitRecord]:
    """The tree's splits in node order; level = node depth + 1."""
    return [
        SplitRecord(node.id, node.depth + 1, split.edge, as_partition(split.groups))
        for node, split in tree.splits()
    ]


def _collect(
    pairs: Iterable[tuple[SplitRecord, SplitRecord]], same_edge_only: bool
) -> dict[int | None, PairValues]:
    """Pair distances overall (key ``None``) and by level (pairs at the same level)."""
    out: dict[int | None, PairValues] = {None: PairValues()}
    for s, t in pairs:
        if same_edge_only and s.edge != t.edge:
            continue
        d = split_distance(s.partition, t.partition)
        out[None].add(d)
        if s.level == t.level:
            out.setdefault(s.level, PairValues()).add(d)
    return out


def internal_pairs(
    splits: Sequence[SplitRecord], same_edge_only: bool = False
) -> dict[int | None, PairValues]:
    """Internal pair distances of one tree: overall (key ``None``) and by level."""
    return _collect(itertools.combinations(splits, 2), same_edge_only)


def external_pairs(
    a: Sequence[SplitRecord], b: Sequence[SplitRecord], same_edge_only: bool = False
) -> dict[int | None, PairValues]:
    """External pair distances between two trees: every split of ``a`` with every one of ``b``."""
    return _collect(itertools.product(a, b), same_edge_only)


# -- per metric ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricDistances:
    """Internal and external split distance of one metric's trees (one tree per seed).

    ``internal_per_seed`` maps a seed to the mean internal distance of its tree;
    ``external_per_pair`` lists ``(seed_a, seed_b, mean distance)`` per pair of trees. Both are
    ``None``-valued where the tree (pair) had no comparable pair of splits.
    """

    metric: str
    seeds: tuple[int, ...]
    internal: DistanceSummary
    external: DistanceSummary
    internal_by_level: dict[int, DistanceSummary]
    external_by_level: dict[int, DistanceSummary]
    internal_per_seed: dict[int, float | None]
    external_per_pair: tuple[tuple[int, int, float | None], ...]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def levels(self) -> list[int]:
        return sorted(set(self.internal_by_level) | set(self.external_by_level))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "seeds": list(self.seeds),
            "internal": self.internal.to_dict(),
            "external": self.external.to_dict(),
            "internal_by_level": {str(k): v.to_dict() for k, v in self.internal_by_level.items()},
            "external_by_level": {str(k): v.to_dict() for k, v in self.external_by_level.items()},
            "internal_per_seed": {str(k): v for k, v in self.internal_per_seed.items()},
            "external_per_pair": [list(p) for p in self.external_per_pair],
            "config": self.config,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MetricDistances:
        def levels(m: Mapping[str, Any]) -> dict[int, DistanceSummary]:
            return {int(k): DistanceSummary.from_dict(v) for k, v in m.items()}

        return cls(
            metric=d["metric"],
            seeds=tuple(int(s) for s in d["seeds"]),
            internal=DistanceSummary.from_dict(d["internal"]),
            external=DistanceSummary.from_dict(d["external"]),
            internal_by_level=levels(d["internal_by_level"]),
            external_by_level=levels(d["external_by_level"]),
            internal_per_seed={int(k): v for k, v in d["internal_per_seed"].items()},
            external_per_pair=tuple((int(a), int(b), v) for a, b, v in d["external_per_pair"]),
            config=dict(d.get("config") or {}),
        )


def _mean_or_none(p: PairValues) -> float | None:
    return float(np.mean(p.values)) if p.values else None


def analyse_metric(trees: Sequence[SplitTree], *, same_edge_only: bool = False) -> MetricDistances:
    """Internal/external distances for the trees of one metric (distinct seeds, same config)."""
    if not trees:
        raise ValueError("analyse_metric needs at least one tree")
    trees = sorted(trees, key=lambda t: t.seed)
    splits = [tree_splits(t) for t in trees]
    levels = sorted({s.level for ss in splits for s in ss})
    internal: dict[int | None, PairValues] = {k: PairValues() for k in [None, *levels]}
    external: dict[int | None, PairValues] = {k: PairValues() for k in [None, *levels]}
    per_seed: dict[int, float | None] = {}
    for tree, ss in zip(trees, splits, strict=True):
        pairs = internal_pairs(ss, same_edge_only)
        per_seed[tree.seed] = _mean_or_none(pairs[None])
        for k, v in pairs.items():
            internal[k].extend(v)
    per_pair = []
    for (ta, sa), (tb, sb) in itertools.combinations(zip(trees, splits, strict=True), 2):
        pairs = external_pairs(sa, sb, same_edge_only)
        per_pair.append((ta.seed, tb.seed, _mean_or_none(pairs[None])))
        for k, v in pairs.items():
            external[k].extend(v)
    return MetricDistances(
        metric=trees[0].metric,
        seeds=tuple(t.seed for t in trees),
        internal=internal[None].summary(),
        external=external[None].summary(),
        internal_by_level={k: internal[k].summary() for k in levels},
        external_by_level={k: external[k].summary() for k in levels},
        internal_per_seed=per_seed,
        external_per_pair=tuple(per_pair),
        config=config_signature(trees[0]),
    )


# -- the report ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistanceReport:
    """Split distances of every metric, with the options and the files they came from."""

    metrics: dict[str, MetricDistances]
    same_edge_only: bool = False
    sources: tuple[str, ...] = ()
    branch: int | None = None
    """The trees' branching factor (None when they differ or none was recorded)."""
    space: SearchSpace = field(default_factory=get_space)
    """The search space the trees split (its op count sets the random reference)."""

    @property
    def random_reference(self) -> float | None:
        """The split distance two random root splits have on average
        (:func:`random_split_reference` over the space's ops with :attr:`branch`): the "no
        consistency" level the figures draw."""
        if self.branch is None:
            return None
        return random_split_reference(self.space.num_ops, self.branch)

    @property
    def levels(self) -> list[int]:
        return sorted({lv for m in self.metrics.values() for lv in m.levels})

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "fewshot.split-distance",
            "version": 1,
            "definition": "S(A,B) = sum_o |G_oA ^ G_oB| / (2(n-1)) on common ops; level 1 = root",
            "same_edge_only": self.same_edge_only,
            "sources": list(self.sources),
            "branch": self.branch,
            "space": self.space.name,
            "random_reference": self.random_reference,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DistanceReport:
        return cls(
            metrics={k: MetricDistances.from_dict(m) for k, m in d["metrics"].items()},
            same_edge_only=bool(d.get("same_edge_only", False)),
            sources=tuple(d.get("sources", ())),
            branch=d.get("branch"),
            space=get_space(d.get("space", DEFAULT_SPACE)),
        )


def analyse_trees(
    trees: Sequence[SourcedTree],
    *,
    same_edge_only: bool = False,
    space: SearchSpace | None = None,
) -> DistanceReport:
    """Group trees by metric (checking configs and seeds) and compute every metric's distances;
    every tree must split ``space`` (default ``nb201``)."""
    space = get_space() if space is None else space
    check_space(trees, space)
    groups = group_by_metric(trees)
    metrics = {
        metric: analyse_metric([st.tree for st in group], same_edge_only=same_edge_only)
        for metric, group in groups.items()
    }
    branches = {(st.tree.config or {}).get("branch") for st in trees}
    branch = branches.pop() if len(branches) == 1 else None
    return DistanceReport(
        metrics, same_edge_only, tuple(st.source for st in trees),
        branch=int(branch) if branch is not None else None, space=space,
    )  # fmt: skip


@functools.cache
def random_split_reference(n_ops: int, branch: int) -> float:
    """The expected split distance of two independent random splits of ``n_ops`` ops into
    ``branch`` groups, each drawn uniformly from all such partitions (the ``random`` baseline,
    :func:`fewshot.splitting.partition.random_partition`): the mean of
    :func:`partition_distance` over every ordered pair, computed exactly (1.24 for NB201's 5
    ops in 2 groups). A metric whose external distance is near it splits no more consistently
    across seeds than chance."""
    from fewshot.splitting.partition import authors_order

    ops = [str(i) for i in range(n_ops)]
    parts = [
        [[ops[i] for i in group] for group in groups] for groups in authors_order(n_ops, branch)
    ]
    total = sum(partition_distance(a, b) for a in parts for b in parts)
    return total / len(parts) ** 2


def analyse_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    same_edge_only: bool = False,
    allow_incomplete: bool = False,
    progress: bool = False,
    space: SearchSpace | None = None,
) -> DistanceReport:
    """Load the trees under ``paths`` and analyse them (see :func:`analyse_trees`)."""
    trees = load_trees(paths, allow_incomplete=allow_incomplete, progress=progress)
    return analyse_trees(trees, same_edge_only=same_edge_only, space=space)


# -- table -----------------------------------------------------------------------------------
def _fmt(s: DistanceSummary) -> str:
    if s.mean is None:
        return "-"
    return f"{s.mean:.2f} ± {s.std:.2f}"


def format_table(report: DistanceReport) -> str:
    """A Markdown table: per metric, seeds, internal and external mean ± std, then by level."""
    levels = report.levels
    head = ["metric", "seeds", "internal", "external"]
    head += [f"int L{lv}" for lv in levels] + [f"ext L{lv}" for lv in levels]
    rows = []
    for name, m in report.metrics.items():
        empty = DistanceSummary(None, None, 0)
        row = [name, str(len(m.seeds)), _fmt(m.internal), _fmt(m.external)]
        row += [_fmt(m.internal_by_level.get(lv, empty)) for lv in levels]
        row += [_fmt(m.external_by_level.get(lv, empty)) for lv in levels]
        rows.append(row)
    return markdown_table(head, rows, pad=True)


__all__ = [
    "DistanceReport",
    "DistanceSummary",
    "MetricDistances",
    "MixedConfigError",
    "MixedRecipeError",
    "MixedSpaceError",
    "PairValues",
    "Partition",
    "SourcedTree",
    "SplitRecord",
    "analyse_metric",
    "analyse_paths",
    "analyse_trees",
    "random_split_reference",
    "as_partition",
    "config_signature",
    "external_pairs",
    "find_tree_files",
    "format_table",
    "group_by_metric",
    "internal_pairs",
    "load_trees",
    "partition_distance",
    "partition_ops",
    "restrict",
    "split_distance",
    "tree_splits",
]
