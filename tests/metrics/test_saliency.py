"""Saliency metrics (grad_norm, snip, grasp, fisher, synflow) against hand computations."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.metrics import MetricError, ScoringData, compute_metric, compute_metrics
from fewshot.metrics.saliency import batchnorm_free_copy, synflow_pass
from fewshot.metrics.settings import MetricSettings
from fewshot.models.supernet import build_network

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def flat_data(x: torch.Tensor, num_classes: int = 3, seed: int = 0) -> ScoringData:
    """ScoringData for (B, D) vectors shaped as (B, D, 1, 1) images; random labels."""
    y = torch.randint(num_classes, (x.shape[0],), generator=torch.Generator().manual_seed(seed))
    return ScoringData(((x.reshape(x.shape[0], -1, 1, 1), y),), num_classes)


def mlp(bias: bool = True, bn: bool = True, seed: int = 0) -> nn.Sequential:
    """Flatten -> Linear(6, 5) [-> BN] -> ReLU -> Linear(5, 3)."""
    torch.manual_seed(seed)
    mid = [nn.BatchNorm1d(5)] if bn else []
    return nn.Sequential(
        nn.Flatten(), nn.Linear(6, 5, bias=bias), *mid, nn.ReLU(), nn.Linear(5, 3, bias=bias)
    )


def hand_grads(net: nn.Module, data: ScoringData) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(weight, dL/dweight) of every Linear/Conv2d, cross-entropy on the main batch, train mode."""
    net = copy.deepcopy(net).train()
    x, y = data.batches[0]
    F.cross_entropy(net(x), y).backward()
    return {
        n: (m.weight.detach(), m.weight.grad.detach())
        for n, m in net.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    }


@pytest.fixture
def data() -> ScoringData:
    return flat_data(torch.randn(8, 6, generator=torch.Generator().manual_seed(1)))


# -- grad_norm, snip ------------------------------------------------------------------------


def test_grad_norm_is_the_sum_of_per_layer_norms(data: ScoringData):
    net = mlp()
    grads = hand_grads(net, data)
    expected = sum(float(g.norm()) for _, g in grads.values())
    global_norm = math.sqrt(sum(float(g.pow(2).sum()) for _, g in grads.values()))
    result = compute_metric(net, data, "grad_norm")
    assert result.value == pytest.approx(expected, rel=1e-6)
    assert result.value != pytest.approx(global_norm, rel=1e-3)  # not one global norm
    assert set(result.per_layer) == {"1", "4"}  # Linear layers only: no BN, no biases


def test_snip_is_sum_abs_weight_times_grad_without_biases(data: ScoringData):
    net = mlp()
    expected = sum(float((w * g).abs().sum()) for w, g in hand_grads(net, data).values())
    assert compute_metric(net, data, "snip").value == pytest.approx(expected, rel=1e-6)


def test_saliency_uses_train_mode_batchnorm_whatever_the_input_mode(data: ScoringData):
    """BN in train mode (batch statistics), as zero-cost-nas: an eval-mode net scores the same."""
    net = mlp()
    train_value = compute_metric(net, data, "snip").value
    net.eval()
    assert compute_metric(net, data, "snip").value == train_value


def test_grad_norm_and_snip_on_an_nb201_network_by_hand():
    torch.manual_seed(0)
    net = build_network(ARCH, C=4, N=1)
    data = ScoringData.random(batch_size=8, num_batches=1, image_size=8)
    grads = hand_grads(net, data)
    result = compute_metrics(net, data, ["grad_norm", "snip"])
    assert result["grad_norm"].value == pytest.approx(
        sum(float(g.norm()) for _, g in grads.values()), rel=1e-6
    )
    assert result["snip"].value == pytest.approx(
        sum(float((w * g).abs().sum()) for w, g in grads.values()), rel=1e-6
    )


# -- grasp ----------------------------------------------------------------------------------


