"""T-CET (Xiang, Hunter, Dudziak et al., "Exploiting Network Compressibility and Topology in
Zero-Cost NAS"): layer-wise SSNR weighted by layer-wise NASWOT.

For every Conv2d/Linear layer ``l`` that ran:

- ``S_l / sigma_l``: the layer's saliency signal-to-noise ratio, with saliency the SNIP score
  ``|w * dL/dw|`` of each weight (cross-entropy, one batch, BN in train mode: the ``grads``
  probe), ``S_l`` its sum and ``sigma_l`` its standard deviation (unbiased, as ``torch.std``);
  ``S_l`` alone when ``sigma_l = 0``, as the reference's ``compute_snr_score``.
- ``log|K_l|``: ``slogdet`` of the NASWOT kernel of the binary codes ``output > 0`` of that same
  layer (the ``activations`` probe; T-CET's layer-wise NASWOT hooks Conv/Linear outputs), 0 for
  a singular kernel (the reference's ``safe_hooklogdet``).

Pairing rule: a weight layer is paired with the kernel of its own output, matched by module name
(the reference zips the two per-layer lists in module order: the same pairing).

- ``tcet`` = ``sum_l (S_l / sigma_l) * log|K_l|`` (the paper's formula, the spec's t-cet).
- ``tcet_log`` = ``sum_l log(S_l / sigma_l) * log|K_l|`` (the official code's ``tcet_snip_log``;
  a non-finite log is counted as 0 there and here).

Difference from the reference: its layer-wise NASWOT forward runs with BN in eval mode; here
the one shared train-mode forward of the ``activations`` probe is used.
"""

from __future__ import annotations

import math

import torch

from fewshot.metrics.base import MetricError, MetricResult, ProbeCache, register_metric
from fewshot.metrics.naswot import safe_logdet
from fewshot.metrics.probes import LayerGrad, sum_over_layers


def snip_snr_per_layer(layers: dict[str, LayerGrad]) -> dict[str, float]:
    """``S_l / sigma_l`` of the SNIP saliency ``|w * g|`` of each layer (``S_l`` if sigma is 0)."""
    out = {}
    for name, lg in layers.items():
        saliency = (lg.weight * lg.grad).abs().reshape(-1).double()
        total = float(saliency.sum())
        sigma = float(torch.std(saliency)) if saliency.numel() > 1 else 0.0
        out[name] = total / sigma if sigma > 0 and math.isfinite(sigma) else total
    return out


def _safe_log(value: float) -> float:
    """``log(value)``, or 0 when it is not finite (the reference's ``nan_to_num``)."""
    return math.log(value) if value > 0 and math.isfinite(value) else 0.0


def tcet_terms(cache: ProbeCache, *, log_snr: bool) -> dict[str, float]:
    """Per-layer ``f(S_l / sigma_l) * log|K_l|`` with ``f`` identity or log, by layer name."""
    snr = snip_snr_per_layer(cache.get("grads"))
    metric = "tcet_log" if log_snr else "tcet"
    kernels = cache.get("activations").kernels("layer_kernels", metric)
    common = sorted(set(snr) & set(kernels))
    if not common:
        raise MetricError("tcet needs Conv2d/Linear layers that ran and received a gradient")
    terms = {}
    for name in common:
        weight = _safe_log(snr[name]) if log_snr else snr[name]
        terms[name] = weight * safe_logdet(kernels[name])
    return terms


@register_metric("tcet")
def tcet(cache: ProbeCache) -> MetricResult:
    """T-CET: sum over layers of SNIP-SSNR times layer-wise NASWOT log|K| (higher is better)."""
    terms = tcet_terms(cache, log_snr=False)
    return MetricResult("tcet", sum_over_layers(terms), terms)


@register_metric("tcet_log")
def tcet_log(cache: ProbeCache) -> MetricResult:
    """T-CET as in the official code: log of the SNIP-SSNR times layer-wise NASWOT log|K|."""
    terms = tcet_terms(cache, log_snr=True)
    return MetricResult("tcet_log", sum_over_layers(terms), terms)
