"""Split quality from ground truth: how well a tree's leaves separate good archs from bad ones.

No training: a tree's leaves (masks) partition its space, and a benchmark's ground truth says
how good each arch is. For one data set (a benchmark task), :func:`split_quality` measures:

- **top share**: let the *top set* be the archs whose ground truth is at least the ``k``-th
  highest value, ``k = ceil(top_fraction * n)`` over the ``n`` archs with ground truth (ties at
  the threshold are all in, so the set may hold more than ``k``; its size is ``top_count``).
  The **best leaf** is the leaf with the highest *mean* ground truth (the leaf a searcher that
  trusts leaf averages keeps; the lowest leaf index among equal means; leaves without ground
  truth are never best). ``top_share`` is the fraction of the top set inside the best leaf;
  ``top_share_max`` the largest fraction inside any one leaf (how concentrated the top set is,
  whichever leaf holds it). The best leaf is defined by the mean, not the maximum: with the
  maximum, the leaf holding the single best arch would always win, a tautology for the top set.
  ``top_lift`` is ``top_share`` over the best leaf's share of the archs with ground truth: 1
  when the best leaf holds top archs only in proportion to its size (a large leaf holds many
  top archs without separating anything), above 1 when it concentrates them.
- **spread** of the leaves' mean ground truth: population standard deviation (``mean_std``,
  unweighted over leaves with ground truth) and ``mean_range`` (max - min), in the task's units;
  and the scale-free ``variance_explained``: the between-leaf sum of squares over the total sum
  of squares (eta squared, the R^2 of predicting an arch's ground truth by its leaf's mean).
- **leaf sizes**: archs per leaf (``size``) and those with ground truth (``known``).

**Random baseline** (:func:`expected_random`): the expected value of every measure for a random
split on the *same edges with the same number of groups* as a given tree (what the splitting
engine's ``--metric random`` does with the fixed edge policy: a partition drawn uniformly from
all partitions of the node's ops on that edge into that many groups, ``balanced`` as the tree's
recipe). Exact (every combination of partitions, equally likely) when there are at most
``limit`` combinations, else a seeded Monte-Carlo mean over ``draws`` random trees.

**Transfer** (:func:`transfer`): over a set of trees and data sets, (1) the Spearman correlation
across trees between their quality on data set A and on B (does a split that separates well on
A do so on B), (2) for each A, the tree best on A and its rank on every B, and (3) per tree, the
top share on B of the leaf that is best on A (does the leaf one would keep after looking at A
hold B's best archs), averaged over trees.

Generic over a space and any benchmark adapter (:class:`~fewshot.spaces.base.BenchmarkAdapter`:
NB201's NATS-Bench, TransNAS-Bench-101 micro, NAS-Bench-Macro): :meth:`GroundTruth.from_benchmark`.
numpy (and the rank correlation of :mod:`fewshot.correlation`) only.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fewshot.correlation import spearman_rho
from fewshot.spaces.base import Arch, BenchmarkAdapter, Mask, SearchSpace, space_of
from fewshot.splitting.partition import authors_order
from fewshot.splitting.tree import SplitTree

TOP_FRACTION = 0.01
"""Default share of archs in the top set (the top 1%)."""
MEASURES = (
    "top_share",
    "top_lift",
    "top_share_max",
    "mean_std",
    "mean_range",
    "variance_explained",
)
"""The scalar measures of a :class:`SplitQuality` (the fields a baseline averages)."""


# -- ground truth ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class GroundTruth:
    """One data set's ground truth over a space: ``values[code]`` for the arch of lexicographic
    code ``code`` (:attr:`~fewshot.spaces.base.Arch.code`), NaN where unknown (or excluded)."""

    space: SearchSpace
    dataset: str
    values: np.ndarray

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=float)
        if values.shape != (self.space.num_archs,):
            raise ValueError(
                f"ground truth of {self.space.name!r} has one value per arch "
                f"({self.space.num_archs}), got shape {values.shape}"
            )
        if not np.isfinite(values).any():
            raise ValueError(f"ground truth on {self.dataset!r} has no finite value")
        object.__setattr__(self, "values", values)

    @classmethod
    def from_values(
        cls,
        space: SearchSpace,
        dataset: str,
        values: Mapping[Arch, float] | Sequence[float] | np.ndarray,
    ) -> GroundTruth:
        """From ``{arch: value}``, or an array over every arch (code order) or over the space's
        valid archs (in code order, :meth:`~fewshot.spaces.base.SearchSpace.is_valid`)."""
        out = np.full(space.num_archs, np.nan)
        if isinstance(values, Mapping):
            for arch, value in values.items():
                if type(arch) is not space.arch_type:
                    raise ValueError(f"arch {arch} is not an arch of {space.name!r}")
                out[arch.code] = float(value)
            return cls(space, dataset, out)
        array = np.asarray(values, dtype=float)
        if array.shape == (space.num_archs,):
            return cls(space, dataset, array)
        valid = _valid_codes(space)
        if array.shape != valid.shape:
            raise ValueError(
                f"ground truth array of {space.name!r} has {space.num_archs} values (every arch) "
                f"or {valid.size} (its valid archs), got shape {array.shape}"
            )
        out[valid] = array
        return cls(space, dataset, out)

    @classmethod
    def from_benchmark(
        cls, benchmark: BenchmarkAdapter, dataset: str, *, valid_only: bool = False
    ) -> GroundTruth:
        """A benchmark adapter's accuracies on ``dataset`` (``valid_only``: invalid archs, e.g.
        NB201's disconnected cells, left out as NaN)."""
        archs = benchmark.archs()
        space = type(archs[0]).space  # the adapter's archs say their space (NATS: no .space)
        codes = np.array([arch.code for arch in archs], dtype=np.int64)
        out = np.full(space.num_archs, np.nan)
        out[codes] = np.asarray(benchmark.accuracies(dataset), dtype=float)
        if valid_only:
            keep = np.zeros(space.num_archs, dtype=bool)
            keep[_valid_codes(space)] = True
            out[~keep] = np.nan
        return cls(space, dataset, out)


