"""``python -m fewshot.train runs/<name>``: train the leaves of a split tree, search, evaluate.

1. Train every leaf (or ``--leaf i``) from scratch with a path-sampling rule (``--sampling``,
   default uniform single path; :mod:`fewshot.training.sampling`), in
   ``runs/<name>/leaves/<id>/`` (checkpoints, logs, ``metrics.jsonl``); re-running resumes
   each leaf from its last checkpoint. ``--one-shot`` also trains the tree's root (the whole
   space) as one supernet (``runs/<name>/oneshot/``), by default with the leaves' total budget.
2. Search: score up to ``--search-k`` archs per leaf on held-out data (BN recalibrated per
   arch); the one-shot baseline scores the same archs (the union of the leaves').
3. With a benchmark (``--benchmark DIR``, ``$FEWSHOT_BENCHMARK`` or a default folder:
   :func:`fewshot.benchmark.find_benchmark`): true accuracies, Kendall tau / Spearman per leaf and overall,
   regret; few-shot vs one-shot printed as one table. Everything goes to ``search.json``
   (with the path of the benchmark that judged it), the predicted-vs-true figure to
   ``search.png``. The command ends with a table of what each leaf's search found and the
   paths of the files and figures it wrote.

``--device`` (cpu, cuda, cuda:N, auto) picks Lightning's accelerator and devices;
``--accelerator/--devices/--strategy/--num-nodes`` override them and go to the Lightning
``Trainer`` (built by :func:`fewshot.training.trainer.make_trainer`, as every training is):
the same command trains on CPU, one GPU or with DDP; ``--precision bf16-mixed``,
``--channels-last``, ``--compile`` and ``--lr-scaling linear`` (lr and lr_min times
batch_size / 64) are the GPU options, off by default. Every default is a field of
:class:`TrainConfig` (the spec's values; ``configs/train.yaml`` restates them). The resolved
configuration is saved as ``train_config.yaml`` (with ``resolved_data_path``: the data path,
``tensor`` or ``loader``, that ``data_path=auto`` chose, and ``compute``: the device type and
the CPU threads in effect); re-running continues each leaf from its last
checkpoint only with the same configuration (the differences are named otherwise) and, per
leaf, the same device and thread count (``compute.json``; another count gives other weights,
so a resume under it is refused: pass the recorded ``--threads``), and
``--force`` discards the run folder's training outputs and starts over. ``--executor ray``
trains one leaf per Ray task (``--gpus-per-task``, ``--workers``, ``--ray-address``;
:mod:`fewshot.training.parallel`); a single job keeps Lightning's own devices and DDP.

From Python: ``fewshot.train(...)`` calls :func:`fewshot.api.train` (this module is callable;
see docs/api.md), which runs this command's code and returns a result object.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fewshot import faults
from fewshot.choices import dataset_names, space_names
from fewshot.cli import callable_command, run_main
from fewshot.config import (
    CommonOptions,
    ImageOptions,
    apply_common,
    config_parser,
    lightning_hardware,
    option,
    parse_config,
    refuse_changed,
    resolve_device,
    to_dict,
)
from fewshot.data.identity import Judging, judging
from fewshot.errors import UsageError
from fewshot.executor import GpuTaskOptions, failure_report
from fewshot.io import atomic_write_json
from fewshot.run_folder import (
    CURVES_FIGURE,
    LEAVES,
    ONE_SHOT_DIR,
    RESOLVED_DATA_PATH,
    SEARCH,
    SEARCH_FIGURE,
    TRAIN_CONFIG,
    TREE,
    load_run_config,
    lock_run,
    remove_outputs,
    save_run_config,
)
from fewshot.splitting.tree import load_tree
from fewshot.tables import markdown_table, outputs_block
from fewshot.training.parallel import LeafTraining, finished, train_jobs, train_packed
from fewshot.training.pipeline import (
    Job,
    SearchSettings,
    evaluate_searches,
    plan_jobs,
    search_jobs,
    strip_objects,
)
from fewshot.training.runner import LOGGERS, TrainerSettings, TrainSettings, tensorboard_missing
from fewshot.training.sampling import SAMPLING_RULES
from fewshot.training.trainer import (
    STEPS_PER_CALL_HELP,
    LrScaling,
    compute_record,
    scaled_lr,
    trainer_option,
)

log = logging.getLogger("fewshot")

CONFIG_NAME = TRAIN_CONFIG
_JOBS = "jobs"
COMPUTE = "compute"
_DATA = "model and data (default: the tree's)"
_OPT = "optimisation (spec section 5)"
_HW = "Lightning Trainer (default: from --device)"
_SEARCH = "search and evaluation"
_SPEC = TrainSettings()  # the library's defaults: the spec's optimiser (SPEC_SGD), 50 epochs


@dataclass(kw_only=True)
class TrainConfig(GpuTaskOptions, ImageOptions, CommonOptions):
    """Train the leaves of a split tree, search inside them, evaluate against NATS-Bench.

    ``--executor ray`` trains one leaf per Ray task (``--gpus-per-task``); see
    :mod:`fewshot.training.parallel`.
    """

    run_dir: Path | None = option(
        None, positional=True, help="run folder holding tree.json (outputs go here)"
    )
    tree: Path | None = option(None, help="tree file (default: RUN_DIR/tree.json)")
    space: str | None = option(
        None, help="search space (default: the tree's, which is authoritative: another one "
        "is refused)", choices=space_names, group=_DATA,
    )  # fmt: skip
    leaf: list[int] = option(
        [], help="train only these leaf ids (repeatable)", repeat=True, affects_results=False
    )
    one_shot: bool = option(False, help="also train/search the whole space", affects_results=False)
    pack: bool = option(
        False,
        help="train the leaves (and the one-shot baseline of as many epochs) together, K "
        "networks per pass: each equals its training alone up to float rounding "
        "(docs/training/README.md, 'Packs')",
    )
    pack_size: int | None = option(
        None, help="--pack: at most this many networks per pack (default: as many as half the "
        "device's free memory holds)", minimum=1, affects_results=False,
    )  # fmt: skip
    one_shot_epochs: int | None = option(None, help="default: epochs x number of leaves", minimum=1)
    force: bool = option(
        False, help="discard this run folder's training outputs and start over",
        affects_results=False,
    )  # fmt: skip
    dataset: str | None = option(
        None, help="data set name (default: the tree's)", choices=dataset_names, group=_DATA
    )
    data_root: Path | None = option(None, help="data folder (default: the tree's)", group=_DATA)
    C: int | None = option(None, help="channels of the first stage (default: the tree's)",
                           minimum=1, group=_DATA)  # fmt: skip
    N: int | None = option(None, help="cells per stage (default: the tree's)", minimum=1,
                           group=_DATA)  # fmt: skip
    batch_size: int = option(64, help="training batch size", minimum=1, group=_DATA)
    num_workers: int = option(
        0, help="data loader workers", minimum=0, group=_DATA, affects_results=False
    )
    val_fraction: float = option(
        0.1, help="held-out part of the training set (validation and search)", group=_DATA
    )
    seed: int = option(_SPEC.seed, help="initialisation, paths, data order", group=_DATA)
    epochs: int = option(_SPEC.epochs, help="epochs per leaf", minimum=1, group=_OPT)
    lr: float = option(_SPEC.lr, help="cosine learning rate from lr ...", group=_OPT)
    lr_min: float = option(_SPEC.lr_min, help="... down to lr_min, stepped per batch", group=_OPT)
    momentum: float = option(_SPEC.momentum, help="SGD Nesterov momentum", group=_OPT)
    weight_decay: float = option(_SPEC.weight_decay, help="weight decay", group=_OPT)
    lr_scaling: LrScaling = trainer_option("lr_scaling", group=_OPT)
    grad_clip: float = option(_SPEC.grad_clip, help="gradient norm clipping", group=_OPT)
    val_bn: Literal["batch", "running"] = option(
        _SPEC.val_bn, help="validation BN statistics (the search recalibrates BN)", group=_OPT
    )
    sampling: str = option(
        _SPEC.sampling, help="path-sampling rule: the archs of each optimiser step (uniform: "
        "one uniform path; fairnas: every op once per step; sandwich: largest, smallest and 2 "
        "uniform; balanced: a group of equally nonlinear archs, then an arch in it)",
        choices=list(SAMPLING_RULES), group=_OPT,
    )  # fmt: skip
    accelerator: str | None = option(
        None, help="Lightning accelerator: cpu, gpu, auto, ... (default: from --device)",
        group=_HW, affects_results=False,
    )  # fmt: skip
    devices: str | None = option(
        None, help="auto, a count, or ids like 0,1 (default: from --device)", group=_HW
    )
    strategy: str = option("auto", help="auto, ddp, ddp_spawn, ...", group=_HW)
    num_nodes: int = option(1, help="machines (DDP)", minimum=1, group=_HW)
    precision: str | None = trainer_option("precision", group=_HW)
    channels_last: bool = trainer_option("channels_last", group=_HW)
    compile: bool = trainer_option("compile", group=_HW)
    steps_per_call: int = option(
        TrainerSettings.steps_per_call, help=STEPS_PER_CALL_HELP, minimum=1, group=_HW,
        affects_results=False,
    )  # fmt: skip
    fast_dev_run: bool = option(
        False, help="one batch of everything: per leaf one training batch (no checkpoint), a search "
        "of 2 archs with one calibration and one held-out batch (outputs under "
        "RUN_DIR/fast_dev_run)",
        group=_HW, affects_results=False,
    )  # fmt: skip
    logger: str = option(
        "csv", help="training logs under each leaf's logs/: csv (metrics.csv) or tensorboard "
        "(event files too; needs the tensorboard package)", choices=LOGGERS, group=_HW,
        affects_results=False,
    )  # fmt: skip
    limit_train_batches: float | None = option(None, help="fraction (<=1) or count", group=_HW)
    limit_val_batches: float | None = option(None, help="fraction (<=1) or count", group=_HW)
    no_search: bool = option(False, help="train only", group=_SEARCH, affects_results=False)
    search_k: int = option(
        100, help="archs scored per leaf", minimum=1, group=_SEARCH, affects_results=False
    )
    calib_batches: int = option(
        10, help="BN recalibration batches", minimum=1, group=_SEARCH, affects_results=False
    )
    search_val_batches: int | None = option(
        None, help="held-out batches (default: all)", minimum=1, group=_SEARCH,
        affects_results=False,
    )  # fmt: skip
    held_out_batch: int | None = option(
        None, help="held-out examples per scoring forward (default: --batch-size; eval mode, "
        "so only speed changes: a GPU wants all at once)", minimum=1, group=_SEARCH,
        affects_results=False,
    )  # fmt: skip
    benchmark: Path | None = option(
        None, help="the tree's space's benchmark judging the search (default: where the space "
        "looks; NB201: the NATS-Bench tss directory in $FEWSHOT_BENCHMARK, then $TORCH_HOME/ and "
        "~/.cache/fewshot/data/NATS-tss-v1_0-3ffb9-simple)", group=_SEARCH,
        affects_results=False,
    )  # fmt: skip
    benchmark_dataset: str | None = option(
        None, help="benchmark accuracy column (default: the run's data set when it is one of the "
        "benchmark's: cifar10, cifar100, ImageNet16-120, or a folder of their classes; else the "
        "run is not judged; naming a column forces judging, with a warning)", group=_SEARCH,
        affects_results=False,
    )  # fmt: skip

    def resolve(self) -> TrainConfig:
        """Tree file, data set and model size from the tree; hardware from ``--device``;
        the one-shot budget; cross-field checks."""
        if self.run_dir is None:
            raise UsageError("give the run folder holding tree.json (see --help)")
        self.tree = self.tree or self.run_dir / TREE
        tree = load_tree(self.tree)
        if self.space is not None and self.space != tree.space.name:
            raise UsageError(
                f"--space {self.space}: the tree {self.tree} splits search space "
                f"{tree.space.name!r} (the tree's space is used; drop --space or give that one)"
            )
        self.space = tree.space.name
        saved = tree.config or {}
        self.dataset = self.dataset or tree.dataset
        if self.data_root is None and saved.get("data_root"):
            self.data_root = Path(saved["data_root"])
        sizes = {**tree.space.model_options(), **{k: saved[k] for k in ("C", "N") if k in saved}}
        for key in ("C", "N"):
            if getattr(self, key) is None:
                if key not in sizes:
                    raise UsageError(f"the tree records no {key} and {tree.space.name} has no "
                                     f"default: give --{key}")  # fmt: skip
                setattr(self, key, int(sizes[key]))
        accelerator, devices = lightning_hardware(self.device)
        self.accelerator = self.accelerator or accelerator
        self.devices = self.devices or devices
        if self.one_shot and self.one_shot_epochs is None:
            self.one_shot_epochs = self.epochs * len(tree.leaves())
        if not 0 < self.lr_min <= self.lr:
            raise UsageError(f"need 0 < --lr-min <= --lr, got {self.lr_min} and {self.lr}")
        if not 0 < self.val_fraction < 1:
            raise UsageError(
                "training validates and searches on held-out data: 0 < --val-fraction < 1, "
                f"got {self.val_fraction}"
            )
        if self.logger == "tensorboard" and (problem := tensorboard_missing()):
            raise UsageError(problem)
        if self.benchmark is not None and self.no_search:
            raise UsageError("--benchmark evaluates the search: drop --no-search")
        if not self.no_search:
            try:
                self.benchmark = tree.space.find_benchmark(self.benchmark)
            except NotImplementedError as exc:  # no ground truth: the search is not judged
                if self.benchmark is not None:
                    raise UsageError(f"--benchmark: {exc}") from None
        if self.benchmark is not None:
            self.benchmark_dataset = _judging(self).column
        return self

    @property
    def output_dir(self) -> Path:
        """The run folder; ``--fast-dev-run`` writes under ``fast_dev_run/`` to spare a run."""
        assert self.run_dir is not None
        return self.run_dir / "fast_dev_run" if self.fast_dev_run else self.run_dir


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    return execute(parse_config(TrainConfig, argv, prog="python -m fewshot.train"))


def execute(config: TrainConfig) -> int:
    """What the command does with a resolved configuration: train the leaves, search, judge,
    print, write; 0 when done, 1 when leaves failed. :func:`fewshot.api.train` calls it."""
    apply_common(config)
    tree = load_tree(config.tree)
    datamodule = _make_datamodule(config)
    settings = _train_settings(config, datamodule.num_classes)
    out = config.output_dir
    try:
        jobs = plan_jobs(
            tree, out, epochs=config.epochs, leaves=config.leaf,
            one_shot_epochs=config.one_shot_epochs if config.one_shot else None,
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _lock_jobs(config, jobs)
    hardware = _hardware(config)
    done_before = all(finished(job, hardware) for job in jobs)
    with faults.holding(out, wait=_RUN_LOCK_WAIT_S):
        saved = _open_run(config, jobs, datamodule.resolved_data_path())
    if done_before and _searched_alike(saved, config):
        return _report_finished(config, tree)
    context = LeafTraining(_data_options(config), settings, hardware, datamodule, config.logger)
    if config.pack:
        _check_packable(config)
        train_packed(jobs, context, out / PACK_DIR, _search_device(config),
                     pack_size=config.pack_size, image_size=datamodule.image_size)  # fmt: skip
        zero, failed = True, []
    else:
        zero, failed = train_jobs(jobs, context, config, threads=config.threads)
    if failed:
        print(f"error: {failure_report(failed)}; run again to finish them", file=sys.stderr)
        return 1
    curves = _draw_curves(config, tree)
    if config.no_search or not zero:
        print(_outputs(config, jobs, searched=False, figures=curves), end="")
        return 0
    search = SearchSettings(
        k=config.search_k, seed=config.seed, calib_batches=config.calib_batches,
        val_batches=config.search_val_batches, held_out_batch=config.held_out_batch,
        progress=not config.no_progress,
    )  # fmt: skip
    if config.fast_dev_run:
        search = search.fast_dev()
    device = _search_device(config)
    lock_run(out, wait=_RUN_LOCK_WAIT_S)  # the run folder's search outputs: one writer
    result = search_jobs(
        tree, jobs, datamodule, settings, search, device, dataset=str(config.dataset)
    )
    result["benchmark"] = None  # which benchmark judged the search (None: not judged)
    judged = _judging(config)
    if config.benchmark is not None and judged.forced:
        log.warning("%s", judged.why)
    if config.benchmark is not None and judged.column is not None:
        evaluate_searches(result, config.benchmark, judged.column, space=tree.space)
    result["judging"] = judged.why
    atomic_write_json(out / SEARCH, strip_objects(result))
    figures = list(curves)
    if "evaluation" in result:
        from fewshot.plotting.leaf_search import plot_leaf_search

        figures.append(plot_leaf_search(result["evaluation"], out / SEARCH_FIGURE))
    print(_summary(result, config), end="")
    print(_outputs(config, jobs, searched=True, figures=figures), end="")
    return 0


PACK_DIR = "pack"
"""``RUN/pack/epochs<E>/pack.ckpt``: the checkpoint of ``--pack``'s training."""


