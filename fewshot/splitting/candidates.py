"""Candidates of an edge and their distance matrix (SPEC section 4, steps 1-2).

For a sub-supernet (a :class:`~fewshot.models.supernet.Supernet` and a mask) and an edge, the
candidates are the mask restricted to each enabled op on that edge. They are evaluated on the
*same* supernet object (same initial weights) and the *same* :class:`ScoringData`, so their
scores differ only by the op. Scalar metrics give one score per op and ``D[i, j] = |f_i - f_j|``;
pairwise metrics (``gm``) give ``D`` directly from :func:`compute_pairwise`, averaged over the
batches by the metric. The metric kind comes from the registry, so any metric works here.

Cost: a scalar candidate is one :func:`compute_metrics` call (the probe cache makes its own
working copy); we only switch the mask, never copy the supernet. A pairwise metric needs all
candidate networks alive at once: one deep copy per candidate.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from fewshot.metrics.base import (
    MetricError,
    ScoringData,
    compute_metrics,
    compute_pairwise,
    get_metric,
)
from fewshot.models.supernet import Supernet
from fewshot.space import Mask


@dataclass
class PassCounter:
    """Forward passes through a supernet and backward passes reaching its logits.

    Counted by hooks on the supernet that deep copies inherit, so passes made by metrics on
    their working copies count too (copies a metric builds from scratch do not).
    """

    forward: int = 0
    backward: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"forward_passes": self.forward, "backward_passes": self.backward}


@contextmanager
def counting_passes(net: nn.Module, counter: PassCounter) -> Iterator[PassCounter]:
    """Count passes of ``net`` (and of deep copies made inside the block) into ``counter``."""

    def on_forward(module: nn.Module, args: object, output: Tensor) -> None:
        counter.forward += 1
        if isinstance(output, Tensor) and output.requires_grad:
            output.register_hook(on_backward)

    def on_backward(grad: Tensor) -> None:
        counter.backward += 1

    handle = net.register_forward_hook(on_forward)
    try:
        yield counter
    finally:
        handle.remove()


@dataclass(frozen=True)
class EdgeEvaluation:
    """The candidates of one edge, scored: ops, distance matrix, per-op scores (scalar)."""

    edge: int
    ops: tuple[str, ...]
    distance: np.ndarray
    scores: dict[str, float] | None
    seconds: float = 0.0
    extras: dict[str, float] = field(default_factory=dict)


def candidate_masks(mask: Mask, edge: int) -> list[Mask]:
    """One mask per enabled op on ``edge``: ``mask`` with only that op on the edge."""
    return [mask.restrict(edge, [op]) for op in mask.ops(edge)]


def scalar_distance(scores: np.ndarray) -> np.ndarray:
    """``D[i, j] = |f_i - f_j|``."""
    f = np.asarray(scores, dtype=float)
    return np.abs(f[:, None] - f[None, :])


@contextmanager
def _masked(supernet: Supernet, mask: Mask) -> Iterator[Supernet]:
    """Temporarily set the supernet's mask (and mixture mode); restore both after."""
    old_mask, old_mode = supernet.search_mask, supernet.mode
    supernet.set_mask(mask)
    supernet.mode = "mixture"
    try:
        yield supernet
    finally:
        supernet.set_mask(old_mask)
        supernet.mode = old_mode


def evaluate_edge(
    supernet: Supernet,
    mask: Mask,
    edge: int,
    metric: str,
    data: ScoringData,
    *,
    seed: int = 0,
    progress: object | None = None,
) -> EdgeEvaluation:
    """Score every candidate of ``edge`` under ``mask`` with ``metric``; build ``D``.

    ``seed`` seeds the metric's random draws (the same for every candidate). ``progress``, if
    given, is a tqdm-like object whose ``update(1)`` is called per candidate.
    """
    spec = get_metric(metric)
    ops = mask.ops(edge)
    masks = candidate_masks(mask, edge)
    start = time.perf_counter()
    if spec.kind == "pairwise":
        nets = []
        for m in masks:
            net = copy.deepcopy(supernet)
            net.set_mask(m)
            net.mode = "mixture"
            nets.append(net)
        torch.manual_seed(seed)
        D = compute_pairwise(nets, data, metric, seed=seed).distance
        _tick(progress, len(masks))
        scores = None
    else:
        values = []
        for m in masks:
            with _masked(supernet, m):
                torch.manual_seed(seed)
                values.append(compute_metrics(supernet, data, [metric], seed=seed)[metric].value)
            _tick(progress, 1)
        scores = dict(zip(ops, (float(v) for v in values), strict=True))
        _check_scores(metric, edge, scores)
        D = scalar_distance(np.array(values))
    D = _symmetrise(metric, np.asarray(D, dtype=float), len(ops))
    return EdgeEvaluation(edge, ops, D, scores, time.perf_counter() - start)


def _tick(progress: object | None, n: int) -> None:
    if progress is not None:
        progress.update(n)  # type: ignore[attr-defined]


def _check_scores(metric: str, edge: int, scores: dict[str, float]) -> None:
    bad = {op: v for op, v in scores.items() if not math.isfinite(v)}
    if bad:
        raise MetricError(
            f"metric {metric!r} gave non-finite scores {bad} to candidates of edge {edge}; "
            "a split needs finite scores to compare ops (try another metric or more data)"
        )


def _symmetrise(metric: str, D: np.ndarray, n: int) -> np.ndarray:
    """Validate a candidate distance matrix; symmetrise tiny float asymmetries."""
    if D.shape != (n, n):
        raise MetricError(f"metric {metric!r} returned a {D.shape} matrix for {n} candidates")
    if not np.isfinite(D).all():
        raise MetricError(f"metric {metric!r} returned non-finite candidate distances")
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    if (D < -1e-9).any():
        raise MetricError(f"metric {metric!r} returned negative distances")
    return np.clip(D, 0.0, None)  # float noise around 0 (e.g. 1 - cos of equal gradients)


__all__ = [
    "EdgeEvaluation",
    "PassCounter",
    "candidate_masks",
    "counting_passes",
    "evaluate_edge",
    "scalar_distance",
]
