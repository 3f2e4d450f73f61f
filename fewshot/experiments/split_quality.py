"""The split-quality table: how well metric splits separate good from bad archs on a benchmark's
data sets (tasks), from ground truth alone, against the random split, and whether a split that
separates well on one task does so on the others::

    python -m fewshot.experiments.split_quality --space tnb101-micro \\
        --metrics snip,synflow,grad_norm,jacob_cov,naswot,zen,random --seeds 5 --depth 2 \\
        --branch 2 --dataset folder --data-root ../shared/data/cifar10-subset --threads 1 \\
        --out docs/spaces/tnb101_split_quality.md

For each (metric, seed) the split run ``RUNS/METRIC_sSEED`` (the layout of ``tools/sweep.py``,
so a sweep's trees are read as they are) is split with :func:`fewshot.splitting.run.run_split`
in this process, one after another, unless its ``tree.json`` is complete already (reused as it
is; an interrupted one is resumed): running the same command again continues where it stopped.
``--no-split`` analyses the trees on disk only. Then the space's benchmark
(``--benchmark``, or where the space finds it) judges every tree with
:mod:`fewshot.analysis.split_quality` on each data set (default: all of the benchmark's), the
random split's expected values are computed for the trees' own edges (exactly, or as a seeded
Monte-Carlo mean beyond 20,000 combinations of partitions), and the table
(Markdown, ``--out``) and every number (JSON beside it) are written atomically.

With ``--datasets`` absent, every data set of the benchmark is judged (NB201: also
cifar10-valid; pass ``--datasets cifar10,cifar100,ImageNet16-120`` for the three test sets).

The splits score networks built by the space on the images of ``--dataset`` (CIFAR-10 by
default): for a benchmark-only space such as TransNAS-Bench-101 micro they are proxies of the
benchmark's networks on the user's data, judged against the benchmark's ground truth.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.split_quality import (
    MEASURES,
    TOP_FRACTION,
    GroundTruth,
    RandomBaseline,
    SplitQuality,
    expected_random,
    ground_truths,
    random_key,
    transfer,
    tree_quality,
)
from fewshot.choices import space_option
from fewshot.cli import run_main
from fewshot.config import CommonOptions, ImageOptions, make_config, option
from fewshot.errors import UsageError
from fewshot.experiments.common import start_experiment
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.run_folder import run_name, tree_path
from fewshot.spaces import SearchSpace, get_space
from fewshot.splitting.tree import SplitTree, TreeFileError, load_tree
from fewshot.tables import format_number, markdown_table

log = logging.getLogger("fewshot")

DEFAULT_METRICS = ("snip", "synflow", "grad_norm", "jacob_cov", "random")
RANDOM = "random"
PROG = "python -m fewshot.experiments.split_quality"
PASS_THROUGH = ("C", "N", "batch_size", "depth", "branch", "recipe", "dataset", "data_root",
                "device", "threads", "no_progress", "data_option")  # fmt: skip
"""Fields handed to every split run as they are (when set)."""


@dataclass(kw_only=True)
class SplitQualityConfig(ImageOptions, CommonOptions):
    """Split with each metric over seeds (or read the trees), judge every tree's leaves by the
    space's benchmark on each of its data sets, and write the split-quality table."""

    space: str = space_option()
    metrics: list[str] = option(list(DEFAULT_METRICS), help="comma-separated metrics ('random': "
                                "the random-partition baseline)")  # fmt: skip
    seeds: int = option(3, help="seeds per metric", minimum=1)
    first_seed: int = option(0, help="first seed")
    depth: int = option(2, help="levels of splits", minimum=1)
    branch: int = option(2, help="children per split", minimum=2)
    recipe: str | None = option(None, help="split recipe (split's default)")
    C: int | None = option(None, help="channels of the first stage (recipe's)", flags=("--C",))
    N: int | None = option(None, help="cells per stage (recipe's)", flags=("--N",))
    batch_size: int | None = option(None, help="scoring batch size (recipe's)", minimum=1)
    dataset: str | None = option(None, help="images the splits score on (split's default)")
    data_root: Path | None = option(None, help="data folder")
    runs: Path = option(Path("runs/split_quality"), help="folder of the split runs "
                        "(default runs/split_quality/SPACE)")  # fmt: skip
    no_split: bool = option(False, help="analyse the trees on disk only (split nothing)")
    benchmark: Path | None = option(None, help="the space's benchmark (file or folder; default: "
                                    "where the space finds it)")  # fmt: skip
    datasets: list[str] | None = option(None, help="benchmark data sets / tasks judged "
                                        "(default: all of the benchmark's)")  # fmt: skip
    top_fraction: float = option(TOP_FRACTION, help="share of archs in the top set", minimum=0)
    valid_only: bool = option(False, help="judge valid archs only (e.g. connected cells)")
    out: Path | None = option(None, help="the Markdown table (default RUNS/split_quality.md); "
                              "the JSON is written beside it")  # fmt: skip

    def resolve(self) -> SplitQualityConfig:
        if not self.metrics:
            raise UsageError("--metrics needs at least one metric")
        if not 0 < self.top_fraction <= 1:
            raise UsageError(f"--top-fraction must lie in (0, 1], got {self.top_fraction}")
        if self.runs == Path("runs/split_quality"):
            self.runs = self.runs / self.space
        self.out = self.out or self.runs / "split_quality.md"
        return self


