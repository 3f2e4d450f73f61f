"""The zero-cost tau table of NAS-Bench-Macro (``docs/spaces/macro_scores.md`` + ``.json``).

Reads the score CSVs of ``python -m fewshot.score --space nas-bench-macro`` (one or more
``--scores`` folders, e.g. a main run and one of the expensive metrics on a smaller sample)
and the benchmark, and writes, with :mod:`fewshot.correlation`:

1. the free baselines computed from the benchmark alone (its ``params`` and ``flops`` fields
   and the number of inverted residuals, ``space.num_parametric``) over all 6,561 archs, over
   the 3,969 distinct trainings (:meth:`~fewshot.spaces.macro.Arch.canonical`) and over each
   scored sample;
2. per metric: archs, dropped, Kendall tau-b, Spearman with its 95% bootstrap interval, against
   the benchmark's mean accuracy (3 trainings), next to the free baselines on the same archs;
3. Abdelfattah et al.'s vote (synflow, jacob_cov, snip) where all three were scored;
4. with ``--tree``: the leaves of a split tree judged by the benchmark
   (:mod:`fewshot.analysis.split_quality`: size, mean and best accuracy, top-1% archs, and the
   tree's top share, lift and variance explained).

    python tools/macro_report.py --scores runs/macro/score/main runs/macro/score/expensive \\
        --tree docs/spaces/macro/tree.json --out docs/spaces/macro_scores.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.split_quality import GroundTruth, tree_quality
from fewshot.correlation import kendall_tau, rank_correlation, spearman_interval
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.metrics.vote import VOTE_METRICS, finite_vote
from fewshot.scoring.store import ScoreFile, read_score_metrics
from fewshot.spaces import get_space
from fewshot.splitting.tree import load_tree
from fewshot.tables import markdown_table

SPACE = get_space("nas-bench-macro")
BASELINES = ("params", "flops", "inverted residuals")


def baseline_columns(bench, indices: Sequence[int]) -> dict[str, np.ndarray]:
    """The free baselines of the archs at ``indices``: benchmark params, flops, IR count."""
    archs = [bench.arch(i) for i in indices]
    return {
        "params": np.array([bench.param_count(i) for i in indices], dtype=float),
        "flops": np.array([bench.flops(i) for i in indices], dtype=float),
        "inverted residuals": np.array([SPACE.num_parametric(a) for a in archs], dtype=float),
    }


def baseline_taus(bench, indices: Sequence[int]) -> dict[str, float | None]:
    """Kendall tau-b of each free baseline with the mean accuracy over ``indices``."""
    acc = bench.accuracies()[list(indices)]
    return {k: kendall_tau(v, acc) for k, v in baseline_columns(bench, indices).items()}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def score_rows(bench, folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-metric correlations of one score folder and the sample's description."""
    csv = folder / "scores.csv"
    metrics = read_score_metrics(csv)
    store = ScoreFile(csv, metrics)
    indices = [bench.index(a) for a in store.archs()]
    acc = bench.accuracies()[indices]
    rows = []
    for metric in metrics:
        values = store.column(metric)
        corr = rank_correlation(values, acc, metric)
        lo, hi = spearman_interval(values, acc)
        rows.append({**corr.to_dict(), "spearman_ci": [lo, hi], "folder": str(folder)})
    sample = {
        "folder": str(folder),
        "archs": len(indices),
        "baselines_kendall": baseline_taus(bench, indices),
        "seconds": float(np.nansum(store.column("seconds")))
        if "seconds" in _columns(csv)
        else None,
    }
    if set(VOTE_METRICS) <= set(metrics):
        sample["vote"] = finite_vote({m: store.column(m) for m in VOTE_METRICS}, list(acc))[1]
    return rows, sample


def _columns(csv: Path) -> list[str]:
    return csv.read_text().splitlines()[0].split(",")


def report(bench, folders: Sequence[Path]) -> dict[str, Any]:
    """Every number of the table (the JSON)."""
    every = list(range(len(bench)))
    canonical = [i for i in every if bench.arch(i) == bench.arch(i).canonical()]
    result: dict[str, Any] = {
        "benchmark": str(bench.path),
        "baselines_kendall": {
            "all archs (6,561)": baseline_taus(bench, every),
            f"distinct trainings ({len(canonical):,})": baseline_taus(bench, canonical),
        },
        "metrics": [],
        "samples": [],
    }
    for folder in folders:
        rows, sample = score_rows(bench, folder)
        result["metrics"] += rows
        result["samples"].append(sample)
    return result


