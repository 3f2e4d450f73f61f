"""A same-regime ground truth: sampled archs trained standalone in the cheap regime.

A supernet trained at 16 px with C=8 is judged against NATS-Bench (32 px, C=16, N=5, 200
epochs). Its error then mixes two things: weight sharing (the supernet ranks its own regime's
archs badly) and the regime (archs trained cheaply rank differently from the benchmark). This
experiment separates them: a stratified sub-sample of the ranking study's arch sample is
trained standalone (each arch its own network, from scratch, :mod:`fewshot.training.standalone`)
on the same images, image size, C and N as the supernets, and it reports

- tau(standalone in the regime, NATS-Bench): the regime's own error;
- tau(supernet, standalone in the regime): weight sharing's error, per training seed;
- tau(supernet, NATS-Bench) on the same archs, for reference::

    python -m fewshot.experiments.ground_truth --regime px16-c8-n1-subset \\
        --data-roots subset=../shared/data/cifar10-subset \\
        --budget-results docs/training/ranking_budget.json --steps 4000 \\
        --epochs 10 --out runs/ground-truth --results docs/training/ground_truth.json

The standalone accuracy is measured on the held-out images the supernets are scored on (data
seed 0, ``--val-fraction`` of the training images); the test split's accuracy is kept too.
Resumable: every finished arch is in ``OUT/results.json`` and a stopped one resumes from its
last epoch checkpoint.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.ranking import stratified_sample
from fewshot.choices import space_option
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    lightning_hardware,
    option,
    to_dict,
)
from fewshot.correlation import kendall_tau
from fewshot.data.identity import required_column
from fewshot.errors import UsageError
from fewshot.experiments.common import start_experiment, write_results
from fewshot.experiments.ranking_budget import Regime
from fewshot.io import atomic_write_text, software_versions
from fewshot.spaces import Arch, get_space
from fewshot.spaces.base import DEFAULT_SPACE
from fewshot.tables import format_number as _f
from fewshot.tables import markdown_table

log = logging.getLogger("fewshot")

FORMAT = "fewshot.ground_truth"
VERSION = 1


@dataclass(kw_only=True)
class GroundTruthConfig(CommonOptions):
    """Train a stratified sub-sample of the ranking study's archs standalone in one regime."""

    space: str = space_option()
    regime: str = option("px16-c8-n1-subset", help="regime px<SIZE>-c<C>-n<N>-<DATA>")
    data_roots: list[str] = option([], help="DATA=FOLDER (as the budget study's)",
                                   affects_results=False)  # fmt: skip
    budget_results: Path = option(Path("docs/training/ranking_budget.json"),
                                  help="the budget study's results (its arch sample and the "
                                  "supernets' predictions)", affects_results=False)  # fmt: skip
    steps: int | None = option(None, help="the supernets' budget compared (default: largest)",
                               affects_results=False)  # fmt: skip
    # ``steps`` picks the predictions compared, not the standalone training this folder holds
    archs: int = option(60, help="archs trained (stratified over the study's sample)", minimum=3)
    sample_seed: int = option(0, help="seed of the stratified sub-sample")
    epochs: int = option(10, help="standalone training epochs per arch", minimum=1)
    batch_size: int = option(64, help="training batch size", minimum=1)
    lr: float = option(0.1, help="cosine learning rate from lr (NB201's standalone 0.1)")
    val_fraction: float = option(0.1, help="held-out images (as the budget study's)")
    seed: int = option(0, help="training seed of every arch")
    pack: bool = option(
        False, help="train the archs together, as one pack (equal to alone up to float rounding: "
        "docs/training/README.md, 'Packs')",
    )  # fmt: skip
    out: Path = option(Path("runs/ground-truth"), help="training folder (resumable)")
    results: Path | None = option(None, help="also write the JSON (and CSV table) here",
                                  affects_results=False)  # fmt: skip
    benchmark_dataset: str | None = option(
        None, help="compare although the regime's data is not the benchmark's data set, naming "
        "the column the budget study used (a warning)", affects_results=False,
    )  # fmt: skip

    def resolve(self) -> GroundTruthConfig:
        Regime.parse(self.regime)
        if not self.budget_results.is_file():
            raise UsageError(
                f"{self.budget_results}: no budget-study results; run "
                "python -m fewshot.experiments.ranking_budget first"
            )
        self._check_data()
        return self

    def _check_data(self) -> None:
        """The regime's data must be the benchmark's: the archs' benchmark accuracy is compared
        with their standalone accuracy on it (:func:`required_column`)."""
        from fewshot.experiments.ranking_budget import RankingBudgetConfig

        regime = Regime.parse(self.regime)
        roots = RankingBudgetConfig(data_roots=self.data_roots).roots()
        if regime.data not in roots:
            raise UsageError(f"regime {regime.name} needs --data-roots {regime.data}=FOLDER")
        required_column("folder", roots[regime.data], self.benchmark_dataset,
                        what="the ground-truth study")  # fmt: skip