def ground_truths(
    benchmark: BenchmarkAdapter, datasets: Sequence[str] | None = None, *, valid_only: bool = False
) -> list[GroundTruth]:
    """:meth:`GroundTruth.from_benchmark` for each data set (default: all the benchmark's)."""
    if datasets is None:
        datasets = (
            getattr(benchmark, "datasets", None) or space_of(benchmark.arch(0)).benchmark_datasets
        )
    names = list(datasets)
    return [GroundTruth.from_benchmark(benchmark, d, valid_only=valid_only) for d in names]


@functools.lru_cache(maxsize=8)
def _digits(space: SearchSpace) -> np.ndarray:
    """``(num_archs, num_positions)`` op indices of every arch, row ``code``."""
    shape = (space.num_ops,) * space.num_positions
    return np.stack(np.unravel_index(np.arange(space.num_archs), shape), axis=1)


@functools.lru_cache(maxsize=8)
def _valid_codes(space: SearchSpace) -> np.ndarray:
    return np.array([a.code for a in space.all_archs() if space.is_valid(a)], dtype=np.int64)


def leaf_assignment(space: SearchSpace, masks: Sequence[Mask]) -> np.ndarray:
    """Per arch code, the index of the mask holding it (-1: in no mask); overlapping masks raise
    ``ValueError`` (a tree's leaves never overlap)."""
    digits = _digits(space)
    positions = np.arange(space.num_positions)
    out = np.full(space.num_archs, -1, dtype=np.int64)
    for i, mask in enumerate(masks):
        if type(mask) is not space.mask_type:
            raise ValueError(f"mask {mask} is not a mask of {space.name!r}")
        inside = mask.to_array()[positions, digits].all(axis=1)
        if (out[inside] >= 0).any():
            raise ValueError(f"mask {i} overlaps an earlier mask: leaves must not overlap")
        out[inside] = i
    return out


# -- one tree, one data set -----------------------------------------------------------------
@dataclass(frozen=True)
class LeafSummary:
    """One leaf on one data set: archs, archs with ground truth, mean and max ground truth
    (NaN without any), archs of the top set."""

    size: int
    known: int
    mean: float
    best: float
    top: int


