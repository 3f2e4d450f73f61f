"""Train one sub-supernet in its run folder with a Lightning ``Trainer``, resumably.

Layout of a trained sub-supernet's folder (``runs/<name>/leaves/<id>/`` or ``.../oneshot/``)::

    checkpoints/last.ckpt     full training state (re-running resumes from it)
    checkpoints/epochNNN.ckpt the latest epoch's checkpoint
    logs/metrics.csv          Lightning's CSV logger (``--logger tensorboard``: logs/tensorboard/ too)
    metrics.jsonl             one JSON line per finished epoch (train loss/acc, val acc, lr)
    weights.pt                the trained supernet's state_dict (what the search reads)
    done.json                 written when training finished: epochs, final metrics, compute
    compute.json              where it trained: device type and CPU threads (a resume under
                              others is refused: they change results)

Randomness, and why a killed-and-resumed run ends where an uninterrupted one ends (issue 23):

- weight initialisation: :class:`~fewshot.training.module.LeafModule` re-initialises the
  supernet from the run's seed (and :func:`train_subsupernet` seeds Python, numpy and torch with
  it first, ``seed_everything``); a resumed run loads the weights from the checkpoint;
- data order and augmentation: functions of ``(seed, epoch, index)`` on both data paths (tensor
  and loader), see :mod:`fewshot.data.tensor`; the data module is fitted as a data module, so
  its ``state_dict`` (the data epoch) is saved in the checkpoint and restored before the first
  resumed loader is made (:meth:`fewshot.data.base.FewshotDataModule.load_state_dict`);
- path draws: functions of ``(seed, global step)`` (training) and a fixed sequence per epoch
  (validation), see :mod:`fewshot.training.module`; the networks have no dropout;
- optimiser, learning-rate schedule, epoch and step counters: saved in the checkpoint;
- DDP: every rank derives the same draws from the same seed; Ray: every task builds its own
  data module from the same options (:mod:`fewshot.training.parallel`).

The ``Trainer`` is :func:`fewshot.training.trainer.make_trainer`'s; :class:`TrainerSettings`,
:func:`parse_devices` and :func:`resolve_strategy` are re-exported from there. May import
models, the training layer and :mod:`fewshot.io`; never a command module.
"""

from __future__ import annotations

import csv
import inspect
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import CSVLogger, Logger
from torch.utils.data import DataLoader, Dataset, Subset

from fewshot import faults
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.models.supernet import Supernet
from fewshot.optimiser import SGDSettings
from fewshot.spaces import ArchGroup, Mask, space_of
from fewshot.training.inherit import inherit_weights, load_parent_state
from fewshot.training.module import LeafModule
from fewshot.training.sampling import DEFAULT_SAMPLING
from fewshot.training.trainer import (
    COMPUTE_RECORD,
    CheckpointOnPreemption,
    TrainerSettings,
    compute_record,
    fused_steps,
    last_checkpoint_callback,
    make_trainer,
    parse_devices,
    prepare_model,
    refuse_other_compute,
    resolve_strategy,
    resume_checkpoint,
    save_weights,
)

log = logging.getLogger("fewshot")


@dataclass(frozen=True)
class TrainSettings(SGDSettings):
    """Everything that decides how a sub-supernet is trained (defaults: the spec's): the
    network, the epochs, the seed, the path-sampling rule, and the optimiser's fields
    (:class:`~fewshot.optimiser.SGDSettings`)."""

    C: int = 16
    N: int = 5
    num_classes: int = 10
    epochs: int = 50
    seed: int = 0
    val_bn: str = "batch"
    max_steps: int | None = None
    """Stop after this many optimiser steps (the cosine schedule spans them); None: ``epochs``.
    A budget in steps compares data sets of different sizes (and warm-up plus leaves)."""
    sampling: str = DEFAULT_SAMPLING
    """The path-sampling rule (:mod:`fewshot.training.sampling`)."""


