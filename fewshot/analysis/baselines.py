"""Free baselines: what a trained supernet's ranking must beat, on the same archs.

A supernet costs training; counting an arch's convolutions, its parameters or FLOPs, or one
zero-cost proxy at initialisation costs (almost) nothing. This module ranks the archs of a
study's sample by those *free* predictors, measures them as the study measures a supernet
(:func:`fewshot.analysis.ranking.ranking_quality`: global Kendall tau against the benchmark,
tau within the top 10%, the picked arch's true accuracy) and gives, for every supernet arm
against every baseline, the mean-over-seeds difference of tau with a paired bootstrap
interval. Numpy/scipy only; the proxies are scored elsewhere
(:mod:`fewshot.experiments.free_baselines`, through :mod:`fewshot.scoring`).

The intervals use one set of resamples for every pair (:func:`bootstrap_taus`): replicate
``r`` draws the training seeds (``resample_seeds``) and then the archs with replacement, in
the order :func:`fewshot.analysis.ranking.tau_difference_interval` draws them, and every
prediction's tau on that resample is computed once. A baseline has one prediction, the same
for every seed. So ``paired_interval`` of an arm and a baseline equals
``tau_difference_interval(arm, [baseline] * seeds, ...)`` with the same seed (tested), at a
fraction of the cost when many pairs share the resamples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from fewshot.analysis.ranking import Interval, ranking_quality
from fewshot.correlation import kendall_tau
from fewshot.metrics.vote import VOTE_METRICS
from fewshot.tables import format_number as _f
from fewshot.tables import markdown_table

KEY = "free_baselines"
"""The key of the baselines block in a study's result JSON."""
CONVS = "convs"
"""The structural baseline every space provides: its parametric ops (NB201: convolutions)."""
NONLINEAR = "nonlinear"
"""EFS-NAS's count (the space's ``nonlinear_count``; NB201: ReLU-convs on the deepest path)."""
PROXIES = ("params", "flops", "synflow", "naswot", "jacob_cov", "snip")
"""Registry metrics scored at initialisation as free baselines (params and flops included)."""
VOTES: dict[str, tuple[str, ...]] = {
    "vote": VOTE_METRICS,
    "vote+naswot": (*VOTE_METRICS, "naswot"),
}
"""Rank averages: the zero-cost paper's vote (synflow, jacob_cov, snip) and it with naswot."""


def rank_average(columns: Sequence[Sequence[float]]) -> np.ndarray:
    """Mean over ``columns`` of each arch's rank (ties share their average rank), so a higher
    value is a better arch by the columns' consensus; non-finite values rank lowest."""
    ranks = []
    for column in columns:
        values = np.asarray(column, dtype=float)
        values = np.where(np.isfinite(values), values, -np.inf)
        ranks.append(stats.rankdata(values))
    return np.mean(ranks, axis=0)


def free_predictions(
    counts: Mapping[str, Sequence[float]], proxies: Mapping[str, Sequence[float]]
) -> dict[str, np.ndarray]:
    """Every free baseline on the sample: each structural count of ``counts`` (:data:`CONVS`,
    :data:`NONLINEAR`), each proxy column of ``proxies``, and each vote of :data:`VOTES` whose
    metrics are all present. A proxy undefined on an arch (NaN or
    inf: e.g. naswot or jacob_cov on a cell whose output ignores its input) ranks it below
    every arch it scores (:func:`lowest_for_undefined`; :func:`undefined_counts` says how many)."""
    out = {name: np.asarray(values, dtype=float) for name, values in counts.items()}
    for name, values in proxies.items():
        out[name] = lowest_for_undefined(values)
    for name, members in VOTES.items():
        if all(m in proxies for m in members):
            out[name] = rank_average([out[m] for m in members])
    return out


def lowest_for_undefined(values: Sequence[float]) -> np.ndarray:
    """``values`` with every non-finite entry set below the smallest finite one (all tied)."""
    column = np.asarray(values, dtype=float)
    finite = np.isfinite(column)
    if not finite.any():
        raise ValueError("a baseline with no finite value ranks nothing")
    floor = column[finite].min() - max(1.0, abs(column[finite].min()))
    return np.where(finite, column, floor)