def _check_packable(config: TrainConfig) -> None:
    """``--pack`` trains every job in this process on one device, without Lightning: the
    options that configure Lightning's loop or other processes do not apply."""
    clashes = [
        ("--executor ray", config.executor == "ray"),
        ("--strategy", config.strategy not in ("auto", "single_device")),
        ("--num-nodes", config.num_nodes > 1),
        ("--fast-dev-run", config.fast_dev_run),
        ("--limit-train-batches", config.limit_train_batches is not None),
        ("--precision", config.precision is not None),
        ("--compile", config.compile),
        ("--logger tensorboard", config.logger != "csv"),
    ]
    named = [flag for flag, on in clashes if on]
    if named:
        raise UsageError(
            f"--pack trains the jobs together in this process; drop {', '.join(named)} "
            "(or drop --pack)"
        )


def _draw_curves(config: TrainConfig, tree: Any) -> list[Path]:
    """``curves.png``: the training curves of every job trained in the run folder so far
    (from their ``metrics.jsonl``); none when no job logged an epoch (a fast dev run)."""
    from fewshot.analysis.frames import training_logs
    from fewshot.plotting.training import plot_training_curves

    logs = training_logs(config.output_dir)
    if not logs:
        return []
    title = f"{tree.metric}, seed {tree.seed}: training of each leaf ({config.dataset})"
    return [plot_training_curves(logs, config.output_dir / CURVES_FIGURE, title=title)]


