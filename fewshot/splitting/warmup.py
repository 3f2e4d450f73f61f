"""Optional supernet warm-up before a split (GM-NAS trains the supernet before splitting it).

A few epochs of uniform single-path sampling inside the node's mask (RSPS/SPOS, one arch per
step shared by all cells) with the one optimiser of :mod:`fewshot.optimiser`: its spec defaults
(SGD with Nesterov momentum 0.9, learning rate 0.025, weight decay 5e-4, gradient clipping at
5) with the ``constant`` schedule (warm-ups are short). Every random draw (batch order, sampled
paths) comes from the ``seed`` it is given, so a warm-up is reproducible.

Why a plain loop and not the Lightning module of the leaves (:mod:`fewshot.training.module`):
the splitting layer sits below the training layer (``.importlinter``: training reads the
splitting tree format), so a warm-up cannot import the Lightning systems; and its draws
interleave the data loader's shuffle and the path draws on one generator, which a
``(seed, step)``-seeded path generator would change (published warm-up trees would not
reproduce). The optimiser, its settings and its step are the shared ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fewshot.optimiser import Schedule, SGDSettings
from fewshot.spaces import Mask

Batch = tuple[Tensor, Tensor]
EpochBatches = Callable[[torch.Generator], Iterable[Batch]]
"""One epoch of training batches, shuffled with the given generator."""


@dataclass(frozen=True)
class WarmupSettings(SGDSettings):
    """Warm-up epochs (0: no warm-up) and the optimiser (:class:`~fewshot.optimiser.SGDSettings`,
    the spec's defaults with a constant learning rate)."""

    epochs: int = 0
    schedule: Schedule = "constant"

    def check(self) -> None:
        super().check()
        if self.schedule != "constant":
            raise ValueError(f"a warm-up trains at a constant learning rate, got {self.schedule!r}")


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
    settings.check()
    old_mask, old_mode = supernet.search_mask, supernet.mode
    supernet.set_mask(mask)
    supernet.mode = "single_path"
    supernet.train()
    params = [p for p in supernet.parameters() if p.requires_grad]
    opt = settings.optimizer(params)
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
                if settings.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
                opt.step()
                steps += 1
    finally:
        opt.zero_grad(set_to_none=True)
        supernet.set_mask(old_mask)
        supernet.mode = old_mode
    return steps


__all__ = ["EpochBatches", "WarmupSettings", "warm_up"]