def undefined_counts(proxies: Mapping[str, Sequence[float]]) -> dict[str, int]:
    """Per proxy, the archs where it is NaN or inf (ranked lowest by :func:`free_predictions`)."""
    return {k: int(np.sum(~np.isfinite(np.asarray(v, dtype=float)))) for k, v in proxies.items()}


def baseline_quality(predicted: Sequence[float], true: Sequence[float]) -> dict[str, Any]:
    """The study's measures of one baseline: tau, Spearman, top-10% tau, the picked arch and
    its accuracy, top-10 regret (:func:`~fewshot.analysis.ranking.ranking_quality`)."""
    quality = ranking_quality(predicted, true, ["root"] * len(true)).to_dict()
    quality.pop("per_leaf")
    return quality


@dataclass(frozen=True)
class Replicates:
    """Taus of predictions on shared bootstrap resamples (:func:`bootstrap_taus`).

    ``taus[name]``: ``(resamples, seeds)`` Kendall taus of that prediction on each resample's
    archs (a baseline has one column); ``seed_draws``: ``(resamples, seeds)`` seed indices
    each replicate draws (``arange(seeds)`` in every row without seed resampling).
    """

    taus: dict[str, np.ndarray]
    seed_draws: np.ndarray
    confidence: float


def bootstrap_taus(
    predictions: Mapping[str, np.ndarray],
    true: Sequence[float],
    *,
    seeds: int,
    resamples: int = 1000,
    seed: int = 0,
    resample_seeds: bool = False,
    confidence: float = 0.95,
) -> Replicates:
    """Kendall tau of every prediction (``(seeds, archs)`` for an arm, ``(archs,)`` for a
    baseline) on the same ``resamples`` resamples of the archs, drawn from ``seed``."""
    acc = np.asarray(true, dtype=float)
    rng = np.random.default_rng(seed)
    draws, seed_draws = [], []
    for _ in range(resamples):  # the draw order of ranking._seed_and_arch_bootstrap
        if resample_seeds:
            seed_draws.append(rng.integers(0, seeds, seeds))
        draws.append(rng.integers(0, acc.size, acc.size))
    if not resample_seeds:
        seed_draws = [np.arange(seeds)] * resamples
    taus = {}
    for name, values in predictions.items():
        matrix = np.atleast_2d(np.asarray(values, dtype=float))
        if matrix.shape[1] != acc.size:
            raise ValueError(f"{name}: {matrix.shape[1]} predictions for {acc.size} archs")
        taus[name] = np.array([[_tau(row[d], acc[d]) for row in matrix] for d in draws])
    return Replicates(taus, np.asarray(seed_draws), confidence)


def _tau(predicted: np.ndarray, true: np.ndarray) -> float:
    return kendall_tau(predicted, true) or 0.0  # as ranking.mean_tau_difference counts None


def paired_interval(
    replicates: Replicates, arm: str, baseline: str, point: tuple[float, float]
) -> Interval:
    """Mean over seeds of tau(arm) - tau(baseline) (``point``: the two full-sample means) with
    the percentile interval over the shared resamples."""
    arm_taus, base_taus = replicates.taus[arm], replicates.taus[baseline]
    rows = np.arange(arm_taus.shape[0])[:, None]
    diffs = arm_taus[rows, replicates.seed_draws] - _per_seed(base_taus, replicates.seed_draws)
    alpha = (1.0 - replicates.confidence) / 2
    low, high = np.quantile(diffs.mean(axis=1), [alpha, 1.0 - alpha])
    return Interval(float(point[0] - point[1]), float(low), float(high), replicates.confidence)


def _per_seed(taus: np.ndarray, seed_draws: np.ndarray) -> np.ndarray:
    """A baseline's taus (one column) spread over the drawn seeds; an arm's, drawn."""
    if taus.shape[1] == 1:
        return np.repeat(taus, seed_draws.shape[1], axis=1)
    return taus[np.arange(taus.shape[0])[:, None], seed_draws]


