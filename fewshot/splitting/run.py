"""Splitting a supernet as a run: the split command's configuration and work, as a library.

:class:`SplitConfig` is ``python -m fewshot.split``'s configuration (every default and flag);
:func:`run_split` opens (or resumes) the run folder ``OUT/NAME``, splits, saves ``tree.json``
after every split and returns the tree. The command (:mod:`fewshot.split`) only parses flags,
prints the summary and draws the figure; experiments (:mod:`fewshot.experiments`) call
:func:`run_split` directly.

This module may import the layers below splitting (config, run folder, data, metrics, recipes,
the tree format, the splitting engine); never plotting, analysis or a command module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from fewshot.choices import dataset_names, metric_names, space_option
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    make_config,
    option,
    refuse_changed,
    resolve_device,
    to_dict,
)
from fewshot.errors import UsageError
from fewshot.io import software_versions
from fewshot.metrics.base import ScoringData, data_free
from fewshot.metrics.settings import MetricSettings
from fewshot.run_folder import (
    LOCK,
    RESOLVED_DATA_PATH,
    TREE,
    WEIGHT_CHECKPOINTS,
    lock_run,
    migrate,
    save_run_config,
)
from fewshot.spaces import SearchSpace, get_space
from fewshot.splitting.candidates import CANDIDATE_MODES, RANDOM_BASELINE, SCALES, metric_kind
from fewshot.splitting.edges import EDGE_POLICIES, default_edges
from fewshot.splitting.engine import SplitEngine, SplitSettings, initial_supernet, validate_settings
from fewshot.splitting.partition import OBJECTIVES
from fewshot.splitting.recipes import DEFAULT_RECIPE, Recipe, get_recipe, list_recipes
from fewshot.splitting.tree import SplitTree, load_tree
from fewshot.splitting.warmup import EpochBatches, WarmupSettings

log = logging.getLogger("fewshot")

RECIPE_KEYS = ("C", "N", "batch_size", "batches", "init", "edge_policy", "edges", "balanced",
               "warmup_epochs", "candidates", "scale", "objective")  # fmt: skip
"""Fields of :class:`SplitConfig` that override the recipe's value of the same name."""


def _split_metrics() -> list[str]:
    return [*metric_names(), RANDOM_BASELINE]


def _policies() -> list[str]:
    return EDGE_POLICIES.names()