def sub_sample(budget: dict[str, Any], n: int, seed: int) -> list[int]:
    """Positions in the budget study's sample of a stratified (by benchmark accuracy) subset."""
    accuracy = np.asarray(budget["sample"]["accuracy"], dtype=float)
    if n > accuracy.size:
        raise UsageError(f"--archs {n} exceeds the budget study's sample of {accuracy.size}")
    return stratified_sample(accuracy, n, seed)


def supernet_predictions(
    budget: dict[str, Any], regime: str, steps: int | None, positions: Sequence[int]
) -> tuple[int, dict[str, list[float]]]:
    """The budget compared and, per training seed, the supernet's predictions at ``positions``."""
    try:
        budgets = budget["regimes"][regime]["budgets"]
    except KeyError:
        raise UsageError(f"the budget study has no regime {regime!r}") from None
    chosen = steps if steps is not None else max(int(s) for s in budgets)
    if str(chosen) not in budgets:
        raise UsageError(f"the budget study has no budget {chosen} in {regime}")
    seeds = budgets[str(chosen)]["seeds"]
    if any("predicted" not in q for q in seeds.values()):
        raise UsageError("the budget results carry no predictions; re-run the budget study")
    return chosen, {s: [q["predicted"][p] for p in positions] for s, q in seeds.items()}


def sample_archs(budget: dict[str, Any], positions: Sequence[int], space: str) -> list[Arch]:
    """The budget study's archs at ``positions``, of search space ``space``: a study of another
    space (its ``config.space``; missing: the default) is a ``UsageError``."""
    studied = (budget.get("config") or {}).get("space", DEFAULT_SPACE)
    if studied != space:
        raise UsageError(
            f"the budget study searched space {studied!r}, not {space!r}; give --space {studied}"
        )
    arch_type = get_space(space).Arch
    return [arch_type.from_string(budget["sample"]["archs"][p]) for p in positions]


def train_ground_truth(config: GroundTruthConfig, archs: Sequence[Arch]) -> list[dict[str, Any]]:
    """Standalone training of ``archs`` in the regime (resumable)."""
    from fewshot.data import make_datamodule
    from fewshot.experiments.ranking_budget import RankingBudgetConfig
    from fewshot.training.standalone import StandaloneSettings, train_archs
    from fewshot.training.trainer import TrainerSettings

    regime = Regime.parse(config.regime)
    roots = RankingBudgetConfig(data_roots=config.data_roots).roots()
    if regime.data not in roots:
        raise UsageError(f"regime {regime.name} needs --data-roots {regime.data}=FOLDER")
    dm = make_datamodule(
        "folder", data_root=roots[regime.data], batch_size=config.batch_size, seed=0,
        num_workers=0, val_fraction=config.val_fraction, download=False,
        **{**config.data_option, "image_size": regime.image_size},
    )  # fmt: skip
    settings = StandaloneSettings(C=regime.C, N=regime.N, epochs=config.epochs, lr=config.lr,
                                  seed=config.seed)  # fmt: skip
    accelerator, devices = lightning_hardware(config.device)
    hardware = TrainerSettings(accelerator=accelerator, devices=devices, threads=config.threads,
                               progress_bar=not config.no_progress)  # fmt: skip
    return train_archs(archs, dm, settings, config.out, hardware=hardware, pack=config.pack)