class EpochMetricsWriter(Callback):
    """One JSON line per finished training epoch in ``path`` (global rank 0 only).

    The file is rewritten atomically with the rows of the earlier epochs and this one (a row
    of the same or a later epoch, left by a run resumed from an older checkpoint, is
    replaced), so it never holds a half line or two rows of one epoch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._start = time.monotonic()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        row: dict[str, Any] = {"epoch": trainer.current_epoch + 1, "step": trainer.global_step}
        for key in ("train_loss_epoch", "train_acc", "val_loss", "val_acc"):
            value = trainer.callback_metrics.get(key)
            if value is not None:
                row[key.removesuffix("_epoch")] = float(value)
        row["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        row["seconds"] = round(time.monotonic() - self._start, 3)
        atomic_write_text(self.path, "".join(f"{json.dumps(r)}\n" for r in self._kept(row)))

    def _kept(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of ``path`` before ``row``'s epoch (unreadable lines dropped), then ``row``."""
        rows = []
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    old = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(old, dict) and int(old.get("epoch", 0)) < row["epoch"]:
                    rows.append(old)
        return [*rows, row]


class MixedValidation(pl.LightningDataModule):
    """``datamodule`` with validation batches that mix the classes (a fixed seeded shuffle).

    Validation normalises with each batch's own BatchNorm statistics (``val_bn="batch"``);
    data modules serve the held-out part in index order, which for class-sorted sets (image
    folders) puts one or two classes in a batch, and batch statistics then erase exactly the
    features that tell the classes apart (accuracy below chance). One fixed permutation keeps
    epochs comparable. Everything else is delegated to ``datamodule``.
    """

    def __init__(self, datamodule: Any, seed: int = 0, steps_per_call: int = 1) -> None:
        super().__init__()
        self.inner, self.seed, self.steps_per_call = datamodule, seed, steps_per_call

    def prepare_data(self) -> None:
        self.inner.prepare_data()

    def setup(self, stage: str) -> None:
        self.inner.setup(stage)

    def train_dataloader(self) -> DataLoader:
        self.inner.trainer = self.trainer  # its epoch and device (fewshot.data.base)
        if self.steps_per_call > 1:  # chunks of batches for fused steps (_fuse)
            return self.inner.train_dataloader(steps_per_call=self.steps_per_call)
        return self.inner.train_dataloader()

    def state_dict(self) -> dict[str, Any]:
        self.inner.trainer = self.trainer
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.inner.load_state_dict(state_dict)

    def val_dataloader(self) -> DataLoader:
        data: Dataset = self.inner.val_dataset()
        g = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(data), generator=g).tolist()  # type: ignore[arg-type]
        return DataLoader(
            Subset(data, order),
            batch_size=self.inner.batch_size,
            shuffle=False,
            num_workers=self.inner.num_workers,
            persistent_workers=self.inner.num_workers > 0,
        )


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSV logger (``logs/metrics.csv``), made safe to resume.

    Lightning's own deletes ``metrics.csv`` when its folder is not empty, so a resumed run
    kept only the epochs after the checkpoint. This one keeps the rows of the epochs up to
    ``resume_epoch`` (the zero-based epoch of the checkpoint a run resumes from; ``None`` for a
    fresh run, which starts a new file) and drops the rows of the epoch that was cut off, which
    the resumed run logs again. Rows are flushed when an epoch starts (:class:`FlushLogs`), so
    a run killed mid-epoch has the finished epochs on disk and resumes to the same file as an
    uninterrupted run.
    """

    def __init__(self, out_dir: Path, *, resume_epoch: int | None = None) -> None:
        super().__init__(out_dir, name="logs", version="")
        self.resume_epoch = resume_epoch

    @property
    def experiment(self) -> Any:
        if self._experiment is not None:
            return self._experiment
        path = Path(self.log_dir) / "metrics.csv"
        kept = self._rows_before_resume(path)
        writer = super().experiment  # deletes metrics.csv
        if kept:
            keys = sorted(set().union(*kept))
            with path.open("w", newline="", encoding="utf-8") as f:
                out = csv.DictWriter(f, fieldnames=keys)
                out.writeheader()
                out.writerows(kept)
            writer.metrics_keys = keys
        return writer

    def _rows_before_resume(self, path: Path) -> list[dict[str, str]]:
        if self.resume_epoch is None or not path.is_file():
            return []
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [r for r in rows if r.get("epoch") and float(r["epoch"]) <= self.resume_epoch]


class StopAtStep(Callback):
    """End training after ``max_steps`` optimiser steps (the epoch in progress ends there, with
    its epoch-end hooks: checkpoint, metrics line).

    Not Lightning's ``max_steps``: with it, Lightning 2.6 treats the run as iteration-based and
    a run resumed from an epoch-end checkpoint replays one batch as a one-step "epoch" and then
    stops an epoch early (measured: a 4,000-step run killed and resumed ended at 3,876 steps).
    The epoch count stays the stop rule Lightning resumes from; this callback only cuts the
    last epoch short. The cosine schedule spans ``max_steps`` (``LeafModule(total_steps=)``).
    """

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max_steps

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.max_steps:
            trainer.should_stop = True


class FlushLogs(Callback):
    """Write the loggers' buffered rows to disk when a training epoch starts: by then the
    previous epoch's rows (its epoch-level metrics are logged after its checkpoint) are all in,
    and a run killed later finds them on resume (:class:`ResumableCSVLogger`)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for logger in trainer.loggers:
            logger.save()


