"""Split distance: how consistently a metric splits the supernet, within a tree and across seeds.

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

import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.errors import UsageError
from fewshot.tree import SplitTree, load_tree

Partition = tuple[frozenset[str], ...]

IGNORED_CONFIG_KEYS = frozenset(
    {
        "seed",
        "metric",
        "out",
        "name",
        "resume",
        "max_splits",
        "verbose",
        "quiet",
        "data_root",
        "device",
        "workers",
        "num_workers",
        "threads",
        "config",
        "print_config",
    }
)
"""Config keys that may differ between the trees of one metric (run bookkeeping, not setup)."""


class MixedConfigError(UsageError):
    """Trees of one metric were produced with different settings and cannot be compared."""


# -- the distance between two partitions --------------------------------------------------
def as_partition(groups: Iterable[Iterable[str]]) -> Partition:
    """Normalise groups to a tuple of non-empty frozensets; an op in two groups is an error."""
    lists = [list(g) for g in groups]
    flat = [op for g in lists for op in g]
    if len(flat) != len(set(flat)):
        raise ValueError(f"groups {lists} repeat an op: not a partition")
    return tuple(frozenset(g) for g in lists if g)


def partition_ops(partition: Partition) -> frozenset[str]:
    """The op set a partition covers."""
    return frozenset().union(*partition)


def restrict(partition: Partition, ops: Iterable[str]) -> Partition:
    """The partition induced on ``ops`` (a subset of its op set); empty groups are dropped."""
    keep = frozenset(ops)
    return tuple(g & keep for g in partition if g & keep)


def _mates(partition: Partition) -> dict[str, frozenset[str]]:
    """G_o for every op o: the other ops of o's group."""
    return {op: group - {op} for group in partition for op in group}


def partition_distance(a: Iterable[Iterable[str]], b: Iterable[Iterable[str]]) -> float:
    """S(A, B) of SPEC section 6 for two partitions of the same op set (n >= 2).

    Raises ``ValueError`` if the op sets differ (use :func:`split_distance` to compare on the
    common ops) or if fewer than 2 ops are partitioned (n - 1 would be 0).
    """
    pa, pb = as_partition(a), as_partition(b)
    ops = partition_ops(pa)
    if ops != partition_ops(pb):
        raise ValueError(
            f"partitions cover different ops ({sorted(ops)} vs {sorted(partition_ops(pb))}); "
            "restrict them to their common ops first"
        )
    n = len(ops)
    if n < 2:
        raise ValueError(f"split distance needs at least 2 ops, got {sorted(ops)}")
    ga, gb = _mates(pa), _mates(pb)
    total = sum(len(ga[o] ^ gb[o]) for o in ops)
    return total / (2 * (n - 1))


def split_distance(a: Iterable[Iterable[str]], b: Iterable[Iterable[str]]) -> float | None:
    """S on the ops common to both partitions; ``None`` when fewer than 2 ops are common."""
    pa, pb = as_partition(a), as_partition(b)
    common = partition_ops(pa) & partition_ops(pb)
    if len(common) < 2:
        return None
    return partition_distance(restrict(pa, common), restrict(pb, common))


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


# -- loading and grouping trees --------------------------------------------------------------
@dataclass(frozen=True)
class SourcedTree:
    """A loaded tree and the file it came from (for error messages and the report)."""

    source: str
    tree: SplitTree


def find_tree_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Tree files named by ``paths``: a tree file, a run folder, or a folder of run folders.

    A folder without its own ``tree.json`` is searched recursively for ``tree.json`` files.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            found.append(p)
        elif (p / "tree.json").is_file():
            found.append(p / "tree.json")
        elif p.is_dir():
            nested = sorted(p.rglob("tree.json"))
            if not nested:
                raise UsageError(f"{p}: no tree.json found in this folder or below it")
            found.extend(nested)
        else:
            raise UsageError(f"{p}: no such file or folder")
    unique = list(dict.fromkeys(f.resolve() for f in found))
    if not unique:
        raise UsageError("no tree files given (pass tree files, run folders or their parents)")
    return unique


