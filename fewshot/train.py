"""``python -m fewshot.train runs/<name>``: train the leaves of a split tree, search, evaluate.

1. Train every leaf (or ``--leaf i``) from scratch with uniform single-path sampling, in
   ``runs/<name>/leaves/<id>/`` (checkpoints, logs, ``metrics.jsonl``); re-running resumes
   each leaf from its last checkpoint. ``--one-shot`` also trains the tree's root (the whole
   space) as one supernet (``runs/<name>/oneshot/``), by default with the leaves' total budget.
2. Search: score up to ``--search-k`` archs per leaf on held-out data (BN recalibrated per
   arch); the one-shot baseline scores the same archs (the union of the leaves').
3. With ``--benchmark DIR``: true accuracies, Kendall tau / Spearman per leaf and overall,
   regret; few-shot vs one-shot printed as one table. Everything goes to ``search.json``.

``--accelerator/--devices/--strategy/--num-nodes`` go to the Lightning ``Trainer``: the same
command trains on CPU, one GPU or with DDP. Defaults: ``configs/train.yaml`` / the spec.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from fewshot.cli import (
    UsageError,
    add_config_argument,
    log,
    parse_with_config,
    resolved_config,
    run_main,
    save_config,
    setup_logging,
)
from fewshot.io import atomic_write_json, software_versions
from fewshot.space import Arch, Mask
from fewshot.training.evaluate import comparison_table, evaluate_search, space_optimum
from fewshot.training.runner import TrainerSettings, TrainSettings, load_trained, train_subsupernet
from fewshot.training.search import (
    Batch,
    LeafSearch,
    candidate_archs,
    search_leaf,
    take_batches,
)
from fewshot.tree import SplitTree, load_tree

SEARCH_FORMAT = "fewshot.search"
SEARCH_VERSION = 1


@dataclass(frozen=True)
class Job:
    """One sub-supernet to train and search: an id, its mask, its folder, its epochs."""

    id: str
    mask: Mask
    out_dir: Path
    epochs: int


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fewshot.train", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path, help="run folder holding tree.json (outputs go here)")
    p.add_argument("--tree", type=Path, help="tree file (default: RUN_DIR/tree.json)")
    p.add_argument("--leaf", type=int, action="append", help="train only these leaf ids")
    p.add_argument("--one-shot", action="store_true", help="also train/search the whole space")
    p.add_argument("--one-shot-epochs", type=int, help="default: epochs x number of leaves")
    g = p.add_argument_group("model and data (default: the tree's)")
    g.add_argument("--dataset", help="data set name (default: the tree's)")
    g.add_argument("--data-root", type=Path, help="data folder (data sets that need one)")
    g.add_argument("--C", type=int, help="channels of the first stage (default: tree config)")
    g.add_argument("--N", type=int, help="cells per stage (default: tree config)")
    g.add_argument(
        "--data-option",
        action="append",
        metavar="KEY=VALUE",
        help="data-set specific option (e.g. image_size=16 for synthetic); repeatable",
    )
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--num-workers", type=int, default=0)
    g.add_argument("--val-fraction", type=float, default=0.1)
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("optimisation (spec section 5)")
    g.add_argument("--epochs", type=int, default=50)
    g.add_argument("--lr", type=float, default=0.025)
    g.add_argument("--lr-min", type=float, default=0.001)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, default=5e-4)
    g.add_argument("--grad-clip", type=float, default=5.0)
    g.add_argument("--val-bn", choices=("batch", "running"), default="batch")
    g = p.add_argument_group("Lightning Trainer")
    g.add_argument("--accelerator", default="auto", help="cpu, gpu, auto, ...")
    g.add_argument("--devices", default="auto", help="auto, a count, or ids like 0,1")
    g.add_argument("--strategy", default="auto", help="auto, ddp, ddp_spawn, ...")
    g.add_argument("--num-nodes", type=int, default=1)
    g.add_argument("--precision", help="e.g. 32-true, bf16-mixed, 16-mixed")
    g.add_argument("--fast-dev-run", action="store_true", help="one batch per leaf, no ckpt")
    g.add_argument("--limit-train-batches", type=float, help="fraction (<=1) or count")
    g.add_argument("--limit-val-batches", type=float, help="fraction (<=1) or count")
    g.add_argument("--no-progress-bar", action="store_true")
    g = p.add_argument_group("search and evaluation")
    g.add_argument("--no-search", action="store_true", help="train only")
    g.add_argument("--search-k", type=int, default=100, help="archs scored per leaf")
    g.add_argument("--calib-batches", type=int, default=10, help="BN recalibration batches")
    g.add_argument("--search-val-batches", type=int, help="held-out batches (default: all)")
    g.add_argument("--benchmark", type=Path, help="NATS-Bench tss directory (for evaluation)")
    g.add_argument("--benchmark-dataset", default="cifar10", help="benchmark accuracy column")
    p.add_argument("-v", "--verbose", action="store_true")
    add_config_argument(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = parse_with_config(build_parser(), argv)
    setup_logging(args.verbose)
    tree = load_tree(args.tree or args.run_dir)
    _resolve_defaults(args, tree)
    _check_args(args)
    datamodule = _make_datamodule(args)
    settings = _train_settings(args, datamodule.num_classes)
    jobs = _jobs(args, tree)
    out = _output_dir(args)
    save_config(out, {**resolved_config(args), "jobs": [j.id for j in jobs]}, "train_config.yaml")
    zero = True
    for job in jobs:
        log.info("training %s (%d archs) for %d epochs", job.id, job.mask.num_archs, job.epochs)
        _, trainer = train_subsupernet(
            job.mask, datamodule, job.out_dir, _with_epochs(settings, job.epochs), _hardware(args)
        )
        zero = zero and trainer.is_global_zero
    if args.no_search or not zero:
        return 0
    result = _search_and_evaluate(args, tree, jobs, datamodule, settings)
    atomic_write_json(out / "search.json", _strip_objects(result))
    log.info("wrote %s", out / "search.json")
    return 0


def _resolve_defaults(args: argparse.Namespace, tree: SplitTree) -> None:
    """Fill the data set and model size from the tree when not given."""
    config = tree.config or {}
    args.dataset = args.dataset or tree.dataset
    if args.data_root is None and config.get("data_root"):
        args.data_root = Path(config["data_root"])
    args.C = args.C if args.C is not None else int(config.get("C", 16))
    args.N = args.N if args.N is not None else int(config.get("N", 5))


def _check_args(args: argparse.Namespace) -> None:
    positive = ("epochs", "batch_size", "search_k", "calib_batches", "C", "N", "num_nodes")
    bad = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in positive if getattr(args, k) < 1]
    if args.one_shot_epochs is not None and args.one_shot_epochs < 1:
        bad.append(f"--one-shot-epochs={args.one_shot_epochs}")
    if bad:
        raise UsageError(f"these options must be positive: {', '.join(bad)}")
    if not 0 < args.lr_min <= args.lr:
        raise UsageError(f"need 0 < --lr-min <= --lr, got {args.lr_min} and {args.lr}")
    if args.benchmark is not None and args.no_search:
        raise UsageError("--benchmark evaluates the search: drop --no-search")


def _make_datamodule(args: argparse.Namespace):
    from fewshot.data import make_datamodule

    dm = make_datamodule(
        args.dataset,
        data_root=args.data_root,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        seed=args.seed,
        val_fraction=args.val_fraction,
        **_data_options(args.data_option),
    )
    if args.val_fraction <= 0:
        raise UsageError("training validates and searches on held-out data: --val-fraction > 0")
    return dm


def _data_options(items: Sequence[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: yaml(v)}`` (numbers become numbers)."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--data-option {item!r}: expected KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def _train_settings(args: argparse.Namespace, num_classes: int) -> TrainSettings:
    return TrainSettings(
        C=args.C,
        N=args.N,
        num_classes=num_classes,
        epochs=args.epochs,
        lr=args.lr,
        lr_min=args.lr_min,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        seed=args.seed,
        val_bn=args.val_bn,
    )


def _with_epochs(settings: TrainSettings, epochs: int) -> TrainSettings:
    return TrainSettings(**{**settings.__dict__, "epochs": epochs})


def _limit(value: float | None) -> float | int | None:
    return int(value) if value is not None and value > 1 else value


def _hardware(args: argparse.Namespace) -> TrainerSettings:
    return TrainerSettings(
        accelerator=args.accelerator,
        devices=args.devices,
        strategy=args.strategy,
        num_nodes=args.num_nodes,
        precision=args.precision,
        fast_dev_run=args.fast_dev_run,
        limit_train_batches=_limit(args.limit_train_batches),
        limit_val_batches=_limit(args.limit_val_batches),
        progress_bar=not args.no_progress_bar,
    )


def _output_dir(args: argparse.Namespace) -> Path:
    """The run folder; ``--fast-dev-run`` writes under ``fast_dev_run/`` to spare a real run."""
    return args.run_dir / "fast_dev_run" if args.fast_dev_run else args.run_dir


def _jobs(args: argparse.Namespace, tree: SplitTree) -> list[Job]:
    """The leaves to train (``--leaf`` selects), then the one-shot baseline if asked."""
    leaves = {n.id: n for n in tree.leaves()}
    wanted = args.leaf if args.leaf else sorted(leaves)
    unknown = [i for i in wanted if i not in leaves]
    if unknown:
        raise UsageError(f"--leaf {unknown}: not leaves of the tree (leaves: {sorted(leaves)})")
    jobs = [
        Job(str(i), leaves[i].mask, _output_dir(args) / "leaves" / str(i), args.epochs)
        for i in wanted
    ]
    if args.one_shot:
        epochs = args.one_shot_epochs or args.epochs * len(leaves)
        root = tree.node(0).mask  # depth 0: the whole (searched) space as one supernet
        jobs.append(Job("oneshot", root, _output_dir(args) / "oneshot", epochs))
    return jobs


def _search_and_evaluate(
    args: argparse.Namespace,
    tree: SplitTree,
    jobs: list[Job],
    datamodule: Any,
    settings: TrainSettings,
) -> dict[str, Any]:
    device = _search_device(args)
    datamodule.setup("fit")
    calib = take_batches(datamodule.train_dataloader(), args.calib_batches, device)
    val = take_batches(datamodule.val_dataloader(), args.search_val_batches, device)
    leaf_jobs = [j for j in jobs if j.id != "oneshot"]
    few = [_search_job(j, settings, calib, val, device, args) for j in leaf_jobs]
    result: dict[str, Any] = {
        "format": SEARCH_FORMAT,
        "version": SEARCH_VERSION,
        "tree": {"metric": tree.metric, "seed": tree.seed, "depth": tree.depth},
        "dataset": args.dataset,
        "versions": software_versions(),
        "searches": {},
    }
    if few:
        result["searches"]["few-shot"] = _summary(few)
    one = [j for j in jobs if j.id == "oneshot"]
    if one:
        archs = sorted({a for j in leaf_jobs for a in _candidates(j, args)}, key=str)
        result["searches"]["one-shot"] = _summary(
            [_search_job(one[0], settings, calib, val, device, args, archs=archs or None)]
        )
    if args.benchmark is not None:
        _evaluate(args, result)
    return result


def _search_device(args: argparse.Namespace) -> torch.device:
    gpu = args.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return torch.device("cuda" if gpu else "cpu")


def _candidates(job: Job, args: argparse.Namespace) -> list[Arch]:
    return candidate_archs(job.mask, args.search_k, seed=args.seed)


def _search_job(
    job: Job,
    settings: TrainSettings,
    calib: list[Batch],
    val: list[Batch],
    device: torch.device,
    args: argparse.Namespace,
    *,
    archs: list[Arch] | None = None,
) -> LeafSearch:
    """Load ``job``'s trained weights and score ``archs`` (default: the job's candidates)."""
    model = load_trained(job.out_dir, _with_epochs(settings, job.epochs), job.mask).to(device)
    archs = archs if archs is not None else _candidates(job, args)
    log.info("searching %s: scoring %d archs", job.id, len(archs))
    search = search_leaf(model, archs, calib, val, leaf=job.id)
    log.info("%s: best %s (%.2f%% held-out)", job.id, search.best.arch, search.best.predicted)
    return search


def _summary(searches: list[LeafSearch]) -> dict[str, Any]:
    winner = max(searches, key=lambda s: s.best.predicted)
    return {
        "leaves": {s.leaf: s.to_dict() for s in searches},
        "best": {"leaf": winner.leaf, **winner.best.to_dict()},
        "_objects": searches,
    }


def _evaluate(args: argparse.Namespace, result: dict[str, Any]) -> None:
    from fewshot.benchmark import Benchmark

    bench = Benchmark(args.benchmark)
    space_best = space_optimum(bench, args.benchmark_dataset)
    evaluations = {}
    for name, summary in result["searches"].items():
        evaluations[name] = evaluate_search(
            bench, summary["_objects"], dataset=args.benchmark_dataset, space_best=space_best
        )
    result["evaluation"] = evaluations
    result["table"] = comparison_table(evaluations)
    print(result["table"])
    for name, ev in evaluations.items():
        for leaf, res in ev["leaves"].items():
            print(
                f"{name} leaf {leaf}: tau={res['kendall_tau']} chosen={res['chosen']['true']:.2f}"
            )


def _strip_objects(result: dict[str, Any]) -> dict[str, Any]:
    for summary in result.get("searches", {}).values():
        summary.pop("_objects", None)
    return result


if __name__ == "__main__":
    sys.exit(main())
