"""zen: the Zen-score of Lin et al. (Zen-NAS, ICCV 2021), as ``compute_zen_score`` of idstcv/ZenNAS.

On a re-initialised copy (Conv/Linear weights ~ N(0, 1), biases 0, BN scale 1 and shift 0,
BN running statistics reset), BN in train mode and without gradients:

    zen = log( mean_b sum_{c,h,w} |f(x) - f(x + gamma * eps)| ) + sum_BN log sqrt(mean(running_var))

with ``x`` and ``eps`` standard Gaussian images of the main batch's shape, ``gamma = 1e-2`` and
``f`` the pre-global-average-pooling feature map. The BN term reads the running variances left by
those two forwards (default momentum), exactly as the reference does. One repeat (NASLib's
setting; Zen-NAS averages several). ``f`` is the input of the module named ``global_pooling``
(fewshot's supernet); a network without one raises :class:`MetricError`.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from fewshot.metrics.base import MetricError, MetricResult, ProbeCache, register_metric
from fewshot.metrics.settings import MetricSettings

ZEN_GAMMA = MetricSettings().zen_gamma
POOLING_MODULE = "global_pooling"


def gaussian_reinit(net: nn.Module, generator: torch.Generator) -> None:
    """Zen-NAS's ``network_weight_gaussian_init``, plus a reset of BN running statistics."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                if m.weight is not None:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
                if isinstance(m, nn.BatchNorm2d) and m.track_running_stats:
                    m.reset_running_stats()


def pre_gap_features(net: nn.Module, x: Tensor) -> Tensor:
    """The input of ``net.global_pooling`` for images ``x`` (via a forward hook)."""
    pool = dict(net.named_modules()).get(POOLING_MODULE)
    if pool is None:
        raise MetricError(
            f"zen needs the pre-pooling feature map: the network has no module named "
            f"{POOLING_MODULE!r} (fewshot's Supernet has one)"
        )
    seen: list[Tensor] = []
    handle = pool.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    try:
        net(x)
    finally:
        handle.remove()
    return seen[0]


def bn_scaling_term(net: nn.Module) -> float:
    """``sum over BatchNorm2d of log sqrt(mean(running_var))`` (BN layers that ran)."""
    total = 0.0
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
            total += 0.5 * math.log(float(m.running_var.mean()))
    return total


def zen_score(
    net: nn.Module,
    shape: tuple[int, ...],
    generator: torch.Generator,
    gamma: float = ZEN_GAMMA,
) -> float:
    """Zen-score of a re-initialised copy of ``net`` for Gaussian inputs of ``shape``."""
    device = next(net.parameters()).device
    work = copy.deepcopy(net).train()
    gaussian_reinit(work, generator)
    x = torch.randn(shape, generator=generator).to(device)
    eps = torch.randn(shape, generator=generator).to(device)
    with torch.no_grad():
        f0 = pre_gap_features(work, x)
        f1 = pre_gap_features(work, x + gamma * eps)
    delta = (f0 - f1).abs().sum(dim=tuple(range(1, f0.ndim))).mean()
    if not float(delta) > 0:
        raise MetricError(
            "zen: the perturbation does not reach the pre-pooling features (log 0); the "
            "network ignores its input (e.g. cells of zero ops only)"
        )
    return math.log(float(delta)) + bn_scaling_term(work)


@register_metric("zen")
def zen(cache: ProbeCache) -> MetricResult:
    """Zen-score: log feature perturbation + BN scaling on a Gaussian re-init (higher is better)."""
    shape = tuple(cache.batch(0)[0].shape)
    gen = cache.generator(offset=202)
    return MetricResult("zen", zen_score(cache.net, shape, gen, cache.settings.zen_gamma))
