"""``python -m fewshot.split``: split the NB201 supernet with a metric (the main job).

Example::

    python -m fewshot.split --metric snip --depth 3 --branch 2

writes ``runs/snip-d3-b2-s0/``: ``tree.json`` (saved after every split), ``config.yaml`` (the
resolved configuration), ``tree.png``, and prints a summary table. An existing run folder is
never overwritten: ``--resume`` continues an interrupted run (same configuration required;
the splits are the same as an uninterrupted run's), or pick another ``--name``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fewshot.cli import (
    UsageError,
    add_config_argument,
    parse_with_config,
    resolved_config,
    run_main,
    save_config,
    setup_logging,
)
from fewshot.io import software_versions
from fewshot.metrics.base import ScoringData, get_metric
from fewshot.splitting.edges import EDGE_POLICIES, default_edges
from fewshot.splitting.engine import SplitEngine, SplitSettings, initial_supernet, validate_settings
from fewshot.splitting.warmup import EpochBatches, WarmupSettings
from fewshot.tree import SplitTree, load_tree

log = logging.getLogger("fewshot")

RESUME_IGNORED = frozenset({"resume", "max_splits", "verbose", "device", "threads"})
"""Config keys that may change between a run and its resumption."""


def build_parser() -> argparse.ArgumentParser:
    """The command's flags (every one can also come from ``--config`` YAML)."""
    p = argparse.ArgumentParser(
        prog="python -m fewshot.split",
        description="Split the NAS-Bench-201 supernet into sub-supernets with a metric.",
    )
    p.add_argument("--metric", help="metric name (required), e.g. snip, grad_norm, gm")
    p.add_argument("--depth", type=int, default=3, help="levels of splits (branch**depth leaves)")
    p.add_argument("--branch", type=int, default=2, help="children per split (groups of ops)")
    p.add_argument("--seed", type=int, default=0, help="seeds initialisation, data, everything")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="data set (default: cifar10, else digits with a warning)")
    g.add_argument("--data-root", type=Path, help="data folder (e.g. for --dataset folder)")
    g.add_argument("--batch-size", type=int, default=64, help="examples per scoring batch")
    g.add_argument(
        "--batches", type=int, help="scoring batches (default: 1; 2 for pairwise metrics)"
    )
    g = p.add_argument_group("splitting")
    g.add_argument("--edge-policy", default="fixed", help="fixed | score (GM-NAS)")
    g.add_argument(
        "--edges",
        type=_edge_list,
        help="edge order, e.g. 0,1,2 (fixed: level l splits edges[l]; default 0,1,2, "
        "0..5 cycling beyond depth 3; score: edges considered, default all)",
    )
    g.add_argument("--balanced", action="store_true", help="equal-as-possible groups (GM-NAS)")
    g.add_argument("--warmup-epochs", type=int, default=0, help="supernet training per split")
    g = p.add_argument_group("model")
    g.add_argument("--C", type=int, default=16, help="channels of the first stage")
    g.add_argument("--N", type=int, default=5, help="cells per stage")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    g.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's, one per core); 1 is fastest on a busy "
        "machine or for tiny supernets",
    )
    g = p.add_argument_group("run folder")
    g.add_argument("--out", type=Path, default=Path("runs"), help="parent of run folders")
    g.add_argument("--name", help="run folder name (default: <metric>-d<depth>-b<branch>-s<seed>)")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run")
    g.add_argument(
        "--max-splits", type=int, help="stop after this many splits (resume later with --resume)"
    )
    p.add_argument("-v", "--verbose", action="store_true")
    add_config_argument(p)
    return p