def summarise(
    nats: np.ndarray, trained: list[dict[str, Any]], predictions: dict[str, list[float]]
) -> dict[str, Any]:
    """The two taus that separate the regime's error from weight sharing's."""
    val = np.array([r["val_acc"] for r in trained])
    test = np.array([r["test_acc"] for r in trained])
    per_seed = {
        s: {"tau_supernet_vs_standalone": kendall_tau(p, val),
            "tau_supernet_vs_nats": kendall_tau(p, nats)}
        for s, p in predictions.items()
    }  # fmt: skip
    return {
        "tau_standalone_vs_nats": kendall_tau(val, nats),
        "tau_standalone_test_vs_nats": kendall_tau(test, nats),
        "supernet": per_seed,
        "tau_supernet_vs_standalone_mean": _mean(per_seed, "tau_supernet_vs_standalone"),
        "tau_supernet_vs_nats_mean": _mean(per_seed, "tau_supernet_vs_nats"),
    }


def _mean(per_seed: dict[str, dict[str, float | None]], key: str) -> float | None:
    values = [q[key] for q in per_seed.values() if q[key] is not None]
    return float(np.mean(values)) if values else None


def table_csv(result: dict[str, Any]) -> str:
    """The ground-truth table: arch, benchmark index, NATS-Bench and standalone accuracies."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arch", "nats_index", "nats_cifar10_test", "standalone_val_acc",
                     "standalone_test_acc", "seconds"])  # fmt: skip
    for row in result["archs"]:
        writer.writerow([row["arch"], row["index"], row["nats"], f"{row['val_acc']:.2f}",
                         f"{row['test_acc']:.2f}", f"{row['seconds']:.1f}"])  # fmt: skip
    return out.getvalue()


def summary_table(result: dict[str, Any]) -> str:
    s = result["summary"]
    rows = [["standalone (regime) vs NATS-Bench", _f(s["tau_standalone_vs_nats"])],
            ["standalone test split vs NATS-Bench", _f(s["tau_standalone_test_vs_nats"])],
            ["supernet vs standalone (regime), mean over seeds",
             _f(s["tau_supernet_vs_standalone_mean"])],
            ["supernet vs NATS-Bench on these archs, mean over seeds",
             _f(s["tau_supernet_vs_nats_mean"])]]  # fmt: skip
    return markdown_table(["Kendall tau", "value"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = start_experiment(GroundTruthConfig, argv,
                              prog="python -m fewshot.experiments.ground_truth")  # fmt: skip
    from fewshot.run_folder import finished, keep_run_config, lock_run

    lock_run(config.out)
    keep_run_config(config.out, config, "ground_truth_config.yaml",
                    hint="use the original flags or another --out")  # fmt: skip
    if finished(config.out, config.out / "ground_truth.json", config):
        return 0
    budget = json.loads(config.budget_results.read_text())
    positions = sub_sample(budget, config.archs, config.sample_seed)
    steps, predictions = supernet_predictions(budget, config.regime, config.steps, positions)
    archs = sample_archs(budget, positions, config.space)
    nats = np.array([budget["sample"]["accuracy"][p] for p in positions])
    start = time.perf_counter()
    trained = train_ground_truth(config, archs)
    result = {
        "format": FORMAT, "version": VERSION, "config": to_dict(config),
        "versions": software_versions(), "regime": config.regime, "supernet_steps": steps,
        "archs": [{**r, "index": budget["sample"]["indices"][p], "nats": float(n)}
                  for r, p, n in zip(trained, positions, nats, strict=True)],
        "summary": summarise(nats, trained, predictions),
        "wall_s": time.perf_counter() - start,
    }  # fmt: skip
    for path in [config.out / "ground_truth.json"] + ([config.results] if config.results else []):
        write_results(path, result, summary_table(result) + "\n")
        atomic_write_text(path.with_suffix(".csv"), table_csv(result))
    print(summary_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
