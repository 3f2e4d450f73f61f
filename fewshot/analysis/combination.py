"""Does the supernet add anything? A trained supernet combined with a free proxy (issue 31).

A free proxy (naswot, the vote of zero-cost proxies) ranks the study's archs better than any
supernet it trained (:mod:`fewshot.analysis.baselines`). A supernet may still help *on top*
of the proxy, in the two ways the literature combines them:

- **rank average**: each arch's rank by the supernet averaged with its rank by the proxy
  (:func:`combined_ranking`), measured as the study measures a supernet (global Kendall tau
  against the benchmark, tau within the sample's top 10%, the picked arch's accuracy);
- **score, filter, train**: keep the proxy's top ``fraction`` of the archs
  (:func:`proxy_filter`), then the supernet picks among them (:func:`filtered_pick`); measured
  by the picked arch's accuracy against the proxy's own pick, and by the supernet's Kendall tau
  inside the kept set against the proxy's tau there (:func:`filtered_tau`). The supernets here
  were trained on the whole space, so this is the pipeline's selection step only, not a
  supernet trained on the kept archs.

Every measure is compared with the proxy alone as ``mean over seeds of (combination - proxy)``
with a paired percentile bootstrap over training seeds and archs, all measures of one arm on
the same resamples (:func:`fewshot.analysis.baselines.bootstrap_statistics`). A resample is a
candidate pool of its own: the rank average, the top-``fraction`` filter and the picks are
recomputed on it. Numpy/scipy only; :mod:`fewshot.experiments.combination` reads the study's
results and writes the table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fewshot.analysis.baselines import bootstrap_statistics, paired_interval, rank_average
from fewshot.analysis.ranking import picked_index, top_fraction_tau
from fewshot.correlation import kendall_tau
from fewshot.tables import format_number as _f
from fewshot.tables import markdown_table

FRACTIONS = (0.1, 0.25, 0.5)
"""The proxy filter's kept fractions of the sample reported by default."""
GLOBAL = ("kendall_tau", "kendall_tau_top10pct", "picked_accuracy")
"""The study's measures of one ranking of the whole sample."""

Measure = Callable[[np.ndarray, np.ndarray, np.ndarray], float | None]
"""``(predicted, proxy, true) -> value`` on one set of archs."""
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(supernet row, proxy) -> predicted`` on one set of archs."""


def combined_ranking(supernet: Sequence[float], proxy: Sequence[float]) -> np.ndarray:
    """Each arch's mean rank by the supernet and by the proxy (higher is better; ties share
    their rank), the rank average of the two."""
    return rank_average([supernet, proxy])


def proxy_filter(proxy: Sequence[float], fraction: float) -> np.ndarray:
    """Indices, in sample order, of the ``ceil(fraction * n)`` archs the proxy scores highest
    (at least one; ties at the cut: the first in sample order)."""
    values = np.asarray(proxy, dtype=float)
    if not 0 < fraction <= 1:
        raise ValueError(f"the kept fraction must be in (0, 1], not {fraction}")
    kept = max(1, math.ceil(round(fraction * values.size, 9)))
    return np.sort(np.argsort(-values, kind="stable")[:kept])


def filtered_pick(supernet: Sequence[float], proxy: Sequence[float], fraction: float) -> int:
    """The arch the supernet picks among the proxy's top ``fraction`` (its index in the
    sample; ties: the first in sample order, as :func:`~fewshot.analysis.ranking.picked_index`)."""
    kept = proxy_filter(proxy, fraction)
    return int(kept[picked_index(np.asarray(supernet, dtype=float)[kept])])


def filtered_tau(
    predicted: Sequence[float], proxy: Sequence[float], true: Sequence[float], fraction: float
) -> float | None:
    """Kendall tau of ``predicted`` against ``true`` among the proxy's top ``fraction``."""
    kept = proxy_filter(proxy, fraction)
    return kendall_tau(np.asarray(predicted, dtype=float)[kept], np.asarray(true)[kept])


# -- measures and predictors ----------------------------------------------------------------------


def _picked_accuracy(predicted: np.ndarray, _proxy: np.ndarray, true: np.ndarray) -> float:
    return float(true[picked_index(predicted)])


MEASURES: dict[str, Measure] = {
    "kendall_tau": lambda p, _x, t: kendall_tau(p, t),
    "kendall_tau_top10pct": lambda p, _x, t: top_fraction_tau(p, t),
    "picked_accuracy": _picked_accuracy,
}
"""The global measures (:data:`GLOBAL`) by name."""


