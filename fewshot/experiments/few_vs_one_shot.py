"""Does splitting help? Few-shot vs one-shot ranking quality against NATS-Bench, as a library.

The experiment behind ``tools/few_vs_one_shot.py`` (its thin entry point; also
``python -m fewshot.experiments.few_vs_one_shot``)::

    python tools/few_vs_one_shot.py --dataset folder --data-root ../shared/data/cifar10-subset \\
        --trees runs/sweep-ly --epochs 4 --seeds 3 --out runs/few-vs-one-shot \\
        --results docs/training/few_vs_one_shot.json

For each training seed: the splitting trees ``TREES/METRIC_sSEED/tree.json`` (the layout
``tools/sweep.py`` writes; a missing tree is split here, :func:`fewshot.splitting.run.run_split`
with ``--recipe RECIPE``) are cut
at each ``--depths`` level; with the exhaustive split and one-shot at every budget this gives the
methods of :mod:`fewshot.training.comparison`. Every distinct supernet is trained from scratch
(``fewshot.training.runner``; resumable per epoch, finished ones skipped), then scores the
sampled archs it contains (BN recalibrated per arch, accuracy on the held-out part of the
training set). The arch sample (``--sample`` archs, stratified over NATS-Bench accuracy, seeded
by ``--sample-seed``) is the same for every method and seed. The analysis
(:mod:`fewshot.analysis.ranking`) gives per method and seed the pooled and per-leaf Kendall tau
and Spearman rho, the picked arch's true accuracy and the top-10 regret, and per budget a paired
bootstrap interval of the tau difference to the one-shot baseline. Outputs in ``--out``:
``results.json`` (per method and seed the quality and the seed's own leaves: a split method
cuts each seed's tree), ``few_vs_one_shot_table.md``, ``few_vs_one_shot.png``; ``--results
DIR/NAME.json`` also writes the JSON there, with ``NAME_table.md`` and ``NAME.png`` beside it.
Run the same command again to resume.

For the ranking study (docs/training/ranking_study.md): ``--protocols scratch,inherited`` adds
every split with its leaves inheriting the one-shot supernet of ``--warmup-epochs`` (few-shot
NAS), ``--efs-nas`` adds EFS-NAS's arm (one supernet per group of archs by nonlinear count,
``efs-nas`` / ``efs-nas-inh``; each sampled arch scored by its group's supernet),
``--sampling-arms fairnas,balanced`` adds the one-shot supernet under other path-sampling rules
(``one-shot-fairnas``, ...; compared with ``--sampling``'s one-shot at the same epochs),
``--one-shot-multiples 5,6`` adds one-shot runs of 5 and 6 times ``--epochs`` (the equal-step
baselines of arms trained in another folder: ``--metrics "" --no-exhaustive`` trains only
them, and ``python -m fewshot.experiments.key_comparisons --pairs ARM:one-shot-x6`` pairs the
two files by their shared one-shot run),
``--recipe gm-nas`` makes missing trees with GM-NAS's settings (warm-up, then gradient
matching on the warmed-up weights: ``--metrics gm``), ``--connected-only`` samples connected archs only, ``--held-out N`` scores on the first N
held-out images, ``--bootstrap-seeds`` resamples training seeds as well as archs, and every
arm records the optimiser steps it spent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.few_vs_one_shot import evaluate_seed, summarise, tables_text
from fewshot.analysis.ranking import stratified_sample
from fewshot.choices import dataset_names, space_option
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    flag_values,
    lightning_hardware,
    make_config,
    option,
    resolve_device,
    to_dict,
)
from fewshot.data.identity import required_column
from fewshot.errors import UsageError
from fewshot.experiments.common import (
    sampling_option,
    sampling_rules,
    start_experiment,
    write_results,
)
from fewshot.experiments.free_baselines import ProxySettings, add_free_baselines
from fewshot.io import atomic_write_json, software_versions
from fewshot.run_folder import (
    FEW_VS_ONE_SHOT_CONFIG,
    RESOLVED_DATA_PATH,
    SCORES,
    finished,
    keep_run_config,
    lock_run,
    tree_path,
)
from fewshot.spaces import Arch, ArchGroup, Mask, SearchSpace, get_space
from fewshot.spaces.base import DEFAULT_SPACE
from fewshot.splitting.recipes import list_recipes
from fewshot.splitting.tree import SplitTree, TreeFileError, load_tree
from fewshot.training.comparison import (
    PROTOCOLS,
    Method,
    TrainingRun,
    plan_methods,
    supernets,
)

log = logging.getLogger("fewshot")

FORMAT = "fewshot.few_vs_one_shot"
VERSION = 1
CONFIG_NAME = FEW_VS_ONE_SHOT_CONFIG
_DATA = "model and data"
_TREES = "splitting trees"
_EVAL = "scoring and evaluation"


@dataclass(kw_only=True)
class FewVsOneShotConfig(ImageOptions, CommonOptions):
    """Few-shot vs one-shot ranking quality: train every method's supernets, score a fixed arch
    sample, compare with the space's benchmark (NATS-Bench for NB201)."""

    space: str = space_option()
    out: Path = option(Path("runs/few-vs-one-shot"), help="experiment folder (resumable)")
    results: Path | None = option(
        None, help="also write the results JSON here (figure and table beside it)",
        affects_results=False,
    )  # fmt: skip
    seeds: int = option(  # per-seed work is independent: analysing fewer seeds is allowed
        3, help="training seeds (FIRST..FIRST+SEEDS-1, --first-seed; tree seed = training seed)", minimum=1,
        affects_results=False,
    )  # fmt: skip
    first_seed: int = option(
        0, help="the first training seed (seeds FIRST..FIRST+SEEDS-1): a later batch of seeds in "
        "its own --out, pooled with the first by fewshot.experiments.key_comparisons", minimum=0,
    )  # fmt: skip
    epochs: int = option(3, help="epochs per supernet (the papers' budget)", minimum=1)
    only_seed: int | None = option(
        None, help="train and score this seed only, no analysis (to run seeds in parallel "
        "processes; then run without it to analyse)", affects_results=False,
    )  # fmt: skip
    trees: Path = option(Path("runs/sweep-ly"), help="folder of METRIC_sSEED/tree.json",
                         group=_TREES)  # fmt: skip
    metrics: list[str] = option(
        ["snip", "synflow", "gm", "random"], help="split metrics (comma-separated)", group=_TREES
    )
    depths: list[int] = option([1, 2], help="tree depths to cut at (comma-separated)",
                               group=_TREES)  # fmt: skip
    recipe: str = option("ly-manson", help="recipe of trees made here (missing trees)",
                         choices=list_recipes, group=_TREES)  # fmt: skip
    split_args: str = option("", help="extra fewshot.split flags for missing trees (quoted)",
                             group=_TREES)  # fmt: skip
    exhaustive_edge: int = option(
        0,
        help="position (edge) of the exhaustive split, one leaf per op (few-shot NAS)",
        minimum=0,
        group=_TREES,
    )
    no_exhaustive: bool = option(False, help="leave the exhaustive split out", group=_TREES)
    efs_nas: bool = option(
        False, help="add EFS-NAS's arm (efs-nas, efs-nas-inh): one supernet per group of archs "
        "by nonlinear count (NB201: 0+1, 2, 3), paths drawn inside the group, each arch scored "
        "by its group's supernet (needs --sampling uniform or balanced; may be added to a "
        "finished run folder: the runs it shares are reused)", group=_TREES,
        affects_results=False,  # adds an arm and the runs it needs, changes none of the others
    )  # fmt: skip
    sampling_arms: list[str] = option(
        [], help="add one-shot arms trained with these path-sampling rules instead of "
        "--sampling (one-shot-RULE, comma-separated: fairnas, sandwich, balanced), each for "
        "--epochs and compared with --sampling's one-shot supernet (may be added to a finished "
        "run folder: the runs it shares are reused; fairnas and sandwich train several archs a "
        "step, so they train alone, not in --pack's packs)", choices=sampling_rules,
        group=_TREES, affects_results=False,  # adds arms, changes none of the others
    )  # fmt: skip
    one_shot_multiples: list[int] = option(
        [], help="add one-shot runs of these multiples of --epochs (one-shot-xK, comma-"
        "separated) beside those the splits need, not capped by --max-multiple: e.g. the "
        "equal-step baselines of arms trained in another run folder, paired with them by "
        "fewshot.experiments.key_comparisons --pairs (may be added to a finished run folder)",
        minimum=1, group=_TREES, affects_results=False,  # adds runs, changes none of the others
    )  # fmt: skip
    protocols: list[str] = option(
        ["scratch"], help="how leaves start: scratch (random init), inherited (from the one-shot "
        "supernet after --warmup-epochs; few-shot NAS); comma-separated", choices=PROTOCOLS,
        group=_TREES,
    )  # fmt: skip
    max_multiple: int | None = option(
        None, help="longest one-shot run for the equal-compute budget, in multiples of --epochs "
        "(default: every multiple the splits need; comparisons needing more are left out)",
        minimum=1, group=_TREES, affects_results=False,  # leaves out runs, changes none
    )  # fmt: skip
    warmup_epochs: int | None = option(
        None, help="epochs of the one-shot supernet inherited leaves start from (default: "
        "--epochs; counted in the method's compute)", minimum=1, group=_TREES,
    )  # fmt: skip
    dataset: str = option("folder", help="training data set", choices=dataset_names, group=_DATA)
    data_root: Path | None = option(None, help="data folder (e.g. the CIFAR-10 subset)",
                                    group=_DATA)  # fmt: skip
    C: int = option(8, help="channels of the first stage", minimum=1, group=_DATA)
    N: int = option(1, help="cells per stage", minimum=1, group=_DATA)
    batch_size: int = option(64, help="training batch size", minimum=1, group=_DATA)
    num_workers: int = option(
        0, help="data loader workers (a GPU needs several to be fed)", minimum=0, group=_DATA,
        affects_results=False,
    )  # fmt: skip
    val_fraction: float = option(0.05, help="training data held out for scoring", group=_DATA)
    lr: float = option(0.025, help="cosine learning rate from lr (spec SGD)", group=_DATA)
    sampling: str = sampling_option(group=_DATA)
    pack: bool = option(
        False, help="train the supernets together, as packs: those of every seed at once (of "
        "the one seed with --only-seed), the scratch runs, then those inheriting from them, one "
        "pack per epoch count (equal to alone up to float rounding: docs/training/README.md, "
        "'Packs')", group=_DATA,
    )  # fmt: skip
    pack_size: int | None = option(
        None, help="at most this many networks per pack (default: as many as the device's "
        "memory holds)", minimum=1, group=_DATA, affects_results=False,
    )  # fmt: skip
    sample: int = option(200, help="archs scored by every method", minimum=2, group=_EVAL)
    sample_seed: int = option(0, help="seed of the stratified arch sample", group=_EVAL)
    archs: Path | None = option(
        None, help="score the first --sample archs of this file (one arch string a line, e.g. "
        "tools/macro_sample.py's) instead of drawing the stratified sample", group=_EVAL,
    )  # fmt: skip
    connected_only: bool = option(
        False, help="sample connected archs only (a disconnected cell outputs zeros; NATS-Bench "
        "gives all 341 chance accuracy)", group=_EVAL,
    )  # fmt: skip
    calib_batches: int = option(2, help="BN recalibration batches per arch", minimum=1,
                                group=_EVAL)  # fmt: skip
    held_out: int | None = option(
        None, help="score on the first N held-out images (default: all of --val-fraction)",
        minimum=1, group=_EVAL,
    )  # fmt: skip
    held_out_batch: int | None = option(
        None, help="held-out examples per scoring forward (default: --batch-size; eval mode, "
        "so only speed changes: a GPU wants all at once)", minimum=1, group=_EVAL,
        affects_results=False,
    )  # fmt: skip
    top_k: int = option(10, help="top-k of the regret", minimum=1, group=_EVAL)
    bootstrap_seeds: bool = option(
        False, help="bootstrap over training seeds as well as archs (paired; needs >= 3 seeds "
        "to mean much)", group=_EVAL, affects_results=False,
    )  # fmt: skip
    resamples: int = option(1000, help="bootstrap resamples", minimum=100, group=_EVAL,
                            affects_results=False)  # fmt: skip
    free_baselines: bool = option(
        True, help="also rank the sample by free baselines (convolutions, params, FLOPs, "
        "zero-cost proxies at initialisation on the space's benchmark network with one batch "
        "of 64 of --dataset's images at their own size; cached in OUT/free-baselines) and "
        "compare every method with them (fewshot.experiments.free_baselines)", group=_EVAL,
        affects_results=False,
    )  # fmt: skip
    benchmark: Path | None = option(None, help="NATS-Bench tss directory (or an accuracy CSV)",
                                    group=_EVAL,
                                    affects_results=False)  # fmt: skip
    benchmark_dataset: str | None = option(
        None, help="benchmark accuracy column (default: the training data's, when it is one of "
        "the benchmark's data sets or a folder of their classes; else the experiment refuses; "
        "naming a column forces it, with a warning)", group=_EVAL,
    )  # fmt: skip

    def seed_range(self) -> range:
        """The training seeds of this run."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def resolve(self) -> FewVsOneShotConfig:
        if self.benchmark is None or self.benchmark.suffix != ".csv":  # a CSV is taken as given
            # found here to be recorded with the run; none: the experiment refuses to start
            try:
                self.benchmark = get_space(self.space).find_benchmark(self.benchmark)
            except NotImplementedError as exc:  # the sample is stratified by ground truth
                raise UsageError(f"{exc}: give an accuracy CSV as --benchmark") from None
        self.benchmark_dataset = required_column(
            self.dataset, self.data_root, self.benchmark_dataset,
            what="the few-vs-one-shot experiment",
        )  # fmt: skip
        extra_arms = self.efs_nas or self.sampling_arms or self.one_shot_multiples
        if not self.metrics and self.no_exhaustive and not extra_arms:
            raise UsageError("nothing to compare: give --metrics, --efs-nas, --sampling-arms "
                             "or --one-shot-multiples, or drop --no-exhaustive")  # fmt: skip
        if self.sampling in self.sampling_arms:
            raise UsageError(f"--sampling-arms {self.sampling}: the one-shot supernet already "
                             f"trains with --sampling {self.sampling}; name other rules")  # fmt: skip
        self._check_efs_nas()
        if any(d < 1 for d in self.depths) or not self.depths:
            raise UsageError(f"--depths must be positive tree depths, got {self.depths}")
        if self.only_seed is not None and self.only_seed not in self.seed_range():
            raise UsageError(f"--only-seed must lie in {self.first_seed}.."
                             f"{self.first_seed + self.seeds - 1}, got {self.only_seed}")  # fmt: skip
        if not 0 < self.val_fraction < 1:
            raise UsageError(f"scoring needs held-out data: 0 < --val-fraction < 1, got "
                             f"{self.val_fraction}")  # fmt: skip
        return self

    def _check_efs_nas(self) -> None:
        """``--efs-nas`` needs a rule that draws whole archs and a space of several groups."""
        from fewshot.training.sampling import keeps_to_groups

        if not self.efs_nas:
            return
        if not keeps_to_groups(self.sampling):
            raise UsageError(f"--efs-nas trains groups of archs, which --sampling "
                             f"{self.sampling} cannot keep to; use uniform or "
                             "balanced")  # fmt: skip
        if len(get_space(self.space).arch_groups()) < 2:
            raise UsageError(f"--efs-nas: search space {self.space!r} has one group of archs "
                             "by nonlinear count, nothing to split")  # fmt: skip


# -- trees ----------------------------------------------------------------------------------------


def load_or_make_tree(config: FewVsOneShotConfig, metric: str, seed: int) -> SplitTree:
    """The tree of ``metric`` and ``seed``; split it first (``fewshot.split``) when missing."""
    path = tree_path(config.trees, metric, seed)
    if not path.is_file():
        _make_tree(config, metric, seed)
    try:
        tree = load_tree(path)
    except TreeFileError as exc:
        raise UsageError(f"{path}: {exc}") from None
    if not tree.complete:
        raise UsageError(f"{path} is unfinished; resume it with fewshot.split --resume")
    if tree.space.name != config.space:
        raise UsageError(
            f"{path} splits search space {tree.space.name!r}, not {config.space!r}; "
            "use --space to match or another --trees folder"
        )
    if tree.recipe_name not in (None, config.recipe):
        raise UsageError(
            f"{path} was split with recipe {tree.recipe_name!r}, not {config.recipe!r}; "
            "use --recipe to match or another --trees folder"
        )
    return tree


def _make_tree(config: FewVsOneShotConfig, metric: str, seed: int) -> None:
    """Split ``metric`` with ``seed`` into ``TREES/METRIC_sSEED`` (the sweep's layout): the
    experiment's recipe, depth and data, then ``--split-args``."""
    import shlex

    from fewshot.plotting.tree import save_tree_figure
    from fewshot.splitting.run import SplitConfig, run_split

    values: dict[str, Any] = {
        "metric": metric, "recipe": config.recipe, "depth": max(config.depths), "branch": 2,
        "seed": seed, "out": config.trees, "name": tree_path(config.trees, metric, seed).parent.name,
        "dataset": config.dataset, "no_progress": True, "data_root": config.data_root,
    }  # fmt: skip
    if config.space != DEFAULT_SPACE:  # the split's default is the default space
        values["space"] = config.space
    values.update(flag_values(SplitConfig, shlex.split(config.split_args)))
    split_config = make_config(SplitConfig, values)
    log.info("no tree for %s seed %d: splitting into %s", metric, seed, split_config.name)
    run_split(split_config, on_stop=save_tree_figure)


# -- training and scoring -------------------------------------------------------------------------


@dataclass
class Context:
    """What every supernet of one seed shares: data, scoring batches, settings."""

    config: FewVsOneShotConfig
    seed: int
    datamodule: Any
    calib: list
    held_out: list
    device: Any


def _data_path(config: FewVsOneShotConfig) -> str:
    """``tensor`` or ``loader``: the data path of the experiment's data (recorded in its
    configuration file)."""
    from fewshot.data import resolved_data_path

    return resolved_data_path(config.dataset, data_root=config.data_root, **config.data_option)


def make_context(config: FewVsOneShotConfig, seed: int) -> Context:
    """The data module (held-out part fixed across seeds: data seed 0) and scoring batches."""
    from fewshot.data import make_datamodule
    from fewshot.training.search import rebatch, take_batches

    dm = make_datamodule(
        config.dataset, data_root=config.data_root, batch_size=config.batch_size, seed=0,
        num_workers=config.num_workers,
        val_fraction=config.val_fraction, download=False, **config.data_option,
    )  # fmt: skip
    dm.setup("fit")
    device = resolve_device(config.device)
    calib = take_batches(dm.train_dataloader(), config.calib_batches, device)
    held_out = rebatch(first_examples(take_batches(dm.val_dataloader(), None, device),
                                      config.held_out), config.held_out_batch)  # fmt: skip
    return Context(config, seed, dm, calib, held_out, device)


def first_examples(batches: list, n: int | None) -> list:
    """The first ``n`` examples of ``batches`` (all when None); too few is a usage error."""
    if n is None:
        return batches
    total = sum(len(b[1]) for b in batches)
    if total < n:
        raise UsageError(f"--held-out {n} exceeds the {total} held-out images; raise "
                         "--val-fraction or lower --held-out")  # fmt: skip
    out, left = [], n
    for x, y in batches:
        if left <= 0:
            break
        out.append((x[:left], y[:left]))
        left -= len(y[:left])
    return out


def train_settings(
    config: FewVsOneShotConfig,
    num_classes: int,
    seed: int,
    epochs: int,
    sampling: str | None = None,
) -> Any:
    """A supernet's training settings: the experiment's, with ``sampling`` (a sampling arm's
    rule) instead of ``--sampling`` when given."""
    from fewshot.training.runner import TrainSettings

    return TrainSettings(
        C=config.C, N=config.N, num_classes=num_classes, epochs=epochs, lr=config.lr, seed=seed,
        sampling=sampling or config.sampling,
    )  # fmt: skip


def ensure_trained(
    ctx: Context,
    folder: Path,
    mask: Mask,
    epochs: int,
    inherit_from: Path | None = None,
    group: ArchGroup | None = None,
    sampling: str | None = None,
) -> float:
    """Train the supernet of ``mask`` (of its arch ``group`` only, when given) into ``folder``
    unless done (from ``inherit_from``'s weights when given; with path-sampling rule
    ``sampling`` instead of ``--sampling`` when given); the seconds it took."""
    from fewshot.training.runner import TrainerSettings, is_trained, train_subsupernet

    timing = folder / "train_time.json"
    if is_trained(folder, epochs):
        return float(json.loads(timing.read_text())["seconds"]) if timing.is_file() else 0.0
    accelerator, devices = lightning_hardware(ctx.config.device)
    hardware = TrainerSettings(
        accelerator=accelerator, devices=devices, limit_val_batches=0,
        progress_bar=not ctx.config.no_progress,
    )  # fmt: skip
    settings = train_settings(ctx.config, ctx.datamodule.num_classes, ctx.seed, epochs, sampling)
    start = time.perf_counter()
    train_subsupernet(mask, ctx.datamodule, folder, settings, hardware, inherit_from=inherit_from,
                      group=group)  # fmt: skip
    seconds = time.perf_counter() - start
    atomic_write_json(timing, {"seconds": seconds, "epochs": epochs})
    return seconds


def ensure_scored(
    ctx: Context,
    folder: Path,
    mask: Mask,
    epochs: int,
    archs: Sequence[Arch],
    group: ArchGroup | None = None,
) -> tuple[dict[str, float], float]:
    """Held-out accuracy of every sampled arch inside ``mask`` (inside its arch ``group`` when
    given: a group's supernet scores its own archs only), cached in ``scores.json``."""
    from fewshot.training.runner import load_trained
    from fewshot.training.search import search_leaf

    path, timing = folder / SCORES, folder / "score_time.json"
    scores: dict[str, float] = json.loads(path.read_text()) if path.is_file() else {}
    spent = float(json.loads(timing.read_text())["seconds"]) if timing.is_file() else 0.0
    within = mask if group is None else group
    todo = [a for a in archs if a in within and a.to_string() not in scores]
    if not todo:
        return scores, spent
    start = time.perf_counter()
    settings = train_settings(ctx.config, ctx.datamodule.num_classes, ctx.seed, epochs)
    model = load_trained(folder, settings, mask).to(ctx.device)
    found = search_leaf(
        model, todo, ctx.calib, ctx.held_out, leaf=folder.name,
        progress=not ctx.config.no_progress,
    )  # fmt: skip
    scores.update({s.arch.to_string(): s.predicted for s in found.scored})
    atomic_write_json(path, scores)
    spent += time.perf_counter() - start
    atomic_write_json(timing, {"seconds": spent, "archs": len(scores)})
    return scores, spent


def seed_methods(config: FewVsOneShotConfig, seed: int) -> list[Method]:
    """The methods of ``seed``: its trees' leaves (trees made when missing), the exhaustive
    split, EFS-NAS's groups (``--efs-nas``) and the one-shot baselines."""
    trees = {m: load_or_make_tree(config, m, seed) for m in config.metrics}
    return plan_methods(
        trees,
        depths=config.depths,
        epochs=config.epochs,
        exhaustive_edge=None if config.no_exhaustive else config.exhaustive_edge,
        protocols=config.protocols,
        warmup=config.warmup_epochs,
        max_multiple=config.max_multiple,
        space=get_space(config.space),
        efs_nas=config.efs_nas,
        sampling_arms=config.sampling_arms,
        one_shot_multiples=config.one_shot_multiples,
    )


def supernet_root(config: FewVsOneShotConfig, seed: int) -> Path:
    """The folder of seed ``seed``'s supernets."""
    return config.out / f"seed{seed}" / "supernets"


def run_seed(
    config: FewVsOneShotConfig, seed: int, archs: Sequence[Arch], ctx: Context | None = None
) -> tuple[list[Method], dict[str, dict[str, float]], dict[str, float]]:
    """Train (unless trained) and score every supernet of one seed; the methods, scores and
    timings. ``ctx``: the data and scoring batches when already made (they do not depend on
    the seed)."""
    methods = seed_methods(config, seed)
    needed = supernets(methods)
    ctx = make_context(config, seed) if ctx is None else dataclasses.replace(ctx, seed=seed)
    scores: dict[str, dict[str, float]] = {}
    timings = {"train_s": 0.0, "score_s": 0.0}
    root = supernet_root(config, seed)
    if config.pack:
        jobs = [PackJob(seed, root / key, run) for key, run in needed.items()]
        train_packed(ctx, jobs, root)
    for i, (key, run) in enumerate(needed.items(), 1):
        log.info("seed %d: supernet %d/%d %s (%d archs, %d epochs%s)", seed, i, len(needed), key,
                 run.within.num_archs, run.epochs,
                 f", inheriting {run.parent}" if run.parent else "")  # fmt: skip
        timings["train_s"] += _train(ctx, root, key, run)
        scores[key], seconds = ensure_scored(ctx, root / key, run.mask, run.epochs, archs,
                                             run.group)  # fmt: skip
        timings["score_s"] += seconds
    return methods, scores, timings


def method_steps(config: FewVsOneShotConfig, seed: int, method: Method) -> int:
    """Optimiser steps ``method`` spent in ``seed`` (its leaves' runs plus the warm-up run they
    inherit from), read from each run's ``done.json``: the arm's real compute."""
    root = config.out / f"seed{seed}" / "supernets"
    keys = {method.leaf_key(leaf) for leaf in method.leaves}
    if method.warmup_key() is not None:
        keys.add(method.warmup_key())
    return sum(int(json.loads((root / k / "done.json").read_text())["global_step"]) for k in keys)


@dataclass(frozen=True)
class PackJob:
    """One supernet to train in a pack: its seed, its folder and its run (mask, epochs,
    parent)."""

    seed: int
    folder: Path
    run: TrainingRun

    def parent_weights(self) -> Path | None:
        return (
            None if self.run.parent is None else self.folder.parent / self.run.parent / "weights.pt"
        )


def train_packed(ctx: Context, jobs: Sequence[PackJob], pack_root: Path) -> None:
    """``--pack``: the untrained supernets of ``jobs`` (of one seed or of many) as packs, in
    waves (first those that start from scratch, then those that inherit from a trained one),
    per epoch count and sampling rule of a wave at most ``--pack-size`` networks a pack. Each
    folder gets the files a training alone writes and ``train_time.json`` its share of the
    pack's wall seconds; each pack's checkpoint lives in ``pack_root`` (resumable). Runs of a
    rule that trains several archs a step (fairnas, sandwich) are left to train alone: a pack
    trains one arch per network and step."""
    from fewshot.training.runner import is_trained
    from fewshot.training.sampling import draws_one_arch_per_step

    def kind(job: PackJob) -> tuple[int, str]:  # what one pack's networks share
        return job.run.epochs, job.run.sampling or ctx.config.sampling

    todo = {j.folder: j for j in jobs if not is_trained(j.folder, j.run.epochs)
            and draws_one_arch_per_step(kind(j)[1])}  # fmt: skip
    while todo:
        wave = [j for j in todo.values() if j.parent_weights() is None
                or j.parent_weights().parent not in todo]  # fmt: skip
        for epochs, sampling in sorted({kind(j) for j in wave}):
            group = [j for j in wave if kind(j) == (epochs, sampling)]
            for pack in _pack_chunks(ctx, group, epochs, sampling):
                _train_pack(ctx, pack, epochs, pack_root, sampling)
        todo = {f: j for f, j in todo.items() if j not in wave}


def _pack_settings(ctx: Context, epochs: int, sampling: str | None = None) -> Any:
    from fewshot.training.pack import PackSettings

    alone = train_settings(ctx.config, ctx.datamodule.num_classes, ctx.seed, epochs, sampling)
    return PackSettings.of(alone)


def _pack_chunks(
    ctx: Context, group: list[PackJob], epochs: int, sampling: str | None = None
) -> list[list[PackJob]]:
    """``group`` in packs of ``--pack-size`` networks (default: what the device's memory
    holds)."""
    from fewshot.training.pack import auto_pack_size, chunks

    size = ctx.config.pack_size
    if size is None:
        size = auto_pack_size(_pack_settings(ctx, epochs, sampling), get_space(ctx.config.space),
                              ctx.config.batch_size, ctx.config.image_size, ctx.device)  # fmt: skip
    return chunks(group, size)


def _train_pack(
    ctx: Context, pack: list[PackJob], epochs: int, pack_root: Path, sampling: str | None = None
) -> None:
    from fewshot.training.pack import PackMember, PackTrainer, datamodule_batches

    batches, per_epoch = datamodule_batches(ctx.datamodule)
    members = [
        PackMember(f"s{j.seed}-{j.folder.name}", j.run.mask, j.seed, batches, per_epoch, j.folder,
                   j.parent_weights(), j.run.group)
        for j in pack
    ]  # fmt: skip
    log.info("%d supernets of %d epochs as one pack (seeds %s)", len(members), epochs,
             sorted({j.seed for j in pack}))  # fmt: skip
    start = time.perf_counter()
    names = sorted(str(j.folder.relative_to(ctx.config.out)) for j in pack)
    digest = hashlib.sha1(",".join(names).encode()).hexdigest()[:10]
    PackTrainer(members, _pack_settings(ctx, epochs, sampling), pack_root / f"pack-e{epochs}-{digest}",
                device=ctx.device).fit()  # fmt: skip
    share = (time.perf_counter() - start) / len(members)
    for m in members:
        atomic_write_json(m.out_dir / "train_time.json",
                          {"seconds": share, "epochs": epochs, "pack": len(members)})  # fmt: skip


def _train(ctx: Context, root: Path, key: str, run: TrainingRun) -> float:
    parent = None if run.parent is None else root / run.parent / "weights.pt"
    return ensure_trained(ctx, root / key, run.mask, run.epochs, inherit_from=parent,
                          group=run.group, sampling=run.sampling)  # fmt: skip


# -- command --------------------------------------------------------------------------------------


def benchmark_table(
    path: Path, dataset: str, *, space: SearchSpace | None = None
) -> tuple[list[str], np.ndarray]:
    """Every arch string and its accuracy, in benchmark index order, from ``space``'s
    benchmark (default ``nb201``) or from a CSV table with ``arch_str`` and ``<dataset>_test``
    columns in index order (the layout of ``reference/nb201_accuracies.csv``; a machine
    without the benchmark, such as a GPU node, needs only that file)."""
    if path.suffix != ".csv":
        bench = (get_space() if space is None else space).open_benchmark(path)
        return [a.to_string() for a in bench.archs()], bench.accuracies(dataset)
    import csv

    from fewshot.benchmark import canonical_dataset

    column = f"{canonical_dataset(dataset).replace('-', '_')}_test"
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        return [r["arch_str"] for r in rows], np.array([float(r[column]) for r in rows])
    except (OSError, KeyError, ValueError) as exc:
        raise UsageError(
            f"{path}: not an accuracy table with arch_str and {column} ({exc})"
        ) from None


def benchmark_archs(
    path: Path, dataset: str, *, space: SearchSpace
) -> tuple[list[Arch], np.ndarray]:
    """:func:`benchmark_table` with the strings parsed as archs of ``space``; a table of another
    space is one line (exit 2)."""
    strings, accuracies = benchmark_table(path, dataset, space=space)
    try:
        return [space.Arch.from_string(s) for s in strings], accuracies
    except ValueError as exc:
        raise UsageError(
            f"{path}: not a benchmark of search space {space.name!r} ({exc})"
        ) from None


def listed_sample(path: Path, n: int, parsed: Sequence[Arch], *, space: SearchSpace) -> list[int]:
    """Benchmark indices of the first ``n`` archs listed in ``path`` (one arch string a line;
    blank lines and ``#`` comments skipped): a sample fixed outside the experiment, such as the
    one a space's zero-cost table was scored on. Unreadable, of another space, repeated,
    unknown to the benchmark or too short: one line (exit 2)."""
    try:
        lines = [ln.split("#")[0].strip() for ln in Path(path).read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--archs {path}: cannot read it ({exc})") from None
    strings = [ln for ln in lines if ln][:n]
    if len(strings) < n:
        raise UsageError(f"--archs {path} lists {len(strings)} archs, fewer than --sample {n}")
    where = {a.to_string(): i for i, a in enumerate(parsed)}
    indices = []
    for text in strings:
        try:
            arch = space.Arch.from_string(text)
        except ValueError as exc:
            raise UsageError(f"--archs {path}: {exc}") from None
        if arch.to_string() not in where:
            raise UsageError(f"--archs {path}: {text} is not in the benchmark")
        indices.append(where[arch.to_string()])
    if len(set(indices)) != len(indices):
        raise UsageError(f"--archs {path}: an arch is listed twice among the first {n}")
    return indices


def arch_sample(config: FewVsOneShotConfig) -> tuple[list[Arch], np.ndarray, list[int]]:
    """The stratified sample: archs, their benchmark accuracies, their benchmark indices."""
    space = get_space(config.space)
    # None: where it looked, how to get it
    path = config.benchmark or space.find_benchmark(required=True)
    assert path is not None
    parsed, accuracies = benchmark_archs(path, config.benchmark_dataset, space=space)
    if config.archs is not None:
        indices = listed_sample(config.archs, config.sample, parsed, space=space)
        return [parsed[i] for i in indices], accuracies[indices], indices
    pool = [i for i, a in enumerate(parsed) if not config.connected_only or a.is_valid]
    indices = [pool[p] for p in stratified_sample(accuracies[pool], config.sample,
                                                   config.sample_seed)]  # fmt: skip
    return [parsed[i] for i in indices], accuracies[indices], indices


def write_outputs(config: FewVsOneShotConfig, result: dict[str, Any]) -> None:
    from fewshot.plotting.ranking import plot_few_vs_one_shot

    places = [config.out / "results.json"]
    if config.results is not None:
        places.append(config.results)
    text = tables_text(result)
    figures = []
    for path in places:
        # --results X.json: X_table.md and X.png beside it, so two studies can share a docs
        # folder; the run folder's results.json keeps few_vs_one_shot_table.md / .png
        stem = "few_vs_one_shot" if path == places[0] else path.stem
        write_results(path, result, text, table=path.with_name(f"{stem}_table.md"))
        figures.append(path.with_name(f"{stem}.png"))
    plot_few_vs_one_shot(result, *figures)
    log.info("wrote %s (+ tables, figures)", ", ".join(map(str, places)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``tools/few_vs_one_shot.py``); user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = start_experiment(FewVsOneShotConfig, argv, prog="python tools/few_vs_one_shot.py")
    lock_run(config.out)
    keep_run_config(
        config.out, config, CONFIG_NAME, hint="use the original flags or another --out",
        extra={RESOLVED_DATA_PATH: _data_path(config)},
    )  # fmt: skip
    if config.only_seed is None and finished(config.out, config.out / "results.json", config):
        return 0
    archs, true, indices = arch_sample(config)
    if config.only_seed is not None:
        run_seed(config, config.only_seed, archs)
        log.info("seed %d done; run without --only-seed to analyse", config.only_seed)
        return 0
    start = time.perf_counter()
    ctx = make_context(config, 0)
    if config.pack:  # every seed's supernets together
        jobs = [PackJob(seed, supernet_root(config, seed) / key, run)
                for seed in config.seed_range()
                for key, run in supernets(seed_methods(config, seed)).items()]  # fmt: skip
        train_packed(ctx, jobs, config.out / "packs")
    per_seed, timings, methods = {}, {}, []
    for seed in config.seed_range():
        methods, scores, timings[str(seed)] = run_seed(config, seed, archs, ctx)
        per_seed[seed] = evaluate_seed(methods, scores, archs, true, config.top_k)
        for method in methods:
            per_seed[seed][method.name]["quality"]["steps"] = method_steps(config, seed, method)
    result = {
        "format": FORMAT,
        "version": VERSION,
        "config": to_dict(config),
        "versions": software_versions(),
        "top_k": config.top_k,
        "sample": {
            "indices": indices,
            "archs": [a.to_string() for a in archs],
            "accuracy": [float(a) for a in true],
        },  # fmt: skip
        **summarise(
            methods,
            per_seed,
            true,
            epochs=config.epochs,
            resamples=config.resamples,
            seed=config.sample_seed,
            resample_seeds=config.bootstrap_seeds,
        ),  # fmt: skip
        "predictions": {
            str(s): {m: v["predicted"] for m, v in per_seed[s].items()} for s in per_seed
        },  # fmt: skip
        "timings": {"per_seed": timings, "wall_s": time.perf_counter() - start},
    }
    if config.free_baselines:
        settings = ProxySettings(config.space, config.dataset, config.data_root)
        add_free_baselines(result, settings, config.out / "free-baselines",
                           resamples=config.resamples, seed=config.sample_seed,
                           device=config.device, progress=not config.no_progress)  # fmt: skip
    write_outputs(config, result)
    print(tables_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
