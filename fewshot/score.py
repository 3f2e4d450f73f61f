"""``python -m fewshot.score``: score NB201 archs with zero-cost metrics; correlate with NATS-Bench.

Examples::

    python -m fewshot.score --num 300 --seed 0 --metrics all --dataset cifar10 \\
        --benchmark NATS-tss-v1_0-3ffb9-simple --out runs/score
    python -m fewshot.score --archs archs.txt --metrics snip,synflow --out runs/mine

Writes into ``--out``: ``scores.csv`` (``arch, index, <metric>..., seconds, error``; one row per
arch, appended as it is scored), ``config.yaml``, and with ``--benchmark`` also
``correlations.json``, ``correlations.md`` and ``plots/<metric>.png``. Running the same command
again resumes: archs already in the CSV are not scored again. A CSV written with another
configuration (metrics, data, network size, seed) is refused unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from fewshot.analysis.correlation import Correlation, format_correlations, rank_correlations
from fewshot.cli import (
    UsageError,
    add_config_argument,
    parse_with_config,
    resolved_config,
    run_main,
    save_config,
    setup_logging,
)
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.metrics import ScoringData
from fewshot.scoring import ScoreFile, resolve_metrics, score_archs, select_archs

log = logging.getLogger("fewshot")

SCORES_NAME = "scores.csv"
CONFIG_NAME = "config.yaml"
VOTE_JSON = "vote.json"
CORRELATIONS_JSON = "correlations.json"
CORRELATIONS_MD = "correlations.md"
PLOTS_DIR = "plots"

RESUME_KEYS = (
    "metrics",
    "dataset",
    "data_root",
    "dataset_option",
    "batch_size",
    "batches",
    "C",
    "N",
    "seed",
)
"""Configuration that changes a row's values: a resumed CSV must have been written with it."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fewshot.score",
        description="Score NB201 archs with zero-cost metrics (resumable CSV) and correlate "
        "them with NATS-Bench accuracy.",
    )
    g = p.add_argument_group("archs (one of; default --num 100)")
    g.add_argument("--num", type=int, help="a random sample of this many archs (by --seed)")
    g.add_argument("--all", action="store_true", help="all 15,625 archs")
    g.add_argument("--archs", help="file with one arch string per line, or a comma list")
    g = p.add_argument_group("metrics and network")
    g.add_argument("--metrics", default="all", help="comma list, or 'all' scalar metrics")
    g.add_argument("--C", type=int, default=16, help="channels of the first stage (NB201: 16)")
    g.add_argument("--N", type=int, default=5, help="cells per stage (NB201: 5)")
    g.add_argument("--seed", type=int, default=0, help="sample, data batches, init and probes")
    g.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="data set name (default: cifar10 if available, else digits)")
    g.add_argument("--data-root", type=Path, help="data folder (data sets that need one)")
    g.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="data-set specific option, e.g. image_size=16 (repeatable)",
    )
    g.add_argument("--batch-size", type=int, default=64, help="scoring batch size (papers: 64)")
    g.add_argument("--batches", type=int, default=2, help="batches drawn (zico needs >= 2)")
    g = p.add_argument_group("output and evaluation")
    g.add_argument("--out", type=Path, default=Path("runs/score"), help="output folder")
    g.add_argument("--resume", action="store_true", help="require an existing CSV to continue")
    g.add_argument("--overwrite", action="store_true", help="discard an existing CSV")
    g.add_argument(
        "--retry-failed", action="store_true", help="score again archs recorded with no value"
    )
    g.add_argument("--benchmark", type=Path, help="NATS-Bench tss directory: correlate")
    g.add_argument("--benchmark-dataset", default="cifar10", help="benchmark accuracy column")
    g.add_argument("--no-plots", action="store_true", help="no scatter plots")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("-v", "--verbose", action="store_true")
    add_config_argument(p)
    return p


# -- configuration and resume ---------------------------------------------------------------


