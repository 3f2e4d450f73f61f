"""Candidates of an edge: the fast path (one scratch copy, masks swapped) equals the plain one."""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings

import numpy as np
import pytest
import torch

from fewshot.metrics.base import (
    MetricError,
    ProbeCache,
    ScoringData,
    compute_metrics,
    compute_pairwise,
    get_metric,
    list_metrics,
)
from fewshot.metrics.settings import MetricSettings
from fewshot.spaces.nb201 import Mask
from fewshot.splitting import candidates as candidates_module
from fewshot.splitting.candidates import (
    PassCounter,
    candidate_masks,
    counting_passes,
    evaluate_edge,
    metric_kind,
    scalar_distance,
    scale_scores,
)
from fewshot.splitting.engine import initial_supernet

# A node below the root: edges 0 and 1 already restricted, so disabled ops are in play.
NODE = (
    Mask.full()
    .restrict(0, ["none", "nor_conv_1x1", "nor_conv_3x3"])
    .restrict(1, ["skip_connect", "nor_conv_3x3", "avg_pool_3x3"])
)
EDGE = 1
SEED = 7


@pytest.fixture(scope="module")
def data() -> ScoringData:
    return ScoringData.random(batch_size=8, num_batches=2, image_size=8, seed=3)


def fresh_net(data: ScoringData):
    return initial_supernet(C=4, N=1, num_classes=data.num_classes, seed=0)


def reference_scores(metric: str, data: ScoringData) -> list[float]:
    """The plain path: per candidate, a fresh supernet with the candidate mask, one
    compute_metrics call (its own deep copy)."""
    values = []
    for m in candidate_masks(NODE, EDGE):
        net = fresh_net(data)
        net.set_mask(m)
        torch.manual_seed(SEED)
        values.append(compute_metrics(net, data, [metric], seed=SEED)[metric].value)
    return values


@pytest.mark.parametrize("metric", list_metrics(kind="scalar"))
def test_fast_path_scores_equal_the_plain_path(metric, data):
    net = fresh_net(data)
    ev = evaluate_edge(net, NODE, EDGE, metric, data, seed=SEED)
    assert ev.ops == NODE.ops(EDGE)
    assert [ev.scores[op] for op in ev.ops] == reference_scores(metric, data)  # bit for bit
    np.testing.assert_array_equal(ev.distance, scalar_distance([ev.scores[o] for o in ev.ops]))


@pytest.mark.parametrize("metric", list_metrics(kind="pairwise"))
def test_pairwise_fast_path_equals_compute_pairwise(metric, data):
    net = fresh_net(data)
    ev = evaluate_edge(net, NODE, EDGE, metric, data, seed=SEED)
    nets = []
    for m in candidate_masks(NODE, EDGE):
        n = copy.deepcopy(fresh_net(data))
        n.set_mask(m)
        nets.append(n)
    torch.manual_seed(SEED)
    ref = compute_pairwise(nets, data, metric, seed=SEED).distance
    ref = np.clip((ref + ref.T) / 2, 0, None)
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_array_equal(ev.distance, ref)
    assert ev.scores is None and ev.distance.shape == (3, 3)


def test_evaluation_leaves_the_supernet_as_it_was(data):
    net = fresh_net(data)
    net.set_mask(NODE)
    net.mode = "single_path"
    before = copy.deepcopy(net.state_dict())
    evaluate_edge(net, NODE, EDGE, "snip", data, seed=SEED)
    evaluate_edge(net, NODE, EDGE, "gm", data, seed=SEED)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.search_mask == NODE and net.mode == "single_path"
    assert all(p.grad is None for p in net.parameters())


def test_candidates_share_weights_and_differ_only_on_the_edge():
    masks = candidate_masks(NODE, EDGE)
    assert [m.ops(EDGE) for m in masks] == [(op,) for op in NODE.ops(EDGE)]
    for m in masks:
        assert all(m.ops(e) == NODE.ops(e) for e in range(6) if e != EDGE)