def _edge_list(text: str) -> list[int]:
    try:
        return [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected edges like 0,1,2, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 2; Ctrl-C exits 130 (resumable)."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    """Resolve the configuration, open (or resume) the run folder, split, report."""
    args = parse_with_config(build_parser(), argv)
    setup_logging(args.verbose)
    config = resolve_config(args)
    settings = settings_from_config(config)
    validate_settings(settings)
    run_dir = Path(config["out"]) / config["name"]
    tree = _open_run(run_dir, config)
    if tree is not None and tree.complete:
        print(f"{run_dir} is already complete\n")
        return _finish(tree, run_dir)
    dataset, data, epoch_batches = load_data(config, settings, tree.dataset if tree else None)
    if tree is None:
        tree = SplitTree(config["metric"], config["seed"], dataset, config, software_versions())
        tree.add_root()
        tree.save(run_dir / "tree.json")
        save_config(run_dir, config)
    device = resolve_device(args.device)
    if config.get("threads") is not None:
        torch.set_num_threads(config["threads"])
    supernet = initial_supernet(
        C=config["C"], N=config["N"], num_classes=data.num_classes, seed=config["seed"],
        device=device,
    )  # fmt: skip
    log.info("splitting into %s with %s on %s (%s)", run_dir, config["metric"], dataset, device)
    engine = SplitEngine(
        settings, supernet, data, epoch_batches=epoch_batches,
        save=lambda t: t.save(run_dir / "tree.json"), checkpoint_dir=run_dir / "weights",
    )  # fmt: skip
    try:
        engine.run(tree, max_splits=config.get("max_splits"))
    finally:
        _draw(tree, run_dir)
    return _finish(tree, run_dir)


# -- configuration ------------------------------------------------------------------------


def resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    """The resolved configuration: defaults that depend on other flags filled in, checked."""
    config = resolved_config(args)
    if not config.get("metric"):
        raise UsageError("--metric is required (e.g. --metric snip); see --help")
    kind = get_metric(config["metric"]).kind  # unknown metrics list the known ones
    EDGE_POLICIES.get(config["edge_policy"])
    optional = ("threads",) if config.get("threads") is not None else ()
    for key in ("depth", "batch_size", "C", "N", *optional):
        if not isinstance(config[key], int) or config[key] < 1:
            raise UsageError(
                f"--{key.replace('_', '-')} must be a positive integer, got {config[key]}"
            )
    if config["batches"] is None:
        config["batches"] = 2 if kind == "pairwise" else 1
    if config["batches"] < 1:
        raise UsageError(f"--batches must be >= 1, got {config['batches']}")
    if config["edges"] is not None:
        config["edges"] = _edge_list(",".join(map(str, config["edges"])))
    else:
        config["edges"] = list(default_edges(config["edge_policy"], config["depth"]))
    if not config.get("name"):
        c = config
        config["name"] = f"{c['metric']}-d{c['depth']}-b{c['branch']}-s{c['seed']}"
    return config


def settings_from_config(config: dict[str, Any]) -> SplitSettings:
    """The engine's settings (what decides the splits) from a resolved configuration."""
    return SplitSettings(
        metric=config["metric"],
        depth=config["depth"],
        branch=config["branch"],
        seed=config["seed"],
        edge_policy=config["edge_policy"],
        edges=tuple(config["edges"]),
        balanced=bool(config["balanced"]),
        warmup=WarmupSettings(epochs=config["warmup_epochs"]),
    )


def config_difference(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for every key that differs (ignoring :data:`RESUME_IGNORED`)."""
    keys = sorted((set(old) | set(new)) - RESUME_IGNORED)
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _open_run(run_dir: Path, config: dict[str, Any]) -> SplitTree | None:
    """The tree to continue (``--resume``), or None for a new run; refuses to overwrite."""
    tree_file = run_dir / "tree.json"
    if not config["resume"]:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UsageError(
                f"run folder {run_dir} already exists; pass --resume to continue it or "
                "--name NEW to start another run"
            )
        return None
    if not tree_file.is_file():
        raise UsageError(f"nothing to resume: {tree_file} does not exist (drop --resume)")
    tree = load_tree(tree_file)
    diff = config_difference(tree.config, config)
    if diff:
        raise UsageError(
            f"cannot resume {run_dir} with a different configuration: " + "; ".join(diff)
            + " (use the original flags, or --name NEW for a new run)"
        )  # fmt: skip
    return tree


def resolve_device(device: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU) or a named device that must exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"--device {device!r} is not a device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available here; use --device cpu")
    return dev


# -- data -----------------------------------------------------------------------------------


def load_data(
    config: dict[str, Any], settings: SplitSettings, dataset: str | None = None
) -> tuple[str, ScoringData, EpochBatches | None]:
    """(data set actually used, scoring batches, warm-up epoch batches or None).

    ``dataset`` overrides the resolution (a resumed run keeps the data set it started with,
    even when ``--dataset`` was left out and CIFAR-10 has become available since).
    """
    from torch.utils.data import DataLoader

    from fewshot.data import make_datamodule, resolve_dataset, scoring_data

    name, root = resolve_dataset(dataset or config["dataset"], config["data_root"])
    dm = make_datamodule(name, data_root=root, batch_size=config["batch_size"], seed=config["seed"])
    data = scoring_data(
        dm, num_batches=config["batches"], batch_size=config["batch_size"], seed=config["seed"]
    )
    epoch_batches = None
    if settings.warmup.epochs > 0:
        train = dm.train_dataset()

        def epoch_batches(g: torch.Generator) -> DataLoader:
            return DataLoader(train, batch_size=config["batch_size"], shuffle=True, generator=g)

    return name, data, epoch_batches


# -- outputs --------------------------------------------------------------------------------


def _draw(tree: SplitTree, run_dir: Path) -> None:
    from fewshot.splitting.plot import plot_tree

    try:
        plot_tree(tree, run_dir / "tree.png")
    except Exception as exc:  # a drawing problem must not lose a finished split
        log.warning("could not draw %s: %s", run_dir / "tree.png", exc)


def _finish(tree: SplitTree, run_dir: Path) -> int:
    """Print the summary table, timings, leaf notes and (if incomplete) how to resume."""
    from fewshot.splitting.summary import format_table

    print(format_table(tree))
    t = tree.timings
    print(
        f"\n{run_dir / 'tree.json'}: {t.get('total_seconds', 0):.1f} s, "
        f"{t.get('forward_passes', 0)} forward / {t.get('backward_passes', 0)} backward passes"
    )
    leaves_short = [n for n in tree.leaves() if n.note]
    if leaves_short:
        print(f"{len(leaves_short)} node(s) could not be split: see their notes above")
    if not tree.complete:
        print("incomplete: continue with the same flags plus --resume", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
