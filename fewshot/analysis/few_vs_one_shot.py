"""Few-shot vs one-shot, the numbers: ranking quality per method and seed, the comparisons
with their bootstrap intervals, the results table.

Computed from predictions only (:mod:`fewshot.experiments.few_vs_one_shot` trains and scores
the supernets; :mod:`fewshot.plotting.ranking` draws the figure). May import the layers below
analysis (the methods of :mod:`fewshot.training.comparison`) and the other analysis modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fewshot.analysis.baselines import baseline_rows, free_baselines_text
from fewshot.analysis.ranking import ranking_quality, tau_difference_interval
from fewshot.correlation import kendall_tau
from fewshot.spaces import Arch
from fewshot.tables import format_number as _f
from fewshot.tables import markdown_table
from fewshot.training.comparison import (
    BUDGETS,
    EFS_NAS,
    EXHAUSTIVE,
    INHERITED_SUFFIX,
    ONE_SHOT,
    Method,
    method_predictions,
)


def evaluate_seed(
    methods: Sequence[Method],
    scores: dict[str, dict[str, float]],
    archs: Sequence[Arch],
    true: np.ndarray,
    top_k: int,
) -> dict[str, dict[str, Any]]:
    """Per method: its predictions for the sample and their ranking quality, with one bias
    diagnostic: Kendall tau of the predictions against the number of parametric ops in the
    arch (its space's ``num_parametric``; NB201: its convolutions). A briefly trained supernet
    tends to favour parameter-free paths, while the benchmark's accuracy rises with
    convolutions; ``tau_true_vs_convs`` is that benchmark reference."""
    convs = np.array([a.space.num_parametric(a) for a in archs])
    true_vs_convs = kendall_tau(true, convs)
    out = {}
    for method in methods:
        predicted, owners = method_predictions(method, archs, scores)
        quality = ranking_quality(predicted, true, owners, top_k=top_k).to_dict()
        quality["tau_vs_convs"] = kendall_tau(predicted, convs)
        quality["tau_true_vs_convs"] = true_vs_convs
        leaves = {leaf.id: leaf.to_json() for leaf in method.leaves}
        out[method.name] = {"predicted": predicted, "quality": quality, "leaves": leaves}
    return out


def comparison_pairs(methods: Sequence[Method], epochs: int) -> list[tuple[str, str, str]]:
    """``(comparison, method, baseline)``: every split method against its one-shot baseline
    under each budget, then every metric split against the random split of the same depth and
    protocol (the authors' question: does the metric beat chance?; not the exhaustive split nor
    EFS-NAS's groups, which cut other shapes), then every inherited split against the same
    split from scratch, then every sampling arm (``one-shot-<rule>``) against the one-shot
    supernet of the run's own rule, trained as long."""
    names = {m.name for m in methods}
    splits = [m for m in methods if m.family != ONE_SHOT]
    pairs = [(b, m.name, m.baseline(b, epochs)) for b in BUDGETS for m in splits]
    pairs = [p for p in pairs if p[2] in names]  # a one-shot multiple beyond --max-multiple
    for m in splits:
        suffix = INHERITED_SUFFIX if m.warmup else ""
        random_split = f"random-d{m.depth}{suffix}"
        if m.family not in ("random", EXHAUSTIVE, EFS_NAS) and random_split in names:
            pairs.append(("vs-random", m.name, random_split))
    for m in splits:
        scratch = m.name.removesuffix(INHERITED_SUFFIX)
        if m.warmup and scratch in names:
            pairs.append(("inherited-vs-scratch", m.name, scratch))
    for m in methods:  # sampling arms: another rule's one-shot supernet, the same epochs
        if m.family == ONE_SHOT and m.sampling is not None and ONE_SHOT in names:
            pairs.append(("sampling", m.name, ONE_SHOT))
    return pairs


def summarise(
    methods: Sequence[Method],
    per_seed: dict[int, dict[str, dict[str, Any]]],
    true: np.ndarray,
    *,
    epochs: int,
    resamples: int,
    seed: int,
    resample_seeds: bool = False,
) -> dict[str, Any]:
    """Per method: per-seed quality, mean and std of tau; per comparison
    (:func:`comparison_pairs`, ``epochs`` the base budget): the tau difference with its
    bootstrap interval (``resamples`` resamples drawn from ``seed``; ``resample_seeds``: over
    training seeds and archs, else over archs)."""
    seeds = sorted(per_seed)
    summary: dict[str, Any] = {}
    for method in methods:
        taus = [per_seed[s][method.name]["quality"]["kendall_tau"] for s in seeds]
        finite = [t for t in taus if t is not None]
        summary[method.name] = {
            **method.to_dict(),
            "leaves": _common_leaves(method, per_seed),
            "seeds": {str(s): _seed_entry(per_seed[s][method.name]) for s in seeds},
            "kendall_tau_mean": float(np.mean(finite)) if finite else None,
            "kendall_tau_std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        }
    comparisons: dict[str, Any] = {}
    for group, name, base in comparison_pairs(methods, epochs):
        interval = tau_difference_interval(
            [per_seed[s][name]["predicted"] for s in seeds],
            [per_seed[s][base]["predicted"] for s in seeds],
            true, n_resamples=resamples, seed=seed, resample_seeds=resample_seeds,
        )  # fmt: skip
        comparisons.setdefault(group, {})[name] = {"baseline": base, **interval.to_dict()}
    return {"methods": summary, "tau_difference": comparisons}


def _seed_entry(result: dict[str, Any]) -> dict[str, Any]:
    """A method's entry for one seed: its ranking quality and the leaves that seed used
    (a split method cuts each seed's own tree, so its leaves differ between seeds)."""
    return {**result["quality"], **({"leaves": result["leaves"]} if "leaves" in result else {})}


def _common_leaves(
    method: Method, per_seed: dict[int, dict[str, dict[str, Any]]]
) -> dict[str, Any] | None:
    """The method's leaves when every seed used the same (one-shot, exhaustive), else ``None``
    (see each seed's ``leaves``). Before, the last seed's leaves were written here for all."""
    seen = [per_seed[s][method.name].get("leaves") for s in sorted(per_seed)]
    known = [leaves for leaves in seen if leaves is not None]
    if not known:
        return method.to_dict()["leaves"]
    return known[0] if all(leaves == known[0] for leaves in known) else None


def results_table(result: dict[str, Any]) -> str:
    """Markdown: per comparison (budget, or vs-random) and split method, mean tau, the
    difference to its baseline with the 95% interval; then the one-shot baselines, and the
    free baselines (``free: NAME``, no training) when the result has them."""
    methods = result["methods"]
    rows = []
    for budget, diffs in result["tau_difference"].items():
        for name, d in diffs.items():
            m, b = methods[name], methods[d["baseline"]]
            rows.append([
                name, budget, _f(m["kendall_tau_mean"]), _f(m["kendall_tau_std"]),
                d["baseline"], _f(b["kendall_tau_mean"]),
                f"{d['estimate']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]",
                _f(_mean(m, "picked_accuracy"), 2), _f(_mean(m, f"regret_top{result['top_k']}"), 2),
                _f(_mean(m, "kendall_tau_top10pct")), _f(_mean(m, "steps"), 0),
            ])  # fmt: skip
    for name, m in methods.items():
        if m["family"] == ONE_SHOT:
            rows.append([name, "-", _f(m["kendall_tau_mean"]), _f(m["kendall_tau_std"]), "-", "-",
                         "-", _f(_mean(m, "picked_accuracy"), 2),
                         _f(_mean(m, f"regret_top{result['top_k']}"), 2),
                         _f(_mean(m, "kendall_tau_top10pct")), _f(_mean(m, "steps"), 0)])  # fmt: skip
    for name, q in baseline_rows(result):  # the free baselines on the same archs, untrained
        rows.append([name, "-", _f(q["kendall_tau"]), "-", "-", "-", "-",
                     _f(q["picked_accuracy"], 2), _f(q[f"regret_top{result['top_k']}"], 2),
                     _f(q["kendall_tau_top10pct"]), "0"])  # fmt: skip
    header = ["method", "compared", "tau", "tau sd", "baseline", "baseline tau",
              "tau - baseline [95% CI]", "picked acc", f"regret@{result['top_k']}",
              "tau top-10%", "steps"]  # fmt: skip
    return markdown_table(header, rows)


def tables_text(result: dict[str, Any]) -> str:
    """The ``_table.md`` text: :func:`results_table`, then the supernets against the free
    baselines (when the result has them)."""
    return results_table(result) + free_baselines_text(result) + "\n"


def _mean(method: dict[str, Any], key: str) -> float | None:
    values = [q[key] for q in method["seeds"].values() if q.get(key) is not None]
    return float(np.mean(values)) if values else None


__all__ = ["comparison_pairs", "evaluate_seed", "results_table", "summarise", "tables_text"]
