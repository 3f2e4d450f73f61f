"""Cost metrics: parameter count and FLOPs of the modules that actually run.

Both come from one forward of one image (probe ``modules_run``) with hooks recording which
modules ran, so a sub-supernet counts only its enabled ops (a disabled op's parameters exist
but never run). Units follow NAS-Bench-201's ``params`` / ``flops`` columns: millions.

- ``params``: parameters (weights, biases, BN affine) of the modules that ran, in millions;
  ``extras["count"]`` is the exact count. For a standalone network it equals the
  benchmark's parameter count (e.g. 1.073466 M for the best CIFAR-10 arch).
- ``flops``: multiply-accumulates of the Conv2d and Linear layers that ran, for one image of
  the data's size, in millions (``extras["macs"]`` is the exact count). Biases, BN, ReLU,
  pooling and additions are not counted. The reference table's ``flops_M_c10`` (NASLib's
  count, CIFAR-10, C=16, N=5) also counts pooling (kernel^2 per output) and elementwise
  BN/ReLU work: on 150 random archs it equals exactly ``ours + 0.160832 + 0.43008 n_conv +
  1.29024 n_avgpool`` (n_* = cell edges with a convolution / an average-pooling op), 1% to
  41% above ours, Spearman 0.996 (tests/metrics/test_cost.py checks the relation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fewshot.metrics.base import MetricResult, ProbeCache, register_metric, register_probe


@dataclass(frozen=True)
class ModulesRun:
    """What one forward of one image ran.

    Attributes:
        params: number of distinct parameters owned by the modules that ran.
        macs: per Conv2d/Linear layer that ran, its multiply-accumulates for one image.
    """

    params: int
    macs: dict[str, int]


def layer_macs(module: nn.Module, output: Tensor) -> int:
    """Multiply-accumulates of a Conv2d (any kernel/stride/groups) or Linear, per image."""
    per_image = output[0].numel()
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_image * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return per_image * module.in_features
    return 0


@register_probe("modules_run")
def modules_run(cache: ProbeCache) -> ModulesRun:
    """One eval-mode, no-grad forward of the main batch's first image, recording modules.

    Eval mode only so a batch of one works with any normalisation; the working copy's mode
    is restored afterwards.
    """
    net = cache.working_copy()
    ran: set[str] = set()
    macs: dict[str, int] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            ran.add(name)
            if isinstance(module, (nn.Conv2d, nn.Linear)) and isinstance(output, Tensor):
                macs[name] = macs.get(name, 0) + layer_macs(module, output)

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in net.named_modules()]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(cache.batch(0)[0][:1])
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    modules = dict(net.named_modules())
    owned = {id(p): p for n in ran for p in modules[n].parameters(recurse=False)}
    return ModulesRun(sum(p.numel() for p in owned.values()), macs)


@register_metric("params", needs_data=False)
def params(cache: ProbeCache) -> MetricResult:
    """Parameters of the modules that ran in a forward, in millions (NB201's unit)."""
    count = cache.get("modules_run").params
    return MetricResult("params", count / 1e6, extras={"count": float(count)})


@register_metric("flops", needs_data=False)
def flops(cache: ProbeCache) -> MetricResult:
    """Conv2d/Linear multiply-accumulates for one image, in millions (NB201's unit)."""
    macs = cache.get("modules_run").macs
    total = sum(macs.values())
    per_layer = {n: v / 1e6 for n, v in sorted(macs.items())}
    return MetricResult("flops", total / 1e6, per_layer, {"macs": float(total)})