@dataclass(frozen=True)
class SplitQuality:
    """How a tree's leaves separate one data set's ground truth (see the module docstring)."""

    dataset: str
    top_fraction: float
    top_count: int
    best_leaf: int
    top_share: float
    top_lift: float
    top_share_max: float
    mean_std: float
    mean_range: float
    variance_explained: float
    leaves: tuple[LeafSummary, ...]

    def measure(self, name: str) -> float:
        if name not in MEASURES:
            raise ValueError(f"unknown split-quality measure {name!r}; expected one of {MEASURES}")
        return float(getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["leaves"] = [asdict(leaf) for leaf in self.leaves]
        return d


def top_set(values: np.ndarray, top_fraction: float = TOP_FRACTION) -> np.ndarray:
    """Boolean: archs whose (finite) value is at least the ``ceil(top_fraction * n)``-th
    highest of the ``n`` finite values (ties at the threshold included)."""
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must lie in (0, 1], got {top_fraction}")
    finite = np.isfinite(values)
    known = values[finite]
    k = max(1, math.ceil(top_fraction * known.size))
    threshold = np.sort(known)[::-1][k - 1]
    return finite & (np.where(finite, values, -np.inf) >= threshold)


def split_quality(
    masks: Sequence[Mask], truth: GroundTruth, *, top_fraction: float = TOP_FRACTION
) -> SplitQuality:
    """The quality of leaves ``masks`` (which must cover every arch with ground truth) on
    ``truth``'s data set."""
    return _quality(leaf_assignment(truth.space, masks), len(masks), truth, top_fraction)


def tree_quality(
    tree: SplitTree, truth: GroundTruth, *, top_fraction: float = TOP_FRACTION
) -> SplitQuality:
    """:func:`split_quality` of ``tree``'s leaves (the tree and the ground truth share a space)."""
    _same_space(tree, truth)
    return split_quality([leaf.mask for leaf in tree.leaves()], truth, top_fraction=top_fraction)


def _same_space(tree: SplitTree, truth: GroundTruth) -> None:
    if tree.space is not truth.space:
        raise ValueError(
            f"the tree splits {tree.space.name!r} but the ground truth is of {truth.space.name!r}"
        )


def _quality(
    leaf_of: np.ndarray, n_leaves: int, truth: GroundTruth, top_fraction: float
) -> SplitQuality:
    values = truth.values
    finite = np.isfinite(values)
    if (leaf_of[finite] < 0).any():
        raise ValueError("the leaves do not cover every arch with ground truth")
    top = top_set(values, top_fraction)
    size = np.bincount(leaf_of[leaf_of >= 0], minlength=n_leaves)
    known = np.bincount(leaf_of[finite], minlength=n_leaves)
    sums = np.bincount(leaf_of[finite], weights=values[finite], minlength=n_leaves)
    tops = np.bincount(leaf_of[top], minlength=n_leaves)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(known > 0, sums / np.maximum(known, 1), np.nan)
    best = np.full(n_leaves, np.nan)
    np.fmax.at(best, leaf_of[finite], values[finite])
    has = known > 0
    best_leaf = int(np.argmax(np.where(has, means, -np.inf)))
    top_count = int(top.sum())
    grand = values[finite].mean()
    total_ss = float(((values[finite] - grand) ** 2).sum())
    between_ss = float((known[has] * (means[has] - grand) ** 2).sum())
    leaves = tuple(
        LeafSummary(int(size[i]), int(known[i]), float(means[i]), float(best[i]), int(tops[i]))
        for i in range(n_leaves)
    )
    return SplitQuality(
        dataset=truth.dataset,
        top_fraction=float(top_fraction),
        top_count=top_count,
        best_leaf=best_leaf,
        top_share=float(tops[best_leaf] / top_count),
        top_lift=float((tops[best_leaf] / top_count) / (known[best_leaf] / known.sum())),
        top_share_max=float(tops.max() / top_count),
        mean_std=float(np.std(means[has])),
        mean_range=float(np.ptp(means[has])),
        variance_explained=between_ss / total_ss if total_ss > 0 else math.nan,
        leaves=leaves,
    )


# -- the random-split baseline --------------------------------------------------------------
@dataclass(frozen=True)
class _Shape:
    """A tree's split structure: the edge each node splits, into how many groups, children's."""

    edge: int
    children: tuple[_Shape | None, ...]


def _shape(tree: SplitTree, node_id: int = 0) -> _Shape | None:
    split = tree.node(node_id).split
    if split is None:
        return None
    return _Shape(split.edge, tuple(_shape(tree, c.id) for c in tree.children(node_id)))


def random_key(tree: SplitTree) -> tuple[Any, ...]:
    """What :func:`expected_random` depends on in a tree (its space, root, split edges and
    group counts, ``balanced``): trees with equal keys share one random baseline."""
    return (tree.space.name, tree.node(0).mask, _shape(tree), bool(tree.config.get("balanced")))


@functools.lru_cache(maxsize=64)
def _partitions(n: int, b: int, balanced: bool) -> tuple[tuple[tuple[int, ...], ...], ...]:
    return tuple(authors_order(n, b, balanced=balanced)) if 2 <= b <= n else ()


def _children(mask: Mask, shape: _Shape, part: Sequence[Sequence[int]]) -> list[Mask]:
    ops = mask.ops(shape.edge)
    return [mask.restrict(shape.edge, [ops[i] for i in group]) for group in part]


def _count(mask: Mask, shape: _Shape | None, balanced: bool, cap: int) -> int:
    """Random trees of ``shape`` under ``mask`` (equally likely combinations), capped at
    ``cap + 1``."""
    if shape is None:
        return 1
    parts = _partitions(len(mask.ops(shape.edge)), len(shape.children), balanced)
    if not parts:
        return 1
    total = 0
    for part in parts:
        product = 1
        for child, sub in zip(_children(mask, shape, part), shape.children, strict=True):
            product *= _count(child, sub, balanced, cap)
            if product > cap:
                return cap + 1
        total += product
        if total > cap:
            return cap + 1
    return total


def _enumerate(mask: Mask, shape: _Shape | None, balanced: bool) -> Iterator[list[Mask]]:
    """Every random tree's leaves, each combination of partitions once."""
    if shape is None:
        yield [mask]
        return
    parts = _partitions(len(mask.ops(shape.edge)), len(shape.children), balanced)
    if not parts:
        yield [mask]
        return
    for part in parts:
        subtrees = [
            list(_enumerate(child, sub, balanced))
            for child, sub in zip(_children(mask, shape, part), shape.children, strict=True)
        ]
        for combo in itertools.product(*subtrees):
            yield [leaf for leaves in combo for leaf in leaves]


def _draw(mask: Mask, shape: _Shape | None, balanced: bool, rng: np.random.Generator) -> list[Mask]:
    """One random tree's leaves (a partition drawn uniformly at each node)."""
    if shape is None:
        return [mask]
    parts = _partitions(len(mask.ops(shape.edge)), len(shape.children), balanced)
    if not parts:
        return [mask]
    part = parts[int(rng.integers(len(parts)))]
    children = zip(_children(mask, shape, part), shape.children, strict=True)
    return [leaf for child, sub in children for leaf in _draw(child, sub, balanced, rng)]


def random_leaf_sets(
    tree: SplitTree,
    *,
    balanced: bool | None = None,
    limit: int = 20_000,
    draws: int = 2_000,
    seed: int = 0,
) -> tuple[list[list[Mask]], bool]:
    """The leaves of the random trees that mirror ``tree`` (same edges, same group counts) and
    whether they are all of them (exact) or ``draws`` seeded draws. ``balanced`` defaults to
    the tree's configuration (``balanced`` groups, as GM-NAS), else False."""
    if balanced is None:
        balanced = bool(tree.config.get("balanced", False))
    root = tree.node(0).mask
    shape = _shape(tree)
    if _count(root, shape, balanced, limit) <= limit:
        return list(_enumerate(root, shape, balanced)), True
    rng = np.random.default_rng(seed)
    return [_draw(root, shape, balanced, rng) for _ in range(draws)], False


@dataclass(frozen=True)
class RandomBaseline:
    """Expected measures of a random split mirroring a tree, per data set."""

    trees: int
    exact: bool
    expected: dict[str, dict[str, float]]
    """``expected[dataset][measure]``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_random(
    tree: SplitTree,
    truths: Sequence[GroundTruth],
    *,
    top_fraction: float = TOP_FRACTION,
    balanced: bool | None = None,
    limit: int = 20_000,
    draws: int = 2_000,
    seed: int = 0,
) -> RandomBaseline:
    """Mean of every measure over the random trees of :func:`random_leaf_sets` (exact
    expectation when they could all be enumerated)."""
    for truth in truths:
        _same_space(tree, truth)
    leaf_sets, exact = random_leaf_sets(
        tree, balanced=balanced, limit=limit, draws=draws, seed=seed
    )
    sums = {t.dataset: dict.fromkeys(MEASURES, 0.0) for t in truths}
    for leaves in leaf_sets:
        leaf_of = leaf_assignment(tree.space, leaves)
        for truth in truths:
            quality = _quality(leaf_of, len(leaves), truth, top_fraction)
            for name in MEASURES:
                sums[truth.dataset][name] += quality.measure(name)
    n = len(leaf_sets)
    expected = {d: {k: v / n for k, v in row.items()} for d, row in sums.items()}
    return RandomBaseline(n, exact, expected)


# -- transfer across data sets --------------------------------------------------------------
@dataclass(frozen=True)
class BestOn:
    """The tree best on one data set (highest measure, first label among ties) and, on each data
    set, its measure and rank among the trees (1 = best; ties share the better rank)."""

    label: str
    values: dict[str, float]
    ranks: dict[str, int]


@dataclass(frozen=True)
class Transfer:
    """Does a split that separates well on one data set do so on another (module docstring)."""

    measure: str
    datasets: tuple[str, ...]
    labels: tuple[str, ...]
    rank_correlation: tuple[tuple[float | None, ...], ...]
    """``[a][b]``: Spearman rho across trees of the measure on ``a`` vs on ``b``."""
    best_on: dict[str, BestOn]
    leaf_transfer: tuple[tuple[float, ...], ...]
    """``[a][b]``: mean over trees of the top share on ``b`` of the leaf best on ``a``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def transfer(
    qualities: Mapping[str, Mapping[str, SplitQuality]], *, measure: str = "top_share"
) -> Transfer:
    """Transfer of split quality across data sets: ``qualities[tree label][data set]`` (every
    tree on the same data sets, the same leaves for one tree)."""
    labels = tuple(qualities)
    if not labels:
        raise ValueError("transfer needs at least one tree")
    datasets = tuple(qualities[labels[0]])
    for label in labels:
        if tuple(qualities[label]) != datasets:
            raise ValueError(
                f"tree {label!r} has data sets {tuple(qualities[label])}, not {datasets}"
            )
    table = np.array([[qualities[lb][d].measure(measure) for d in datasets] for lb in labels])
    corr = tuple(
        tuple(spearman_rho(table[:, a], table[:, b]) for b in range(len(datasets)))
        for a in range(len(datasets))
    )
    best_on = {}
    for a, name in enumerate(datasets):
        i = int(np.argmax(table[:, a]))
        best_on[name] = BestOn(
            labels[i],
            {d: float(table[i, b]) for b, d in enumerate(datasets)},
            {d: 1 + int((table[:, b] > table[i, b]).sum()) for b, d in enumerate(datasets)},
        )
    leaf = tuple(
        tuple(
            float(np.mean([_share_of(qualities[lb][a], qualities[lb][b]) for lb in labels]))
            for b in datasets
        )
        for a in datasets
    )
    return Transfer(measure, datasets, labels, corr, best_on, leaf)


def _share_of(chosen_on: SplitQuality, judged_on: SplitQuality) -> float:
    """The top share on ``judged_on``'s data set of the leaf best on ``chosen_on``'s."""
    if len(chosen_on.leaves) != len(judged_on.leaves):
        raise ValueError("the two qualities are of different trees")
    return judged_on.leaves[chosen_on.best_leaf].top / judged_on.top_count


__all__ = [
    "MEASURES",
    "TOP_FRACTION",
    "BestOn",
    "GroundTruth",
    "LeafSummary",
    "RandomBaseline",
    "SplitQuality",
    "Transfer",
    "expected_random",
    "ground_truths",
    "leaf_assignment",
    "random_key",
    "random_leaf_sets",
    "split_quality",
    "top_set",
    "transfer",
    "tree_quality",
]
