"""TE-NAS indicators (Chen et al., ICLR 2021): NTK condition number (``ntk``), linear regions (``lr``).

Conventions, following VITA-Group/TENAS (``lib/procedures/ntk.py``, ``linear_region_counter.py``,
``prune_tenas.py``) and stated where they differ:

- ``ntk``: BN in train mode; one forward of the first ``NTK_BATCH`` = 16 samples of the main
  batch (TE-NAS's ``--batch_size 16`` "batch size for ntk"); ``G`` has one row per sample, the
  gradient of that sample's logit sum with respect to every parameter whose name contains
  ``weight`` (Conv, Linear and BN scales, as TE-NAS); the NTK is ``G G^T`` and the condition
  number ``lambda_max / lambda_min``. TE-NAS prefers a *low* condition number; the registry's
  convention is "higher = predicted better", so ``ntk`` is ``-lambda_max / lambda_min`` (as
  Zen-NAS's port of TE-NAS, ``compute_NTK_score``). ``extras`` hold ``condition_number`` and
  its log. TE-NAS scores a narrow C=3, N=1 supernet; here it is the network given.
- ``lr``: the number of distinct ReLU activation patterns (sign of each ReLU's output; TE-NAS
  ``LinearRegionCount``) over ``LR_BATCHES`` = 3 forwards of ``LR_SAMPLES`` = 1000 inputs in train
  mode. For a :class:`~fewshot.models.supernet.Supernet`, as TE-NAS, on a freshly initialised
  thin copy (C=1, N=1, same candidates and mask, mixture mode; Kaiming-uniform fan-out, seeded) fed random
  3x3 crops of the scoring images (TE-NAS feeds 3x3 one-channel crops to a stem-less thin
  net; our networks keep their 3-channel stem). Any other network is scored as given, on the
  scoring batches themselves. Higher is better.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from fewshot.metrics.base import MetricError, MetricResult, ProbeCache, register_metric
from fewshot.metrics.settings import MetricSettings

_DEFAULTS = MetricSettings()
NTK_BATCH = _DEFAULTS.ntk_batch
LR_SAMPLES = _DEFAULTS.lr_samples
LR_BATCHES = _DEFAULTS.lr_batches
LR_CROP = _DEFAULTS.lr_crop
"""Defaults of the TE-NAS constants; a run's values come from its ``MetricSettings``."""


# -- ntk ------------------------------------------------------------------------------------


def per_sample_logit_grads(net: nn.Module, x: Tensor) -> Tensor:
    """``G`` (B x P): row i is d(sum of sample i's logits)/d(weights).

    Parameters are those whose name contains ``weight`` and that took part in the forward.
    BN stays in whatever mode ``net`` is in: in train mode the batch statistics couple the
    samples (as in TE-NAS), so this is one forward and one backward per sample, not a vmap
    over independent samples. (A batched ``is_grads_batched`` backward gives the same ``G`` but
    was 1.6x slower on CPU.)
    """
    params = [p for n, p in net.named_parameters() if "weight" in n and p.requires_grad]
    logits = net(x)
    if isinstance(logits, tuple):  # some NB201 codebases return (features, logits)
        logits = logits[1]
    rows = []
    for i in range(logits.shape[0]):
        grads = torch.autograd.grad(
            logits[i].sum(), params, retain_graph=i + 1 < logits.shape[0], allow_unused=True
        )
        used = [g.reshape(-1) for g in grads if g is not None]
        if not used:
            raise MetricError("ntk: no weight of the network depends on the input batch")
        rows.append(torch.cat(used))
    return torch.stack(rows)


def kernel_eigenvalues(G: Tensor) -> np.ndarray:
    """Eigenvalues of ``G G^T`` in ascending order (float64)."""
    G = G.double()
    return torch.linalg.eigvalsh(G @ G.T).cpu().numpy()


def ntk_condition_number(G: Tensor) -> tuple[float, np.ndarray]:
    """Condition number ``lambda_max / lambda_min`` of ``G G^T`` and its eigenvalues (float64)."""
    eig = kernel_eigenvalues(G)
    if not eig[0] > 0:
        raise MetricError(
            f"ntk: the NTK is singular (smallest eigenvalue {eig[0]:.3g}): some samples have "
            "linearly dependent gradients (duplicate inputs, or a network that ignores its input)"
        )
    return float(eig[-1] / eig[0]), eig


