"""fewshot.analysis.split_quality: hand-computed split quality on a 9-arch space."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from fewshot.analysis.split_quality import (
    GroundTruth,
    LeafSummary,
    SplitQuality,
    expected_random,
    ground_truths,
    leaf_assignment,
    random_leaf_sets,
    split_quality,
    top_set,
    transfer,
    tree_quality,
)
from fewshot.spaces import base
from fewshot.splitting.tree import Split, SplitTree


# -- a tiny space: 2 positions x ops a, b, c (9 archs), never registered ---------------------
class TinyArch(base.Arch):
    pass


class TinyMask(base.Mask):
    pass


class TinySpace(base.SearchSpace):
    positions = ("p0", "p1")
    ops = ("a", "b", "c")
    arch_type = TinyArch
    mask_type = TinyMask

    def parse_arch(self, text: str) -> base.Arch:
        return self.arch(tuple(text))

    def format_arch(self, arch: base.Arch) -> str:
        return "".join(arch.ops)

    def is_valid(self, arch: base.Arch) -> bool:
        return arch.ops != ("a", "a")  # code 0 is the one invalid arch

    def build_supernet(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def build_network(self, arch: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


TINY = TinySpace()
TINY.name = "tiny"
TinyArch.space = TINY
TinyMask.space = TINY

# values by code (code = 3 * index(p0) + index(p1)): aa ab ac ba bb bc ca cb cc
VALUES = [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.5, 9.0, 7.5]


def make_split(mask: base.Mask, edge: int, groups: tuple[tuple[str, ...], ...]) -> Split:
    ops = mask.ops(edge)
    zeros = tuple((0.0,) * len(ops) for _ in ops)
    return Split(edge=edge, ops=ops, groups=groups, distance=zeros, cut=0.0)


def two_level_tree() -> SplitTree:
    """Root: p0 into {a} | {b, c}; node 2 ({b, c}): p1 into {a, b} | {c}. Leaves 1, 3, 4:
    leaf 1 = a* (codes 0 1 2), leaf 3 = {b,c}{a,b} (codes 3 4 6 7), leaf 4 = {b,c}c (5 8)."""
    tree = SplitTree(metric="hand", seed=0, dataset="none", space=TINY)
    root = tree.add_root()
    _, right = tree.apply_split(0, make_split(root.mask, 0, (("a",), ("b", "c"))))
    tree.apply_split(right.id, make_split(right.mask, 1, (("a", "b"), ("c",))))
    return tree


def one_split_tree() -> SplitTree:
    tree = SplitTree(metric="hand", seed=0, dataset="none", space=TINY)
    root = tree.add_root()
    tree.apply_split(0, make_split(root.mask, 0, (("a",), ("b", "c"))))
    return tree


def truth(values=VALUES, dataset="x") -> GroundTruth:
    return GroundTruth.from_values(TINY, dataset, values)


# -- one tree --------------------------------------------------------------------------------


def test_leaf_assignment_follows_masks():
    tree = two_level_tree()
    leaves = [leaf.mask for leaf in tree.leaves()]
    assert leaf_assignment(TINY, leaves).tolist() == [0, 0, 0, 1, 1, 2, 1, 1, 2]
    with pytest.raises(ValueError, match="overlaps"):
        leaf_assignment(TINY, [TINY.full_mask(), leaves[0]])


def test_quality_by_hand():
    q = tree_quality(two_level_tree(), truth(), top_fraction=1 / 3)
    # top set: ceil(9 / 3) = 3 highest values 9 (cb), 8.5 (ca), 7.5 (cc): 2 in leaf 3, 1 in leaf 4
    assert q.top_count == 3
    assert [leaf.top for leaf in q.leaves] == [0, 2, 1]
    # leaf means 6/3 = 2, (4 + 5 + 8.5 + 9)/4 = 6.625, (7 + 7.5)/2 = 7.25: leaf 4 (index 2) best
    assert [leaf.mean for leaf in q.leaves] == [2.0, 6.625, 7.25]
    assert [leaf.best for leaf in q.leaves] == [3.0, 9.0, 7.5]
    assert [(leaf.size, leaf.known) for leaf in q.leaves] == [(3, 3), (4, 4), (2, 2)]
    assert q.best_leaf == 2
    assert q.top_share == pytest.approx(1 / 3)  # best leaf by mean, not the leaf of the top archs
    assert q.top_share_max == pytest.approx(2 / 3)
    assert q.top_lift == pytest.approx((1 / 3) / (2 / 9))  # the best leaf holds 2 of 9 archs
    mean = (2 + 6.625 + 7.25) / 3
    assert q.mean_std == pytest.approx(math.sqrt(((2 - mean) ** 2 + (6.625 - mean) ** 2
                                                  + (7.25 - mean) ** 2) / 3))  # fmt: skip
    assert q.mean_std == pytest.approx(2.341504, abs=1e-6)
    assert q.mean_range == 5.25
    # between-leaf SS / total SS: grand mean 47/9; total SS 313.5 - 47**2/9
    grand = 47 / 9
    between = 3 * (2 - grand) ** 2 + 4 * (6.625 - grand) ** 2 + 2 * (7.25 - grand) ** 2
    assert q.variance_explained == pytest.approx(between / (313.5 - 47**2 / 9))
    assert q.variance_explained == pytest.approx(0.694184, abs=1e-6)


def test_unknown_archs_are_left_out_and_ties_join_the_top_set():
    values = list(VALUES)
    values[7] = math.nan  # cb unknown
    values[2] = 8.5  # ac ties ca at the top
    q = split_quality([leaf.mask for leaf in two_level_tree().leaves()], truth(values),
                      top_fraction=0.1)  # fmt: skip
    # 8 known archs, k = ceil(0.8) = 1, threshold 8.5 held by ac (leaf 0) and ca (leaf 1)
    assert q.top_count == 2 and [leaf.top for leaf in q.leaves] == [1, 1, 0]
    assert [(leaf.size, leaf.known) for leaf in q.leaves] == [(3, 3), (4, 3), (2, 2)]
    assert q.leaves[1].mean == pytest.approx((4 + 5 + 8.5) / 3)
    assert q.best_leaf == 2 and q.top_share == 0.0 and q.top_share_max == 0.5
    assert q.top_lift == 0.0
    assert top_set(np.array(values), 0.1).tolist() == [
        False, False, True, False, False, False, True, False, False,
    ]  # fmt: skip


def test_leaves_must_cover_the_ground_truth_and_share_its_space():
    leaves = [leaf.mask for leaf in two_level_tree().leaves()]
    with pytest.raises(ValueError, match="do not cover"):
        split_quality(leaves[:2], truth())
    nb201 = base.get_space("nb201")
    other = GroundTruth(nb201, "x", np.arange(nb201.num_archs, dtype=float))
    with pytest.raises(ValueError, match="splits 'tiny' but the ground truth is of 'nb201'"):
        tree_quality(two_level_tree(), other)


def test_ground_truth_from_dict_full_array_valid_array_and_benchmark():
    by_dict = GroundTruth.from_values(TINY, "x", {TINY.arch("cb"): 9.0, TINY.arch("ab"): 2.0})
    assert np.isnan(by_dict.values).sum() == 7 and by_dict.values[7] == 9.0
    valid_only = GroundTruth.from_values(TINY, "x", VALUES[1:])  # the 8 valid archs
    assert np.isnan(valid_only.values[0]) and valid_only.values[1:].tolist() == VALUES[1:]
    with pytest.raises(ValueError, match="9 values .* or 8"):
        GroundTruth.from_values(TINY, "x", VALUES[:5])

    class Bench:  # a benchmark adapter whose index order is not the code order
        space = TINY
        datasets = ("x", "y")
        order = [8, 0, 4, 2, 6, 1, 3, 5, 7]

        def archs(self):
            return [TinyArch.from_code(c) for c in self.order]

        def accuracies(self, dataset="x"):
            sign = 1 if dataset == "x" else -1
            return np.array([sign * VALUES[c] for c in self.order])

    x, y = ground_truths(Bench())
    assert x.values.tolist() == VALUES and y.values.tolist() == [-v for v in VALUES]
    assert np.isnan(GroundTruth.from_benchmark(Bench(), "x", valid_only=True).values[0])


# -- the random baseline ---------------------------------------------------------------------


def test_random_baseline_by_hand():
    """Random splits of p0 into 2 groups: {a}|{bc}, {b}|{ac}, {c}|{ab}, each 1/3. Top set (top
    1/3): cb, ca, cc (all p0 = c). Best leaf by mean: bc (41/6 > 2) holds all 3; b (16/3 >
    31/6) holds none; c (25/3) holds all 3: expected top share 2/3; the top archs are always
    in one leaf: expected top_share_max 1."""
    baseline = expected_random(one_split_tree(), [truth()], top_fraction=1 / 3)
    assert baseline.trees == 3 and baseline.exact
    assert baseline.expected["x"]["top_share"] == pytest.approx(2 / 3)
    assert baseline.expected["x"]["top_share_max"] == pytest.approx(1.0)
    ranges = [41 / 6 - 2, 16 / 3 - 31 / 6, 25 / 3 - 22 / 6]
    assert baseline.expected["x"]["mean_range"] == pytest.approx(sum(ranges) / 3)


def test_random_trees_mirror_the_tree_and_enumerate_every_combination():
    leaf_sets, exact = random_leaf_sets(two_level_tree())
    # 3 partitions of p0 x 3 partitions of p1 in the root's second child
    assert exact and len(leaf_sets) == 9
    assert all(len(leaves) == 3 for leaves in leaf_sets)
    assert len({tuple(leaves) for leaves in leaf_sets}) == 9
    for leaves in leaf_sets:  # each random tree's leaves partition the space: 1|2 ops on p0,
        assigned = leaf_assignment(TINY, leaves)  # then 1|2 ops on p1 of the second group
        assert (assigned >= 0).all()
        assert sorted(np.bincount(assigned).tolist()) in ([1, 2, 6], [2, 3, 4])
    assert random_leaf_sets(two_level_tree(), balanced=True)[0] == leaf_sets  # 3 ops: all 1|2


def test_random_baseline_monte_carlo_beyond_the_limit():
    baseline = expected_random(one_split_tree(), [truth()], top_fraction=1 / 3, limit=2,
                               draws=3000, seed=1)  # fmt: skip
    assert not baseline.exact and baseline.trees == 3000
    assert baseline.expected["x"]["top_share"] == pytest.approx(2 / 3, abs=0.04)


# -- transfer --------------------------------------------------------------------------------


def quality(share: float, best_leaf: int, tops: list[int]) -> SplitQuality:
    leaves = tuple(LeafSummary(1, 1, 0.0, 0.0, t) for t in tops)
    return SplitQuality("d", 0.01, sum(tops), best_leaf, share, 1.0, share, 0.0, 0.0, 0.0, leaves)


def test_transfer_by_hand():
    qualities = {
        "t1": {"x": quality(0.25, 0, [1, 3]), "y": quality(0.75, 1, [1, 3])},
        "t2": {"x": quality(0.50, 1, [2, 2]), "y": quality(0.50, 0, [2, 2])},
        "t3": {"x": quality(1.00, 0, [4, 0]), "y": quality(0.25, 0, [1, 3])},
    }
    result = transfer(qualities)
    assert result.datasets == ("x", "y") and result.labels == ("t1", "t2", "t3")
    assert result.rank_correlation[0][1] == pytest.approx(-1.0)
    assert result.rank_correlation[0][0] == pytest.approx(1.0)
    best_x = result.best_on["x"]
    assert best_x.label == "t3" and best_x.values == {"x": 1.0, "y": 0.25}
    assert best_x.ranks == {"x": 1, "y": 3}
    assert result.best_on["y"].label == "t1" and result.best_on["y"].ranks == {"x": 3, "y": 1}
    # leaf best on x, judged on y: t1 leaf 0 on y 1/4, t2 leaf 1 on y 2/4, t3 leaf 0 on y 1/4
    assert result.leaf_transfer[0][1] == pytest.approx((0.25 + 0.5 + 0.25) / 3)
    # leaf best on y, judged on x: t1 leaf 1 3/4, t2 leaf 0 2/4, t3 leaf 0 4/4
    assert result.leaf_transfer[1][0] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert result.leaf_transfer[0][0] == pytest.approx((0.25 + 0.5 + 1.0) / 3)


def test_transfer_on_real_trees_uses_each_trees_own_leaves():
    x, y = truth(dataset="x"), truth([-v for v in VALUES], dataset="y")
    trees = {"two": two_level_tree(), "one": one_split_tree()}
    qualities = {k: {g.dataset: tree_quality(t, g, top_fraction=1 / 3) for g in (x, y)}
                 for k, t in trees.items()}  # fmt: skip
    result = transfer(qualities)
    # "one": leaves a* (mean 2; y: -2, best on y) and {b,c}* (best on x): on y the top set is
    # aa, ab, ac: the leaf best on x holds none of y's top archs, the leaf best on y all
    assert qualities["one"]["x"].best_leaf == 1 and qualities["one"]["y"].best_leaf == 0
    assert qualities["one"]["y"].top_share == 1.0
    assert result.leaf_transfer[0][1] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="data sets"):
        transfer({"a": {"x": qualities["one"]["x"]}, "b": {"y": qualities["one"]["y"]}})


def test_nb201_through_its_benchmark_adapter(fake_benchmark):
    """The same measure on NB201 via fewshot.benchmark.Benchmark (a 4-arch NATS-Bench fake):
    edge 0 split into {nor_conv_3x3} | the rest. cifar10's best arch (mean 94.37) has
    nor_conv_3x3 on edge 0, in the leaf of mean (93.5 + 94.37) / 2; cifar100's best (73.0,
    avg_pool on edge 0) is in the other leaf, of mean (1 + 73) / 2 = 37 < (70 + 72) / 2."""
    from fewshot.benchmark import Benchmark

    nb201 = base.get_space("nb201")
    bench = Benchmark(fake_benchmark.path)
    truths = ground_truths(bench, ["cifar10", "cifar100"])
    assert [np.isfinite(t.values).sum() for t in truths] == [4, 4]
    tree = SplitTree(metric="hand", seed=0, dataset="none", space=nb201)
    root = tree.add_root()
    rest = tuple(op for op in nb201.ops if op != "nor_conv_3x3")
    tree.apply_split(0, make_split(root.mask, 0, (rest, ("nor_conv_3x3",))))
    c10, c100 = (tree_quality(tree, t, top_fraction=0.25) for t in truths)
    assert (
        c10.best_leaf == 1 and c10.top_share == 1.0 and c10.top_lift == 2.0
    )  # 2 of the 4 known archs
    assert c10.leaves[1].mean == pytest.approx((93.5 + (94.5 + 94.0 + 94.6) / 3) / 2)
    assert c100.best_leaf == 1 and c100.leaves[0].mean == pytest.approx(37.0)
    assert c100.top_share == 0.0 and c100.top_share_max == 1.0
    assert [leaf.size for leaf in c10.leaves] == [4 * 5**5, 5**5]
