"""The noise floor of one ranking-study configuration, from the budget study's results.

How much is one supernet's tau worth? The budget study (:mod:`fewshot.experiments.ranking_budget`)
trains one configuration for many seeds (``--seeds 10``) and keeps every seed's per-arch
predictions; run again under another setting (e.g. ``--threads 2``, into another ``--out``),
the same seeds are a *repeat*. This command reads the two results files and reports, per seed,
tau, top-10% tau and the picked arch's accuracy, their mean, sd and 95% interval, the agreement
between seeds' predictions and between a seed and its repeat, and the seeds per arm that a
difference of two arms needs for a 95% half-width <= ``--target``
(:func:`fewshot.analysis.noise.noise_floor`)::

    python -m fewshot.experiments.noise_floor --runs runs/noise/t1/results.json \\
        --again runs/noise/t2/results.json --regime px8-c4-n1-full --steps 16000 \\
        --results docs/training/noise_floor.json

Reads finished results only (it trains nothing); the table is written beside the JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fewshot.analysis.noise import noise_floor, spread
from fewshot.cli import run_main
from fewshot.config import CommonOptions, option, to_dict
from fewshot.errors import UsageError
from fewshot.experiments.common import start_experiment, write_results
from fewshot.io import software_versions
from fewshot.tables import format_number as _f
from fewshot.tables import markdown_table

FORMAT = "fewshot.noise_floor"
VERSION = 1


@dataclass(kw_only=True)
class NoiseFloorConfig(CommonOptions):
    """The spread of one configuration's tau over training seeds, and a repeat's agreement."""

    runs: Path = option(Path("runs/noise/t1/results.json"), help="the budget study's results")
    again: Path | None = option(
        None, help="the same study run again with one setting changed (its seeds are repeats)"
    )
    regime: str | None = option(None, help="the regime (default: the only one in --runs)")
    steps: int | None = option(None, help="the budget (default: the largest in --runs)")
    target: float = option(0.05, help="95 percent half-width wanted for a difference of two arms")
    results: Path = option(Path("docs/training/noise_floor.json"), help="the results JSON "
                           "(table beside it)", affects_results=False)  # fmt: skip


def load_study(path: Path) -> dict[str, Any]:
    """A budget study's results JSON (a ``UsageError`` when missing or of another format)."""
    try:
        study = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the budget study's results ({exc})") from None
    if study.get("format") != "fewshot.ranking_budget":
        raise UsageError(f"{path} is not a ranking_budget results file")
    return study


def budget_of(study: dict[str, Any], regime: str | None, steps: int | None) -> dict[str, Any]:
    """The chosen regime and budget's per-seed results, with the regime's name and steps."""
    regimes = study["regimes"]
    if regime is None and len(regimes) != 1:
        raise UsageError(f"name one of the regimes with --regime: {', '.join(regimes)}")
    name = regime or next(iter(regimes))
    if name not in regimes:
        raise UsageError(f"no regime {name} in the results (has {', '.join(regimes)})")
    budgets = regimes[name]["budgets"]
    chosen = str(steps if steps is not None else max(int(s) for s in budgets))
    if chosen not in budgets:
        raise UsageError(f"no budget {chosen} in {name} (has {', '.join(budgets)})")
    seeds = budgets[chosen]["seeds"]
    if any("predicted" not in q for q in seeds.values()):
        raise UsageError("the results carry no per-arch predictions; re-run the budget study")
    return {"regime": name, "steps": int(chosen), "seeds": seeds,
            "settings": regimes[name]["sensitivity"]["chosen"]}  # fmt: skip


def describe(study: dict[str, Any], budget: dict[str, Any], path: Path) -> dict[str, Any]:
    """Where one arm's runs came from: file, threads, device, per-seed training time."""
    config = study["config"]
    train_s = {s: q["train_s"] for s, q in budget["seeds"].items()}
    return {"results": str(path), "regime": budget["regime"], "steps": budget["steps"],
            "threads": config.get("threads"), "device": config.get("device"),
            "settings": budget["settings"], "train_s": train_s,
            "train_s_spread": spread(list(train_s.values())),
            "versions": study.get("versions")}  # fmt: skip