@dataclass(frozen=True)
class TreeRun:
    """One (metric, seed) tree and where it is."""

    metric: str
    seed: int
    path: Path
    tree: SplitTree

    @property
    def label(self) -> str:
        return run_name(self.metric, self.seed)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 2."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = start_experiment(SplitQualityConfig, argv, prog=PROG)
    if _finished(config):
        return 0
    start = time.perf_counter()
    space = get_space(config.space)
    bench_path, truths = load_truths(config, space)  # a wrong benchmark fails before any split
    runs = collect_trees(config, space)
    report = analyse(runs, truths, top_fraction=config.top_fraction)
    report["benchmark"] = str(bench_path)
    report["config"] = _config_summary(config)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    md, js = write_report(report, Path(str(config.out)))
    print(f"files:\n  {md}\n  {js}")
    return 0


def _finished(config: SplitQualityConfig) -> bool:
    """Whether the report on disk is these settings' over every (metric, seed) tree, each tree
    unchanged since: says so and lists the files (a re-run would give the same report)."""
    md = Path(str(config.out))
    js = md.with_suffix(".json")
    try:
        report = json.loads(js.read_text())
    except (OSError, ValueError):
        return False
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    paths = [tree_path(config.runs, m, s) for s in seeds for m in config.metrics]
    wanted = [run_name(m, s) for s in seeds for m in config.metrics]
    if (
        not md.is_file()
        or not isinstance(report, dict)
        or report.get("config") != json.loads(json.dumps(_config_summary(config)))
        or [t.get("label") for t in report.get("trees", [])] != wanted
        or any(not p.is_file() or p.stat().st_mtime_ns > js.stat().st_mtime_ns for p in paths)
    ):
        return False
    print(f"{md} is already finished (same settings): nothing to do")
    print(f"files:\n  {md}\n  {js}")
    return True


# -- inputs ----------------------------------------------------------------------------------
def load_truths(config: SplitQualityConfig, space: SearchSpace) -> tuple[Path, list[GroundTruth]]:
    """The benchmark's path and its ground truth on the configured data sets."""
    try:
        path = space.find_benchmark(config.benchmark, required=True)
        bench = space.open_benchmark(path)
    except NotImplementedError as exc:
        raise UsageError(f"--space {space.name}: {exc}; split quality needs ground truth") from None
    try:
        return Path(str(path)), ground_truths(bench, config.datasets, valid_only=config.valid_only)
    except ValueError as exc:
        raise UsageError(f"--datasets: {exc}") from None


def collect_trees(config: SplitQualityConfig, space: SearchSpace) -> list[TreeRun]:
    """Every (metric, seed) tree: reused when complete (the split command refuses one made with
    other settings), else split or resumed; with ``--no-split``, read as it is (an incomplete or
    missing one is left out). Trees of another space or shape are refused."""
    runs = []
    for seed in range(config.first_seed, config.first_seed + config.seeds):
        for metric in config.metrics:
            path = tree_path(config.runs, metric, seed)
            if config.no_split:
                tree = _existing(path)
            else:  # a complete tree comes back as it is, once its configuration is checked
                tree = split_one(config, space, metric, seed, resume=path.is_file())
            if tree is None or not tree.complete:
                log.warning("no complete tree at %s: left out", path)
                continue
            _check_tree(tree, path, config, space)
            runs.append(TreeRun(metric, seed, path, tree))
    if not runs:
        raise UsageError(f"no complete tree under {config.runs} (drop --no-split to split)")
    return runs