LOGGERS = ("csv", "tensorboard")
"""``--logger``: ``csv`` (``logs/metrics.csv``) or ``tensorboard`` (event files in
``logs/tensorboard/`` as well; the CSV stays, the run's own record). Not result-affecting."""


def tensorboard_missing() -> str | None:
    """Why ``--logger tensorboard`` cannot run here (one line), or None when it can."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return ("--logger tensorboard needs the tensorboard package "
                "(pip install tensorboard, or the test extra: pip install -e '.[test]')")  # fmt: skip
    return None


def make_loggers(out_dir: Path, resume_epoch: int | None = None, kind: str = "csv") -> list[Logger]:
    """Lightning's loggers of a run (:data:`LOGGERS`): the CSV logger always, TensorBoard's
    too for ``kind="tensorboard"``; both get the same metrics (per-epoch means, the step loss
    at logging steps). ``resume_epoch``: the epoch of the checkpoint this run resumes from."""
    if kind not in LOGGERS:
        raise ValueError(f"unknown logger {kind!r}; known: {', '.join(LOGGERS)}")
    loggers: list[Logger] = [ResumableCSVLogger(out_dir, resume_epoch=resume_epoch)]
    if kind == "tensorboard":
        problem = tensorboard_missing()
        if problem:
            raise ValueError(problem)
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out_dir, name="logs", version="tensorboard"))
    return loggers


def train_subsupernet(
    mask: Mask,
    datamodule: pl.LightningDataModule,
    out_dir: Path,
    settings: TrainSettings,
    hardware: TrainerSettings,
    *,
    callbacks: Sequence[Callback] = (),
    inherit_from: Path | None = None,
    logger: str = "csv",
    group: ArchGroup | None = None,
) -> tuple[LeafModule, pl.Trainer]:
    """Train a fresh supernet restricted to ``mask``, resuming from ``out_dir``'s last checkpoint.

    ``inherit_from``: a parent supernet's ``weights.pt``; a fresh (not resumed) run starts from
    its weights instead of a random initialisation (:mod:`fewshot.training.inherit`).
    ``group``: an arch group of ``mask`` (EFS-NAS's sub-supernets): only its archs are drawn.
    ``logger``: one of :data:`LOGGERS` (what gets written under ``logs/``; not the results).

    Only the ops of ``mask`` are instantiated. Returns the module (trained weights, on global
    rank 0) and the trainer. ``callbacks`` are added to the trainer's. Python, numpy and torch
    are seeded with ``settings.seed`` first (Lightning's ``seed_everything``, data-loader
    workers included), so the data order of a run is reproducible.
    """
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    supernet = space_of(mask).build_supernet(
        C=settings.C, N=settings.N, num_classes=settings.num_classes, candidates=mask
    )
    module = LeafModule(
        supernet,
        optimiser=settings,
        sampling=settings.sampling,
        seed=settings.seed,
        val_bn=settings.val_bn,  # type: ignore[arg-type]
        total_steps=settings.max_steps,
        group=group,
    )
    steps = _fuse(module, datamodule, settings, hardware)
    resume = resume_checkpoint(out_dir, hardware)
    compute = _check_compute(out_dir, hardware, resumed=resume is not None)
    trainer = _make_trainer(out_dir, settings, hardware, list(callbacks), checkpoint_epoch(resume),
                            logger, clip=steps == 1)  # fmt: skip
    if inherit_from is not None and resume is None:
        inherit_weights(supernet, load_parent_state(inherit_from))
    trainer.callbacks.append(
        SaveResults(
            out_dir,
            resumed_from=resume,
            inherited_from=inherit_from,
            compute=compute,
            steps_per_call=hardware.steps_per_call,
        )  # fmt: skip
    )
    data = (
        MixedValidation(datamodule, settings.seed, steps)
        if hasattr(datamodule, "val_dataset")
        else datamodule
    )
    with faults.defer_preemption():
        trainer.fit(prepare_model(module, hardware), datamodule=data, ckpt_path=resume)
    return module, trainer


def _fuse(
    module: LeafModule,
    datamodule: pl.LightningDataModule,
    settings: TrainSettings,
    hardware: TrainerSettings,
) -> int:
    """The optimiser steps one Lightning batch carries: up to ``hardware.steps_per_call``
    (:func:`~fewshot.training.trainer.fused_steps`) where the module fuses them
    (:meth:`LeafModule.fuse_steps`) and the data module makes chunks of batches (a
    :class:`~fewshot.data.base.FewshotDataModule`'s ``train_dataloader(steps_per_call=)``, on
    its tensor path; its loader path gives single batches, each then one fused call); else 1.
    A fusing module clips and stops at the step budget itself."""
    steps = fused_steps(hardware)
    if steps == 1 or not hasattr(datamodule, "val_dataset"):
        return 1
    loader = getattr(datamodule, "train_dataloader", None)
    if loader is None or "steps_per_call" not in inspect.signature(loader).parameters:
        return 1
    if not module.fuse_steps(steps):
        return 1
    module.step_budget = settings.max_steps
    return steps


def _check_compute(out_dir: Path, hardware: TrainerSettings, *, resumed: bool) -> dict[str, Any]:
    """Where this run computes (:func:`~fewshot.training.trainer.compute_record`): a resumed
    run must match the record of the run it continues (else one line, exit 2); a fresh run
    (not a fast dev run) writes its own record, ``compute.json``."""
    compute = compute_record(hardware)
    if resumed:
        refuse_other_compute(out_dir, compute)
    elif not hardware.fast_dev_run:
        atomic_write_json(out_dir / COMPUTE_RECORD, compute)
    return compute


def checkpoint_epoch(checkpoint: Path | None) -> int | None:
    """The (zero-based) epoch a Lightning checkpoint was saved in; ``None`` without one."""
    if checkpoint is None:
        return None
    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["epoch"])


def _make_trainer(
    out_dir: Path,
    settings: TrainSettings,
    hw: TrainerSettings,
    extra_callbacks: list[Callback],
    resume_epoch: int | None = None,
    logger: str = "csv",
    *,
    clip: bool = True,
) -> pl.Trainer:
    # fast_dev_run must leave no checkpoint a real run would resume from (Lightning 2.6 still
    # writes last.ckpt in on_train_end), nor epoch lines in metrics.jsonl.
    callbacks = (
        []
        if hw.fast_dev_run
        else [
            last_checkpoint_callback(out_dir),
            EpochMetricsWriter(out_dir / "metrics.jsonl"),
            FlushLogs(),
            CheckpointOnPreemption(out_dir),
        ]
    ) + ([] if settings.max_steps is None else [StopAtStep(settings.max_steps)])
    return make_trainer(
        hw,
        max_epochs=settings.epochs,
        out_dir=out_dir,
        callbacks=callbacks + extra_callbacks,
        logger=make_loggers(out_dir, resume_epoch, logger),
        gradient_clip_val=settings.grad_clip if clip else None,  # else the module clips
        log_every_n_steps=10,
    )


class SaveResults(Callback):
    """At the end of fit, on global rank 0 (inside the worker under ``ddp_spawn``), write
    ``weights.pt`` (the trained supernet) and ``done.json`` (epochs, steps, final metrics,
    its path-sampling rule, where it trained: ``compute``, the leaf's arch group when it has
    one, and the
    ``steps_per_call`` asked for, which changes the speed, not the results)."""

    def __init__(
        self,
        out_dir: Path,
        *,
        resumed_from: Path | None,
        inherited_from: Path | None = None,
        compute: dict[str, Any] | None = None,
        steps_per_call: int | None = None,
    ) -> None:
        self.out_dir, self.resumed_from = out_dir, resumed_from
        self.inherited_from, self.compute = inherited_from, compute
        self.steps_per_call = steps_per_call

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        save_weights(pl_module.supernet, self.out_dir / "weights.pt")
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if "train_loss_epoch" in metrics:  # the epoch mean's name when it was logged per step
            metrics.setdefault("train_loss", metrics["train_loss_epoch"])
        atomic_write_json(
            self.out_dir / "done.json",
            {
                "epochs": trainer.current_epoch,
                "global_step": trainer.global_step,
                "world_size": trainer.world_size,
                "fast_dev_run": bool(trainer.fast_dev_run),
                "resumed_from": str(self.resumed_from) if self.resumed_from else None,
                "protocol": "inherited" if self.inherited_from else "scratch",
                "mask": pl_module.mask.to_op_lists(),
                "sampling": pl_module.sampling.name,
                "compute": self.compute,
                "steps_per_call": self.steps_per_call,
                "metrics": metrics,
            }
            | _group_record(getattr(pl_module, "group", None)),
        )


def _group_record(group: ArchGroup | None) -> dict[str, Any]:
    """``{"group": ...}`` for a run of an arch group (what ``done.json`` adds), else nothing."""
    return {} if group is None else {"group": group.to_dict()}


def is_trained(out_dir: Path, epochs: int, steps: int | None = None) -> bool:
    """Whether :func:`train_subsupernet` finished a real run of ``epochs`` epochs (or, given
    ``steps``, of that many optimiser steps) in ``out_dir``: its weights, and a ``done.json``
    that is not a fast dev run's."""
    done = out_dir / "done.json"
    if not done.is_file() or not (out_dir / "weights.pt").is_file():
        return False
    try:
        record = json.loads(done.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        corrupt = done.with_name(done.name + ".corrupt")
        done.replace(corrupt)
        log.warning(
            "%s is unreadable (%s); set aside as %s, training again", done, exc, corrupt.name
        )
        return False
    if (
        not isinstance(record, dict)
        or record.get("fast_dev_run")
        or not _loads(out_dir / "weights.pt")
    ):
        return False
    if steps is not None:
        return int(record.get("global_step", -1)) >= steps
    return int(record.get("epochs", -1)) >= epochs


def _loads(path: Path) -> bool:
    """Whether the weights at ``path`` load; unreadable ones are set aside (``.corrupt``)."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or overwritten file: zip, pickle or EOF errors
        corrupt = path.with_name(path.name + ".corrupt")
        path.replace(corrupt)
        log.warning(
            "%s is unreadable (%s); set aside as %s", path, type(exc).__name__, corrupt.name
        )
        return False
    return True


def load_trained(out_dir: Path, settings: TrainSettings, mask: Mask) -> Supernet:
    """The trained supernet saved by :func:`train_subsupernet` in ``out_dir``."""
    path = out_dir / "weights.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained weights; train this leaf first")
    supernet = space_of(mask).build_supernet(
        C=settings.C, N=settings.N, num_classes=settings.num_classes, candidates=mask
    )
    supernet.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    supernet.mode = "single_path"
    return supernet


__all__ = [
    "EpochMetricsWriter",
    "FlushLogs",
    "LOGGERS",
    "MixedValidation",
    "ResumableCSVLogger",
    "SaveResults",
    "StopAtStep",
    "TrainSettings",
    "TrainerSettings",
    "checkpoint_epoch",
    "is_trained",
    "load_trained",
    "make_loggers",
    "parse_devices",
    "resolve_strategy",
    "tensorboard_missing",
    "train_subsupernet",
]