# -- run folder ---------------------------------------------------------------------------------

_RUN_LOCK_WAIT_S = 60.0
"""Seconds a ``--leaf`` command waits for another ``--leaf`` command's short hold of the run
folder (saving the configuration, writing the search outputs)."""


def _lock_jobs(config: TrainConfig, jobs: list[Job]) -> None:
    """One writer per leaf: hold the folder of every job this command trains; without
    ``--leaf`` also the run folder itself for the whole command. Commands training other
    leaves of one run (a job array, ``--leaf i``) run side by side; a second command on a leaf
    in training exits 2 naming the first. Ray workers train under these locks."""
    if not config.leaf:
        lock_run(config.output_dir)
    for job in jobs:
        lock_run(job.out_dir)


SEARCH_FIELDS = ("search_k", "calib_batches", "search_val_batches", "one_shot", "no_search",
                 "benchmark", "benchmark_dataset")  # fmt: skip
"""What the search and its judging depend on besides the trained weights."""


def _searched_alike(saved: dict[str, Any] | None, config: TrainConfig) -> bool:
    """Whether ``search.json`` exists and was made with this configuration's search settings
    (:data:`SEARCH_FIELDS`; the training settings were checked by :func:`_open_run`)."""
    if saved is None or config.no_search or not (config.output_dir / SEARCH).is_file():
        return False
    mine = to_dict(config)
    return all(saved.get(k) == mine.get(k) for k in SEARCH_FIELDS)