def leaf_report(bench, tree_path: Path) -> dict[str, Any]:
    """The tree's leaves judged by the benchmark's mean accuracy (every arch, copies included)."""
    tree = load_tree(tree_path)
    quality = tree_quality(tree, GroundTruth.from_benchmark(bench, "cifar10"))
    leaves = []
    for node, summary in zip(tree.leaves(), quality.leaves, strict=True):
        ops = node.mask.to_op_lists()
        split = sorted({n.split.edge for n in tree.nodes if n.split is not None})
        label = " ".join(f"L{p}:{'/'.join(SPACE.op_label(o) for o in ops[p])}" for p in split)
        leaves.append({"leaf": node.id, "ops": label, **summary.__dict__})
    q = quality.to_dict()
    q.pop("leaves")
    return {"tree": str(tree_path), **q, "leaves": leaves}


def _leaf_markdown(t: dict[str, Any]) -> list[str]:
    best = t["leaves"][t["best_leaf"]]["leaf"]
    rows = [[f"#{leaf['leaf']}" + (" (best)" if leaf["leaf"] == best else ""), leaf["ops"],
             leaf["size"], f"{leaf['mean']:.2f}", f"{leaf['best']:.2f}", leaf["top"]]
            for leaf in t["leaves"]]  # fmt: skip
    return [
        f"### Leaves of {t['tree']} (benchmark mean accuracy, all 6,561 archs)", "",
        markdown_table(["leaf", "ops on the split layers", "archs", "mean acc", "best acc",
                        f"top {t['top_fraction']:.0%} archs"], rows),
        "", f"top set {t['top_count']} archs; best leaf's top share {t['top_share']:.3f}, lift "
        f"{t['top_lift']:.2f}; largest share in one leaf {t['top_share_max']:.3f}; leaf means "
        f"std {t['mean_std']:.2f}, range {t['mean_range']:.2f}; variance explained "
        f"{t['variance_explained']:.3f}", "",
    ]  # fmt: skip


def to_markdown(result: dict[str, Any]) -> str:
    """The Markdown tables of :func:`report`'s numbers."""
    lines = _leaf_markdown(result["tree"]) if result.get("tree") else []
    lines += ["### Free baselines (Kendall tau-b with mean accuracy)", ""]
    base_rows = [[where, *(_fmt(t[k]) for k in BASELINES)]
                 for where, t in result["baselines_kendall"].items()]  # fmt: skip
    for s in result["samples"]:
        base_rows.append([f"scored sample {s['folder']} ({s['archs']})",
                          *(_fmt(s["baselines_kendall"][k]) for k in BASELINES)])  # fmt: skip
    lines.append(markdown_table(["archs", *BASELINES], base_rows))
    lines += ["", "### Zero-cost metrics (on the scored sample)", ""]
    samples = {s["folder"]: s for s in result["samples"]}
    rows = []
    for r in sorted(result["metrics"], key=lambda r: -(r["kendall"] or -9)):
        s = samples[r["folder"]]
        lo, hi = r["spearman_ci"]
        rows.append([
            r["metric"], r["n"], r["dropped"], _fmt(r["kendall"]),
            f"{_fmt(r['spearman'])} [{_fmt(lo, 2)}, {_fmt(hi, 2)}]",
            _fmt(s["baselines_kendall"]["inverted residuals"]), Path(r["folder"]).name,
        ])  # fmt: skip
    lines.append(markdown_table(
        ["metric", "archs", "dropped", "Kendall", "Spearman [95% bootstrap]",
         "IR count Kendall (same archs)", "run"],
        rows, align=["left", "right", "right", "right", "left", "right", "left"],
    ))  # fmt: skip
    for s in result["samples"]:
        if "vote" in s:
            lines += ["", f"vote (synflow, jacob_cov, snip) on {s['folder']}: "
                      f"{_fmt(s['vote'])} of arch pairs ordered correctly"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=Path, nargs="+", default=[])
    parser.add_argument("--tree", type=Path, default=None)
    parser.add_argument("--benchmark", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    bench = SPACE.open_benchmark(SPACE.find_benchmark(args.benchmark, required=True))
    result = report(bench, args.scores)
    if args.tree is not None:
        result["tree"] = leaf_report(bench, args.tree)
    text = to_markdown(result)
    atomic_write_json(args.out.with_suffix(".json"), result)
    atomic_write_text(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
