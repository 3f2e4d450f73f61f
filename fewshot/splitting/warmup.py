"""Optional supernet warm-up before a split (GM-NAS trains the supernet before splitting it).

A plain training loop, not Lightning: a few epochs of uniform single-path sampling inside the
node's mask (RSPS/SPOS, one arch per step shared by all cells), SGD with Nesterov momentum 0.9,
constant learning rate 0.025, weight decay 5e-4, gradient clipping at 5 (the leaf-training
recipe of SPEC section 5, without the cosine schedule: warm-ups are short). Every random draw
(batch order, sampled paths) comes from the ``seed`` it is given, so a warm-up is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fewshot.spaces import Mask

Batch = tuple[Tensor, Tensor]
EpochBatches = Callable[[torch.Generator], Iterable[Batch]]
"""One epoch of training batches, shuffled with the given generator."""


@dataclass(frozen=True)
class WarmupSettings:
    """Warm-up hyper-parameters (epochs 0: no warm-up)."""

    epochs: int = 0
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0


def warm_up(
    supernet: nn.Module,
    mask: Mask,
    epoch_batches: EpochBatches,
    settings: WarmupSettings,
    *,
    seed: int,
) -> int:
    """Train ``supernet`` in place inside ``mask``; returns the number of optimiser steps.

    The supernet's mask and mode are restored afterwards; its weights are the warmed ones.
    """
    if settings.epochs <= 0:
        return 0
    old_mask, old_mode = supernet.search_mask, supernet.mode
    supernet.set_mask(mask)
    supernet.mode = "single_path"
    supernet.train()
    params = [p for p in supernet.parameters() if p.requires_grad]
    opt = torch.optim.SGD(
        params,
        lr=settings.lr,
        momentum=settings.momentum,
        nesterov=True,
        weight_decay=settings.weight_decay,
    )
    g = torch.Generator().manual_seed(seed)
    device = next(supernet.parameters()).device
    steps = 0
    try:
        for _ in range(settings.epochs):
            for x, y in epoch_batches(g):
                arch = supernet.sample_arch(g)
                loss = F.cross_entropy(supernet(x.to(device), arch), y.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
                opt.step()
                steps += 1
    finally:
        opt.zero_grad(set_to_none=True)
        supernet.set_mask(old_mask)
        supernet.mode = old_mode
    return steps


__all__ = ["EpochBatches", "WarmupSettings", "warm_up"]