def _report_finished(config: TrainConfig, tree: Any) -> int:
    """Every leaf trained and searched with these settings: say so, print the closing table
    from ``search.json`` and the files (nothing is trained or searched again)."""
    out = config.output_dir
    print(f"{out} is already finished (same settings): nothing to do")
    result = json.loads((out / SEARCH).read_text())
    figures = [p for p in (out / CURVES_FIGURE, out / SEARCH_FIGURE) if p.is_file()]
    jobs = plan_jobs(
        tree, out, epochs=config.epochs, leaves=config.leaf,
        one_shot_epochs=config.one_shot_epochs if config.one_shot else None,
    )  # fmt: skip
    print(_summary(result, config), end="")
    print(_outputs(config, jobs, searched=True, figures=figures), end="")
    return 0


def _open_run(config: TrainConfig, jobs: list[Job], data_path: str) -> dict[str, Any] | None:
    """Check a saved configuration (refuse a changed one unless ``--force``), then save ours
    with the resolved ``data_path`` (``tensor`` or ``loader``) and ``compute``: the device type
    and CPU threads of this command (each leaf records its own in ``compute.json`` and refuses
    to resume under others: they change results).

    The saved ``jobs`` accumulate over runs of the same configuration (``--leaf 1`` then
    ``--leaf 2``); ``--force`` discards the previous training outputs first. Returns the
    configuration saved before (None: a new run, or ``--force``).
    """
    out = config.output_dir
    saved = load_run_config(out, CONFIG_NAME)
    if saved is not None and "space" not in saved:  # saved before --space: an NB201 tree
        from fewshot.spaces.base import DEFAULT_SPACE

        saved = {**saved, "space": DEFAULT_SPACE}
    trained: list[str] = []
    if saved is not None and config.force:
        _discard_outputs(out)
        saved = None
    elif saved is not None:
        refuse_changed(
            saved, config, where=out,
            hint="use the original flags, or --force to discard its training and start over",
        )  # fmt: skip
        trained = [str(j) for j in saved.get(_JOBS) or []]
    elif config.force:
        _discard_outputs(out)
    ids = list(dict.fromkeys([*trained, *(j.id for j in jobs)]))
    extra = {_JOBS: ids, RESOLVED_DATA_PATH: data_path, COMPUTE: compute_record(_hardware(config))}
    save_run_config(out, config, CONFIG_NAME, extra=extra)
    return saved


