"""ZiCo (Li et al., ICLR 2023): inverse coefficient of variation of gradients across batches.

For every Conv2d/Linear layer ``l`` with per-batch weight gradients ``g_b`` (b = 1..B, B >= 2):

    zico = sum_l log( sum_{w in l, std_b(g_w) > 0} mean_b |g_w| / std_b(g_w) )

as in the official code (SLDGroup/ZiCo, ``compute_zico.py``): population std (numpy's
default), weights with zero std dropped, a layer whose sum is 0 skipped. Layers that did not
run in every batch (disabled ops) are skipped.

One difference from the official code, on purpose: it never calls ``zero_grad`` between
batches, so its "per-batch" gradients are running sums ``g_1, g_1+g_2, ...``. We use the
per-batch gradients of the paper's definition; the official variant is reported in
``extras["accumulated"]``.
"""

from __future__ import annotations

import math

from torch import Tensor

from fewshot.metrics.base import MetricError, MetricResult, ProbeCache, register_metric
from fewshot.metrics.probes import sum_over_layers


def zico_layer(grads: Tensor) -> float | None:
    """``log(sum mean|g| / std(g))`` over one layer's weights; ``None`` when the sum is 0.

    ``grads`` is (B, ...) with the batch on the first axis; computed in float64.
    """
    g = grads.reshape(grads.shape[0], -1).double()
    std = g.std(dim=0, correction=0)
    keep = std > 0
    total = float((g.abs().mean(dim=0)[keep] / std[keep]).sum())
    return math.log(total) if total > 0 else None


def zico_score(layer_grads: dict[str, Tensor]) -> tuple[float, dict[str, float]]:
    """ZiCo total and per-layer logs from ``{layer: (B, *weight.shape)}`` gradients."""
    per_layer = {}
    for name, grads in layer_grads.items():
        value = zico_layer(grads)
        if value is not None:
            per_layer[name] = value
    if not per_layer:
        raise MetricError(
            "zico: every layer's gradient is constant across batches (or zero); give batches "
            "with different images"
        )
    return sum_over_layers(per_layer), per_layer


@register_metric("zico")
def zico(cache: ProbeCache) -> MetricResult:
    """ZiCo: sum over layers of log(sum over weights of mean|g| / std(g) across batches)."""
    cache.data.require_batches(2, "zico")
    layer_grads = cache.get("batch_grads").layer_weights()
    value, per_layer = zico_score(layer_grads)
    accumulated, _ = zico_score({n: g.cumsum(dim=0) for n, g in layer_grads.items()})
    return MetricResult("zico", value, per_layer, {"accumulated": accumulated})