def test_pass_counter_counts_one_forward_and_backward_per_snip_candidate(data):
    net = fresh_net(data)
    counter = PassCounter()
    with counting_passes(net, counter):
        evaluate_edge(net, NODE, EDGE, "snip", data, seed=SEED)
    assert (counter.forward, counter.backward) == (3, 3)
    with counting_passes(net, counter):
        evaluate_edge(net, NODE, EDGE, "gm", data, seed=SEED)  # 3 candidates x 2 batches
    assert (counter.forward, counter.backward) == (9, 9)


def test_parameter_free_ops_are_at_distance_zero_under_params(data):
    """``params`` cannot tell parameter-free ops apart: their distances are exactly 0."""
    assert "params" in list_metrics()  # a registered metric: its loss fails, not skips
    ev = evaluate_edge(fresh_net(data), Mask.full(), 0, "params", data)
    i = [ev.ops.index(op) for op in ("none", "skip_connect", "avg_pool_3x3")]
    assert not ev.distance[np.ix_(i, i)].any()
    assert ev.distance[i[0], ev.ops.index("nor_conv_1x1")] > 0


@pytest.mark.parametrize("n_ops", [2, 3, 5])
def test_mixed_edge_running_sum_has_the_bits_of_a_stacked_sum(n_ops):
    """The supernet's mixture adds op outputs one by one (faster than stacking them): the
    result must be bit-identical to ``torch.stack(outs).sum(0) / n`` and so must the grads."""
    from fewshot.models.supernet import MixedEdge
    from fewshot.spaces.nb201 import OPS

    torch.manual_seed(n_ops)
    ops = OPS[len(OPS) - n_ops :]  # ends with the parametric convs and the pool
    edge = MixedEdge(8, tuple(OPS), affine=True, track_running_stats=True).train()
    x = torch.randn(16, 8, 12, 12, requires_grad=True)
    fast = edge(x, ops)
    (g_fast,) = torch.autograd.grad(fast.square().sum(), x)
    outs = [edge.ops[o](x) for o in ops if o != "none"]
    slow = torch.stack(outs).sum(0) / len(ops)
    (g_slow,) = torch.autograd.grad(slow.square().sum(), x)
    assert torch.equal(fast, slow) and torch.equal(g_fast, g_slow)


# -- scales, kinds, masks and checks by hand (survivors of the mutation run) ------------------


def test_scales_by_hand():
    f = [3, -1, 3, 2]  # integers come back as floats
    raw = scale_scores(f)
    assert raw.dtype == np.float64 and raw.tolist() == [3.0, -1.0, 3.0, 2.0]
    assert scale_scores(f, "log") == pytest.approx(np.log([3.0, 1.0, 3.0, 2.0]))
    assert scale_scores(f, "rank").tolist() == [3.5, 1.0, 3.5, 2.0]  # average ranks of ties
    assert np.isnan(scale_scores([1.0, np.nan, 2.0], "rank")).all()
    assert np.isnan(scale_scores([1.0, np.inf], "rank")).all()
    with pytest.raises(ValueError, match=r"^unknown distance scale 'sqrt'; known: \['raw', 'log',"):
        scale_scores(f, "sqrt")


def test_log_scale_of_zero_is_minus_inf_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scale_scores([0.0, np.e], "log").tolist() == [-np.inf, 1.0]
        D = scalar_distance([0.0, np.e, 1.0], "log")
    assert D[1, 2] == D[2, 1] == 1.0 and D[0, 1] == np.inf
    assert (np.diag(D) == 0).all()


def test_metric_kinds_come_from_the_registry():
    assert metric_kind("random") == "random"
    assert metric_kind("snip") == "scalar" and metric_kind("gm") == "pairwise"


def test_without_candidates_drop_one_op_each():
    masks = candidate_masks(NODE, EDGE, "without")
    ops = NODE.ops(EDGE)
    assert [m.ops(EDGE) for m in masks] == [tuple(o for o in ops if o != op) for op in ops]
    assert all(m.ops(0) == NODE.ops(0) for m in masks)  # other edges untouched
    with pytest.raises(MetricError, match=r"'without' candidates need >= 2 ops on edge 1"):
        candidate_masks(NODE.restrict(EDGE, ["skip_connect"]), EDGE, "without")
    with pytest.raises(ValueError, match=r"unknown candidate mode 'all'; known: \['only'"):
        candidate_masks(NODE, EDGE, "all")