def _discard_outputs(out: Path) -> None:
    """Remove the training outputs of a run folder (never its tree or split outputs), after
    taking the lock of every trained leaf (a leaf another command trains: exit 2)."""
    trained = [p for p in (out / LEAVES).glob("*") if p.is_dir()] + [out / ONE_SHOT_DIR]
    for folder in trained:
        if folder.is_dir():
            lock_run(folder)
    for name in (LEAVES, ONE_SHOT_DIR, SEARCH, CONFIG_NAME):
        remove_outputs(out / name)
    log.warning("--force: discarded the previous training outputs in %s", out)


# -- building blocks ------------------------------------------------------------------------------


def _data_options(config: TrainConfig) -> dict[str, Any]:
    """:func:`fewshot.data.make_datamodule`'s keyword arguments (a Ray task builds its own)."""
    return {
        "name": config.dataset,
        "data_root": config.data_root,
        "batch_size": config.batch_size,
        "num_workers": config.num_workers,
        "seed": config.seed,
        "val_fraction": config.val_fraction,
        **config.data_option,
    }


def _make_datamodule(config: TrainConfig) -> Any:
    from fewshot.data import make_datamodule

    return make_datamodule(**_data_options(config))


def _train_settings(config: TrainConfig, num_classes: int) -> TrainSettings:
    return TrainSettings(
        C=int(config.C or 16),
        N=int(config.N or 5),
        num_classes=num_classes,
        epochs=config.epochs,
        lr=scaled_lr(config.lr, config.batch_size, config.lr_scaling),
        lr_min=scaled_lr(config.lr_min, config.batch_size, config.lr_scaling),
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        grad_clip=config.grad_clip,
        seed=config.seed,
        val_bn=config.val_bn,
        sampling=config.sampling,
    )


