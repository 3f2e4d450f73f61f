"""The splitting engine on a tiny supernet (C=4, N=1, batch 8): every registered metric."""

from __future__ import annotations

import itertools

import pytest
import torch

from fewshot.metrics.base import ScoringData, list_metrics
from fewshot.spaces.nb201 import Mask
from fewshot.splitting.engine import SplitEngine, SplitSettings, initial_supernet
from fewshot.splitting.tree import SplitTree

SEED = 0


@pytest.fixture(scope="module")
def data() -> ScoringData:
    """Two batches of 8 random 8x8 images (pairwise metrics and zico need two)."""
    return ScoringData.random(batch_size=8, num_batches=2, image_size=8, seed=1)


def grow(metric: str, data: ScoringData, **settings: object) -> SplitTree:
    """A fresh tree grown with ``metric`` on a tiny supernet."""
    s = SplitSettings(metric=metric, seed=SEED, **settings)  # type: ignore[arg-type]
    net = initial_supernet(C=4, N=1, num_classes=data.num_classes, seed=SEED)
    tree = SplitTree(metric, SEED, "random", {}, {})
    SplitEngine(s, net, data, progress=False).run(tree)
    return tree


def arch_set(mask: Mask) -> set[tuple[str, ...]]:
    """Every arch of ``mask`` as a tuple of op names (enumerated here, independently)."""
    return set(itertools.product(*(mask.ops(e) for e in range(6))))


def assert_children_partition_parents(tree: SplitTree) -> None:
    """Every split node's children hold its archs exactly: none lost, none duplicated."""
    for node, split in tree.splits():
        kids = tree.children(node.id)
        assert len(kids) == len(split.groups) >= 2
        sets = [arch_set(k.mask) for k in kids]
        assert sum(len(s) for s in sets) == node.mask.num_archs  # disjoint ...
        assert set().union(*sets) == arch_set(node.mask)  # ... and covering
        for kid, group in zip(kids, split.groups, strict=True):
            assert kid.mask.ops(split.edge) == group
            others = [e for e in range(6) if e != split.edge]
            assert all(kid.mask.ops(e) == node.mask.ops(e) for e in others)


@pytest.mark.slow
@pytest.mark.parametrize("metric", list_metrics())
def test_leaves_partition_the_space_for_every_metric(metric, data):
    tree = grow(metric, data, depth=2, branch=2)
    assert tree.complete
    assert [n.split.edge for n in tree.nodes if n.split] == [0, 1, 1]  # fixed: edges by level
    assert len(tree.leaves()) == 4
    assert_children_partition_parents(tree)
    leaves = [arch_set(n.mask) for n in tree.leaves()]
    assert sum(map(len, leaves)) == 15_625 == len(set().union(*leaves))
    for _, split in tree.splits():
        n = len(split.ops)
        assert len(split.distance) == n and all(split.distance[i][i] == 0 for i in range(n))
        if split.scores is not None:  # scalar metric: D[i, j] = |f_i - f_j|
            f = [split.scores[op] for op in split.ops]
            assert split.distance[0][n - 1] == pytest.approx(abs(f[0] - f[n - 1]))


def test_params_splits_edge_0_as_conv3x3_against_the_rest(data):
    """Derived by hand: with only op o on edge 0 (other edges full), params = P + p(o), where
    p(none) = p(skip) = p(pool) = 0, p(c1x1) = a = sum over cells of C^2 + 2C (conv + BN
    affine), p(c3x3) = c = sum of 9C^2 + 2C. So D is 0 among the three parameter-free ops,
    a and c from them to c1x1 and c3x3, c - a between the convs. Cuts of the two-group
    partitions: {c3x3} | rest = 3c + (c - a) = 4c - a; {c1x1, c3x3} | rest = 3a + 3c;
    {z, c3x3} | rest = 3c (z a parameter-free op); {c1x1} | rest = 2a + c; any other
    partition is smaller still. 4c - a beats 3a + 3c exactly when c > 4a, i.e. 9C^2 + 2C >
    4C^2 + 8C, true for every C >= 2. Hence {nor_conv_3x3} | {none, skip, c1x1, pool}.
    """
    assert "params" in list_metrics()  # a registered metric: its loss fails, not skips
    tree = grow("params", data, depth=1, branch=2)
    split = tree.nodes[0].split
    assert split.edge == 0
    rest = ("none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3")
    assert split.groups == (rest, ("nor_conv_3x3",))  # canonical order: by first op
    s = split.scores
    assert s["none"] == s["skip_connect"] == s["avg_pool_3x3"] < s["nor_conv_1x1"]
    a, c = (s[op] - s["none"] for op in ("nor_conv_1x1", "nor_conv_3x3"))
    assert c > 4 * a


