"""Does the supernet add anything? Supernet arms of the ranking study combined with a free
proxy, against the proxy alone (issue 31, item 5). Nothing is trained or scored::

    python -m fewshot.experiments.combination \\
        --results docs/training/ranking_budget.json,docs/training/ranking_compare_e30all.json \\
        --baselines docs/training/free_baselines.csv --out docs/training/combination.json

reads each result's per-seed, per-arch supernet predictions (``--arms``: ``STEM:ARM``, the
result file's stem and the arm's name in it) and the free baselines' per-arch values (the CSV
``fewshot.experiments.free_baselines`` writes), matched by arch, and writes the comparison
(:mod:`fewshot.analysis.combination`) as JSON with its Markdown table beside it
(``NAME_table.md``).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.combination import FRACTIONS, combination_study, combination_text
from fewshot.cli import run_main
from fewshot.config import CommonOptions, option, parse_config
from fewshot.errors import UsageError
from fewshot.experiments.common import write_results
from fewshot.experiments.free_baselines import study_arms

ARMS = [
    "ranking_budget:px8-c4-n1-full 16000",
    "ranking_compare_e30all:one-shot",
    "ranking_compare_e30all:one-shot-x3",
    "ranking_compare_e30all:jacob_cov-d1-inh",
]
"""One-shot at 16,000 steps; at 30 epochs one-shot, one-shot at equal steps (90 epochs) and
the best split (jacob_cov, inherited)."""


def select_arms(
    results: Mapping[str, Mapping[str, Any]], wanted: Sequence[str]
) -> tuple[dict[str, list[list[float]]], list[str]]:
    """The ``STEM:ARM`` arms of ``results`` (keyed by file stem; arms as
    :func:`~fewshot.experiments.free_baselines.study_arms` names them) and their common
    sample's archs; an unknown stem or arm, or results on different samples, is a usage error."""
    arms, sample = {}, None
    for label in wanted:
        stem, _, arm = label.partition(":")
        if stem not in results:
            raise UsageError(f"--arms {label!r}: no result {stem!r} (have {', '.join(results)})")
        available, _ = study_arms(results[stem])
        if arm not in available:
            raise UsageError(f"--arms {label!r}: {stem} has no arm {arm!r} "
                             f"(has {', '.join(available)})")  # fmt: skip
        archs = list(results[stem]["sample"]["archs"])
        if sample is not None and archs != sample:
            raise UsageError(f"--arms {label!r}: {stem} was measured on another arch sample")
        arms[label], sample = available[arm], archs
    if sample is None:
        raise UsageError("give at least one arm (--arms STEM:ARM)")
    return arms, sample


def read_baselines(
    path: Path, archs: Sequence[str], names: Sequence[str]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The ``names`` columns of the free-baselines CSV in the order of ``archs``, and the
    archs' benchmark accuracies from it."""
    with open(path, newline="") as handle:
        rows = {row["arch"]: row for row in csv.DictReader(handle)}
    missing = [a for a in archs if a not in rows]
    if missing:
        raise UsageError(f"{path}: no row for {len(missing)} of the sample's archs "
                         f"(e.g. {missing[0]})")  # fmt: skip
    columns = list(next(iter(rows.values())))
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise UsageError(f"{path}: no baseline {', '.join(unknown)} (has {', '.join(columns[3:])})")
    proxies = {n: np.array([float(rows[a][n]) for a in archs]) for n in names}
    return proxies, np.array([float(rows[a]["accuracy"]) for a in archs])


def check_accuracy(result: Mapping[str, Any], accuracy: np.ndarray, path: Path) -> None:
    """The CSV's accuracies must be the result's (the same benchmark column)."""
    if not np.allclose(result["sample"]["accuracy"], accuracy):
        raise UsageError(f"{path}: its accuracies are not the results' (another benchmark?)")


@dataclass(kw_only=True)
class CombinationConfig(CommonOptions):
    """Supernet + free proxy (rank average; proxy filter then the supernet's pick) against
    the proxy alone, on the ranking study's committed predictions."""

    results: list[Path] = option([], help="ranking-study result JSONs (comma-separated)")
    baselines: Path | None = option(
        None, help="the free baselines' per-arch CSV (fewshot.experiments.free_baselines --csv)"
    )
    arms: list[str] = option(
        list(ARMS), help="supernet arms, STEM:ARM (the result file's stem and the arm in it; "
        "a budget arm is 'REGIME STEPS')",
    )  # fmt: skip
    proxies: list[str] = option(["naswot", "vote", "vote+naswot"],
                                help="the CSV's baselines to combine with")  # fmt: skip
    fractions: list[float] = option(list(FRACTIONS),
                                    help="the proxy filter's kept fractions, in (0, 1]")  # fmt: skip
    resamples: int = option(1000, help="bootstrap resamples", minimum=100)
    seed: int = option(0, help="the bootstrap's seed")
    out: Path = option(Path("docs/training/combination.json"),
                       help="the result JSON (its NAME_table.md beside it)")  # fmt: skip

    def resolve(self) -> CombinationConfig:
        if not self.results or self.baselines is None:
            raise UsageError("give --results (the study's JSONs) and --baselines (the CSV)")
        missing = [str(p) for p in (*self.results, self.baselines) if not Path(p).is_file()]
        if missing:
            raise UsageError(f"no such file: {', '.join(missing)}")
        if any(not 0 < f <= 1 for f in self.fractions):
            raise UsageError(f"--fractions must lie in (0, 1], not {self.fractions}")
        return self


def run(config: CombinationConfig) -> dict[str, Any]:
    """The combination result of ``config`` (nothing written)."""
    results = {Path(p).stem: json.loads(Path(p).read_text()) for p in config.results}
    arms, archs = select_arms(results, config.arms)
    assert config.baselines is not None  # resolve() requires it
    proxies, accuracy = read_baselines(config.baselines, archs, config.proxies)
    for stem in {label.partition(":")[0] for label in config.arms}:
        check_accuracy(results[stem], accuracy, config.baselines)
    study = combination_study(arms, proxies, accuracy, fractions=config.fractions,
                              resamples=config.resamples, seed=config.seed)  # fmt: skip
    return {"format": "fewshot.combination", "version": 1,
            "results": [str(p) for p in config.results], "baselines": str(config.baselines),
            "archs": len(archs), **study}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = parse_config(CombinationConfig, argv, prog="python -m fewshot.experiments.combination")
    result = run(config)
    text = combination_text(result)
    table = write_results(config.out, result, text)
    print(f"{config.out}; {table}\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