def _limit(value: float | None) -> float | int | None:
    return int(value) if value is not None and value > 1 else value


def _hardware(config: TrainConfig) -> TrainerSettings:
    return TrainerSettings(
        accelerator=str(config.accelerator),
        devices=str(config.devices),
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=config.precision,
        fast_dev_run=config.fast_dev_run,
        limit_train_batches=_limit(config.limit_train_batches),
        limit_val_batches=_limit(config.limit_val_batches),
        progress_bar=not config.no_progress,
        threads=config.threads,
        channels_last=config.channels_last,
        compile=config.compile,
        steps_per_call=config.steps_per_call,
    )


def _search_device(config: TrainConfig) -> Any:
    """Where the search runs: the CPU when training was on the CPU, else ``--device``'s."""
    return resolve_device("cpu" if config.accelerator == "cpu" else config.device)


# -- the closing summary --------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary(result: dict[str, Any], config: TrainConfig) -> str:
    """What the search found, per search and leaf: the best arch by held-out accuracy, that
    accuracy, and (judged by a benchmark) its true accuracy and the leaf's Kendall tau; then
    the overall comparison table and which benchmark judged it (or how to get one)."""
    evaluation = result.get("evaluation", {})
    rows = []
    for name, search in result["searches"].items():
        judged = evaluation.get(name, {}).get("leaves", {})
        for leaf, found in search["leaves"].items():
            ev = judged.get(leaf, {})
            rows.append([
                name, leaf, found["num_archs"], found["num_scored"],
                _fmt(found["best"]["predicted"]), _fmt(ev.get("chosen", {}).get("true")),
                _fmt(ev.get("kendall_tau")), found["best"]["arch"],
            ])  # fmt: skip
    header = ["search", "leaf", "archs", "scored", "held-out %", "true %", "tau", "best arch"]
    align = ["left", "left", "right", "right", "right", "right", "right", "left"]
    text = "\n" + markdown_table(header, rows, align=align, pad=True)
    bench = result.get("benchmark")
    if bench:
        text += f"\njudged by {bench['path']} ({bench['dataset']} accuracy):\n"
        for name, ev in evaluation.items():
            o = ev["overall"]
            text += (
                f"  {name}: Kendall tau {_fmt(o['kendall_tau'], 3)} over {o['num_scored']} archs;"
                f" chose {_where(o['chosen']['leaf'])}{o['chosen']['true']:.2f}% (regret "
                f"{o['regret_space']:.2f} to the space's best, {o['regret_leaf']:.2f} to its "
                "leaf's)\n"
            )
            text += _free_line(ev.get("free_baseline"))
        if _judging(config).forced:
            text += f"warning: {_judging(config).why}\n"
    elif config.benchmark is not None:
        text += f"\n{_judging(config).why}\n"
    else:
        text += "\nnot judged: true % and tau need a NATS-Bench benchmark (the note above says "
        text += "where it was looked for and how to get it)\n"
    return text


