"""Zero-cost predictors of da Silva et al. on any ``nn.Module``, through the metric library.

Predictor names are the metric library's (``jacov`` and ``logdet``, the paper's names, are
accepted as aliases). ``synflow`` is scored as its natural log (metric ``synflow_log``): the
same ranking, and finite where synflow itself exceeds float64 on deep AnyNets. Every predictor
is "higher is better".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from torch import nn

import fewshot.scoring as scoring
from fewshot.errors import UsageError
from fewshot.metrics import ScoringData
from fewshot.scoring import ScoringSpec

PREDICTORS: dict[str, str] = {
    "grad_norm": "grad_norm",
    "snip": "snip",
    "grasp": "grasp",
    "synflow": "synflow_log",
    "fisher": "fisher",
    "jacob_cov": "jacob_cov",
    "naswot": "naswot",
}
"""Predictor name -> the metric that scores it."""
ALIASES = {"jacov": "jacob_cov", "logdet": "naswot", "nwot": "naswot", "gradnorm": "grad_norm"}
LOG_SCALE = frozenset({"synflow", "naswot"})
"""Predictors whose stored score is already a logarithm."""


def resolve_predictors(spec: str | Sequence[str]) -> list[str]:
    """Canonical predictor names from ``"synflow,jacov"`` (or a list); ``all``: the seven."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [ALIASES.get(n, n) for n in names if n]
    if names == ["all"]:
        return list(PREDICTORS)
    if not names:
        raise UsageError(f"no predictor given; choose from {', '.join(PREDICTORS)}")
    unknown = [n for n in names if n not in PREDICTORS]
    if unknown:
        raise UsageError(
            f"unknown predictor(s) {unknown}; known: {', '.join(PREDICTORS)} "
            f"(aliases: {', '.join(f'{a}={c}' for a, c in ALIASES.items())})"
        )
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Scored:
    """Scores of one net (predictor -> value), failures (predictor -> message), seconds."""

    scores: dict[str, float]
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def predictor_spec(seed: int) -> ScoringSpec:
    """How refine scores a net: the library's defaults (zero-cost-nas's settings, PyTorch's
    init), the net built with torch seeded by ``seed`` inside ``fork_rng`` (the caller's RNG is
    left as it was: refine's seeding, kept so its published numbers do not change)."""
    return ScoringSpec(seed=seed, fork_rng=True)


def score_network(
    build: Callable[[], nn.Module],
    predictors: Sequence[str],
    data: ScoringData,
    *,
    seed: int,
    device: str = "cpu",
) -> Scored:
    """Build a net (torch seeded by ``seed`` first) and score it with every predictor at once
    (:func:`fewshot.scoring.score_network` with :func:`predictor_spec`).

    Probes are shared between predictors (one cross-entropy backward for grad_norm, snip and
    fisher; one activation pass for jacob_cov and naswot). A predictor that fails on this net
    is recorded in ``errors`` and left out of ``scores``; nothing is raised.
    """
    start = time.perf_counter()
    errors: dict[str, str] = {}
    metrics = [PREDICTORS[p] for p in predictors]
    results = scoring.score_network(
        build, data, metrics, predictor_spec(seed), device=device, errors=errors
    )
    scores = {p: results[PREDICTORS[p]].value for p in predictors if PREDICTORS[p] in results}
    errs = {p: errors[PREDICTORS[p]] for p in predictors if PREDICTORS[p] in errors}
    for p, v in list(scores.items()):
        if not math.isfinite(v):  # defensive: the library raises for non-finite values
            errs[p] = f"non-finite value {v}"
            del scores[p]
    return Scored(scores, errs, time.perf_counter() - start)


def measure_cost(
    build: Callable[[], nn.Module],
    predictor: str,
    data: ScoringData,
    *,
    seed: int,
) -> float:
    """Seconds to build one net and score it with ``predictor`` alone (nothing shared)."""
    return score_network(build, [predictor], data, seed=seed).seconds
