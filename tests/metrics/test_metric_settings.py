"""Metric settings (BN mode, gradient target and layout, synflow dtype, lr mode): every
registered metric under every recipe's settings, and hand computations of the framework
paper's weight-gradient-matrix forms."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.metrics import (
    MetricError,
    ProbeCache,
    ScoringData,
    compute_metric,
    compute_pairwise,
    list_metrics,
)
from fewshot.metrics.jacob_cov import jacob_cov_score
from fewshot.metrics.settings import MetricSettings
from fewshot.models.init import initialize
from fewshot.models.supernet import Supernet
from fewshot.spaces.nb201 import Mask
from fewshot.splitting.recipes import get_recipe, list_recipes

SCALAR = list_metrics(kind="scalar")
LY = get_recipe("ly-manson").metric_settings


def tiny(seed: int = 0, init: str = "kaiming_fan_out") -> Supernet:
    torch.manual_seed(seed)
    return initialize(Supernet(C=4, N=1, num_classes=10), init)


@pytest.fixture(scope="module")
def data() -> ScoringData:
    return ScoringData.random(batch_size=8, num_batches=2, num_classes=10, image_size=8)


def state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("recipe", list_recipes())
@pytest.mark.parametrize("name", SCALAR)
def test_every_metric_runs_under_every_recipe(name, recipe, data):
    """Deterministic, never mutates the network (weights, buffers, mode), finite or flagged."""
    settings = get_recipe(recipe).metric_settings
    net = tiny()
    net.train()
    before = state(net)
    a = compute_metric(net, data, name, seed=3, settings=settings).value
    b = compute_metric(net, data, name, seed=3, settings=settings).value
    assert a == b or (math.isnan(a) and math.isnan(b))
    assert net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert math.isfinite(a) or settings.keep_nonfinite


def weight_grad_matrix(net: nn.Module, x: torch.Tensor, rows: int) -> torch.Tensor:
    """G by hand: d(sum of logits)/dw, eval-mode BN, each weight to ``rows`` rows, hstacked."""
    work = copy.deepcopy(net).eval()
    layers = [m for m in work.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    grads = torch.autograd.grad(work(x).sum(), [m.weight for m in layers], allow_unused=True)
    cols = [
        (g if g is not None else torch.zeros_like(m.weight)).reshape(rows, -1)
        for m, g in zip(layers, grads, strict=True)
    ]
    return torch.cat(cols, dim=1).double()


def test_channel_rows_forms_equal_hand_computations(data):
    net = tiny()
    x = data.inputs
    G = weight_grad_matrix(net, x, rows=4)
    assert G.shape[0] == 4
    grad_norm = compute_metric(net, data, "grad_norm", settings=LY).value
    assert grad_norm == pytest.approx(float(G.norm()), rel=1e-6)
    jc = compute_metric(net, data, "jacob_cov", settings=LY).value
    assert jc == pytest.approx(jacob_cov_score(G.numpy()), rel=1e-6)
    eig = np.linalg.eigvalsh((G @ G.T).numpy())
    ntk = compute_metric(net, data, "ntk", settings=LY)
    assert ntk.extras["condition_number"] == pytest.approx(eig[-1] / eig[0], rel=1e-5)


def test_channel_rows_gm_is_one_minus_cosine_of_flattened_g(data):
    nets = []
    for ops in (["nor_conv_3x3"], ["skip_connect"], ["avg_pool_3x3"]):
        n = tiny()
        n.set_mask(Mask.full().restrict(0, ops))
        nets.append(n)
    D = compute_pairwise(nets, data, "gm", settings=LY).distance
    g = [weight_grad_matrix(n, data.inputs, 4).reshape(-1) for n in nets]
    for i in range(3):
        for j in range(3):
            cos = float(g[i] @ g[j] / (g[i].norm() * g[j].norm()))
            assert D[i, j] == pytest.approx(0.0 if i == j else 1 - cos, abs=1e-9)


def test_logit_sum_target_differs_from_loss(data):
    net = tiny()
    loss = compute_metric(net, data, "grad_norm", settings=MetricSettings()).value
    logit = compute_metric(net, data, "grad_norm", settings=MetricSettings(grad_target="logit_sum"))
    work = copy.deepcopy(net).train()
    layers = [m for m in work.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    grads = torch.autograd.grad(
        work(data.inputs).sum(), [m.weight for m in layers], allow_unused=True
    )
    by_hand = sum(float(g.norm()) for g in grads if g is not None)
    assert logit.value == pytest.approx(by_hand, rel=1e-6)
    assert logit.value != pytest.approx(loss)


def test_bn_mode_eval_uses_running_statistics(data):
    """Eval-mode snip equals the hand value with running statistics (mean 0, var 1)."""
    net = tiny()
    work = copy.deepcopy(net).eval()
    loss = F.cross_entropy(work(data.inputs), data.targets)
    layers = [m for m in work.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    grads = torch.autograd.grad(loss, [m.weight for m in layers], allow_unused=True)
    by_hand = sum(
        float((m.weight.detach() * g).abs().sum())
        for m, g in zip(layers, grads, strict=True)
        if g is not None
    )
    eval_snip = compute_metric(net, data, "snip", settings=MetricSettings(bn_mode="eval")).value
    train_snip = compute_metric(net, data, "snip", settings=MetricSettings()).value
    assert eval_snip == pytest.approx(by_hand, rel=1e-6)
    assert eval_snip != pytest.approx(train_snip)


def test_synflow_float32_with_bn_kept_overflows_at_full_size_and_is_kept():
    """The artefact the ly-manson recipe reproduces: float32 synflow at C=16, N=5 overflows."""
    torch.manual_seed(0)
    net = initialize(Supernet(C=16, N=5, num_classes=10), "kaiming_fan_out")
    net.set_mask(Mask.full().restrict(0, ["nor_conv_3x3"]))
    one = ScoringData.random(batch_size=2, num_batches=1)
    value = compute_metric(net, one, "synflow", settings=LY).value
    assert not math.isfinite(value)
    with pytest.raises(MetricError, match="synflow"):
        compute_metric(net, one, "synflow", settings=LY.with_(keep_nonfinite=False))
    log = compute_metric(net, one, "synflow_log", settings=MetricSettings())  # float64, rescaled
    assert math.isfinite(log.value) and log.value > math.log(3.4e38)  # beyond float32


def test_synflow_float32_equals_float64_when_small(data):
    net = tiny(init="pytorch")
    s32 = MetricSettings(synflow_dtype="float32")
    a = compute_metric(net, data, "synflow", settings=s32).value
    b = compute_metric(net, data, "synflow").value
    assert a == pytest.approx(b, rel=1e-4)


def test_lr_batch_mode_counts_patterns_of_the_batch(data):
    net = tiny()
    value = compute_metric(net, data, "lr", settings=LY).value
    assert 1 <= value <= data.inputs.shape[0]  # at most one region per sample
    same = ScoringData(((data.inputs[:1].repeat(8, 1, 1, 1), data.targets),), 10)
    assert compute_metric(net, same, "lr", settings=LY).value == 1.0  # identical inputs


def test_kaiming_fan_out_init_statistics():
    torch.manual_seed(0)
    net = initialize(Supernet(C=16, N=1, num_classes=10), "kaiming_fan_out")
    conv = net.stem[0]
    fan_out = conv.out_channels * 3 * 3
    assert float(conv.weight.detach().std()) == pytest.approx(math.sqrt(2 / fan_out), rel=0.15)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bool((b.weight == 1).all() and (b.bias == 0).all()) for b in bns)
    assert float(net.classifier.bias.abs().max()) == 0.0


def test_settings_reject_unknown_values():
    with pytest.raises(ValueError, match="bn_mode"):
        MetricSettings(bn_mode="frozen")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown metric settings"):
        MetricSettings.from_dict({"bn": "eval"})


def test_cache_carries_settings(data):
    cache = ProbeCache(tiny(), data, settings=LY)
    assert not cache.working_copy().training  # eval-mode BN from the settings


def test_per_layer_logit_sum_needs_no_row_layout(data):
    """The C-row matrix G is built only when a channel_rows metric asks for it."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 10))
    settings = MetricSettings(grad_target="logit_sum")
    assert compute_metric(net, data, "grad_norm", settings=settings).value > 0
    with pytest.raises(MetricError, match="not divisible by 16"):
        compute_metric(net, data, "grad_norm", settings=settings.with_(grad_layout="channel_rows"))