def test_score_policy_picks_the_largest_raw_cut_and_records_every_edge(data):
    from fewshot.splitting.candidates import evaluate_edge
    from fewshot.splitting.engine import node_seed
    from fewshot.splitting.partition import best_partition

    edges = (0, 3, 5)
    tree = grow("snip", data, depth=1, branch=2, edge_policy="score", edges=edges)
    chosen = tree.nodes[0].split
    net = initial_supernet(C=4, N=1, num_classes=data.num_classes, seed=SEED)
    seed = node_seed(SEED, 0)
    cuts = {}
    for edge in edges:
        ev = evaluate_edge(net, Mask.full(), edge, "snip", data, seed=seed)
        cuts[edge] = best_partition(ev.distance, 2).cut
    assert len(set(cuts.values())) == 3  # no tie: the choice is by value alone
    assert chosen.edge == max(edges, key=cuts.__getitem__)
    assert chosen.edge_cuts == pytest.approx(cuts)


def test_unsplittable_nodes_become_leaves_with_a_note(data):
    """Branch 3 on edge 0 only: children with < 3 ops on edge 0 cannot split again."""
    tree = grow("snip", data, depth=2, branch=3, edges=(0,))
    assert tree.complete
    assert_children_partition_parents(tree)
    kids = tree.children(0)
    assert len(kids) == 3
    for kid in kids:
        if len(kid.mask.ops(0)) < 3:
            assert kid.split is None and "no allowed edge has >= 3 enabled ops" in kid.note
        else:
            assert kid.split is not None and kid.split.edge == 0
    assert any(k.note for k in kids)  # 5 ops into 3 groups: some group has < 3 ops


def test_fixed_policy_moves_on_when_the_edge_is_too_narrow(data):
    """Depth 2 on edges (0, 0, 1): level 1 edge 0 is too narrow for some child: edge 1 then."""
    tree = grow("snip", data, depth=2, branch=2, edges=(0, 0, 1))
    for kid in tree.children(0):
        expected = 0 if len(kid.mask.ops(0)) >= 2 else 1
        assert kid.split.edge == expected


def test_balanced_splits_have_equal_as_possible_groups(data):
    tree = grow("snip", data, depth=2, branch=2, balanced=True)
    for _, split in tree.splits():
        sizes = [len(g) for g in split.groups]
        assert max(sizes) - min(sizes) <= 1


def test_the_engine_never_mutates_the_supernet(data):
    net = initial_supernet(C=4, N=1, num_classes=data.num_classes, seed=SEED)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    s = SplitSettings(metric="snip", depth=2, branch=2, seed=SEED)
    SplitEngine(s, net, data, progress=False).run(SplitTree("snip", SEED, "random"))
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net.search_mask == Mask.full() and net.mode == "mixture"
    assert all(p.grad is None for p in net.parameters())


def test_same_seed_same_tree_other_seed_other_weights(data):
    a, b = grow("snip", data, depth=1), grow("snip", data, depth=1)
    assert [n.to_dict() for n in a.nodes] == [n.to_dict() for n in b.nodes]
    net0 = initial_supernet(C=4, N=1, num_classes=10, seed=0)
    net1 = initial_supernet(C=4, N=1, num_classes=10, seed=1)
    assert not torch.equal(net0.stem[0].weight, net1.stem[0].weight)


def test_max_splits_then_run_again_equals_one_run(data):
    s = SplitSettings(metric="snip", depth=2, branch=2, seed=SEED)
    net = initial_supernet(C=4, N=1, num_classes=data.num_classes, seed=SEED)
    tree = SplitTree("snip", SEED, "random")
    engine = SplitEngine(s, net, data, progress=False)
    engine.run(tree, max_splits=1)
    assert not tree.complete and sum(1 for _ in tree.splits()) == 1
    whole = grow("snip", data, depth=2, branch=2)
    resumed = SplitTree.from_dict(tree.to_dict())  # as if reloaded from tree.json
    SplitEngine(s, net, data, progress=False).run(resumed)
    assert [n.to_dict() for n in resumed.nodes] == [n.to_dict() for n in whole.nodes]
    t = resumed.timings
    assert t["forward_passes"] == whole.timings["forward_passes"] > 0
