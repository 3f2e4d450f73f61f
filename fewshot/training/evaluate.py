"""Evaluate a search against a benchmark: true accuracies, rank correlations, regret.

For each leaf (and for all leaves pooled) the supernet-predicted accuracies of the scored archs
are compared with their true final test accuracies: Kendall tau (tau-b) and Spearman rho. The
chosen arch's regret is measured against the optimum of the whole space and of its leaf (the
best benchmark accuracy over every arch of the leaf's mask). A correlation is ``None`` when it
is undefined (fewer than two archs, or constant values), never NaN.

The benchmark is anything with ``accuracy(arch, dataset=...) -> float`` (percent), such as
:class:`fewshot.benchmark.Benchmark`. An optional ``best(dataset)`` (returning an arch, or an
object with ``.arch`` such as :class:`fewshot.spaces.tabular.BestArch`) gives the space optimum
without scanning every arch of the space here.

Beside each search, the free baseline on the same archs (:func:`structure_baseline`): the
archs ranked by their number of parametric ops (their space's ``num_parametric``; NB201:
convolutions), which costs nothing and ranks NATS-Bench's CIFAR-10 archs at Kendall tau about
0.6 (docs/training/ranking_study.md): a supernet's ranking is worth its training above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from fewshot.correlation import tau_and_rho
from fewshot.spaces import Arch, Mask, SearchSpace, get_space, space_of
from fewshot.tables import markdown_table
from fewshot.training.search import LeafSearch, ScoredArch


class AccuracyTable(Protocol):
    """What evaluation needs from a benchmark."""

    def accuracy(self, arch: Arch, dataset: str = "cifar10") -> float: ...


def optimum(bench: AccuracyTable, archs: Iterable[Arch], dataset: str) -> tuple[Arch, float]:
    """The arch of ``archs`` with the best true accuracy (first on ties)."""
    best: tuple[Arch, float] | None = None
    for arch in archs:
        acc = bench.accuracy(arch, dataset=dataset)
        if best is None or acc > best[1]:
            best = (arch, acc)
    if best is None:
        raise ValueError("no archs to take the optimum of")
    return best


def space_optimum(
    bench: AccuracyTable, dataset: str, *, space: SearchSpace | None = None
) -> tuple[Arch, float]:
    """The best arch of the whole ``space`` (default: the benchmark's ``space``, else
    ``nb201``): ``bench.best(dataset)`` when offered, else a scan of every arch."""
    space = space if space is not None else getattr(bench, "space", None) or get_space()
    best = getattr(bench, "best", None)
    if best is None:
        return optimum(bench, space.all_archs(), dataset)
    found = best(dataset)  # fewshot.spaces.tabular.BestArch(accuracy, arch), or an arch
    arch = getattr(found, "arch", found)
    arch = space.Arch.from_string(arch) if isinstance(arch, str) else arch
    if not isinstance(arch, space.Arch):
        raise TypeError(f"benchmark.best() returned {found!r}; expected an arch")
    return arch, bench.accuracy(arch, dataset=dataset)


def evaluate_scored(
    bench: AccuracyTable, scored: Sequence[ScoredArch], dataset: str
) -> dict[str, Any]:
    """True accuracy of each scored arch (best-predicted first) and the rank correlations."""
    true = [bench.accuracy(s.arch, dataset=dataset) for s in scored]
    return {
        "archs": [
            {"arch": s.arch.to_string(), "predicted": s.predicted, "true": t}
            for s, t in zip(scored, true, strict=True)
        ],
        **tau_and_rho([s.predicted for s in scored], true),
    }


def evaluate_search(
    bench: AccuracyTable,
    searches: Sequence[LeafSearch],
    *,
    dataset: str = "cifar10",
    space_best: tuple[Arch, float] | None = None,
) -> dict[str, Any]:
    """Per-leaf and overall evaluation of a (few-shot or one-shot) search.

    The overall choice is the arch with the highest predicted accuracy across leaves; the
    overall correlations pool every scored arch of every leaf.
    """
    if not searches:
        raise ValueError("no leaf searches to evaluate")
    space = space_of(searches[0].mask)
    space_arch, space_acc = space_best or space_optimum(bench, dataset, space=space)
    leaves = {}
    for s in searches:
        leaves[s.leaf] = _evaluate_leaf(bench, s, dataset, space_acc)
    winner = max(searches, key=lambda s: s.best.predicted)
    pooled = [a for s in searches for a in s.scored]
    chosen_true = leaves[winner.leaf]["chosen"]["true"]
    overall = evaluate_scored(bench, pooled, dataset)
    overall.pop("archs")
    overall.update(
        chosen={"leaf": winner.leaf, **winner.best.to_dict(), "true": chosen_true},
        regret_space=space_acc - chosen_true,
        regret_leaf=leaves[winner.leaf]["regret_leaf"],
        num_scored=len(pooled),
    )
    return {
        "dataset": dataset,
        "space_optimum": {"arch": space_arch.to_string(), "true": space_acc},
        "leaves": leaves,
        "overall": overall,
        "free_baseline": structure_baseline(bench, [a.arch for a in pooled], dataset, space_acc),
    }


FREE_BASELINE = "convs"
"""The name of :func:`structure_baseline` in tables (``free: convs``)."""


def structure_baseline(
    bench: AccuracyTable, archs: Sequence[Arch], dataset: str, space_acc: float
) -> dict[str, Any]:
    """``archs`` ranked by their parametric ops (no training, no data): Kendall tau and
    Spearman against the benchmark, the arch it picks (most parametric ops; ties: the first
    arch string in sorted order, so the search's own order cannot break them) and its regret."""
    ordered = sorted(archs, key=lambda a: a.to_string())
    counts = [a.space.num_parametric(a) for a in ordered]
    true = [bench.accuracy(a, dataset=dataset) for a in ordered]
    pick = max(range(len(ordered)), key=lambda i: (counts[i], -i))
    return {
        "name": FREE_BASELINE,
        "num_scored": len(ordered),
        **tau_and_rho(counts, true),
        "chosen": {"arch": ordered[pick].to_string(), "true": true[pick]},
        "regret_space": space_acc - true[pick],
    }


def _evaluate_leaf(
    bench: AccuracyTable, search: LeafSearch, dataset: str, space_acc: float
) -> dict[str, Any]:
    result = evaluate_scored(bench, search.scored, dataset)
    leaf_arch, leaf_acc = leaf_optimum(bench, search.mask, dataset)
    chosen_true = result["archs"][0]["true"]
    return {
        **result,
        "chosen": {**search.best.to_dict(), "true": chosen_true},
        "leaf_optimum": {"arch": leaf_arch.to_string(), "true": leaf_acc},
        "regret_leaf": leaf_acc - chosen_true,
        "regret_space": space_acc - chosen_true,
    }


def leaf_optimum(bench: AccuracyTable, mask: Mask, dataset: str) -> tuple[Arch, float]:
    """The best arch of a leaf's mask according to the benchmark."""
    return optimum(bench, mask.archs(), dataset)


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """A markdown table comparing searches (e.g. ``{"few-shot": ..., "one-shot": ...}``), then
    the free baseline on their archs (``free: convs``, :func:`structure_baseline`)."""
    header = [
        "search", "leaves", "archs scored", "Kendall tau", "Spearman", "chosen arch",
        "true acc", "regret (space)", "regret (leaf)",
    ]  # fmt: skip
    rows = []
    for name, res in results.items():
        o = res["overall"]
        rows.append(
            [
                name,
                len(res["leaves"]),
                o["num_scored"],
                _fmt(o["kendall_tau"]),
                _fmt(o["spearman"]),
                f"`{o['chosen']['arch']}`",
                f"{o['chosen']['true']:.2f}",
                f"{o['regret_space']:.2f}",
                f"{o['regret_leaf']:.2f}",
            ]  # fmt: skip
        )
    rows += _free_rows(results)
    return markdown_table(header, rows).rstrip("\n")


def _free_rows(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """One row per distinct arch set of the searches' free baselines (the one-shot search
    scores the few-shot search's archs, so usually one row)."""
    rows, seen = [], []
    for name, res in results.items():
        free = res.get("free_baseline")
        if free is None or free in seen:
            continue
        seen.append(free)
        label = (
            f"free: {free['name']}" if len(results) == 1 else f"free: {free['name']} ({name} archs)"
        )
        rows.append([label, "-", free["num_scored"], _fmt(free["kendall_tau"]),
                     _fmt(free["spearman"]), f"`{free['chosen']['arch']}`",
                     f"{free['chosen']['true']:.2f}", f"{free['regret_space']:.2f}", "-"])  # fmt: skip
    if len(rows) == 1 and len(results) > 1:
        rows[0][0] = f"free: {seen[0]['name']}"
    return rows


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


__all__ = [
    "FREE_BASELINE",
    "AccuracyTable",
    "comparison_table",
    "evaluate_scored",
    "evaluate_search",
    "leaf_optimum",
    "optimum",
    "space_optimum",
    "structure_baseline",
]