def _existing(path: Path) -> SplitTree | None:
    if not path.is_file():
        return None
    try:
        return load_tree(path)
    except TreeFileError as exc:
        raise UsageError(f"{exc}; delete that run folder to redo it") from None


def _check_tree(
    tree: SplitTree, path: Path, config: SplitQualityConfig, space: SearchSpace
) -> None:
    if tree.space is not space:
        raise UsageError(f"{path} splits {tree.space.name!r}, not --space {space.name!r}")
    for key in ("depth", "branch"):
        saved = tree.config.get(key)
        if saved is not None and saved != getattr(config, key):
            raise UsageError(
                f"{path} was split with --{key} {saved}, not {getattr(config, key)}: use another "
                "--runs folder"
            )


def split_values(
    config: SplitQualityConfig, space: SearchSpace, metric: str, seed: int, *, resume: bool
) -> dict[str, Any]:
    """The split configuration's values of one run (what ``fewshot.split`` would parse)."""
    values: dict[str, Any] = {"metric": metric, "seed": seed, "out": config.runs,
                              "name": run_name(metric, seed), "resume": resume}  # fmt: skip
    for key in PASS_THROUGH:
        value = getattr(config, key)
        if value is not None:
            values[key] = value
    values["space"] = space.name
    return values


def split_one(
    config: SplitQualityConfig, space: SearchSpace, metric: str, seed: int, *, resume: bool
) -> SplitTree:
    """Split (or resume, or reuse when complete) one run in this process; its tree."""
    from fewshot.splitting.run import SplitConfig, run_split

    values = split_values(config, space, metric, seed, resume=resume)
    log.info("splitting %s (seed %d) into %s", metric, seed, config.runs / values["name"])
    return run_split(make_config(SplitConfig, values)).tree


# -- analysis --------------------------------------------------------------------------------
def analyse(
    runs: Sequence[TreeRun], truths: Sequence[GroundTruth], *, top_fraction: float = TOP_FRACTION
) -> dict[str, Any]:
    """Every tree's quality per data set, the expected random split per tree shape, the per-
    metric summary (mean and sample std over seeds) and the transfer across data sets."""
    qualities = {
        r.label: {t.dataset: tree_quality(r.tree, t, top_fraction=top_fraction) for t in truths}
        for r in runs
    }
    baselines: dict[Any, RandomBaseline] = {}
    for r in runs:
        key = random_key(r.tree)
        if key not in baselines:
            baselines[key] = expected_random(r.tree, truths, top_fraction=top_fraction)
    shapes = list(baselines.values())
    distinct = distinct_trees(runs)
    judged = {label: qualities[label] for label in distinct}
    return {
        "space": runs[0].tree.space.name,
        "datasets": [t.dataset for t in truths],
        "top_fraction": top_fraction,
        "model": _model(runs),
        "trees": [_tree_entry(r, qualities[r.label]) for r in runs],
        "summary": summarise(runs, qualities),
        "random_expected": [b.to_dict() for b in shapes],
        "distinct_trees": distinct,
        "transfer": {m: transfer(judged, measure=m).to_dict() for m in ("top_share",
                                                                           "variance_explained")},
    }  # fmt: skip


