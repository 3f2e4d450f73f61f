"""Search inside a leaf (candidates, BN recalibration per arch, ranking) and its evaluation."""

from __future__ import annotations

import pytest
import torch

from fewshot.correlation import tau_and_rho
from fewshot.models.supernet import Supernet
from fewshot.spaces.nb201 import Arch, Mask
from fewshot.training.evaluate import evaluate_search
from fewshot.training.search import (
    LeafSearch,
    ScoredArch,
    _arch_at,
    candidate_archs,
    rebatch,
    recalibrate_bn,
    search_leaf,
    take_batches,
)

# 2 x 3 x 2 = 12 archs
MASK = Mask.from_op_lists(
    [
        ["skip_connect", "nor_conv_3x3"],
        ["none", "nor_conv_1x1", "avg_pool_3x3"],
        ["skip_connect", "nor_conv_3x3"],
        ["nor_conv_3x3"],
        ["skip_connect"],
        ["nor_conv_1x1"],
    ]
)


def _batches(n: int = 3, size: int = 8, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(8, 3, size, size, generator=g), torch.randint(0, 10, (8,), generator=g))
        for _ in range(n)
    ]


def test_candidates_are_all_archs_of_a_small_mask_in_order():
    assert candidate_archs(MASK, 12) == list(MASK.archs())
    assert [_arch_at(MASK, i) for i in range(12)] == list(MASK.archs())


def test_candidates_sample_distinct_archs_of_the_mask_deterministically():
    picks = candidate_archs(Mask.full(), 50, seed=1)
    assert len(set(picks)) == 50 and all(a in Mask.full() for a in picks)
    assert picks == candidate_archs(Mask.full(), 50, seed=1)
    assert picks != candidate_archs(Mask.full(), 50, seed=2)
    with pytest.raises(ValueError, match="positive"):
        candidate_archs(MASK, 0)


def test_recalibration_sets_bn_stats_to_the_arch_data_average():
    net = Supernet(C=4, N=1, candidates=MASK).eval()
    batches = _batches()
    momentum = net.stem[1].momentum
    recalibrate_bn(net, next(iter(MASK.archs())), batches)
    with torch.no_grad():
        stem_out = torch.cat([net.stem[0](x) for x, _ in batches])
    expected = stem_out.mean(dim=(0, 2, 3))
    torch.testing.assert_close(net.stem[1].running_mean, expected, rtol=1e-4, atol=1e-5)
    assert net.stem[1].momentum == momentum and not net.training


def test_scores_do_not_depend_on_other_archs_and_model_is_untouched():
    torch.manual_seed(0)
    net = Supernet(C=4, N=1, candidates=MASK)
    calib, val = _batches(2), _batches(2, seed=1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    archs = list(MASK.archs())
    full = search_leaf(net, archs, calib, val, leaf="7")
    alone = search_leaf(net, archs[5:6], calib, val)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert {s.arch: s.predicted for s in full.scored}[archs[5]] == alone.best.predicted
    predicted = [s.predicted for s in full.scored]
    assert predicted == sorted(predicted, reverse=True) and len(predicted) == 12
    assert all(0.0 <= p <= 100.0 for p in predicted) and full.leaf == "7" and full.mask == MASK


def test_held_out_scoring_in_one_large_batch_on_the_device_path_gives_the_same_ranking():
    """The GPU path (batches taken once onto the device, the held-out set regrouped into one
    forward per arch) on CPU tensors: the same examples in the same order, the same scores."""
    torch.manual_seed(0)
    net = Supernet(C=4, N=1, candidates=MASK)
    device = torch.device("cpu")
    calib = take_batches(_batches(2), None, device)
    val = take_batches(_batches(5, seed=1), None, device)  # 5 batches of 8
    whole = rebatch(val, 1000)
    assert len(whole) == 1 and whole[0][0].shape[0] == 40 and whole[0][0].device == device
    assert torch.equal(whole[0][1], torch.cat([y for _, y in val]))
    assert [len(y) for _, y in rebatch(val, 16)] == [16, 16, 8] and rebatch(val, None) == val
    archs = list(MASK.archs())
    small, large = search_leaf(net, archs, calib, val), search_leaf(net, archs, calib, whole)
    assert [s.to_dict() for s in small.scored] == [s.to_dict() for s in large.scored]
    with pytest.raises(ValueError, match="positive"):
        rebatch(val, 0)


def test_tau_and_rho_by_hand():
    res = tau_and_rho([1, 2, 3, 4], [1, 3, 2, 4])
    assert res["kendall_tau"] == pytest.approx(4 / 6)  # 5 concordant, 1 discordant pair
    assert res["spearman"] == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert tau_and_rho([1, 2], [2, 1])["kendall_tau"] == pytest.approx(-1)
    assert tau_and_rho([5, 5, 5], [1, 2, 3]) == {"kendall_tau": None, "spearman": None}
    assert tau_and_rho([1], [1]) == {"kendall_tau": None, "spearman": None}
    with pytest.raises(ValueError):
        tau_and_rho([1, 2], [1])


class _Table:
    """Benchmark stand-in: accuracy grows with the number of 3x3 convs (no ``best``: scan)."""

    def accuracy(self, arch: Arch, dataset: str = "cifar10") -> float:
        return 80.0 + 2.0 * arch.ops.count("nor_conv_3x3") + 0.1 * arch.ops.count("nor_conv_1x1")


def _leaf(name: str, mask: Mask, predicted: dict[Arch, float]) -> LeafSearch:
    scored = sorted((ScoredArch(a, p) for a, p in predicted.items()), key=lambda s: -s.predicted)
    return LeafSearch(name, mask, scored)


def test_evaluation_per_leaf_and_overall():
    table = _Table()
    left, right = MASK.restrict(0, ["skip_connect"]), MASK.restrict(0, ["nor_conv_3x3"])
    a_left, a_right = list(left.archs()), list(right.archs())
    # leaf "a" ranks perfectly; leaf "b" exactly backwards, and holds the highest prediction
    good = {a: table.accuracy(a) - 75 for a in a_left[:4]}
    bad = {a: 100 - table.accuracy(a) for a in a_right[:4]}
    res = evaluate_search(table, [_leaf("a", left, good), _leaf("b", right, bad)])
    assert res["leaves"]["a"]["kendall_tau"] == pytest.approx(1.0)
    assert res["leaves"]["b"]["kendall_tau"] == pytest.approx(-1.0)
    space = max(table.accuracy(a) for a in Mask.full().archs())
    assert res["space_optimum"]["true"] == pytest.approx(space)
    chosen = max(bad, key=bad.get)  # worst true accuracy of leaf b
    o = res["overall"]
    assert o["chosen"]["leaf"] == "b" and o["chosen"]["arch"] == chosen.to_string()
    assert o["regret_space"] == pytest.approx(space - table.accuracy(chosen))
    leaf_best = max(table.accuracy(a) for a in right.archs())
    assert o["regret_leaf"] == pytest.approx(leaf_best - table.accuracy(chosen))
    assert o["num_scored"] == 8 and o["kendall_tau"] is not None
    with pytest.raises(ValueError):
        evaluate_search(table, [])
