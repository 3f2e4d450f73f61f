"""The ranking study's key comparisons and how precisely they are measured (issue 31).

Two questions decide whether splitting helps: does the best split beat one-shot given the same
optimiser steps, and does the best metric split beat a random split? This command reads the
few-vs-one-shot comparison's results (``tools/few_vs_one_shot.py --results``; several files
pool their seeds, e.g. a first batch of seeds and a later one) and reports, per comparison, the
per-seed tau differences, the paired t-interval over seeds, the two-level bootstrap over seeds
and archs, the arch sample's share alone, and the seeds the measured spread needs for a 95%
half-width <= ``--target`` (:func:`fewshot.analysis.noise.comparison_precision`)::

    python -m fewshot.experiments.key_comparisons \\
        --results docs/training/key_comparisons_e30_runs.json \\
        --out docs/training/key_comparisons_e30.json

The arm defaults to the split with the highest mean tau (say which one you meant with
``--arm``: choosing it on the same seeds favours it); its baselines are the ones the comparison
paired it with: ``equal-compute`` (one-shot given the arm's steps) and ``vs-random`` (the random
split of the same depth and protocol). Reads finished results only; the table is written beside
the JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fewshot.analysis.noise import comparison_precision
from fewshot.cli import run_main
from fewshot.config import CommonOptions, option, to_dict
from fewshot.errors import UsageError
from fewshot.experiments.common import start_experiment, write_results
from fewshot.io import software_versions
from fewshot.tables import format_number as _f
from fewshot.tables import markdown_table

FORMAT = "fewshot.key_comparisons"
VERSION = 1
COMPARED = ("equal-compute", "vs-random")
"""The comparison kinds of the few-vs-one-shot results that the key comparisons read."""


@dataclass(kw_only=True)
class KeyComparisonsConfig(CommonOptions):
    """The key comparisons of one or more few-vs-one-shot results files, and their precision."""

    results: list[Path] = option(
        [Path("docs/training/ranking_compare_e30all.json")],
        help="few-vs-one-shot results JSONs (comma-separated; their seeds are pooled: the same "
        "arch sample and methods, no seed in two files)",
    )  # fmt: skip
    arm: str | None = option(
        None, help="the split compared (default: the highest mean tau of the non-random splits)"
    )
    pairs: list[str] = option(
        [], help="further comparisons ARM:BASELINE (comma-separated), e.g. an arm of one file "
        "against a baseline of another trained on the same seeds"
    )  # fmt: skip
    target: float = option(0.05, help="95 percent half-width wanted for each comparison")
    resamples: int = option(2000, help="bootstrap resamples", minimum=100)
    out: Path = option(Path("docs/training/key_comparisons.json"),
                       help="the results JSON (table beside it)", affects_results=False)  # fmt: skip


def load_comparison(path: Path) -> dict[str, Any]:
    """A few-vs-one-shot results JSON (a ``UsageError`` when missing or of another format)."""
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the comparison's results ({exc})") from None
    if result.get("format") != "fewshot.few_vs_one_shot" or "predictions" not in result:
        raise UsageError(f"{path} is not a few-vs-one-shot results file with predictions "
                         "(tools/few_vs_one_shot.py --results)")  # fmt: skip
    return result


def pooled(results: Sequence[dict[str, Any]], paths: Sequence[Path]) -> dict[str, Any]:
    """The seeds of every file pooled (by their seed numbers): the files must score the same
    archs. A seed in two files joins their methods when the methods both have are the same
    runs (equal predictions: e.g. a second study that reused the first's warm-ups for another
    arm); a seed trained twice is refused (not an independent run)."""
    first = results[0]
    predictions: dict[str, dict[str, list[float]]] = {}
    seen: dict[str, Path] = {}
    for result, path in zip(results, paths, strict=True):
        if result["sample"]["archs"] != first["sample"]["archs"]:
            raise UsageError(f"{path} scored another arch sample than {paths[0]}")
        for seed, methods in result["predictions"].items():
            if seed in seen:
                _check_same_runs(seed, predictions[seed], methods, seen[seed], path)
            seen[seed] = path
            predictions[seed] = {**predictions.get(seed, {}), **methods}
    common = set.intersection(*(set(m) for m in predictions.values()))
    return {"predictions": predictions, "methods": common, "true": first["sample"]["accuracy"]}


def _check_same_runs(
    seed: str, before: dict[str, list[float]], now: dict[str, list[float]], a: Path, b: Path
) -> None:
    """A ``UsageError`` unless the methods of ``seed`` in both files are the same runs."""
    shared = sorted(set(before) & set(now))
    differ = [m for m in shared if before[m] != now[m]]
    if not shared or differ:
        raise UsageError(f"seed {seed} is in {a} and {b} as other runs"
                         f"{' (' + ', '.join(differ) + ' differ)' if differ else ''}: a seed "
                         "trained twice is not an independent run; drop one file")  # fmt: skip


def pick_arm(results: Sequence[dict[str, Any]], methods: set[str], arm: str | None) -> str:
    """``arm`` if every file has it, else the split with the highest mean tau over the files'
    seeds (random splits and one-shot runs excluded)."""
    splits = {m for m in methods if not m.startswith(("one-shot", "random"))}
    if arm is not None:
        if arm not in methods:
            raise UsageError(f"no method {arm} in every results file (have "
                             f"{', '.join(sorted(methods))})")  # fmt: skip
        return arm
    if not splits:
        raise UsageError("no split method in the results to compare")

    def mean_tau(m: str) -> float:
        taus = [r["methods"][m]["kendall_tau_mean"] for r in results if m in r["methods"]]
        return sum(taus) / len(taus)

    return max(sorted(splits), key=mean_tau)


def baselines(results: Sequence[dict[str, Any]], arm: str) -> dict[str, str]:
    """The arm's baseline per comparison kind, as the comparison paired it (the files that
    compared the arm agree); none when no file paired it (its comparisons then come from
    ``--pairs``, e.g. one-shot at the arm's steps trained in another folder)."""
    out: dict[str, str] = {}
    for kind in COMPARED:
        named = {r["tau_difference"][kind][arm]["baseline"] for r in results
                 if arm in r.get("tau_difference", {}).get(kind, {})}  # fmt: skip
        if len(named) > 1:
            raise UsageError(f"the files pair {arm} with different {kind} baselines: {named}")
        if named:
            out[kind] = named.pop()
    return out


def extra_pairs(pairs: Sequence[str], methods: set[str]) -> dict[str, tuple[str, str]]:
    """``ARM:BASELINE`` texts as comparisons named ``ARM vs BASELINE``; both must be methods of
    every seed."""
    out = {}
    for text in pairs:
        arm, sep, baseline = text.partition(":")
        if not sep or not arm or not baseline:
            raise UsageError(f"--pairs takes ARM:BASELINE, got {text!r}")
        for name in (arm, baseline):
            if name not in methods:
                raise UsageError(f"no method {name} in every seed (have "
                                 f"{', '.join(sorted(methods))})")  # fmt: skip
        out[f"{arm} vs {baseline}"] = (arm, baseline)
    return out


def analyse(config: KeyComparisonsConfig) -> dict[str, Any]:
    """Every key comparison of ``config``'s files with its precision."""
    results = [load_comparison(p) for p in config.results]
    pool = pooled(results, config.results)
    arm = pick_arm(results, pool["methods"], config.arm)
    seeds = sorted(pool["predictions"], key=lambda s: (len(s), s))
    comparisons = {}
    pairs = {kind: (arm, baseline) for kind, baseline in baselines(results, arm).items()}
    pairs.update(extra_pairs(config.pairs, pool["methods"]))
    if not pairs:
        raise UsageError(f"{arm} has no equal-compute or vs-random baseline in the results: "
                         "name its comparisons with --pairs ARM:BASELINE")  # fmt: skip
    for kind, (a, b) in pairs.items():
        method = [pool["predictions"][s][a] for s in seeds]
        base = [pool["predictions"][s][b] for s in seeds]
        comparisons[kind] = {"arm": a, "baseline": b, **comparison_precision(
            method, base, pool["true"], target=config.target, resamples=config.resamples)}  # fmt: skip
    sources = [{"results": str(p), "seeds": sorted(r["predictions"]),
                "threads": r["config"].get("threads"), "pack": r["config"].get("pack", False),
                "epochs": r["config"].get("epochs"), "wall_s": r.get("timings", {}).get("wall_s")}
               for p, r in zip(config.results, results, strict=True)]  # fmt: skip
    return {"format": FORMAT, "version": VERSION, "config": to_dict(config),
            "versions": software_versions(), "sources": sources, "seeds": seeds,
            "archs": len(pool["true"]), "arm": arm, "comparisons": comparisons}  # fmt: skip


def table(result: dict[str, Any]) -> str:
    """Markdown: one row per comparison with both intervals, the arch share and seeds needed."""
    rows = []
    for kind, c in result["comparisons"].items():
        s, both, archs = c["seeds"], c["seeds_and_archs"], c["archs_only"]
        rows.append([
            kind, f"{c['arm']} - {c['baseline']}", len(c["per_seed"]), _f(s["mean"]), _f(s["sd"]),
            _interval(s["ci95"], s["half_width"]),
            _interval((both["low"], both["high"]), both["half_width"]),
            f"+-{_f(archs['half_width'])}", c["seeds_needed"], "yes" if c["met"] else "no",
        ])  # fmt: skip
    header = ["comparison", "tau difference", "seeds", "mean", "sd over seeds",
              "95% t over seeds (archs fixed)", "95% bootstrap seeds+archs", "archs alone",
              f"seeds for +-{result['config']['target']}", "met"]  # fmt: skip
    return markdown_table(header, rows)


def _interval(bounds: Sequence[float] | None, half_width: float | None) -> str:
    """A table cell ``[low, high] (+-half)``; ``-`` where there is no interval (one seed has
    no spread over seeds)."""
    if bounds is None or half_width is None:
        return "-"
    return f"[{_f(bounds[0])}, {_f(bounds[1])}] (+-{_f(half_width)})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = start_experiment(KeyComparisonsConfig, argv,
                              prog="python -m fewshot.experiments.key_comparisons")  # fmt: skip
    result = analyse(config)
    text = table(result) + "\n"
    write_results(config.out, result, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
