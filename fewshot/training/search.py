"""Search inside a trained sub-supernet: score archs with the shared weights, rank them.

Each candidate arch is scored by its accuracy on held-out data (the data module's validation
split, never the test set) using the leaf's trained weights. BatchNorm running statistics in a
supernet mix every path, so they are recalibrated per arch first (as in SPOS): reset, then
forward some training batches in train mode with ``momentum=None`` (a cumulative average),
then evaluate in eval mode. The trained model is never mutated: the search works on a copy.

Many archs on a GPU: the calibration and held-out batches are taken once and kept on the
device (:func:`take_batches`), and :func:`rebatch` regroups the held-out examples into larger
batches (``fewshot.train --held-out-batch``, the few-vs-one-shot experiment's
``--held-out-batch``), up to the whole held-out set in one forward per arch. The calibration
batches keep the training batch size: BN statistics averaged over batches depend on it.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from tqdm import tqdm

from fewshot.models.supernet import Supernet
from fewshot.spaces import Arch, Mask
from fewshot.training.trainer import accuracy

Batch = tuple[Tensor, Tensor]


def candidate_archs(mask: Mask, k: int, seed: int = 0) -> list[Arch]:
    """Every arch of ``mask`` when it holds at most ``k``, else ``k`` distinct ones uniformly.

    Deterministic given ``(mask, k, seed)``; returned in the mask's lexicographic order.
    """
    if k < 1:
        raise ValueError(f"the number of archs to score must be positive, got {k}")
    n = mask.num_archs
    if n <= k:
        return list(mask.archs())
    picks = sorted(random.Random(seed).sample(range(n), k))
    return [_arch_at(mask, i) for i in picks]


def _arch_at(mask: Mask, i: int) -> Arch:
    """The ``i``-th arch of ``mask`` in lexicographic order (mixed-radix decoding)."""
    ops = [mask.ops(p) for p in range(mask.space.num_positions)]
    chosen = []
    for position_ops in reversed(ops):
        i, r = divmod(i, len(position_ops))
        chosen.append(position_ops[r])
    return mask.space.Arch(tuple(reversed(chosen)))


def take_batches(loader: Iterable[Batch], n: int | None, device: torch.device) -> list[Batch]:
    """The first ``n`` batches of ``loader`` (all when ``n`` is None), moved to ``device``."""
    out = []
    for i, (x, y) in enumerate(loader):
        if n is not None and i >= n:
            break
        out.append((x.to(device), y.to(device)))
    if not out:
        raise ValueError("the data loader yielded no batches")
    return out


def rebatch(batches: Sequence[Batch], size: int | None) -> list[Batch]:
    """The same examples, in the same order, in batches of ``size`` (None: unchanged), on
    their device. Held-out accuracy is measured in eval mode, one example independent of the
    others, so the batch size changes only the speed: a GPU scores many archs fastest with the
    whole held-out set in one forward."""
    if size is None:
        return list(batches)
    if size < 1:
        raise ValueError(f"the held-out batch size must be positive, got {size}")
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    return list(zip(x.split(size), y.split(size), strict=True))


@torch.no_grad()
def recalibrate_bn(model: Supernet, arch: Arch, batches: Sequence[Batch]) -> None:
    """Reset BN running stats and re-estimate them for ``arch`` (cumulative average)."""
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    try:
        for x, _ in batches:
            model(x, arch)
    finally:
        for m, momentum in zip(bns, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)


@dataclass(frozen=True)
class ScoredArch:
    """An arch with its supernet-predicted accuracy (percent, on held-out data)."""

    arch: Arch
    predicted: float

    def to_dict(self) -> dict[str, object]:
        return {"arch": self.arch.to_string(), "predicted": self.predicted}


@dataclass
class LeafSearch:
    """The scored archs of one leaf, best first."""

    leaf: str
    mask: Mask
    scored: list[ScoredArch] = field(default_factory=list)

    @property
    def best(self) -> ScoredArch:
        return self.scored[0]

    def to_dict(self) -> dict[str, object]:
        return {
            "leaf": self.leaf,
            "mask": self.mask.to_op_lists(),
            "num_archs": self.mask.num_archs,
            "num_scored": len(self.scored),
            "best": self.best.to_dict(),
            "scored": [s.to_dict() for s in self.scored],
        }


def search_leaf(
    model: Supernet,
    archs: Sequence[Arch],
    calib_batches: Sequence[Batch],
    val_batches: Sequence[Batch],
    *,
    leaf: str = "0",
    progress: bool = False,
) -> LeafSearch:
    """Score ``archs`` with ``model``'s weights (BN recalibrated per arch) and rank them.

    Ties keep the order of ``archs`` (stable sort), so the result is deterministic.
    ``progress`` shows a progress bar (one step per arch).
    """
    if not archs:
        raise ValueError("no archs to score")
    work = copy.deepcopy(model)
    scored = []
    bar = tqdm(archs, desc=f"searching {leaf}", unit="arch", disable=not progress, leave=False)
    for arch in bar:
        recalibrate_bn(work, arch, calib_batches)
        scored.append(ScoredArch(arch, accuracy(work, val_batches, arch=arch)))
    for s in scored:
        if not math.isfinite(s.predicted):
            raise ValueError(f"arch {s.arch} got a non-finite accuracy")
    scored.sort(key=lambda s: -s.predicted)
    return LeafSearch(leaf, model.search_mask, scored)


def best_overall(searches: Sequence[LeafSearch]) -> tuple[str, ScoredArch]:
    """The leaf and arch with the highest predicted accuracy across leaves (first on ties)."""
    if not searches:
        raise ValueError("no leaf searches to choose from")
    winner = max(searches, key=lambda s: s.best.predicted)
    return winner.leaf, winner.best


__all__ = [
    "LeafSearch",
    "ScoredArch",
    "best_overall",
    "candidate_archs",
    "rebatch",
    "recalibrate_bn",
    "search_leaf",
    "take_batches",
]