def distinct_trees(runs: Sequence[TreeRun]) -> dict[str, list[str]]:
    """Trees with the same leaves counted once (a metric that splits alike whatever the seed,
    two metrics that agree): the first label of each set of identical trees -> all its labels.
    Transfer correlates across these, so that copies do not weigh as separate evidence."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for r in runs:
        key = (r.tree.space.name, *sorted(str(leaf.mask) for leaf in r.tree.leaves()))
        groups.setdefault(key, []).append(r.label)
    return {labels[0]: labels for labels in groups.values()}


def _model(runs: Sequence[TreeRun]) -> dict[str, Any]:
    """The split settings the trees share (what the table states), from their configurations."""
    keys = ("recipe", "C", "N", "batch_size", "batches", "dataset", "edge_policy", "edges",
            "balanced", "depth", "branch")  # fmt: skip
    out = {}
    for key in keys:
        values = {repr(r.tree.config.get(key)) for r in runs}
        out[key] = runs[0].tree.config.get(key) if len(values) == 1 else "mixed"
    return out


def _tree_entry(run: TreeRun, quality: dict[str, SplitQuality]) -> dict[str, Any]:
    leaves = run.tree.leaves()
    return {
        "label": run.label,
        "metric": run.metric,
        "seed": run.seed,
        "path": str(run.path),
        "splits": [
            {"node": n.id, "edge": s.edge, "groups": [list(g) for g in s.groups]}
            for n, s in run.tree.splits()
        ],  # fmt: skip
        "leaf_sizes": [leaf.mask.num_archs for leaf in leaves],
        "leaves": [str(leaf.mask) for leaf in leaves],
        "quality": {d: q.to_dict() for d, q in quality.items()},
    }


def summarise(
    runs: Sequence[TreeRun], qualities: dict[str, dict[str, SplitQuality]]
) -> dict[str, dict[str, dict[str, dict[str, float | int | None]]]]:
    """``summary[metric][dataset][measure]``: mean, sample std (None for one seed), n seeds."""
    out: dict[str, Any] = {}
    for metric in dict.fromkeys(r.metric for r in runs):
        labels = [r.label for r in runs if r.metric == metric]
        datasets = qualities[labels[0]]
        out[metric] = {}
        for d in datasets:
            out[metric][d] = {}
            for m in MEASURES:
                values = np.array([qualities[lb][d].measure(m) for lb in labels])
                std = float(values.std(ddof=1)) if len(values) > 1 else None
                out[metric][d][m] = {"mean": float(values.mean()), "std": std, "n": len(values)}
    return out


# -- the report ------------------------------------------------------------------------------
MEASURE_TITLES = {
    "top_share": "Share of the top {pct} of archs in the best leaf (best = highest mean)",
    "top_lift": "Top-{pct} share of the best leaf over its share of the archs (1: no concentration)",
    "top_share_max": "Largest share of the top {pct} of archs in any one leaf",
    "variance_explained": "Variance of the ground truth explained by the leaves (eta squared)",
    "mean_range": "Range of the leaves' mean ground truth (max - min, task units)",
    "mean_std": "Std of the leaves' mean ground truth (population, task units)",
}


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write the Markdown table and the JSON (atomically); return their paths."""
    js = out.with_suffix(".json")
    atomic_write_json(js, report)
    atomic_write_text(out, format_report(report))
    return out, js


def format_report(report: dict[str, Any]) -> str:
    """The Markdown report: settings, one table per measure, per-tree leaves, transfer."""
    pct = f"{100 * report['top_fraction']:g}%"
    parts = [_header(report)]
    for measure, title in MEASURE_TITLES.items():
        parts.append(f"## {title.format(pct=pct)}\n\n{_measure_table(report, measure)}")
    parts.append(f"## Trees\n\n{_tree_table(report)}")
    parts.append(_transfer_section(report, pct))
    return "\n".join(parts)


