"""Candidates of an edge and their distance matrix (SPEC section 4, steps 1-2).

For a sub-supernet (a space's supernet, :meth:`~fewshot.spaces.SearchSpace.build_supernet`,
and a mask of that space) and an edge (a position of the space), the
candidates are, per enabled op ``o`` on that edge, the mask with *only* ``o`` enabled there
(``only``: what the framework paper's code does) or with ``o`` *disabled* (``without``: how
its text defines gradient matching, on ``m_{Omega \\ o}``). They are evaluated on the *same*
supernet object (same initial weights) and the *same* :class:`ScoringData`, so their scores
differ only by the op. Scalar metrics give one score ``f`` per op and
``D[i, j] = |g(f_i) - g(f_j)|`` with the scale ``g`` (:data:`SCALES`: ``raw`` identity, ``log``
of ``|f|``, ``rank``); pairwise metrics (``gm``) give ``D`` directly (``1 - cos``), and their
similarity ``S = 1 - D`` for the ``min-similarity`` objective. The metric kind comes from the
registry, so any metric works here. ``random`` (the authors' baseline) scores nothing.

Non-finite scores raise :class:`MetricError` unless the metric settings keep them
(``keep_nonfinite``, the ``ly-manson`` recipe); then ``EdgeEvaluation.nonfinite_ops`` names
the ops whose scores were NaN or inf and ``D`` carries them (``|inf - inf|`` is NaN).

Cost: the supernet is never rebuilt; only its mask is switched per candidate. A metric works
on a *working copy* (:meth:`ProbeCache.working_copy`), which :func:`compute_metrics` makes by
deep-copying the network for every call, which costs more than the tiny networks' passes.
Here one scratch copy per edge serves every candidate (:class:`ScratchProbeCache`): before
each candidate its weights and buffers are reset from the supernet and its mask set, so each
candidate starts from exactly the state a fresh deep copy would have (the results are
identical; tests/splitting/test_candidates.py checks it against :func:`compute_metrics`). A
pairwise metric needs all candidate networks alive at once: one deep copy per candidate, each
also serving as its own working copy.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from fewshot.metrics.base import (
    MetricError,
    MetricResult,
    MetricSpec,
    ProbeCache,
    ScoringData,
    check_finite,
    clear_grads,
    get_metric,
)
from fewshot.metrics.settings import DEFAULT_SETTINGS, MetricSettings
from fewshot.spaces import Mask

CANDIDATE_MODES: tuple[str, ...] = ("only", "without")
SCALES: tuple[str, ...] = ("raw", "log", "rank")
RANDOM_BASELINE = "random"
"""Name of the random-partition baseline: accepted wherever a splitting metric is."""


def metric_kind(metric: str) -> str:
    """``scalar`` or ``pairwise`` (from the registry), or ``random`` for the baseline."""
    return "random" if metric == RANDOM_BASELINE else get_metric(metric).kind


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
    similarity: np.ndarray | None = None
    nonfinite_ops: tuple[str, ...] = ()


def candidate_masks(mask: Mask, edge: int, mode: str = "only") -> list[Mask]:
    """One mask per enabled op ``o`` on ``edge``: only ``o`` there (``only``) or all but ``o``.

    ``without`` needs at least 2 enabled ops (a candidate must keep one op on the edge).
    """
    ops = mask.ops(edge)
    if mode == "only":
        return [mask.restrict(edge, [op]) for op in ops]
    if mode == "without":
        if len(ops) < 2:
            raise MetricError(f"'without' candidates need >= 2 ops on edge {edge}, got {ops}")
        return [mask.restrict(edge, [o for o in ops if o != op]) for op in ops]
    raise ValueError(f"unknown candidate mode {mode!r}; known: {list(CANDIDATE_MODES)}")


def scale_scores(scores: np.ndarray | list[float], scale: str = "raw") -> np.ndarray:
    """``g(f)``: the identity (``raw``), ``log|f|`` (``log``) or average ranks (``rank``)."""
    f = np.asarray(scores, dtype=float)
    if scale == "raw":
        return f
    if scale == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.abs(f))
    if scale == "rank":
        from scipy.stats import rankdata

        if not np.isfinite(f).all():
            return np.full_like(f, np.nan)
        return rankdata(f).astype(float)
    raise ValueError(f"unknown distance scale {scale!r}; known: {list(SCALES)}")


def scalar_distance(scores: np.ndarray | list[float], scale: str = "raw") -> np.ndarray:
    """``D[i, j] = |g(f_i) - g(f_j)|`` (diagonal 0; NaN where ``g(f)`` is not finite)."""
    g = scale_scores(scores, scale)
    with np.errstate(invalid="ignore"):
        D = np.abs(g[:, None] - g[None, :])
    np.fill_diagonal(D, 0.0)
    return D


@contextmanager
def _masked(supernet: nn.Module, mask: Mask) -> Iterator[nn.Module]:
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
    supernet: nn.Module,
    mask: Mask,
    edge: int,
    metric: str,
    data: ScoringData,
    *,
    seed: int = 0,
    progress: object | None = None,
    candidates: str = "only",
    scale: str = "raw",
    settings: MetricSettings = DEFAULT_SETTINGS,
) -> EdgeEvaluation:
    """Score every candidate of ``edge`` under ``mask`` with ``metric``; build ``D``.

    ``seed`` seeds the metric's random draws (the same for every candidate). ``progress``, if
    given, is a tqdm-like object whose ``update(1)`` is called per candidate. ``candidates``
    (``only`` | ``without``), ``scale`` (scalar metrics) and ``settings`` (how the metric is
    computed) as in the module docstring. ``supernet`` is left as it was.
    """
    ops = mask.ops(edge)
    start = time.perf_counter()
    if metric == RANDOM_BASELINE:
        _tick(progress, len(ops))
        D = np.zeros((len(ops), len(ops)))
        return EdgeEvaluation(edge, ops, D, None, time.perf_counter() - start)
    spec = get_metric(metric)
    masks = candidate_masks(mask, edge, candidates)
    nonfinite: tuple[str, ...] = ()
    if spec.kind == "pairwise":
        D, scores = _pairwise_distance(supernet, masks, spec, data, seed, settings), None
        _tick(progress, len(masks))
    else:
        values = _scalar_scores(supernet, masks, spec, data, seed, progress, settings)
        scores = dict(zip(ops, values, strict=True))
        nonfinite = _check_scores(metric, edge, scores, settings.keep_nonfinite)
        D = scalar_distance(values, scale)
    D = _symmetrise(metric, np.asarray(D, dtype=float), len(ops), settings.keep_nonfinite)
    similarity = 1.0 - D if spec.kind == "pairwise" else None
    return EdgeEvaluation(
        edge, ops, D, scores, time.perf_counter() - start,
        similarity=similarity, nonfinite_ops=nonfinite,
    )  # fmt: skip


class ScratchProbeCache(ProbeCache):
    """A :class:`ProbeCache` whose working copy is a caller-owned network, not a deep copy.

    ``scratch`` must hold the state a deep copy of ``net`` would (weights, buffers, mask,
    mode); it is prepared as :meth:`ProbeCache.working_copy` prepares its copy (train mode,
    every parameter requiring grad, grads cleared) and the probes may modify it.
    """

    def __init__(
        self,
        net: nn.Module,
        data: ScoringData,
        *,
        seed: int,
        scratch: nn.Module,
        metrics: Collection[str] | None = None,
        settings: MetricSettings = DEFAULT_SETTINGS,
    ):
        super().__init__(net, data, seed=seed, metrics=metrics, settings=settings)
        self._scratch = scratch

    def working_copy(self) -> nn.Module:
        if self._copy is None:
            self._copy = self._scratch.train(self.settings.bn_mode == "train")
            for p in self._copy.parameters():
                p.requires_grad_(True)
            clear_grads(self._copy)
        return self._copy


def reset_scratch(scratch: nn.Module, supernet: nn.Module) -> None:
    """Make ``scratch`` (a deep copy of ``supernet``) equal to it again: state, mask, mode."""
    with torch.no_grad():
        own = scratch.state_dict()
        for name, value in supernet.state_dict().items():
            own[name].copy_(value)
    scratch.set_mask(supernet.search_mask)
    scratch.mode = supernet.mode
    clear_grads(scratch)


def score_with_cache(spec: MetricSpec, cache: ProbeCache) -> float:
    """One scalar metric on a cache, checked as :func:`compute_metrics` checks it."""
    out = spec.fn(cache)
    result = out if isinstance(out, MetricResult) else MetricResult(spec.name, float(out))
    return float(check_finite(result, spec, cache.settings).value)


def _scalar_scores(
    supernet: nn.Module,
    masks: list[Mask],
    spec: MetricSpec,
    data: ScoringData,
    seed: int,
    progress: object | None,
    settings: MetricSettings = DEFAULT_SETTINGS,
) -> list[float]:
    """One score per candidate mask, all on one scratch copy reset before each candidate."""
    scratch = copy.deepcopy(supernet)
    values = []
    for m in masks:
        with _masked(supernet, m):
            reset_scratch(scratch, supernet)
            torch.manual_seed(seed)
            cache = ScratchProbeCache(
                supernet, data, seed=seed, scratch=scratch, metrics=[spec.name], settings=settings
            )
            values.append(score_with_cache(spec, cache))
        _tick(progress, 1)
    return values


def _pairwise_distance(
    supernet: nn.Module,
    masks: list[Mask],
    spec: MetricSpec,
    data: ScoringData,
    seed: int,
    settings: MetricSettings = DEFAULT_SETTINGS,
) -> np.ndarray:
    """A pairwise metric over the candidates: one deep copy each (its own working copy)."""
    nets = []
    for m in masks:
        with _masked(supernet, m):
            nets.append(copy.deepcopy(supernet))
    torch.manual_seed(seed)
    caches = [
        ScratchProbeCache(n, data, seed=seed, scratch=n, metrics=[spec.name], settings=settings)
        for n in nets
    ]
    return np.asarray(spec.fn(caches), dtype=float)


def _tick(progress: object | None, n: int) -> None:
    if progress is not None:
        progress.update(n)  # type: ignore[attr-defined]


def _check_scores(
    metric: str, edge: int, scores: dict[str, float], keep_nonfinite: bool
) -> tuple[str, ...]:
    """The ops with non-finite scores; they raise unless ``keep_nonfinite``."""
    bad = {op: v for op, v in scores.items() if not math.isfinite(v)}
    if bad and not keep_nonfinite:
        raise MetricError(
            f"metric {metric!r} gave non-finite scores {bad} to candidates of edge {edge}; "
            "a split needs finite scores to compare ops (try another metric or more data)"
        )
    return tuple(bad)


def _symmetrise(metric: str, D: np.ndarray, n: int, keep_nonfinite: bool = False) -> np.ndarray:
    """Validate a candidate distance matrix; symmetrise tiny float asymmetries."""
    if D.shape != (n, n):
        raise MetricError(f"metric {metric!r} returned a {D.shape} matrix for {n} candidates")
    finite = np.isfinite(D)
    if not finite.all() and not keep_nonfinite:
        raise MetricError(f"metric {metric!r} returned non-finite candidate distances")
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    with np.errstate(invalid="ignore"):
        if (D[np.isfinite(D)] < -1e-9).any():
            raise MetricError(f"metric {metric!r} returned negative distances")
        return np.where(D < 0, 0.0, D)  # float noise around 0 (e.g. 1 - cos of equal gradients)


__all__ = [
    "CANDIDATE_MODES",
    "RANDOM_BASELINE",
    "SCALES",
    "EdgeEvaluation",
    "PassCounter",
    "ScratchProbeCache",
    "candidate_masks",
    "counting_passes",
    "evaluate_edge",
    "metric_kind",
    "reset_scratch",
    "scalar_distance",
    "scale_scores",
    "score_with_cache",
]
