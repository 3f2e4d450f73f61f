"""Few-shot vs one-shot on NAS-Bench-Macro against the free baselines (``docs/spaces/macro.md``).

Reads the results JSON of ``tools/few_vs_one_shot.py --space nas-bench-macro`` (its arch
sample and every method's per-seed predictions), the benchmark, and a zero-cost score CSV of
``python -m fewshot.score`` (an ``arch`` column; the proxies at initialisation), and writes,
on the very archs the supernets ranked:

1. per free baseline (the benchmark's ``params`` and ``flops``, the number of inverted
   residuals ``space.num_parametric``, each ``--proxies`` column): Kendall tau-b with the
   benchmark's mean accuracy and its 95% percentile bootstrap interval over the archs;
2. per method and baseline: the method's tau minus the baseline's, mean over training seeds,
   with the paired bootstrap the experiment uses for its own comparisons
   (:func:`fewshot.analysis.ranking.tau_difference_interval`; over seeds and archs when the run
   used ``--bootstrap-seeds``; the baseline is the same at every seed).

    python tools/macro_fvo_report.py --results docs/spaces/macro_fvo/compare.json \\
        --scores docs/spaces/macro/scores_main.csv --proxies naswot,synflow,snip,jacob_cov \\
        --out docs/spaces/macro_fvo/free_baselines.md

The Markdown goes to ``--out``, every number to the JSON beside it. Nothing is trained.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.ranking import tau_difference_interval, tau_interval
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.spaces import get_space
from fewshot.tables import markdown_table

SPACE = get_space("nas-bench-macro")


def benchmark_baselines(bench: Any, archs: Sequence[str]) -> dict[str, list[float]]:
    """The benchmark's free baselines of ``archs``: params, FLOPs, inverted residuals."""
    idx = [bench.index(a) for a in archs]
    return {
        "params": [float(bench.param_count(i)) for i in idx],
        "flops": [float(bench.flops(i)) for i in idx],
        "inverted residuals": [float(SPACE.num_parametric(bench.arch(i))) for i in idx],
    }


def proxy_baselines(path: Path, proxies: Sequence[str], archs: Sequence[str]) -> dict[str, list]:
    """The ``proxies`` columns of the score CSV ``path`` for ``archs`` (by arch string)."""
    with Path(path).open(newline="") as f:
        rows = {r["arch"]: r for r in csv.DictReader(f)}
    missing = [a for a in archs if a not in rows]
    if missing:
        raise ValueError(f"{path} has no scores of {len(missing)} sampled archs, e.g. {missing[0]}")
    out = {}
    for proxy in proxies:
        values = [float(rows[a][proxy]) for a in archs]
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{path}: {proxy} is not finite for every sampled arch")
        out[proxy] = values
    return out


def compare(
    result: dict[str, Any], baselines: dict[str, list[float]], *, resamples: int
) -> dict[str, Any]:
    """Per baseline: its tau [interval] and every method's tau minus it [interval]."""
    true = np.asarray(result["sample"]["accuracy"], dtype=float)
    seeds = sorted(result["predictions"], key=int)
    config = result["config"]
    seed, both = int(config.get("sample_seed", 0)), bool(config.get("bootstrap_seeds", False))
    out: dict[str, Any] = {}
    for name, values in baselines.items():
        own = tau_interval(values, true, n_resamples=resamples, seed=seed)
        versus = {
            method: tau_difference_interval(
                [result["predictions"][s][method] for s in seeds],
                [values] * len(seeds),
                true,
                n_resamples=resamples,
                seed=seed,
                resample_seeds=both,
            ).to_dict()  # fmt: skip
            for method in result["methods"]
        }
        out[name] = {"kendall_tau": own.to_dict(), "method_minus_baseline": versus}
    return out


def _interval(d: dict[str, float], sign: str = "+") -> str:
    return f"{d['estimate']:{sign}.3f} [{d['low']:{sign}.3f}, {d['high']:{sign}.3f}]"


def to_markdown(result: dict[str, Any], comparison: dict[str, Any]) -> str:
    """Two tables: the baselines' tau, then every method's tau minus each baseline's."""
    methods = result["methods"]
    own = [[name, _interval(e["kendall_tau"], "")] for name, e in comparison.items()]
    names = list(comparison)
    diffs = [[m, f"{methods[m]['kendall_tau_mean']:.3f}",
              *(_interval(comparison[b]["method_minus_baseline"][m]) for b in names)]
             for m in methods]  # fmt: skip
    return "\n".join([
        f"Free baselines on the same {len(result['sample']['archs'])} archs (Kendall tau-b with "
        "the benchmark's mean accuracy, 95% bootstrap interval over archs):", "",
        markdown_table(["free baseline", "tau [95% CI]"], own), "",
        "Each method's tau minus the baseline's (mean over seeds, paired 95% bootstrap"
        + (" over seeds and archs" if result["config"].get("bootstrap_seeds") else " over archs")
        + "):", "",
        markdown_table(["method", "tau", *(f"- {b}" for b in names)], diffs), "",
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/macro_fvo_report.py", description=__doc__)
    parser.add_argument("--results", type=Path, required=True, help="few-vs-one-shot JSON")
    parser.add_argument("--benchmark", type=Path, default=None, help="nas-bench-macro file")
    parser.add_argument("--scores", type=Path, default=None, help="fewshot.score CSV")
    parser.add_argument("--proxies", default="", help="its columns to rank (comma-separated)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--out", type=Path, required=True, help="Markdown (JSON beside it)")
    args = parser.parse_args(argv)
    proxies = [p for p in args.proxies.split(",") if p]
    try:
        result = json.loads(args.results.read_text())
        if result["config"].get("space") != SPACE.name:
            raise ValueError(f"{args.results} is not a NAS-Bench-Macro comparison")
        bench = SPACE.open_benchmark(args.benchmark or result["config"].get("benchmark"))
        archs = result["sample"]["archs"]
        baselines = benchmark_baselines(bench, archs)
        if proxies:
            if args.scores is None:
                raise ValueError("--proxies needs --scores")
            baselines.update(proxy_baselines(args.scores, proxies, archs))
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    comparison = compare(result, baselines, resamples=args.resamples)
    atomic_write_json(args.out.with_suffix(".json"), {
        "results": str(args.results), "scores": None if args.scores is None else str(args.scores),
        "archs": archs, "values": baselines, "free_baselines": comparison,
    })  # fmt: skip
    atomic_write_text(args.out, to_markdown(result, comparison))
    print(to_markdown(result, comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())
