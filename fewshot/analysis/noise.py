"""How much one supernet's ranking is worth: the spread of tau over training seeds.

Numpy/scipy only. The input is, per training run, the supernet's predicted accuracy for a fixed
sample of archs (the same order for every run) plus the archs' true accuracies; nothing here
knows about training. Reported (issue 31, "the noise floor"):

- per run: global Kendall tau, top-10% tau and the picked arch's true accuracy
  (:func:`fewshot.analysis.ranking.ranking_quality`);
- over seeds: mean, sd (ddof 1) and the 95% t-interval of the mean;
- **agreement**: Kendall tau between two runs' predictions, for every pair of seeds, and for a
  *repeat* (the same seed run again with one thing changed, e.g. the thread count): how much of
  a supernet's ranking is the seed's and how much is chance;
- **seeds needed** so that a difference of two arms has a 95% half-width <= a target, from the
  measured sd: unpaired (independent seeds per arm, pooled sd, 2n - 2 degrees of freedom) and
  paired (the same seeds for both arms, the per-seed difference's sd, n - 1 degrees of freedom).
  The paired sd is sqrt(2 (1 - rho)) sd for a correlation rho between the arms' per-seed taus;
  with repeats, it is also estimated directly as the root mean square of the repeat's tau
  differences (two arms that differ by nothing but float order have mean difference 0).
- **a comparison's precision** (:func:`comparison_precision`): for two arms trained on the same
  seeds and scored on the same archs, the per-seed tau differences, their paired t-interval
  (archs fixed: the study's sample), the two-level bootstrap over seeds and archs (the archs a
  sample of the space), the arch sample's share alone, and the seeds that the measured spread
  needs for a half-width <= a target.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from fewshot.analysis.ranking import ranking_quality
from fewshot.correlation import kendall_tau

CONFIDENCE = 0.95
MAX_SEEDS = 10_000


def _t(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t quantile for ``confidence`` with ``df`` degrees of freedom."""
    return float(stats.t.ppf(0.5 + confidence / 2, df))


def run_quality(predicted: Sequence[float], true: Sequence[float]) -> dict[str, float | None]:
    """Global tau, top-10% tau and the picked arch's true accuracy of one run's predictions."""
    q = ranking_quality(predicted, true, ["root"] * len(true))
    return {"kendall_tau": q.kendall_tau, "kendall_tau_top10pct": q.kendall_tau_top,
            "picked_accuracy": q.picked_accuracy}  # fmt: skip


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sd (ddof 1), the 95% t-interval of the mean and its half-width, over the defined
    values (``None`` dropped; sd and interval ``None`` with fewer than 2)."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    out: dict[str, Any] = {"n": int(x.size), "mean": float(x.mean()) if x.size else None,
                           "sd": None, "ci95": None, "half_width": None,
                           "min": float(x.min()) if x.size else None,
                           "max": float(x.max()) if x.size else None}  # fmt: skip
    if x.size > 1:
        sd = float(x.std(ddof=1))
        half = _t(x.size - 1) * sd / math.sqrt(x.size)
        out.update(sd=sd, half_width=half, ci95=[out["mean"] - half, out["mean"] + half])
    return out