def filter_measures(fraction: float) -> dict[str, Measure]:
    """The pipeline's measures at one kept fraction: the picked arch's accuracy and tau
    inside the kept set (named ``filter25_picked_accuracy``, ``filter25_kendall_tau``)."""
    tag = filter_tag(fraction)

    def pick(p: np.ndarray, x: np.ndarray, t: np.ndarray) -> float:
        return float(t[filtered_pick(p, x, fraction)])

    def tau(p: np.ndarray, x: np.ndarray, t: np.ndarray) -> float | None:
        return filtered_tau(p, x, t, fraction)

    return {f"{tag}_picked_accuracy": pick, f"{tag}_kendall_tau": tau}


def filter_tag(fraction: float) -> str:
    """``filter25`` for 0.25: the measures' prefix at a kept fraction."""
    return f"filter{round(fraction * 100):g}"


PREDICTORS: dict[str, Predictor] = {
    "proxy": lambda _row, x: x,
    "supernet": lambda row, _x: row,
    "rank_average": combined_ranking,
}
"""The rankings compared: the proxy alone, the supernet alone (inside a filter: the
pipeline), and their rank average."""


def _statistic(
    predictor: Predictor, measure: Measure, proxy: np.ndarray, true: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], float | None]:
    """``(row, arch indices) -> measure`` of the predictor's ranking of those archs."""

    def statistic(row: np.ndarray, d: np.ndarray) -> float | None:
        return measure(predictor(row[d], proxy[d]), proxy[d], true[d])

    return statistic


def _plan(fractions: Sequence[float]) -> dict[str, tuple[str, ...]]:
    """Which measures each predictor gets: every one for the proxy and the supernet, the
    global ones for the rank average."""
    filtered = tuple(name for f in fractions for name in filter_measures(f))
    return {"proxy": GLOBAL + filtered, "supernet": GLOBAL + filtered, "rank_average": GLOBAL}


# -- one arm and one proxy ------------------------------------------------------------------------