def _header(report: dict[str, Any]) -> str:
    model = report["model"]
    config = report.get("config", {})
    lines = [
        f"# Split quality on {report['space']} ({len(report['datasets'])} data sets)\n",
        f"Generated by `{PROG}`; {len(report['trees'])} trees, "
        f"wall time {report.get('wall_seconds', '-')} s.\n",
        "Splits: " + ", ".join(f"{k}={v}" for k, v in model.items()) + ".",
        f"Ground truth: `{report.get('benchmark', '-')}`; data sets "
        + ", ".join(report["datasets"]) + (" (valid archs only)" if config.get("valid_only")
                                           else " (every arch of the benchmark)") + ".\n",
        "Cells: mean ± sample std over seeds (n seeds in the metric column). `random (expected)`"
        " is the expectation of a random split on the same edges with the same group counts "
        "(exact: every combination of partitions, equally likely, unless marked Monte Carlo).\n",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def _cell(stats: dict[str, Any], digits: int) -> str:
    mean = format_number(stats["mean"], digits)
    return mean if stats["std"] is None else f"{mean} ± {format_number(stats['std'], digits)}"


def _measure_table(report: dict[str, Any], measure: str) -> str:
    datasets = report["datasets"]
    digits = 4 if measure in ("mean_std", "mean_range") else 3
    rows = []
    for metric, per_dataset in report["summary"].items():
        n = per_dataset[datasets[0]][measure]["n"]
        rows.append(
            [f"{metric} ({n})", *(_cell(per_dataset[d][measure], digits) for d in datasets)]
        )
    several = len(report["random_expected"]) > 1
    for i, baseline in enumerate(report["random_expected"]):
        how = "" if baseline["exact"] else f", Monte Carlo over {baseline['trees']} trees"
        name = f"random (expected{how}, shape {i})" if several else f"random (expected{how})"
        expected = baseline["expected"]
        rows.append([name, *(format_number(expected[d][measure], digits) for d in datasets)])
    return markdown_table(["metric", *datasets], rows, align=["left"] + ["right"] * len(datasets))


def _tree_table(report: dict[str, Any]) -> str:
    datasets = report["datasets"]
    rows = []
    for t in report["trees"]:
        splits = "; ".join(
            f"{s['edge']}: " + " / ".join(",".join(g) for g in s["groups"]) for s in t["splits"]
        )
        shares = [format_number(t["quality"][d]["top_share"], 2) for d in datasets]
        rows.append([t["label"], splits, " ".join(map(str, t["leaf_sizes"])), *shares])
    header = ["tree", "splits (position: groups)", "leaf sizes", *datasets]
    note = "Top share per data set.\n\n"
    return note + markdown_table(header, rows)


def _transfer_section(report: dict[str, Any], pct: str) -> str:
    tr = report["transfer"]["top_share"]
    datasets = tr["datasets"]
    corr = tr["rank_correlation"]
    corr_rows = [[a, *(format_number(corr[i][j], 2) for j in range(len(datasets)))]
                 for i, a in enumerate(datasets)]  # fmt: skip
    leaf = tr["leaf_transfer"]
    leaf_rows = [[a, *(format_number(leaf[i][j], 2) for j in range(len(datasets)))]
                 for i, a in enumerate(datasets)]  # fmt: skip
    best_rows = []
    for a in datasets:
        best = tr["best_on"][a]
        best_rows.append([a, best["label"], *(f"{best['ranks'][b]}" for b in datasets)])
    n = len(tr["labels"])
    copies = [" = ".join(labels) for labels in report["distinct_trees"].values() if len(labels) > 1]
    same = (
        f" Identical trees count once (named by the first): {'; '.join(copies)}." if copies else ""
    )
    return "\n".join([
        "## Transfer across data sets\n",
        f"Spearman correlation, across the {n} distinct trees, of the top-{pct} share on the row's"
        f" data set and on the column's (does a split that separates well on one do so on the"
        f" other).{same}\n",
        markdown_table(["", *datasets], corr_rows),
        f"Top-{pct} share on the column's data set of the leaf that is best (highest mean) on the"
        " row's, averaged over the trees (diagonal: the mean top share):\n",
        markdown_table(["", *datasets], leaf_rows),
        f"The tree with the highest top share on each data set and its rank (1 = best of {n}) on"
        " every data set:\n",
        markdown_table(["best on", "tree", *datasets], best_rows),
    ])  # fmt: skip


def _config_summary(config: SplitQualityConfig) -> dict[str, Any]:
    keys = ("space", "metrics", "seeds", "first_seed", "depth", "branch", "recipe", "C", "N",
            "batch_size", "dataset", "runs", "benchmark", "datasets", "top_fraction",
            "valid_only")  # fmt: skip
    values = {k: getattr(config, k) for k in keys}
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items() if v is not None}


__all__ = [
    "SplitQualityConfig",
    "TreeRun",
    "analyse",
    "collect_trees",
    "format_report",
    "load_truths",
    "main",
    "split_values",
    "summarise",
    "write_report",
]


if __name__ == "__main__":
    sys.exit(main())
