"""The proxy-filtered pipeline: score many archs, keep the best by proxies, train only those.

The common tutorial recipe (SPEC 7). Each proxy gives every candidate its *percentile*: the
fraction of the other candidates it beats (1 = best; a failed value beats nothing). Proxies are
combined by

- ``rank``: the mean percentile (rank average); keep the top ``k``, or those whose mean
  percentile is at least ``threshold``;
- ``vote``: each proxy votes for the archs it keeps by itself (its own top ``k``, or its
  percentile at least ``threshold``); keep the archs a strict majority votes for (with one
  proxy: its own choice), ordered by votes, then mean percentile (at most ``k`` with top-k).

With a benchmark the kept archs are "trained" by look-up; without one they are trained for real
(:mod:`fewshot.training.standalone`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from fewshot.errors import UsageError

COMBINE = ("rank", "vote")


def percentiles(values: np.ndarray) -> np.ndarray:
    """Fraction of the other candidates each value beats (ties count half; NaN beats none)."""
    v = np.where(np.isfinite(values), values, -np.inf)
    n = len(v)
    if n < 2:
        return np.ones(n)
    return (rankdata(v, method="average") - 1) / (n - 1)


@dataclass(frozen=True)
class FilterResult:
    """Positions (into the candidate list) kept, best first, with the combined scores."""

    kept: np.ndarray
    score: np.ndarray  # mean percentile of every candidate
    votes: np.ndarray | None  # per candidate, how many proxies keep it (vote only)


def filter_candidates(
    values: Mapping[str, np.ndarray],
    *,
    top_k: int | None = None,
    threshold: float | None = None,
    combine: str = "rank",
) -> FilterResult:
    """Keep candidates by the proxies' ``values`` (one array per proxy, same candidates)."""
    if combine not in COMBINE:
        raise UsageError(f"unknown combination {combine!r}; expected one of {', '.join(COMBINE)}")
    if (top_k is None) == (threshold is None):
        raise UsageError("give exactly one of --top-k and --threshold")
    if top_k is not None and top_k < 1:
        raise UsageError(f"--top-k must be >= 1, got {top_k}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold is a percentile in [0, 1], got {threshold}")
    if not values:
        raise UsageError("the filter needs at least one proxy")
    pct = np.stack([percentiles(np.asarray(v, dtype=float)) for v in values.values()])
    score = pct.mean(axis=0)
    if combine == "rank":
        order = np.argsort(-score, kind="stable")
        kept = order[:top_k] if top_k is not None else order[score[order] >= threshold]
        return FilterResult(kept, score, None)
    if threshold is not None:
        ballots = pct >= threshold
    else:
        ballots = np.zeros_like(pct, dtype=bool)
        for p, row in enumerate(pct):
            ballots[p, np.argsort(-row, kind="stable")[:top_k]] = True
    votes = ballots.sum(axis=0)
    need = len(pct) // 2 + 1
    chosen = np.flatnonzero(votes >= need)
    order = chosen[np.lexsort((-score[chosen], -votes[chosen]))]
    return FilterResult(order[:top_k] if top_k is not None else order, score, votes)


__all__ = ["COMBINE", "FilterResult", "filter_candidates", "filter_on_benchmark", "percentiles"]


def filter_on_benchmark(
    oracle,
    proxies: Mapping[str, object],
    *,
    candidates: int,
    repeats: int,
    seed: int,
    top_k: int | None = None,
    threshold: float | None = None,
    combine: str = "rank",
) -> dict:
    """Per repeat: draw ``candidates`` random archs, keep them by the proxies, "train" the kept
    ones (look-up) and report the test accuracy of the best by selection accuracy; next to it,
    the same number of random candidates (the baseline) and the best candidate overall."""
    from fewshot.search.run import quartiles, repeat_rng

    if not 1 <= candidates <= len(oracle):
        raise UsageError(f"--candidates must lie in 1..{len(oracle)}, got {candidates}")
    if repeats < 1:
        raise UsageError(f"repeats must be >= 1, got {repeats}")
    kept_best, random_best, oracle_best, counts, first = [], [], [], [], None
    for r in range(repeats):
        rng = repeat_rng(seed, r)
        cand = rng.choice(len(oracle), size=candidates, replace=False)
        values = {name: table.get(cand) for name, table in proxies.items()}
        res = filter_candidates(values, top_k=top_k, threshold=threshold, combine=combine)
        kept = cand[res.kept]
        counts.append(len(kept))
        if len(kept):
            kept_best.append(_best_reported(oracle, kept))
            random_best.append(_best_reported(oracle, rng.choice(cand, len(kept), replace=False)))
        oracle_best.append(_best_reported(oracle, cand))
        if first is None:
            first = [oracle.arch(i).to_string() for i in kept]
    return {
        "kept_best": quartiles(np.array(kept_best)) if kept_best else None,
        "random_same_count_best": quartiles(np.array(random_best)) if random_best else None,
        "candidates_best": quartiles(np.array(oracle_best)),
        "kept_count": quartiles(np.array(counts)),
        "first_repeat_kept": first,
        "selection": oracle.selection,
    }


def _best_reported(oracle, indices: np.ndarray) -> float:
    """Reported accuracy of the arch with the best selection accuracy (earliest among ties)."""
    indices = np.asarray(indices)
    return float(oracle.report_acc[indices[int(np.argmax(oracle.select_acc[indices]))]])