@dataclass(kw_only=True)
class SplitConfig(ImageOptions, CommonOptions):
    """Split a search space's supernet (default: NAS-Bench-201) into sub-supernets with a
    metric.

    Every setting that changes a split comes from ``--recipe`` (default: ly-manson, the
    framework paper's code); the flags of the ``recipe overrides`` group and
    ``--recipe-option KEY=VALUE`` override it, and the resolved values are what the run saves.
    """

    metric: str | None = option(
        None, help="metric (required), or 'random' for the random-partition baseline",
        choices=_split_metrics,
    )  # fmt: skip
    recipe: str = option(
        DEFAULT_RECIPE, help="named bundle of split settings (SPEC 4a)", choices=list_recipes
    )
    depth: int = option(3, help="levels of splits (branch**depth leaves)", minimum=1)
    branch: int = option(2, help="children per split (groups of ops)", minimum=2)
    seed: int = option(0, help="seeds initialisation, data, everything")
    space: str = space_option()
    dataset: str | None = option(
        None, help="data set (default: cifar10, else digits with a warning)",
        choices=dataset_names, group="data",
    )  # fmt: skip
    data_root: Path | None = option(None, help="data folder (e.g. for --dataset folder)",
                                    group="data")  # fmt: skip
    batch_size: int | None = option(
        None, help="examples per scoring batch (recipe)", minimum=1, group="recipe overrides"
    )
    batches: int | None = option(
        None, help="scoring batches (recipe; default 1, 2 for pairwise metrics)", minimum=1,
        group="recipe overrides",
    )  # fmt: skip
    C: int | None = option(
        None, help="supernet width: channels of the first stage (recipe; default: the space's)",
        minimum=1, group="recipe overrides", flags=("--C",),
    )  # fmt: skip
    N: int | None = option(
        None, help="supernet depth: cells per stage (recipe; default: the space's)", minimum=1,
        group="recipe overrides", flags=("--N",),
    )  # fmt: skip
    init: str | None = option(
        None,
        help="weight initialisation (recipe)",
        choices=("pytorch", "kaiming_fan_out"),
        group="recipe overrides",
    )
    edge_policy: str | None = option(
        None, help="which edge a node splits (recipe)", choices=_policies, group="recipe overrides"
    )
    edges: list[int] | None = option(
        None, help="edge order, e.g. 0,1,2 (fixed: level l splits edges[l]; score: edges "
        "considered)", group="recipe overrides",
    )  # fmt: skip
    balanced: bool | None = option(
        None, help="equal-as-possible groups (GM-NAS)", group="recipe overrides"
    )
    warmup_epochs: int | None = option(
        None, help="supernet training before each split", minimum=0, group="recipe overrides"
    )
    candidates: str | None = option(
        None, help="candidate of op o: only o enabled on the edge, or o disabled (recipe)",
        choices=CANDIDATE_MODES, group="recipe overrides",
    )  # fmt: skip
    scale: str | None = option(
        None,
        help="scalar distance |g(f_i) - g(f_j)| with g (recipe)",
        choices=SCALES,
        group="recipe overrides",
    )
    objective: str | None = option(
        None, help="partition objective for this metric (recipe)", choices=OBJECTIVES,
        group="recipe overrides",
    )  # fmt: skip
    recipe_option: dict[str, Any] = option(
        default_factory=dict,
        help="any other recipe or metric setting, e.g. bn_mode=train, synflow_dtype=float64, "
        "keep_nonfinite=false, lr_samples=1000, augment=false (repeatable; see "
        "fewshot/splitting/recipes.py and fewshot/metrics/settings.py)",
        group="recipe overrides", metavar="KEY=VALUE",
    )  # fmt: skip
    out: Path = option(Path("runs"), help="parent of run folders", group="run folder")
    name: str | None = option(
        None, help="run folder name (default: <metric>-d<depth>-b<branch>-s<seed>)",
        group="run folder", affects_results=False,
    )  # fmt: skip
    resume: bool = option(
        False, help="require a run folder to continue (without it, a folder holding this run's "
        "tree is continued too, and a finished one is reported)", group="run folder",
        affects_results=False,
    )  # fmt: skip
    max_splits: int | None = option(
        None, help="stop after this many splits (resume later with --resume)", minimum=1,
        group="run folder", affects_results=False,
    )  # fmt: skip

    def resolve(self) -> SplitConfig:
        """Fill every recipe-controlled field with its effective value (idempotent)."""
        if not self.metric:
            raise UsageError("--metric is required (e.g. --metric snip); see --help")
        recipe = effective_recipe(self)
        kind = metric_kind(self.metric)
        for key in RECIPE_KEYS:
            if key == "objective":
                self.objective = recipe.objective_for(kind)
            else:
                value = getattr(recipe, key)
                setattr(self, key, list(value) if isinstance(value, tuple) else value)
        if self.batches is None:
            self.batches = 2 if kind == "pairwise" else 1
        if self.edges is None:
            space = get_space(self.space)
            self.edges = list(default_edges(self.edge_policy, self.depth, space=space))
        extra = {f.name: getattr(recipe.metric_settings, f.name) for f in fields(MetricSettings)}
        extra.update(augment=recipe.augment, batch_per_split=recipe.batch_per_split)
        if kind == "pairwise":
            extra["pairwise_objective"] = self.objective
        self.recipe_option = extra
        self.name = self.name or f"{self.metric}-d{self.depth}-b{self.branch}-s{self.seed}"
        tree_file = Path(self.out) / str(self.name) / TREE
        if self.dataset is None and tree_file.is_file():  # a continued run keeps its data set
            self.dataset = load_tree(tree_file).dataset
        elif self.dataset is None:
            from fewshot.data import resolve_dataset

            self.dataset, _ = resolve_dataset(None, self.data_root)
        return self