def _free_line(free: dict[str, Any] | None) -> str:
    """The free baseline on the same archs (no training): what a search must beat."""
    if free is None:
        return ""
    return (f"    free baseline on the same archs, ranked by {free['name']} (no training): Kendall "
            f"tau {_fmt(free['kendall_tau'], 3)}; picks {free['chosen']['true']:.2f}% (regret "
            f"{free['regret_space']:.2f})\n")  # fmt: skip


def _judging(config: TrainConfig) -> Judging:
    """Whether the run's data is the benchmark's (:func:`fewshot.data.identity.judging`)."""
    return judging(config.dataset, config.data_root, config.benchmark_dataset)


def _where(leaf: str) -> str:
    return "" if leaf == ONE_SHOT_DIR else f"leaf {leaf} at "


def _outputs(
    config: TrainConfig, jobs: list[Job], *, searched: bool, figures: Sequence[Path] = ()
) -> str:
    """The files and figures this run wrote (the last lines the command prints)."""
    out = config.output_dir
    files = [out / CONFIG_NAME]
    kept = "weights.pt, metrics.jsonl" + ("" if config.pack else ", checkpoints/, logs/")
    files += [f"{job.out_dir}/ ({kept})" for job in jobs]
    if config.pack:
        files.append(f"{out / PACK_DIR}/ (pack.ckpt per epoch count)")
    if searched:
        files.append(out / SEARCH)
    return outputs_block(files, figures)


def build_parser() -> Any:
    """The command's ``argparse`` parser (derived from :class:`TrainConfig`)."""
    return config_parser(TrainConfig, prog="python -m fewshot.train")


__all__ = ["TrainConfig", "build_parser", "execute", "main"]


callable_command(__name__, "train")  # fewshot.train(...) is fewshot.api.train


if __name__ == "__main__":
    sys.exit(main())