def test_grasp_is_minus_w_times_hessian_gradient_product(data: ScoringData):
    net = mlp(bias=True, bn=True).train()
    x, y = data.batches[0]
    names = ["1.weight", "4.weight"]
    params = dict(copy.deepcopy(net).named_parameters())

    def loss(*weights: torch.Tensor) -> torch.Tensor:
        p = {**{k: v.detach() for k, v in params.items()}, **dict(zip(names, weights, strict=True))}
        return F.cross_entropy(torch.func.functional_call(net, p, (x,)), y)

    w = tuple(params[n].detach() for n in names)
    g = torch.autograd.grad(loss(*[t.requires_grad_() for t in w]), w)
    _, hg = torch.autograd.functional.hvp(loss, w, g)
    hg = tuple(h.detach() for h in hg)
    expected = sum(float((-wi.detach() * hi).sum()) for wi, hi in zip(w, hg, strict=True))
    result = compute_metric(net, data, "grasp")
    assert result.value == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_grasp_keeps_its_sign():
    """GraSP is a signed sum (zero-cost-nas reports negative values on NB201)."""
    values = []
    for seed in range(4):
        torch.manual_seed(seed)
        data = ScoringData.random(batch_size=8, num_batches=1, image_size=8, seed=seed)
        values.append(compute_metric(build_network(ARCH, C=4, N=1), data, "grasp").value)
    assert min(values) < 0 < max(values)


# -- fisher ---------------------------------------------------------------------------------


class ConvNet(nn.Module):
    """Conv -> BN -> ReLU -> global pool -> Linear: one conv and one linear output."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor, keep: list | None = None) -> torch.Tensor:
        a = self.conv(x)
        h = F.relu(self.bn(a)).mean((2, 3))
        z = self.fc(h)
        if keep is not None:
            a.retain_grad(), z.retain_grad()
            keep.extend([a, z])
        return z


def test_fisher_per_channel_formula():
    """0.5 * mean_n (sum_space a * dL/da)^2 per output channel, weighted by the channel's
    weight count (zero-cost-nas broadcasts it over the weights), summed (conv and linear)."""
    net = ConvNet()
    data = ScoringData.random(batch_size=6, num_batches=1, num_classes=5, image_size=5)
    x, y = data.batches[0]
    kept: list = []
    F.cross_entropy(copy.deepcopy(net).train()(x, kept), y).backward()
    a, z = kept
    conv = 0.5 * (a * a.grad).detach().sum((2, 3)).pow(2).mean(0)
    fc = 0.5 * (z * z.grad).detach().pow(2).mean(0)
    result = compute_metric(net, data, "fisher")
    conv_w, fc_w = 3 * 3 * 3, 4  # weights per output channel: C_in * kh * kw, in_features
    assert result.per_layer["conv"] == pytest.approx(float(conv.sum()) * conv_w, rel=1e-5)
    assert result.per_layer["fc"] == pytest.approx(float(fc.sum()) * fc_w, rel=1e-5)
    total = float(conv.sum()) * conv_w + float(fc.sum()) * fc_w
    assert result.value == pytest.approx(total, rel=1e-5)
    assert result.extras["per_channel"] == pytest.approx(float(conv.sum() + fc.sum()), rel=1e-5)


# -- synflow --------------------------------------------------------------------------------


def synflow_by_hand(net: nn.Sequential) -> float:
    """Linear(W1,b1) -> BN -> ReLU -> Linear(W2,b2): |.| everything, input ones, BN dropped.

    h = |W1| 1 + |b1|; R = sum(|W2| h + |b2|); dR/dW2[k, i] = h_i and dR/dW1[i, j] = u_i with
    u = column sums of |W2|. Saliencies |w| * dR/dw summed over both weight matrices.
    """
    W1, b1 = net[1].weight.detach().double().abs(), net[1].bias.detach().double().abs()
    W2 = net[4].weight.detach().double().abs()
    h = W1.sum(1) + b1
    u = W2.sum(0)
    return float((W1 * u[:, None]).sum() + (W2 * h[None, :]).sum())


def test_synflow_on_a_tiny_linear_network_equals_its_closed_form(data: ScoringData):
    net = mlp(bias=True, bn=True)
    with torch.no_grad():  # a BN that would change the value if it were kept
        net[2].weight.fill_(3.0)
        net[2].running_var.fill_(0.01)
    result = compute_metric(net, data, "synflow")
    expected = synflow_by_hand(net)
    assert result.value == pytest.approx(expected, rel=1e-12)
    assert result.extras["log"] == pytest.approx(math.log(expected), rel=1e-12)
    assert compute_metric(net, data, "synflow_log").value == pytest.approx(math.log(expected))


def test_synflow_is_the_layer_count_times_R_without_biases():
    """Bias-free ReLU net of all-positive weights: each layer's saliencies sum to R (Euler)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), *[nn.Linear(4, 4, bias=False) for _ in range(3)])
    R = torch.ones(4, dtype=torch.float64)
    for layer in net[1:]:
        R = layer.weight.detach().double().abs() @ R
    data = flat_data(torch.randn(2, 4))
    assert compute_metric(net, data, "synflow").value == pytest.approx(3 * float(R.sum()))