def effective_recipe(config: SplitConfig) -> Recipe:
    """The recipe with the configuration's overrides applied (flags, then --recipe-option);
    the network size it leaves to the space is the space's (:meth:`Recipe.for_space`)."""
    base = get_recipe(config.recipe).for_space(get_space(config.space))
    overrides: dict[str, Any] = {}
    for key in RECIPE_KEYS:
        value = getattr(config, key)
        if value is None:
            continue
        if key == "objective":
            kind = metric_kind(config.metric)
            overrides["pairwise_objective" if kind == "pairwise" else "objective"] = value
        else:
            overrides[key] = tuple(value) if key == "edges" else value
    overrides.update(config.recipe_option)
    return base.with_overrides(overrides)


def recipe_overrides(config: SplitConfig) -> dict[str, list[Any]]:
    """``{setting: [recipe's value, this run's value]}`` for every setting the run changed."""
    plain = make_config(
        SplitConfig,
        {
            "metric": config.metric,
            "recipe": config.recipe,
            "depth": config.depth,
            "branch": config.branch,
            "space": config.space,
            "dataset": config.dataset or "synthetic",
        },
    )  # fmt: skip  (the data set does not change a recipe: named so it is not looked up again)
    base = effective_recipe(plain).to_dict()  # the recipe as this metric and depth resolve it
    mine = effective_recipe(config).to_dict()
    diff = {k: [base[k], mine[k]] for k in mine if k != "metric_settings" and base[k] != mine[k]}
    for k, v in mine["metric_settings"].items():
        if base["metric_settings"][k] != v:
            diff[k] = [base["metric_settings"][k], v]
    return diff


@dataclass(frozen=True)
class SplitRun:
    """What :func:`run_split` did: the run folder, its tree, and whether it was already
    complete (nothing to do)."""

    run_dir: Path
    tree: SplitTree
    already_complete: bool = False


def run_split(
    config: SplitConfig, *, on_stop: Callable[[SplitTree, Path], None] | None = None
) -> SplitRun:
    """Open (or ``--resume``) the run folder of a resolved ``config`` and split.

    ``on_stop(tree, run_dir)`` runs when the splitting stops, finished or not (the command
    draws the tree there). User mistakes raise :class:`UsageError`.
    """
    space = get_space(config.space)
    recipe = effective_recipe(config)
    settings = settings_from_config(config, recipe)
    validate_settings(settings, space=space)
    check_network_size(space, recipe.C, recipe.N)
    run_dir = Path(config.out) / str(config.name)
    lock_run(run_dir)
    tree = open_run(run_dir, config)
    if tree is not None and tree.complete:
        return SplitRun(run_dir, tree, already_complete=True)
    device = resolve_device(config.device)
    dataset, data, num_classes, epoch_batches = load_data(
        config, recipe, settings, tree.dataset if tree else None
    )
    if tree is None:
        extra = {RESOLVED_DATA_PATH: _data_path(config, dataset)}
        tree = _new_tree(config, recipe, dataset, device, extra, space)
        tree.save(run_dir / TREE)
        save_run_config(run_dir, config, extra=extra)
    supernet = initial_supernet(
        C=recipe.C, N=recipe.N, num_classes=num_classes, seed=config.seed,
        device=device, init=recipe.init, space=space,
    )  # fmt: skip
    log.info(
        "splitting into %s with %s (recipe %s) on %s (%s)",
        run_dir, config.metric, config.recipe, dataset, device,
    )  # fmt: skip
    engine = SplitEngine(
        settings, supernet, data, epoch_batches=epoch_batches,
        save=lambda t: t.save(run_dir / TREE), checkpoint_dir=run_dir / WEIGHT_CHECKPOINTS,
        progress=False if config.no_progress else None,
    )  # fmt: skip
    try:
        engine.run(tree, max_splits=config.max_splits)
    finally:
        if on_stop is not None:
            on_stop(tree, run_dir)
    return SplitRun(run_dir, tree)