def load_trees(
    paths: Iterable[str | os.PathLike[str]], *, allow_incomplete: bool = False
) -> list[SourcedTree]:
    """Load every tree under ``paths``; corrupt files raise ``TreeFileError`` naming the file."""
    trees = []
    for f in find_tree_files(paths):
        tree = load_tree(f)
        if not tree.complete and not allow_incomplete:
            raise UsageError(
                f"{f}: the tree is incomplete (interrupted run?); finish it with "
                "`python -m fewshot.split ... --resume`, or allow partial trees explicitly"
            )
        trees.append(SourcedTree(str(f), tree))
    return trees


def config_signature(tree: SplitTree) -> dict[str, Any]:
    """The settings that must match for trees to be compared: data set plus the run config
    without the keys in :data:`IGNORED_CONFIG_KEYS`."""
    sig = {k: v for k, v in tree.config.items() if k not in IGNORED_CONFIG_KEYS}
    sig["dataset"] = tree.dataset
    return dict(sorted(sig.items()))


def group_by_metric(trees: Sequence[SourcedTree]) -> dict[str, list[SourcedTree]]:
    """Trees by metric (metrics in order of first appearance, so a sweep's report follows its
    ``--metrics`` order), sorted by seed; mixed configs or repeated seeds raise ``UsageError``."""
    groups: dict[str, list[SourcedTree]] = {}
    for st in trees:
        groups.setdefault(st.tree.metric, []).append(st)
    for metric, group in groups.items():
        group.sort(key=lambda st: st.tree.seed)
        _check_same_config(metric, group)
        _check_distinct_seeds(metric, group)
    return groups


def _check_same_config(metric: str, group: Sequence[SourcedTree]) -> None:
    ref = group[0]
    ref_sig = config_signature(ref.tree)
    for st in group[1:]:
        sig = config_signature(st.tree)
        if sig != ref_sig:
            keys = sorted(k for k in ref_sig.keys() | sig.keys() if ref_sig.get(k) != sig.get(k))
            diffs = ", ".join(f"{k}: {ref_sig.get(k)!r} vs {sig.get(k)!r}" for k in keys)
            raise MixedConfigError(
                f"metric {metric!r}: {st.source} was run with different settings from "
                f"{ref.source} ({diffs}); analyse trees of one configuration at a time"
            )


def _check_distinct_seeds(metric: str, group: Sequence[SourcedTree]) -> None:
    for a, b in itertools.pairwise(group):
        if a.tree.seed == b.tree.seed:
            raise UsageError(
                f"metric {metric!r}: {a.source} and {b.source} both have seed {a.tree.seed}; "
                "pass each run once"
            )


# -- the report ------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistanceReport:
    """Split distances of every metric, with the options and the files they came from."""

    metrics: dict[str, MetricDistances]
    same_edge_only: bool = False
    sources: tuple[str, ...] = ()

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
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DistanceReport:
        return cls(
            metrics={k: MetricDistances.from_dict(m) for k, m in d["metrics"].items()},
            same_edge_only=bool(d.get("same_edge_only", False)),
            sources=tuple(d.get("sources", ())),
        )


def analyse_trees(trees: Sequence[SourcedTree], *, same_edge_only: bool = False) -> DistanceReport:
    """Group trees by metric (checking configs and seeds) and compute every metric's distances."""
    groups = group_by_metric(trees)
    metrics = {
        metric: analyse_metric([st.tree for st in group], same_edge_only=same_edge_only)
        for metric, group in groups.items()
    }
    return DistanceReport(metrics, same_edge_only, tuple(st.source for st in trees))


def analyse_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    same_edge_only: bool = False,
    allow_incomplete: bool = False,
) -> DistanceReport:
    """Load the trees under ``paths`` and analyse them (see :func:`analyse_trees`)."""
    trees = load_trees(paths, allow_incomplete=allow_incomplete)
    return analyse_trees(trees, same_edge_only=same_edge_only)


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
    rows = [head, ["---"] * len(head)]
    for name, m in report.metrics.items():
        empty = DistanceSummary(None, None, 0)
        row = [name, str(len(m.seeds)), _fmt(m.internal), _fmt(m.external)]
        row += [_fmt(m.internal_by_level.get(lv, empty)) for lv in levels]
        row += [_fmt(m.external_by_level.get(lv, empty)) for lv in levels]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join(lines) + "\n"