def pairwise_agreement(predictions: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Kendall tau between every two runs' predictions (key ``"a-b"``) and their spread."""
    pairs = {f"{a}-{b}": kendall_tau(predictions[a], predictions[b])
             for a, b in itertools.combinations(predictions, 2)}  # fmt: skip
    return {"pairs": pairs, **spread(list(pairs.values()))}


def seeds_for_half_width(
    sd: float, target: float, *, paired: bool, confidence: float = CONFIDENCE
) -> int | None:
    """The fewest seeds per arm n >= 2 for which a difference of two arms' mean tau has a
    ``confidence`` half-width <= ``target``.

    Unpaired: independent seeds, both arms with sd ``sd``: t(2n - 2) sd sqrt(2 / n). Paired:
    ``sd`` is the sd of the per-seed difference: t(n - 1) sd / sqrt(n). ``None`` beyond
    ``MAX_SEEDS``; 2 when ``sd`` is 0.
    """
    if sd < 0 or target <= 0:
        raise ValueError(f"need sd >= 0 and target > 0, got sd {sd}, target {target}")

    def half(n: int) -> float:
        if paired:
            return _t(n - 1, confidence) * sd / math.sqrt(n)
        return _t(2 * n - 2, confidence) * sd * math.sqrt(2.0 / n)

    for n in range(2, MAX_SEEDS + 1):
        if half(n) <= target:
            return n
    return None


def paired_sd(sd: float, rho: float) -> float:
    """The sd of a per-seed difference of two arms with sd ``sd`` each and correlation ``rho``."""
    return sd * math.sqrt(max(0.0, 2.0 * (1.0 - rho)))


def repeat_rms(differences: Sequence[float]) -> float | None:
    """Root mean square of repeat differences: the sd of a difference whose mean is 0."""
    d = np.asarray(differences, dtype=float)
    return float(np.sqrt(np.mean(d**2))) if d.size else None


def repeats(
    runs: Mapping[str, Sequence[float]], again: Mapping[str, Sequence[float]], true: Sequence[float]
) -> dict[str, Any]:
    """For each seed in both ``runs`` and ``again``: both taus, their difference, the agreement
    (Kendall tau) of the two runs' predictions and the repeat's :func:`run_quality`
    (keys ending ``_again``)."""
    out: dict[str, Any] = {}
    for seed in (s for s in runs if s in again):
        a, b = run_quality(runs[seed], true), run_quality(again[seed], true)
        out[seed] = {"kendall_tau": a["kendall_tau"], "difference": _minus(a["kendall_tau"],
                     b["kendall_tau"]), "agreement": kendall_tau(runs[seed], again[seed]),
                     **{f"{k}_again": v for k, v in b.items()}}  # fmt: skip
    return out


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def seeds_needed(
    sd: float | None, repeat_sd: float | None, target: float, rhos: Sequence[float] = (0.0, 0.5)
) -> dict[str, Any]:
    """Seeds per arm for a ``target`` half-width of a difference of two arms: unpaired from
    ``sd``, paired for each assumed correlation in ``rhos`` and from the repeats' rms."""
    if sd is None:
        return {"target_half_width": target, "unpaired": None, "paired": {}}
    paired = {f"rho={r:g}": seeds_for_half_width(paired_sd(sd, r), target, paired=True)
              for r in rhos}  # fmt: skip
    if repeat_sd is not None:
        paired["repeat_rms"] = seeds_for_half_width(repeat_sd, target, paired=True)
    return {"target_half_width": target, "sd": sd, "repeat_rms": repeat_sd,
            "unpaired": seeds_for_half_width(sd, target, paired=False), "paired": paired}  # fmt: skip


def noise_floor(
    runs: Mapping[str, Sequence[float]],
    true: Sequence[float],
    *,
    again: Mapping[str, Sequence[float]] | None = None,
    target: float = 0.05,
) -> dict[str, Any]:
    """The noise table of one configuration: ``runs`` maps a training seed to its predictions
    (one per arch of ``true``); ``again`` (optional) the same seeds run with one setting changed.
    """
    if len(runs) < 1:
        raise ValueError("no runs")
    if any(len(p) != len(true) for p in [*runs.values(), *(again or {}).values()]):
        raise ValueError(f"every run must predict the {len(true)} archs of the sample")
    per_seed = {seed: run_quality(p, true) for seed, p in runs.items()}
    summary = {key: spread([q[key] for q in per_seed.values()])
               for key in ("kendall_tau", "kendall_tau_top10pct", "picked_accuracy")}  # fmt: skip
    pairs = repeats(runs, again or {}, true)
    diffs = [p["difference"] for p in pairs.values() if p["difference"] is not None]
    return {"archs": len(true), "seeds": list(runs), "per_seed": per_seed, "summary": summary,
            "agreement": pairwise_agreement(runs), "repeats": pairs,
            "repeat_agreement": spread([p["agreement"] for p in pairs.values()]),
            "seeds_needed": seeds_needed(summary["kendall_tau"]["sd"], repeat_rms(diffs) if diffs
                                         else None, target)}  # fmt: skip


def comparison_precision(
    method: Sequence[Sequence[float]],
    baseline: Sequence[Sequence[float]],
    true: Sequence[float],
    *,
    target: float = 0.05,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How precisely one comparison is measured: ``method`` and ``baseline`` are ``(seeds,
    archs)`` predictions on the same seeds and archs of ``true``.

    - ``per_seed``: tau(method) - tau(baseline) per seed; ``seeds``: their mean, sd and paired
      95% t-interval (what more seeds narrow; the archs taken as fixed);
    - ``seeds_and_archs``: the percentile bootstrap resampling seeds and archs (paired);
      ``archs_only``: resampling archs with every seed kept (what more seeds cannot narrow);
    - ``seeds_needed``: the fewest seeds whose paired t half-width at the measured sd is <=
      ``target``; ``met``: whether both the t and the two-level half-widths are."""
    from fewshot.analysis.ranking import tau_difference_interval

    m, b = np.asarray(method, dtype=float), np.asarray(baseline, dtype=float)
    per_seed = [(kendall_tau(x, true) or 0.0) - (kendall_tau(y, true) or 0.0)
                for x, y in zip(m, b, strict=True)]  # fmt: skip
    by_seeds = spread(per_seed)
    both = tau_difference_interval(m, b, true, n_resamples=resamples, seed=seed,
                                   resample_seeds=True)  # fmt: skip
    archs = tau_difference_interval(m, b, true, n_resamples=resamples, seed=seed)
    both_half = (both.high - both.low) / 2
    need = None if by_seeds.get("sd") is None else seeds_for_half_width(by_seeds["sd"], target,
                                                                         paired=True)  # fmt: skip
    t_half = by_seeds.get("half_width")
    return {"per_seed": per_seed, "seeds": by_seeds,
            "seeds_and_archs": {**both.to_dict(), "half_width": both_half},
            "archs_only": {**archs.to_dict(), "half_width": (archs.high - archs.low) / 2},
            "target_half_width": target, "seeds_needed": need,
            "met": t_half is not None and t_half <= target and both_half <= target}  # fmt: skip


__all__ = [
    "comparison_precision",
    "noise_floor",
    "pairwise_agreement",
    "paired_sd",
    "repeat_rms",
    "repeats",
    "run_quality",
    "seeds_for_half_width",
    "seeds_needed",
    "spread",
]