def analyse(config: NoiseFloorConfig) -> dict[str, Any]:
    """The noise-floor result of ``config``'s runs (and repeats)."""
    study = load_study(config.runs)
    budget = budget_of(study, config.regime, config.steps)
    true = study["sample"]["accuracy"]
    again, again_info = None, None
    if config.again is not None:
        other = load_study(config.again)
        if other["sample"]["archs"] != study["sample"]["archs"]:
            raise UsageError(f"{config.again} scored another arch sample than {config.runs}")
        repeat = budget_of(other, budget["regime"], budget["steps"])
        again = {s: q["predicted"] for s, q in repeat["seeds"].items()}
        again_info = describe(other, repeat, config.again)
    runs = {s: q["predicted"] for s, q in budget["seeds"].items()}
    return {"format": FORMAT, "version": VERSION, "config": to_dict(config),
            "versions": software_versions(), "runs": describe(study, budget, config.runs),
            "again": again_info, "true_accuracy": true,
            "predicted": runs, "predicted_again": again,
            **noise_floor(runs, true, again=again, target=config.target)}  # fmt: skip


def noise_table(result: dict[str, Any]) -> str:
    """Markdown: per seed (and repeat) tau, top-10% tau, picked accuracy, training seconds,
    then the mean, sd and 95% interval over seeds."""
    threads, again = result["runs"]["threads"], result.get("again") or {}
    rows = [[seed, threads, _f(q["kendall_tau"]), _f(q["kendall_tau_top10pct"]),
             _f(q["picked_accuracy"], 2), _f(result["runs"]["train_s"][seed], 0)]
            for seed, q in result["per_seed"].items()]  # fmt: skip
    for seed, r in result["repeats"].items():
        rows.append([f"{seed} (repeat)", again.get("threads"), _f(r["kendall_tau_again"]),
                     _f(r["kendall_tau_top10pct_again"]), _f(r["picked_accuracy_again"], 2),
                     _f(again["train_s"][seed], 0)])  # fmt: skip
    for label, key in (("mean", "mean"), ("sd", "sd"), ("95% CI half-width", "half_width")):
        s = result["summary"]
        rows.append([label, threads, _f(s["kendall_tau"][key]),
                     _f(s["kendall_tau_top10pct"][key]), _f(s["picked_accuracy"][key], 2),
                     _f(result["runs"]["train_s_spread"][key], 0)])  # fmt: skip
    header = ["seed", "threads", "tau", "tau top-10%", "picked acc", "train s"]
    return markdown_table(header, rows)


def agreement_text(result: dict[str, Any]) -> str:
    """Markdown lines: agreement between seeds, seed vs repeat, and the seeds needed."""
    a, r, need = result["agreement"], result["repeats"], result["seeds_needed"]
    lines = [f"- agreement between seeds' predictions (Kendall tau, {len(a['pairs'])} pairs): "
             f"mean {_f(a['mean'])}, sd {_f(a['sd'])}, {_f(a['min'])} to {_f(a['max'])}"]  # fmt: skip
    for seed, rep in r.items():
        lines.append(f"- seed {seed} and its repeat: tau {_f(rep['kendall_tau'])} vs "
                     f"{_f(rep['kendall_tau_again'])} (difference {_f(rep['difference'])}), "
                     f"predictions agree at {_f(rep['agreement'])}")  # fmt: skip
    paired = ", ".join(f"{k} {v}" for k, v in need["paired"].items())
    lines.append(f"- seeds per arm for a 95% half-width <= {need['target_half_width']} on a "
                 f"difference of two arms: unpaired {need['unpaired']}; paired {paired}")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = start_experiment(NoiseFloorConfig, argv,
                              prog="python -m fewshot.experiments.noise_floor")  # fmt: skip
    result = analyse(config)
    text = f"{noise_table(result)}\n\n{agreement_text(result)}\n"
    write_results(config.results, result, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