@register_metric("ntk")
def ntk(cache: ProbeCache) -> MetricResult:
    """Minus the NTK condition number on 16 samples, BN in train mode (TE-NAS; higher is better).

    ``settings.grad_layout == "channel_rows"`` (the framework paper's code): the condition
    number of ``G G^T`` for the weight-gradient matrix ``G`` (C x P/C) instead of the
    per-sample NTK; ``settings.ntk_nan_value`` replaces a NaN ratio (the paper's code: 1e6).
    """
    s = cache.settings
    if s.grad_layout == "channel_rows":
        cond, eig = _matrix_condition(cache.get("weight_grads").matrix, s)
    else:
        cond, eig = _per_sample_condition(cache, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        extras = {"condition_number": cond, "log_condition_number": float(np.log(cond))}
    extras["lambda_max"] = float(eig[-1])
    return MetricResult("ntk", -cond, extras=extras)


def _per_sample_condition(cache: ProbeCache, s: MetricSettings) -> tuple[float, np.ndarray]:
    net = cache.working_copy()
    x = cache.batch(0)[0][: s.ntk_batch]
    if x.shape[0] < 2:
        raise MetricError("ntk needs a batch of at least 2 samples")
    try:
        return ntk_condition_number(per_sample_logit_grads(net, x))
    finally:
        for p in net.parameters():
            p.grad = None


def _matrix_condition(G: Tensor, s: MetricSettings) -> tuple[float, np.ndarray]:
    """``lambda_max / lambda_min`` of ``G G^T`` as plain float arithmetic computes it."""
    eig = kernel_eigenvalues(G)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = float(np.float64(eig[-1]) / np.float64(eig[0]))
    if math.isnan(cond) and s.ntk_nan_value is not None:
        cond = float(s.ntk_nan_value)
    if not (math.isfinite(cond) and cond > 0) and not s.keep_nonfinite:
        raise MetricError(
            f"ntk: the gradient kernel G G^T is singular (eigenvalues {eig[0]:.3g} .. "
            f"{eig[-1]:.3g}), so its condition number is undefined"
        )
    return cond, eig


# -- lr ---------------------------------------------------------------------------------------


def count_linear_regions(net: nn.Module, batches: list[Tensor]) -> int:
    """Number of distinct activation patterns over all samples of ``batches``.

    A sample's pattern is the concatenation of ``output > 0`` of every ``nn.ReLU`` call in its
    forward; each batch is one forward (in the network's current BN mode), no gradients.
    """
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise MetricError("lr counts ReLU activation patterns; the network has no nn.ReLU")
    patterns = [_batch_patterns(net, relus, x) for x in batches]
    return int(torch.unique(torch.cat(patterns, dim=0), dim=0).shape[0])


def _batch_patterns(net: nn.Module, relus: list[nn.Module], x: Tensor) -> Tensor:
    """Boolean (B, units) matrix of ``output > 0`` over every ReLU call of one forward."""
    codes: list[Tensor] = []

    def hook(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        codes.append(output.reshape(output.shape[0], -1) > 0)

    handles = [m.register_forward_hook(hook) for m in relus]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    if not codes:
        raise MetricError("lr: no nn.ReLU ran in the forward")
    return torch.cat(codes, dim=1)


def thin_supernet(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """TE-NAS's thin copy of a supernet: C=1, N=1, same candidates and mask, fresh init.

    Always in mixture mode (every enabled op summed, as TE-NAS's supernet): a single-path
    copy would run another path per forward, and patterns of different paths (of different
    lengths) are not regions of one network.
    """
    from fewshot.models.supernet import Supernet

    thin = Supernet(
        C=1, N=1, num_classes=net.num_classes, candidates=net.candidates, mode="mixture"
    )
    thin.set_mask(net.search_mask)
    for m in thin.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_uniform_(
                m.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return thin.to(next(net.parameters()).device).train()


def random_crops(images: Tensor, n: int, size: int, generator: torch.Generator) -> Tensor:
    """``n`` random ``size`` x ``size`` crops (all channels) of random images of ``images``."""
    B, _, H, W = images.shape
    if size > H or size > W:
        raise MetricError(f"lr: images of {H}x{W} are smaller than the {size}x{size} crops")
    idx = torch.randint(B, (n,), generator=generator).tolist()
    top = torch.randint(H - size + 1, (n,), generator=generator).tolist()
    left = torch.randint(W - size + 1, (n,), generator=generator).tolist()
    crops = [
        images[i, :, t : t + size, s : s + size] for i, t, s in zip(idx, top, left, strict=True)
    ]
    return torch.stack(crops)


def supernet_linear_regions(
    net: nn.Module,
    images: Tensor,
    generator: torch.Generator,
    *,
    samples: int = LR_SAMPLES,
    batches: int = LR_BATCHES,
    crop: int = LR_CROP,
) -> int:
    """TE-NAS's count for a supernet: a seeded thin copy fed ``batches`` x ``samples`` crops."""
    thin = thin_supernet(net, generator)
    inputs = [random_crops(images, samples, crop, generator) for _ in range(batches)]
    return count_linear_regions(thin, inputs)


@register_metric("lr")
def lr(cache: ProbeCache) -> MetricResult:
    """Number of linear regions (distinct ReLU patterns) over 3 x 1000 inputs (TE-NAS).

    ``settings.lr_mode == "batch"`` (the framework paper's code): the patterns of the network
    itself over the scoring batch's samples (at most the batch size, so ties are common).
    """
    from fewshot.models.supernet import Supernet

    s = cache.settings
    if s.lr_mode == "thin" and isinstance(cache.net, Supernet):
        images = torch.cat([x for x, _ in cache.batches()])
        count = supernet_linear_regions(
            cache.net, images, cache.generator(offset=101),
            samples=s.lr_samples, batches=s.lr_batches, crop=s.lr_crop,
        )  # fmt: skip
    elif s.lr_mode == "batch":
        count = count_linear_regions(cache.working_copy(), [cache.batch(0)[0]])
    else:
        count = count_linear_regions(cache.working_copy(), [x for x, _ in cache.batches()])
    return MetricResult("lr", float(count))