def combine(
    arm: Sequence[Sequence[float]],
    proxy: Sequence[float],
    true: Sequence[float],
    *,
    fractions: Sequence[float] = FRACTIONS,
    resamples: int = 1000,
    seed: int = 0,
    resample_seeds: bool = True,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """A supernet arm (``(seeds, archs)`` predictions) with one proxy (``(archs,)``).

    ``values[predictor][measure]``: the mean over seeds on the whole sample (the proxy's is
    its own value); ``per_seed``: the same per training seed; ``difference[predictor]
    [measure]``: ``predictor - proxy`` with its paired interval (``estimate``, ``low``,
    ``high``) for the supernet and the rank average.
    """
    rows = np.atleast_2d(np.asarray(arm, dtype=float))
    x, acc = np.asarray(proxy, dtype=float), np.asarray(true, dtype=float)
    if not rows.shape[1] == x.size == acc.size:
        raise ValueError(f"arm {rows.shape}, proxy {x.shape} and true {acc.shape} differ in archs")
    measures = {**MEASURES, **{k: v for f in fractions for k, v in filter_measures(f).items()}}
    plan = _plan(fractions)
    measured = {
        f"{p}|{m}": (x if p == "proxy" else rows, _statistic(PREDICTORS[p], measures[m], x, acc))
        for p, names in plan.items() for m in names
    }  # fmt: skip
    replicates = bootstrap_statistics(
        measured, acc.size, seeds=rows.shape[0], resamples=resamples, seed=seed,
        resample_seeds=resample_seeds, confidence=confidence,
    )  # fmt: skip
    everything = np.arange(acc.size)
    per_seed = {
        p: {m: [_value(measured[f"{p}|{m}"][1](row, everything)) for row in
                (x[None] if p == "proxy" else rows)] for m in names}
        for p, names in plan.items()
    }  # fmt: skip
    values = {p: {m: float(np.mean(v)) for m, v in ms.items()} for p, ms in per_seed.items()}
    difference = {
        p: {m: paired_interval(replicates, f"{p}|{m}", f"proxy|{m}",
                               (values[p][m], values["proxy"][m])).to_dict() for m in names}
        for p, names in plan.items() if p != "proxy"
    }  # fmt: skip
    return {"values": values, "per_seed": per_seed, "difference": difference}


def _value(value: float | None) -> float:
    """An undefined tau counts 0, as the intervals count it."""
    return 0.0 if value is None else float(value)


def combination_study(
    arms: Mapping[str, Sequence[Sequence[float]]],
    proxies: Mapping[str, Sequence[float]],
    true: Sequence[float],
    *,
    fractions: Sequence[float] = FRACTIONS,
    resamples: int = 1000,
    seed: int = 0,
    resample_seeds: bool = True,
) -> dict[str, Any]:
    """:func:`combine` for every arm and proxy: ``{"arms": {arm: {proxy: block}}, ...}``
    with the settings that produced it."""
    out = {
        arm: {name: combine(rows, values, true, fractions=fractions, resamples=resamples,
                            seed=seed, resample_seeds=resample_seeds)
              for name, values in proxies.items()}
        for arm, rows in arms.items()
    }  # fmt: skip
    return {
        "fractions": list(fractions),
        "bootstrap": {"resamples": resamples, "seed": seed, "resample_seeds": resample_seeds,
                      "confidence": 0.95,
                      "paired": "training seeds and archs; every measure of one arm and proxy "
                                "on the same resamples, each recomputed on the resample"},
        "arms": out,
    }  # fmt: skip


# -- tables ---------------------------------------------------------------------------------------


def _interval(i: Mapping[str, float], digits: int = 3) -> str:
    return f"{i['estimate']:+.{digits}f} [{i['low']:+.{digits}f}, {i['high']:+.{digits}f}]"


def rank_average_rows(study: Mapping[str, Any]) -> list[list[str]]:
    """One row per arm and proxy: the taus of the supernet, the proxy and their rank
    average, and rank average - proxy for every global measure."""
    rows = []
    for arm, per_proxy in study["arms"].items():
        for proxy, block in per_proxy.items():
            v, d = block["values"], block["difference"]["rank_average"]
            rows.append([arm, proxy, _f(v["supernet"]["kendall_tau"]),
                         _f(v["proxy"]["kendall_tau"]), _f(v["rank_average"]["kendall_tau"]),
                         _interval(d["kendall_tau"]), _interval(d["kendall_tau_top10pct"]),
                         f"{v['proxy']['picked_accuracy']:.2f} / "
                         f"{v['rank_average']['picked_accuracy']:.2f}",
                         _interval(d["picked_accuracy"], 2)])  # fmt: skip
    return rows


def filter_rows(study: Mapping[str, Any]) -> list[list[str]]:
    """One row per arm, proxy and kept fraction: the proxy's pick and the supernet's pick
    inside the filter, their difference, and the two taus inside the filter."""
    rows = []
    for arm, per_proxy in study["arms"].items():
        for proxy, block in per_proxy.items():
            v, d = block["values"], block["difference"]["supernet"]
            for fraction in study["fractions"]:
                pick, tau = (f"{filter_tag(fraction)}_{m}" for m in ("picked_accuracy",
                                                                     "kendall_tau"))  # fmt: skip
                rows.append([arm, proxy, f"{fraction:.0%}",
                             f"{v['proxy'][pick]:.2f}", f"{v['supernet'][pick]:.2f}",
                             _interval(d[pick], 2), _f(v["proxy"][tau]), _f(v["supernet"][tau]),
                             _interval(d[tau])])  # fmt: skip
    return rows


def combination_text(study: Mapping[str, Any]) -> str:
    """Markdown: the rank-average table, then the filter pipeline's table."""
    boot = study["bootstrap"]
    over = "training seeds and archs" if boot["resample_seeds"] else "archs"
    ranks = markdown_table(
        ["arm", "proxy", "supernet tau", "proxy tau", "rank-avg tau", "rank avg - proxy: tau",
         "top-10% tau", "picked acc proxy / rank avg", "picked acc"],
        rank_average_rows(study),
    )  # fmt: skip
    filtered = markdown_table(
        ["arm", "proxy", "kept", "proxy's pick", "supernet's pick in kept", "pick difference",
         "tau in kept: proxy", "supernet", "supernet - proxy"],
        filter_rows(study),
    )  # fmt: skip
    return (f"Rank average of supernet and proxy against the proxy alone (mean over training "
            f"seeds; differences with the paired 95% bootstrap interval over {over}, "
            f"{boot['resamples']} resamples):\n\n{ranks}\n"
            f"Proxy filter, then the supernet's pick among the kept archs (score, filter, "
            f"train's selection step), against the proxy's own pick:\n\n{filtered}")  # fmt: skip


__all__ = [
    "FRACTIONS",
    "GLOBAL",
    "MEASURES",
    "PREDICTORS",
    "combination_study",
    "combination_text",
    "combine",
    "combined_ranking",
    "filter_measures",
    "filter_rows",
    "filter_tag",
    "filtered_pick",
    "filtered_tau",
    "proxy_filter",
    "rank_average_rows",
]
