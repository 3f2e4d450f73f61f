"""zico (across-batch gradient statistics) and ssnr (per-layer saliency SNR) by hand."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.metrics import MetricError, ScoringData, compute_metric, compute_metrics
from fewshot.metrics.ssnr import layer_snr


def mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3)
    )


def batches(n: int, seed: int = 0, size: int = 8) -> ScoringData:
    g = torch.Generator().manual_seed(seed)
    return ScoringData(
        tuple(
            (torch.randn(size, 6, 1, 1, generator=g), torch.randint(3, (size,), generator=g))
            for _ in range(n)
        ),
        3,
    )


def per_batch_weight_grads(net: nn.Module, data: ScoringData) -> dict[str, np.ndarray]:
    """{layer: (B, n_weights)} cross-entropy weight gradients, one backward per batch."""
    net = copy.deepcopy(net).train()
    out: dict[str, list[np.ndarray]] = {}
    for x, y in data.batches:
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        for name, m in net.named_modules():
            if isinstance(m, nn.Linear):
                out.setdefault(name, []).append(m.weight.grad.reshape(-1).double().numpy())
    return {k: np.array(v) for k, v in out.items()}


def zico_by_hand(grads: dict[str, np.ndarray]) -> float:
    total = 0.0
    for g in grads.values():
        std = np.std(g, axis=0)  # population std, as the ZiCo code
        keep = std > 0
        total += math.log(np.sum(np.mean(np.abs(g), axis=0)[keep] / std[keep]))
    return total


# -- zico -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3])
def test_zico_by_hand(n: int):
    net, data = mlp(), batches(n)
    grads = per_batch_weight_grads(net, data)
    result = compute_metric(net, data, "zico")
    assert result.value == pytest.approx(zico_by_hand(grads), rel=1e-6)
    assert set(result.per_layer) == {"1", "4"}
    official = {k: np.cumsum(g, axis=0) for k, g in grads.items()}  # no zero_grad in the loop
    assert result.extras["accumulated"] == pytest.approx(zico_by_hand(official), rel=1e-6)


def test_zico_with_one_batch_raises_a_clear_error():
    with pytest.raises(MetricError, match="at least 2 batches"):
        compute_metric(mlp(), batches(1), "zico")


def test_zico_uses_every_batch():
    net = mlp()
    two, three = batches(3).batches[:2], batches(3).batches
    first = compute_metric(net, ScoringData(two, 3), "zico").value
    assert compute_metric(net, ScoringData(three, 3), "zico").value != first


def test_zico_of_identical_batches_raises():
    """Gradients equal across batches: every std is 0, the ratio is undefined everywhere."""
    x, y = batches(1).batches[0]
    with pytest.raises(MetricError, match="constant across batches"):
        compute_metric(mlp(), ScoringData(((x, y), (x, y)), 3), "zico")


# -- ssnr -----------------------------------------------------------------------------------


def test_ssnr_is_sum_of_layer_saliency_over_its_std():
    net, data = mlp(), batches(1)
    trained = copy.deepcopy(net).train()
    x, y = data.batches[0]
    F.cross_entropy(trained(x), y).backward()
    expected = 0.0
    for m in (trained[1], trained[4]):
        s = (m.weight * m.weight.grad).abs().detach().reshape(-1).double()
        expected += float(s.sum() / s.std())  # unbiased std, as torch.std in the T-CET code
    assert compute_metric(net, data, "ssnr").value == pytest.approx(expected, rel=1e-6)


def test_ssnr_synflow_uses_synflow_saliency():
    """Two bias-free Linear layers: synflow saliencies by hand (all-positive, input of ones)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6, 5, bias=False), nn.Linear(5, 3, bias=False))
    W1, W2 = (m.weight.detach().double().abs() for m in (net[1], net[2]))
    s1 = W1 * W2.sum(0)[:, None]  # dR/dW1[i, j] = sum_k |W2[k, i]| (input of ones)
    s2 = W2 * W1.sum(1)[None, :]  # dR/dW2[k, i] = h_i = sum_j |W1[i, j]|
    expected = sum(float(s.sum() / s.std()) for s in (s1, s2))
    value = compute_metric(net, batches(1), "ssnr_synflow").value
    assert value == pytest.approx(expected, rel=1e-6)


def test_layer_snr_degenerate_layers_contribute_their_sum():
    assert layer_snr(torch.tensor([2.5])) == 2.5  # one weight: no spread
    assert layer_snr(torch.full((4,), 0.5)) == 2.0  # all equal: sigma = 0
    assert layer_snr(torch.tensor([1.0, 3.0])) == pytest.approx(4.0 / math.sqrt(2.0))


def test_ssnr_is_scale_free_in_the_saliency():
    """Scaling every weight of one layer scales its saliency; S / sigma does not move."""
    net, data = mlp(), batches(2)
    base = compute_metrics(net, data, ["ssnr_synflow"])["ssnr_synflow"].per_layer
    with torch.no_grad():
        net[4].weight.mul_(7.0)
    scaled = compute_metrics(net, data, ["ssnr_synflow"])["ssnr_synflow"].per_layer
    assert scaled["1"] == pytest.approx(base["1"], rel=1e-6)
    assert scaled["4"] == pytest.approx(base["4"], rel=1e-6)


class FlatLinear(nn.Linear):
    """A network that is itself the only layer (module name ``""``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.flatten(1))


def test_zico_on_a_network_that_is_one_layer():
    torch.manual_seed(0)
    net, data = FlatLinear(6, 3), batches(2)
    grads = per_batch_weight_grads(nn.Sequential(net), data)  # same weights, named "0"
    result = compute_metric(net, data, "zico")
    assert set(result.per_layer) == {""}
    assert result.value == pytest.approx(zico_by_hand(grads), rel=1e-6)


@pytest.mark.parametrize("mode", ["mixture", "single_path"])
def test_batch_grads_reusing_the_first_backward_equals_its_own_passes(mode):
    """zico after a gradient metric reuses batch 0's backward; values must not change, even
    when every forward samples a path (the RNG state is carried over)."""
    from fewshot.metrics import ProbeCache
    from fewshot.models.supernet import Supernet

    torch.manual_seed(0)
    net = Supernet(C=4, N=1, num_classes=10, mode=mode)
    data = ScoringData.random(batch_size=8, num_batches=3, image_size=8, seed=1)
    alone = ProbeCache(net, data, seed=3).get("batch_grads")
    shared = ProbeCache(net, data, seed=3)
    shared.get("grads")
    reused = shared.get("batch_grads")
    assert len(reused.grads) == len(alone.grads) == 3
    for a, b in zip(alone.grads, reused.grads, strict=True):
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_zico_with_identical_batches_says_why():
    one = batches(1).batches[0]
    with pytest.raises(MetricError, match="^zico: every layer's gradient is constant across"):
        compute_metric(mlp(), ScoringData((one, one), 3), "zico")
