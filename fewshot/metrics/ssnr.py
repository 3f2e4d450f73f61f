"""SSNR (Xiang, Hunter, Dudziak et al.): saliency signal-to-noise ratio, summed over layers.

For every Conv2d/Linear layer ``l`` that ran, with per-weight saliencies ``s``:
``S_l = sum(s)``, ``sigma_l = std(s)`` (unbiased, ``torch.std`` as the T-CET code) and

    ssnr = sum_l S_l / sigma_l

A layer whose saliencies are all equal (``sigma_l = 0``, e.g. all zero, or one weight)
contributes ``S_l``, as in the T-CET code. Saliency: snip ``|w * dL/dw|`` (``ssnr``) or
synflow ``|w * dR/dw|`` (``ssnr_synflow``; ratios are scale-free, so synflow's overflow
rescaling does not change them).
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from fewshot.metrics.base import MetricResult, ProbeCache, register_metric
from fewshot.metrics.probes import sum_over_layers


def layer_snr(saliency: Tensor) -> float:
    """``sum(s) / std(s)`` of one layer's saliencies (``sum(s)`` when the std is 0)."""
    s = saliency.reshape(-1).double()
    sigma = float(s.std()) if s.numel() > 1 else 0.0
    total = float(s.sum())
    return total / sigma if sigma > 0 else total


def ssnr_from(name: str, saliency: Mapping[str, Tensor]) -> MetricResult:
    """SSNR result named ``name`` from per-layer saliency tensors."""
    per_layer = {n: layer_snr(s) for n, s in saliency.items()}
    return MetricResult(name, sum_over_layers(per_layer), per_layer)


@register_metric("ssnr")
def ssnr(cache: ProbeCache) -> MetricResult:
    """SSNR with snip saliency: sum over layers of sum(|w g|) / std(|w g|)."""
    layers = cache.get("grads")
    return ssnr_from("ssnr", {n: (lg.weight * lg.grad).abs() for n, lg in layers.items()})


@register_metric("ssnr_synflow")
def ssnr_synflow(cache: ProbeCache) -> MetricResult:
    """SSNR with synflow saliency: sum over layers of sum(|w dR/dw|) / std(|w dR/dw|)."""
    return ssnr_from("ssnr_synflow", cache.get("synflow").saliency)