def test_synflow_does_not_depend_on_the_batch_or_bn_mode(data: ScoringData):
    net = mlp()
    value = compute_metric(net, data, "synflow").value
    other = flat_data(torch.randn(3, 6) * 100)
    assert compute_metric(net.eval(), other, "synflow").value == value


def test_synflow_rescaled_pass_is_exact_with_biases():
    net = batchnorm_free_copy(mlp(bias=True)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    plain = synflow_pass(net, (6, 1, 1), 0)
    scaled = synflow_pass(net, (6, 1, 1), 500)
    for name, s in plain.items():
        torch.testing.assert_close(scaled[name] * 2.0**1000, s, rtol=1e-12, atol=0)
    assert all(torch.equal(p, p.abs()) for p in net.parameters())  # the pass used a copy


def test_synflow_beyond_float64_raises_and_synflow_log_is_exact():
    """150 layers of |W| = 100 (2x2): h grows 200x per layer, R = 2 * 200^150 > 1e308."""
    layers = [nn.Linear(2, 2, bias=False) for _ in range(150)]
    for layer in layers:
        nn.init.constant_(layer.weight, -100.0)  # abs() makes them +100
    net = nn.Sequential(nn.Flatten(), *layers)
    data = flat_data(torch.randn(2, 2))
    with pytest.raises(MetricError, match="synflow_log"):
        compute_metric(net, data, "synflow")
    expected = math.log(150) + math.log(2) + 150 * math.log(200)
    logged = compute_metric(net, data, "synflow_log")
    assert logged.value == pytest.approx(expected, rel=1e-12)
    kept = compute_metric(net, data, "synflow", settings=MetricSettings(keep_nonfinite=True))
    assert kept.value == math.inf and set(kept.per_layer) == set(logged.per_layer)
    for name, log_value in logged.per_layer.items():  # per-layer sums back on the true scale
        true = math.exp(log_value) if log_value < 709 else math.inf
        assert kept.per_layer[name] == pytest.approx(true, rel=1e-9)


def test_synflow_log_of_a_dead_network_raises():
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2, bias=False))
    nn.init.zeros_(net[1].weight)
    with pytest.raises(MetricError, match="log is undefined"):
        compute_metric(net, flat_data(torch.randn(2, 2)), "synflow_log")


def test_fisher_is_recorded_only_for_caches_that_serve_it():
    """The shared backward skips the Fisher hooks when fisher is not asked for, and a cache
    made without fisher refuses it (a clear error, never a silent 0)."""
    from fewshot.metrics import ProbeCache
    from fewshot.metrics.saliency import fisher

    net = ConvNet()
    data = ScoringData.random(batch_size=6, num_batches=1, num_classes=5, image_size=5)
    snip_only = ProbeCache(net, data, metrics=["snip"])
    assert all(lg.fisher is None for lg in snip_only.get("grads").values())
    with pytest.raises(MetricError, match="fisher was not among the metrics"):
        fisher(snip_only)
    assert compute_metrics(net, data, ["snip"])["snip"].value == pytest.approx(
        compute_metrics(net, data, ["snip", "fisher"])["snip"].value, rel=0, abs=0
    )
    any_metric = ProbeCache(net, data)
    assert all(lg.fisher is not None for lg in any_metric.get("grads").values())