class Ticks:
    def __init__(self) -> None:
        self.n = 0

    def update(self, n: int) -> None:
        self.n += n


def test_random_baseline_scores_nothing_and_ticks_every_op(data):
    ticks = Ticks()
    ev = evaluate_edge(fresh_net(data), NODE, EDGE, "random", data, progress=ticks)
    assert ev.edge == EDGE and ev.ops == NODE.ops(EDGE) and ev.scores is None and ticks.n == 3
    assert (ev.distance == np.zeros((3, 3))).all() and ev.similarity is None


def test_nonfinite_scores_raise_unless_kept():
    scores = {"none": 1.0, "skip_connect": float("nan"), "nor_conv_3x3": float("inf")}
    with pytest.raises(MetricError, match=r"^metric 'snip' gave non-finite scores .* edge 4; a"):
        candidates_module._check_scores("snip", 4, scores, keep_nonfinite=False)
    kept = candidates_module._check_scores("snip", 4, scores, keep_nonfinite=True)
    assert kept == ("skip_connect", "nor_conv_3x3")
    assert candidates_module._check_scores("snip", 4, {"none": 1.0}, False) == ()


def test_symmetrise_checks_shape_finiteness_and_sign():
    sym = candidates_module._symmetrise
    D = np.array([[5.0, 1.0, 2.0], [1.2, 5.0, -1e-12], [2.0, 0.0, 5.0]])
    assert sym("gm", D, 3).tolist() == [[0.0, 1.1, 2.0], [1.1, 0.0, 0.0], [2.0, 0.0, 0.0]]
    with pytest.raises(MetricError, match=r"^metric 'gm' returned a \(3, 3\) matrix for 2 candid"):
        sym("gm", D, 2)
    bad = np.array([[0.0, np.nan], [np.nan, 0.0]])
    with pytest.raises(MetricError, match=r"^metric 'gm' returned non-finite candidate dist"):
        sym("gm", bad, 2)
    assert np.isnan(sym("gm", bad, 2, keep_nonfinite=True)[0, 1])
    with pytest.raises(MetricError, match=r"^metric 'gm' returned negative distances"):
        sym("gm", np.array([[0.0, -0.1], [-0.1, 0.0]]), 2)


def test_kept_nonfinite_scores_are_named_on_the_evaluation(data, monkeypatch):
    values = iter([1.0, float("nan"), 3.0])
    monkeypatch.setattr(candidates_module, "score_with_cache", lambda spec, cache: next(values))
    ev = evaluate_edge(
        fresh_net(data), NODE, EDGE, "snip", data,
        settings=MetricSettings(keep_nonfinite=True), scale="raw",
    )  # fmt: skip
    assert ev.nonfinite_ops == ("nor_conv_3x3",) and ev.distance[0, 2] == 2.0


def test_an_evaluation_records_its_time_kind_and_default_seed(data):
    net = fresh_net(data)
    start = time.perf_counter()
    ev = evaluate_edge(net, NODE, EDGE, "zen", data)  # zen draws from the seeded generator
    assert 0 < ev.seconds <= time.perf_counter() - start
    assert ev.similarity is None and ev.nonfinite_ops == ()
    assert ev.scores == evaluate_edge(net, NODE, EDGE, "zen", data, seed=0).scores
    assert ev.scores != evaluate_edge(net, NODE, EDGE, "zen", data, seed=1).scores
    gm = evaluate_edge(net, NODE, EDGE, "gm", data)
    np.testing.assert_array_equal(gm.similarity, 1.0 - gm.distance)


def test_a_metric_returning_a_plain_float_is_scored(data):
    spec = dataclasses.replace(get_metric("snip"), fn=lambda cache: 2.5)
    assert candidates_module.score_with_cache(spec, ProbeCache(fresh_net(data), data)) == 2.5