def parse_dataset_options(items: Sequence[str]) -> dict[str, Any]:
    """``["image_size=16"]`` -> ``{"image_size": 16}`` (values parsed as YAML scalars)."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--dataset-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def check_resume(out: Path, config: dict[str, Any], *, resume: bool, overwrite: bool) -> None:
    """Refuse to mix rows of two configurations in one CSV; clear it with ``overwrite``."""
    csv_path, config_path = out / SCORES_NAME, out / CONFIG_NAME
    if overwrite:
        csv_path.unlink(missing_ok=True)
        return
    if not csv_path.is_file():
        if resume:
            raise UsageError(f"--resume: {csv_path} does not exist; drop --resume to start")
        return
    if not config_path.is_file():
        raise UsageError(f"{csv_path} exists without {CONFIG_NAME}; use --overwrite or --out")
    old = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    changed = [k for k in RESUME_KEYS if old.get(k) != config.get(k)]
    if changed:
        detail = ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in changed)
        raise UsageError(
            f"{csv_path} was written with another configuration ({detail}); "
            "use another --out, or --overwrite to discard it"
        )
    log.info("resuming %s", csv_path)


def load_scoring_data(config: dict[str, Any]) -> tuple[str, ScoringData]:
    """(data set actually used, the fixed scoring batches)."""
    from fewshot.data import make_datamodule, resolve_dataset, scoring_data

    name, root = resolve_dataset(config["dataset"], config["data_root"])
    dm = make_datamodule(
        name,
        data_root=root,
        batch_size=config["batch_size"],
        seed=config["seed"],
        **config["dataset_option"],
    )
    data = scoring_data(
        dm, num_batches=config["batches"], batch_size=config["batch_size"], seed=config["seed"]
    )
    return name, data


# -- evaluation -----------------------------------------------------------------------------


def correlate(store: ScoreFile, benchmark_path: Path, dataset: str) -> tuple[list, list, list]:
    """(correlations, accuracies, kept row numbers) of every metric column vs the benchmark."""
    from fewshot.benchmark import Benchmark

    bench = Benchmark(benchmark_path)
    keep, acc = [], []
    for i, arch in enumerate(store.archs()):
        try:
            acc.append(bench.accuracy(arch, dataset))
            keep.append(i)
        except ValueError:
            log.warning("arch %s is not in the benchmark: left out of the correlations", arch)
    columns = {m: store.column(m)[keep] for m in store.metrics}
    return rank_correlations(columns, acc), acc, keep


def vote(store: ScoreFile, acc: list, keep: list) -> float | None:
    """Abdelfattah et al.'s vote (majority of synflow, jacob_cov, snip) as the fraction of arch
    pairs ordered correctly, over the archs where all three are finite; ``None`` when one of
    the three was not scored."""
    from fewshot.metrics.vote import VOTE_METRICS, vote_accuracy

    if not set(VOTE_METRICS) <= set(store.metrics):
        return None
    columns = {m: store.column(m)[keep] for m in VOTE_METRICS}
    finite = np.logical_and.reduce([np.isfinite(v) for v in columns.values()])
    if finite.sum() < 2:
        return None
    return vote_accuracy({m: v[finite] for m, v in columns.items()}, np.asarray(acc)[finite])


def write_evaluation(
    store: ScoreFile, rows: list[Correlation], acc: list, keep: list, out: Path, plots: bool
) -> None:
    atomic_write_json(out / CORRELATIONS_JSON, [r.to_dict() for r in rows])
    atomic_write_text(out / CORRELATIONS_MD, format_correlations(rows))
    if plots:
        from fewshot.plotting.correlation import plot_metric_scatter

        for r in rows:
            values = store.column(r.metric)[keep]
            plot_metric_scatter(values, acc, r, out / PLOTS_DIR / f"{r.metric}.png")


# -- main -------------------------------------------------------------------------------------


def _index_lookup(benchmark: Path | None):
    if benchmark is None:
        return None
    from fewshot.benchmark import Benchmark

    bench = Benchmark(benchmark)

    def index_of(arch):
        try:
            return bench.index(arch)
        except ValueError:
            return None

    return index_of


def _main(argv: Sequence[str] | None) -> int:
    args = parse_with_config(build_parser(), argv)
    setup_logging(args.verbose)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = resolved_config(args)
    config["metrics"] = resolve_metrics(args.metrics)
    config["dataset_option"] = parse_dataset_options(args.dataset_option)
    archs = select_archs(num=args.num, seed=args.seed, every=args.all, archs=args.archs)
    config["dataset"], data = load_scoring_data(config)
    check_resume(args.out, config, resume=args.resume, overwrite=args.overwrite)
    store = ScoreFile(args.out / SCORES_NAME, config["metrics"])
    save_config(args.out, config)
    if args.retry_failed:
        log.info("retrying %d archs recorded with no value", len(store.drop_failed()))
    summary = score_archs(
        archs,
        data,
        store,
        C=args.C,
        N=args.N,
        seed=args.seed,
        index_of=_index_lookup(args.benchmark),
        device=args.device,
        progress=not args.no_progress,
    )
    rate = summary.scored / summary.seconds if summary.seconds else float("nan")
    print(
        f"scored {summary.scored} archs ({rate:.3f} archs/s), {summary.skipped} already in "
        f"{store.path}, {len(summary.failed)} with errors (see the 'error' column)",
        file=sys.stderr,
    )
    if args.benchmark is not None:
        rows, acc, keep = correlate(store, args.benchmark, args.benchmark_dataset)
        print(format_correlations(rows, truth=f"{args.benchmark_dataset} accuracy"), end="")
        write_evaluation(store, rows, acc, keep, args.out, plots=not args.no_plots)
        voted = vote(store, acc, keep)
        if voted is not None:
            print(f"vote (synflow, jacob_cov, snip): {voted:.3f} of arch pairs ordered correctly")
            atomic_write_json(args.out / VOTE_JSON, {"vote": voted})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors (unknown metric, bad arch, missing data) exit 2 with one line."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