def arms_against_baselines(
    arms: Mapping[str, Sequence[Sequence[float]]],
    baselines: Mapping[str, Sequence[float]],
    true: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    resample_seeds: bool = False,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{arm: {baseline: interval dict}}``: every arm (``(seeds, archs)`` predictions; every
    arm the same number of seeds) against every baseline, on shared resamples."""
    acc = np.asarray(true, dtype=float)
    arm_arrays = {k: np.atleast_2d(np.asarray(v, dtype=float)) for k, v in arms.items()}
    counts = {a.shape[0] for a in arm_arrays.values()}
    if len(counts) != 1:
        raise ValueError(f"arms with different numbers of seeds ({sorted(counts)})")
    base_arrays = {k: np.asarray(v, dtype=float) for k, v in baselines.items()}
    replicates = bootstrap_taus(
        {**arm_arrays, **base_arrays}, acc, seeds=counts.pop(), resamples=resamples, seed=seed,
        resample_seeds=resample_seeds,
    )  # fmt: skip
    out: dict[str, dict[str, dict[str, float]]] = {}
    for arm, predicted in arm_arrays.items():
        arm_tau = float(np.mean([_tau(row, acc) for row in predicted]))
        out[arm] = {
            base: paired_interval(replicates, arm, base, (arm_tau, _tau(values, acc))).to_dict()
            for base, values in base_arrays.items()
        }
    return out


def beaten_by(intervals: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, Any]:
    """Per arm: the baselines it beats (interval above 0), those that beat it (below 0), and
    those it ties (the interval includes 0)."""
    out: dict[str, Any] = {}
    for arm, per_base in intervals.items():
        out[arm] = {
            "beats": [b for b, i in per_base.items() if i["low"] > 0],
            "loses_to": [b for b, i in per_base.items() if i["high"] < 0],
            "ties": [b for b, i in per_base.items() if i["low"] <= 0 <= i["high"]],
        }
    return out


# -- tables ---------------------------------------------------------------------------------------


def baseline_rows(result: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(row name, quality)`` of every baseline of ``result`` (none without the block), for
    the study tables' own rows."""
    block = result.get(KEY)
    if not block:
        return []
    return [(f"free: {name}", b["quality"]) for name, b in block["baselines"].items()]


def free_baselines_text(result: Mapping[str, Any]) -> str:
    """Markdown: the baselines' quality, then every arm minus every baseline with its interval
    ('' when the result has no baselines block)."""
    block = result.get(KEY)
    if not block:
        return ""
    rows = [[name, _f(q["kendall_tau"]), _f(q["kendall_tau_top10pct"]),
             _f(q["picked_accuracy"], 2), _f(q["regret_top10"], 2)]
            for name, q in ((n, b["quality"]) for n, b in block["baselines"].items())]  # fmt: skip
    quality = markdown_table(["baseline", "tau", "tau top-10%", "picked acc", "regret@10"], rows)
    names = list(block["baselines"])
    diff_rows = [[arm, *(_interval(per_base[n]) for n in names)]
                 for arm, per_base in block["tau_difference"].items()]  # fmt: skip
    diffs = markdown_table(["arm", *names], diff_rows)
    undefined = {k: n for k, n in block.get("undefined_archs", {}).items() if n}
    if undefined:
        listed = ", ".join(f"{k} {n}" for k, n in undefined.items())
        quality += f"\nUndefined on some archs, which rank lowest: {listed}.\n"
    counts = "; ".join(f"{k}: {block['settings'][k]}" for k in (CONVS, NONLINEAR)
                       if k in block["baselines"] and k in block["settings"])  # fmt: skip
    return (f"\nFree baselines on the same {len(result['sample']['archs'])} archs "
            f"(proxies: {block['settings']['description']}; {counts}):\n\n"
            f"{quality}\nTau of each supernet arm (mean over seeds) minus each baseline's, with "
            f"the paired 95% bootstrap interval ({_resampled(block['bootstrap'])}, "
            f"{block['bootstrap']['resamples']} resamples shared by every pair):\n\n{diffs}")  # fmt: skip


def _interval(i: Mapping[str, float]) -> str:
    return f"{i['estimate']:+.3f} [{i['low']:+.3f}, {i['high']:+.3f}]"


def _resampled(bootstrap: Mapping[str, Any]) -> str:
    return "over training seeds and archs" if bootstrap["resample_seeds"] else "over archs"


__all__ = [
    "CONVS",
    "KEY",
    "NONLINEAR",
    "PROXIES",
    "VOTES",
    "Replicates",
    "arms_against_baselines",
    "baseline_quality",
    "baseline_rows",
    "beaten_by",
    "bootstrap_taus",
    "free_baselines_text",
    "free_predictions",
    "lowest_for_undefined",
    "paired_interval",
    "rank_average",
    "undefined_counts",
]