def check_network_size(space: SearchSpace, C: int | None, N: int | None) -> None:
    """Raise :class:`UsageError` when ``space`` refuses the network size (e.g. a depth ``N``
    for a space without a depth knob), before any run folder is made."""
    try:
        space.model_options(C, N)
    except ValueError as exc:
        raise UsageError(f"search space {space.name}: {exc}") from None


def settings_from_config(config: SplitConfig, recipe: Recipe | None = None) -> SplitSettings:
    """The engine's settings (what decides the splits) from a resolved configuration."""
    recipe = recipe or effective_recipe(config)
    return SplitSettings(
        metric=str(config.metric),
        depth=config.depth,
        branch=config.branch,
        seed=config.seed,
        edge_policy=str(config.edge_policy),
        edges=tuple(config.edges or ()),
        balanced=bool(config.balanced),
        warmup=WarmupSettings(epochs=int(config.warmup_epochs or 0)),
        candidates=recipe.candidates,
        scale=recipe.scale,
        objective=recipe.objective,
        pairwise_objective=recipe.pairwise_objective,
        metric_settings=recipe.metric_settings,
    )


def environment(device: torch.device) -> dict[str, Any]:
    """Where and how the run computes: device, threads, determinism settings."""
    env: dict[str, Any] = {
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def _new_tree(
    config: SplitConfig,
    recipe: Recipe,
    dataset: str,
    device: torch.device,
    extra: dict[str, Any],
    space: SearchSpace,
) -> SplitTree:
    """A tree of ``space`` with only its root, recording ``config`` plus ``extra`` (the
    resolved data path)."""
    saved = {**to_dict(config), **extra}
    tree = SplitTree(
        str(config.metric), config.seed, dataset, saved, software_versions(), space=space
    )
    tree.data_free = reads_no_images(settings_from_config(config, recipe))
    tree.recipe = {
        "name": config.recipe,
        "settings": recipe.to_dict(),
        "overrides": recipe_overrides(config),
    }
    tree.environment = environment(device)
    tree.add_root()
    return tree


def open_run(run_dir: Path, config: SplitConfig) -> SplitTree | None:
    """The tree to continue, or None for a new run.

    A run folder holding a tree is continued (or, finished, reported) when the configuration
    matches the saved one in every result-affecting setting, and refused naming the
    differences otherwise: running the same command twice is safe. A folder holding other
    files but no tree is never overwritten; ``--resume`` requires the tree."""
    tree_file = run_dir / TREE
    if not tree_file.is_file():
        if config.resume:
            raise UsageError(f"nothing to resume: {tree_file} does not exist (drop --resume)")
        if run_dir.exists() and any(p.name != LOCK for p in run_dir.iterdir()):
            raise UsageError(
                f"run folder {run_dir} exists but holds no {TREE}; pick another --name "
                "(or --out), or remove the folder"
            )
        return None
    tree = load_tree(tree_file)
    if tree.space.name != config.space:
        raise UsageError(
            f"cannot resume {run_dir}: it splits search space {tree.space.name!r}, not "
            f"{config.space!r} (resume with --space {tree.space.name}, or --name NEW for a "
            "new run)"
        )
    old_recipe = tree.recipe_name
    if old_recipe is not None and old_recipe != config.recipe:
        raise UsageError(
            f"cannot resume {run_dir}: it was made with recipe {old_recipe!r}, not "
            f"{config.recipe!r} (resume with --recipe {old_recipe}, or --name NEW for a new run)"
        )
    refuse_changed(
        migrate(tree.config or {}), config, where=run_dir,
        hint="use the original flags, or --name NEW for a new run",
        ignore=["dataset"] if config.dataset is None else [],
    )  # fmt: skip
    return tree


def _data_path(config: SplitConfig, dataset: str) -> str:
    """``tensor`` or ``loader``: the data path of ``dataset`` with the run's data options."""
    from fewshot.data import resolved_data_path

    return resolved_data_path(dataset, data_root=config.data_root, **config.data_option)


def load_data(
    config: SplitConfig, recipe: Recipe, settings: SplitSettings, dataset: str | None = None
) -> tuple[str, ScoringData | Callable[[int], ScoringData], int, EpochBatches | None]:
    """(data set used, scoring batches or a per-split maker, classes, warm-up batches or None).

    ``dataset`` overrides the resolution (a resumed run keeps the data set it started with,
    even when ``--dataset`` was left out and CIFAR-10 has become available since). With the
    recipe's ``batch_per_split``, every split draws its own batch from its node's seed.
    """
    from torch.utils.data import DataLoader

    from fewshot.data import make_datamodule, resolve_dataset, scoring_data

    name, root = resolve_dataset(dataset or config.dataset, config.data_root)
    batch_size, batches = int(config.batch_size or 64), int(config.batches or 1)
    dm = make_datamodule(
        name, data_root=root, batch_size=batch_size, seed=config.seed, **config.data_option
    )
    if reads_no_images(settings):
        from fewshot.scoring.data import data_free_input

        log.info("data-free split (%s): no image of %s is read", settings.metric, name)
        placeholder = data_free_input(dm, batch_size)
        return name, placeholder, placeholder.num_classes, None

    def draw(seed: int) -> ScoringData:
        return scoring_data(
            dm, num_batches=batches, batch_size=batch_size, seed=seed, augment=recipe.augment
        )

    first = draw(config.seed)  # per split too: fails now (missing data, too few examples)
    data: ScoringData | Callable[[int], ScoringData] = draw if recipe.batch_per_split else first
    epoch_batches = None
    if settings.warmup.epochs > 0:
        train = dm.train_dataset()

        def epoch_batches(g: torch.Generator) -> DataLoader:
            return DataLoader(train, batch_size=batch_size, shuffle=True, generator=g)

    return name, data, first.num_classes, epoch_batches


def reads_no_images(settings: SplitSettings) -> bool:
    """True when a split needs only its data set's class count and image size: its metric is
    data-free (:func:`fewshot.metrics.data_free`: synflow, params, flops) or the random
    baseline, and no warm-up trains the supernet. Such a split loads no data set (so it runs
    where the images are absent) and its tree says ``data_free: true``."""
    if settings.warmup.epochs > 0:
        return False
    return settings.metric == RANDOM_BASELINE or data_free([settings.metric])


def decision_warnings(tree: SplitTree) -> list[str]:
    """One line per kind of split that values did not decide (ties, non-finite values)."""
    lines = []
    for kind, why in (
        ("nonfinite", "NaN or inf scores took part (kept by the recipe, as its source code did)"),
        ("tie", "several partitions were equally good; the authors' order picked the first"),
    ):
        nodes = [n.id for n, s in tree.splits() if s.decided_by == kind]
        if nodes:
            lines.append(
                f"{len(nodes)} of {sum(1 for _ in tree.splits())} splits decided by {kind} "
                f"(nodes {', '.join(map(str, nodes))}): {why}; see decided_by in tree.json"
            )
    return lines


__all__ = [
    "RECIPE_KEYS",
    "SplitConfig",
    "SplitRun",
    "check_network_size",
    "decision_warnings",
    "effective_recipe",
    "environment",
    "load_data",
    "open_run",
    "reads_no_images",
    "recipe_overrides",
    "run_split",
    "settings_from_config",
]
