"""The one Lightning ``Trainer`` factory, and what every training path shares with it.

Leaf training (:mod:`fewshot.training.runner`), standalone arch training
(:mod:`fewshot.training.standalone`) and refine's evaluation (:mod:`fewshot.refine.evaluation`)
build their trainers with :func:`make_trainer` from one hardware value, :class:`TrainerSettings`
(accelerator and devices from ``--device``, ``--threads``, precision, progress, channels-last,
``torch.compile``). Also here: :func:`fit_resumable` (checkpoint ``checkpoints/last.ckpt``
every epoch, resume from it only when it was saved with the same settings), the learning-rate
scaling rule for larger batches (:func:`scaled_lr`), the command-line fields of these options
(:func:`trainer_option`, one default and help for every command) and the one top-1 accuracy
(:func:`top1` per batch, :func:`accuracy` over batches).

May import torch, Lightning and :mod:`fewshot.io`, and :mod:`fewshot.config` inside
:func:`trainer_option` (the field declarations); nothing from data, search, refine, experiments or the commands.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import Logger
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch import Tensor, nn

from fewshot import faults
from fewshot.errors import UsageError
from fewshot.io import atomic_write

log = logging.getLogger("fewshot")

Batch = tuple[Tensor, Tensor]
LrScaling = Literal["none", "linear"]  # space-literal: not an op
NO_SCALING: LrScaling = "none"  # space-literal: not an op
"""The learning-rate rule that keeps ``lr`` at every batch size."""
LR_BASE_BATCH = 64
"""The batch size the spec's learning rate belongs to (SPEC section 5: lr 0.025 at batch 64)."""

CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
SETTINGS_KEY = "fewshot_settings"
COMPUTE_KEY = "fewshot_compute"
"""Where a checkpoint of :func:`fit_resumable` keeps :func:`compute_record`."""
_COMPUTE_HINT = (
    "the device and the CPU thread count change results; rerun with the recorded "
    "--threads/--device, or remove the folder to train it again"
)
_DDP_NEEDING_UNUSED = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")
_CHATTY_LOGGERS = (  # "GPU available", "TPU available", "LOCAL_RANK ... CUDA_VISIBLE_DEVICES", tips
    "pytorch_lightning.utilities.rank_zero",
    "pytorch_lightning.accelerators.cuda",
    "lightning.pytorch.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "lightning_fabric.utilities.rank_zero",
    "pytorch_lightning.trainer.connectors.checkpoint_connector",  # "`weights_only` was not set"
)


@dataclass(frozen=True)
class TrainerSettings:
    """How and where a ``Trainer`` runs: hardware, precision, debugging and output options.

    ``accelerator``/``devices`` are Lightning's (a command maps ``--device`` to them with
    :func:`fewshot.config.lightning_hardware`). ``threads``: torch CPU threads (and
    ``OMP_NUM_THREADS`` for the processes Lightning launches). ``precision``: Lightning's
    (None: its default, ``32-true``; ``bf16-mixed`` is bf16 autocast). ``channels_last``:
    the model's 4-D weights in channels-last memory format. ``compile``: ``torch.compile`` the
    module before fitting. ``progress_bar`` False also silences Lightning's info banners.
    ``steps_per_call``: training batches one Lightning batch carries where the trainer fuses
    optimiser steps (a leaf on the tensor path in one process, :func:`fused_steps`); not
    result-affecting (the weights are bitwise those of 1; a resume may change it).
    """

    accelerator: str = "auto"
    devices: str | int = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str | None = None
    fast_dev_run: bool = False
    limit_train_batches: float | int | None = None
    limit_val_batches: float | int | None = None
    progress_bar: bool = True
    threads: int | None = None
    channels_last: bool = False
    compile: bool = False
    steps_per_call: int = 16


STEPS_PER_CALL_HELP = (
    "training batches per Lightning batch (fused optimiser steps: Lightning's per-batch loop "
    "runs once per chunk; results are the same for every value; 1: Lightning's own loop)"
)


def fused_steps(hardware: TrainerSettings) -> int:
    """The steps one Lightning batch may carry under ``hardware``: its ``steps_per_call``, or 1
    where a Lightning batch must stay one training batch (``fast_dev_run`` and
    ``limit_train_batches`` count Lightning batches) and under several processes (DDP keeps
    Lightning's own loop: one forward per backward on every rank)."""
    if hardware.steps_per_call < 1:
        raise UsageError(f"steps_per_call must be a positive count, got {hardware.steps_per_call}")
    if hardware.fast_dev_run or hardware.limit_train_batches is not None:
        return 1
    return hardware.steps_per_call if single_process(hardware) else 1


def single_process(hardware: TrainerSettings) -> bool:
    """Whether ``hardware`` trains in one process: one node and one device (``auto`` devices
    count as one on the CPU only, where Lightning picks one)."""
    devices = parse_devices(hardware.devices)
    one = devices == 1 or (isinstance(devices, list) and len(devices) == 1)
    one = one or (devices == "auto" and hardware.accelerator == "cpu")
    return hardware.num_nodes == 1 and one


CPU = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False)
"""One CPU process, quiet: the default of library calls that are not given a device."""


def one_device(
    device: str,
    *,
    threads: int | None = None,
    progress: bool = True,
    precision: str | None = None,
    channels_last: bool = False,
    compile: bool = False,
) -> TrainerSettings:
    """A command's ``--device`` (and ``--threads``, progress, precision) as the settings of a
    ``Trainer`` on one device: ``cuda`` is one GPU (not DDP over all of them), ``cuda:N`` GPU
    N, ``auto`` Lightning's choice of one device (:func:`fewshot.config.lightning_hardware`)."""
    from fewshot.config import lightning_hardware

    accelerator, devices = lightning_hardware(device)
    return TrainerSettings(
        accelerator=accelerator, devices=1 if devices == "auto" else devices,
        precision=precision, progress_bar=progress, threads=threads,
        channels_last=channels_last, compile=compile,
    )  # fmt: skip


def resolve_strategy(strategy: str) -> str:
    """DDP strategies with ``find_unused_parameters`` on: a single path leaves ops unused."""
    return (
        f"{strategy}_find_unused_parameters_true" if strategy in _DDP_NEEDING_UNUSED else strategy
    )


def parse_devices(devices: str | int) -> str | int | list[int]:
    """``"auto"``, a count (``"2"``) or a list of ids (``"0,1"`` or ``"[1]"``), as the Trainer
    wants them."""
    if isinstance(devices, int):
        return devices
    text = str(devices).strip()
    if text.isdigit():
        return int(text)
    if "," in text or text.startswith("["):
        return [int(d) for d in text.strip("[]").split(",") if d.strip()]
    return text


def quiet_lightning(quiet: bool = True) -> None:
    """Silence (or restore) Lightning's info lines at their loggers: "GPU available ...",
    "TPU available ...", "LOCAL_RANK ...", the logging tips, "Loading `train_dataloader` to
    estimate ...", "`Trainer.fit` stopped ...". Warnings still show."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)


_UNACTIONABLE_WARNINGS = (
    # Lightning's own call of a torch API it deprecated; nothing a fewshot user can change
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    # fewshot logs per epoch (metrics.jsonl); Lightning's step logging interval is not a flag
    r"The number of training batches \(\d+\) is smaller than the logging interval",
    # a resumed run reuses its folders on purpose; fewshot keeps the finished epochs' log rows
    # (runner.ResumableCSVLogger) and resumes only checkpoints of the same settings
    r"Experiment logs directory .* exists and is not empty",
    r"Checkpoint directory .* exists and is not empty",
    # a preempted training's mid-epoch checkpoint: fewshot's data modules do resume mid-epoch
    # (FewshotDataModule.state_dict saves the batches done), which Lightning cannot see
    r"You're resuming from a checkpoint that ended before the epoch ended",
)
_banners_shown = False  # Lightning's banners went out once in this process


def silence_unactionable_warnings() -> None:
    """Ignore the warnings Lightning gives that a fewshot user cannot act on (by message,
    so every other warning still shows)."""
    for message in _UNACTIONABLE_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def announce_once(progress: bool) -> None:
    """Lightning's banners (hardware, tips, summaries) at most once per process: shown by the
    first trainer with ``progress`` on, then silenced; never shown with ``progress`` off
    (``--no-progress``)."""
    global _banners_shown
    quiet_lightning(not progress or _banners_shown)
    _banners_shown = _banners_shown or progress


def apply_threads(threads: int | None) -> None:
    """torch CPU threads here, and ``OMP_NUM_THREADS`` for processes Lightning launches."""
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def make_trainer(
    hardware: TrainerSettings,
    *,
    max_epochs: int,
    out_dir: Path,
    callbacks: Sequence[Callback] = (),
    logger: Logger | Sequence[Logger] | bool = False,
    **options: Any,
) -> pl.Trainer:
    """A ``Trainer`` for ``hardware`` writing under ``out_dir``; ``options`` are further
    ``Trainer`` arguments of the caller's (gradient clipping, validation batches, ...).

    No model summary, no sanity validation; Lightning's banners at most once per process
    (:func:`announce_once`), none with ``progress_bar`` off, and no warnings a user cannot act
    on (:func:`silence_unactionable_warnings`). ``limit_*_batches`` of ``hardware`` apply unless ``options`` set them.
    """
    apply_threads(hardware.threads)
    announce_once(hardware.progress_bar)
    silence_unactionable_warnings()
    kwargs: dict[str, Any] = {
        "default_root_dir": out_dir,
        "max_epochs": max_epochs,
        "accelerator": hardware.accelerator,
        "devices": parse_devices(hardware.devices),
        "strategy": resolve_strategy(hardware.strategy),
        "num_nodes": hardware.num_nodes,
        "fast_dev_run": hardware.fast_dev_run,
        "logger": logger if isinstance(logger, bool | Logger) else list(logger),
        "callbacks": list(callbacks),
        "enable_checkpointing": any(isinstance(c, ModelCheckpoint) for c in callbacks),
        "enable_progress_bar": hardware.progress_bar,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "plugins": [AtomicCheckpointIO()],
    }
    for key in ("precision", "limit_train_batches", "limit_val_batches"):
        if getattr(hardware, key) is not None:
            kwargs[key] = getattr(hardware, key)
    return pl.Trainer(**(kwargs | options))


def prepare_model(module: pl.LightningModule, hardware: TrainerSettings) -> pl.LightningModule:
    """``module`` in channels-last memory format and/or compiled, as ``hardware`` asks.

    Fit the returned module; ``module`` itself holds the trained weights afterwards (a
    compiled module shares them, and Lightning saves the original's state in checkpoints).
    """
    if hardware.channels_last:
        module = module.to(memory_format=torch.channels_last)
    if hardware.compile:
        return torch.compile(module)  # type: ignore[return-value]
    return module


def scaled_lr(lr: float, batch_size: int, rule: LrScaling = NO_SCALING) -> float:
    """The learning rate for ``batch_size``: ``lr`` itself (``"none"``), or linear scaling
    (``"linear"``: ``lr * batch_size / 64``, Goyal et al.; ``lr`` is the rate of batch 64,
    :data:`LR_BASE_BATCH`, so batch 64 keeps ``lr`` exactly)."""
    if rule == NO_SCALING:
        return lr
    if rule == "linear":
        return lr * batch_size / LR_BASE_BATCH
    raise ValueError(f"unknown learning-rate scaling rule {rule!r}; known: none, linear")


_OPTION_HELP = {
    "precision": "Lightning precision: 32-true (default), bf16-mixed (bf16 autocast), 16-mixed",
    "channels_last": "channels-last memory format",
    "compile": "torch.compile the network before training",
    "lr_scaling": "learning rate for --batch-size: none (the rate as given) or linear (times "
    "batch_size / 64, the batch of the spec's rate)",
}


def trainer_option(name: str, *, group: str) -> Any:
    """The command-line field of a training option (``precision``, ``channels_last``,
    ``compile``, ``lr_scaling``): one default (:class:`TrainerSettings`'s, or ``"none"``) and
    one help text for every command that trains."""
    from fewshot.config import option  # the command edge declares fields; imported on use

    fields = TrainerSettings.__dataclass_fields__
    default = fields[name].default if name in fields else NO_SCALING
    return option(default, help=_OPTION_HELP[name], group=group)


# -- checkpoints and resuming --------------------------------------------------------------------


def last_checkpoint_callback(out_dir: Path) -> ModelCheckpoint:
    """Save ``out_dir/checkpoints/last.ckpt`` and the latest ``epochNNN.ckpt`` at every epoch
    end (Lightning writes ``last.ckpt`` only beside a saved top-k checkpoint)."""
    return ModelCheckpoint(
        dirpath=Path(out_dir) / CHECKPOINTS,
        filename="epoch{epoch:03d}",
        auto_insert_metric_name=False,
        save_last=True,
        save_top_k=1,
    )


class RecordSettings(Callback):
    """Store ``settings`` (a JSON-like mapping) and, when given, ``compute``
    (:func:`compute_record`) in every checkpoint, for :func:`resume_checkpoint` to compare with
    the run that resumes."""

    def __init__(
        self, settings: Mapping[str, Any], compute: Mapping[str, Any] | None = None
    ) -> None:
        self.settings = dict(settings)
        self.compute = None if compute is None else dict(compute)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[SETTINGS_KEY] = self.settings
        if self.compute is not None:
            checkpoint[COMPUTE_KEY] = self.compute


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, atomic: each checkpoint goes to a temporary file in its
    folder, is synced and renamed over the old one (:func:`fewshot.io.atomic_write`), so a
    kill or a full disk never leaves a truncated checkpoint, and the previous one stays."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        atomic_write(path, lambda f: torch.save(checkpoint, f))


CHECKPOINT_KEYS = ("state_dict", "epoch", "global_step", "loops")
"""What a Lightning checkpoint holds that resuming needs (a file without them is corrupt)."""


def load_checkpoint(path: Path, required: Sequence[str] = CHECKPOINT_KEYS) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None (with one warning line) when it cannot be loaded or
    lacks what resuming needs (``required``: a Lightning checkpoint's keys by default): it is
    then set aside as ``<name>.corrupt``, so a later run does not try it again and its bytes
    stay for a post-mortem."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        missing = [k for k in required if k not in checkpoint]
        problem = f"it lacks {', '.join(missing)}" if missing else ""
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        first = (str(exc).splitlines() or [""])[0].split(". ")[0][:160]
        checkpoint, problem = None, f"{type(exc).__name__}: {first}"
    if not problem:
        return checkpoint
    corrupt = path.with_name(path.name + ".corrupt")
    path.replace(corrupt)
    log.warning("%s cannot be resumed from (%s); set aside as %s", path, problem, corrupt.name)
    return None


def resume_checkpoint(
    out_dir: Path,
    hardware: TrainerSettings,
    settings: Mapping[str, Any] | None = None,
    compute: Mapping[str, Any] | None = None,
) -> Path | None:
    """The checkpoint a run in ``out_dir`` should resume from: ``checkpoints/last.ckpt``, or,
    when that one is missing or corrupt (set aside by :func:`load_checkpoint`), the newest
    ``epochNNN.ckpt`` that loads; None for a fast dev run, or when there is none (the run
    starts over). Temporary files of a save cut short are removed (the command holds the
    folder's lock, so no other process is writing them). When ``settings`` are given, a checkpoint saved with other settings
    (:class:`RecordSettings`) is named and not resumed. When ``compute`` is given, a checkpoint
    saved under another device or CPU thread count is refused (:class:`UsageError`, one line):
    those change results, and restarting silently would hide it."""
    folder = Path(out_dir) / CHECKPOINTS
    if hardware.fast_dev_run or not folder.is_dir():
        return None
    for partial in folder.glob(".*.ckpt.*.tmp"):  # a save cut short by a kill (never renamed)
        partial.unlink(missing_ok=True)
    candidates = [folder / LAST_CHECKPOINT, *sorted(folder.glob("epoch*.ckpt"), reverse=True)]
    for path in candidates:
        if not path.is_file():
            continue
        checkpoint = load_checkpoint(path)
        if checkpoint is None:
            continue
        saved_compute = checkpoint.get(COMPUTE_KEY)
        if compute is not None and saved_compute and compute_difference(saved_compute, compute):
            diff = "; ".join(compute_difference(saved_compute, compute))
            raise UsageError(f"cannot resume {out_dir} under other compute settings ({diff}): "
                             f"{_COMPUTE_HINT}")  # fmt: skip
        if settings is not None and checkpoint.get(SETTINGS_KEY) != dict(settings):
            log.warning("%s was saved with other settings: training from scratch", path)
            return None
        if path.name != LAST_CHECKPOINT:
            log.warning("resuming from %s, the newest checkpoint that loads", path)
        return path
    return None


def resumes_mid_epoch(trainer: pl.Trainer) -> bool:
    """Whether a checkpoint saved now resumes bitwise: one process, and a data module that
    continues an epoch's batches (``mid_epoch_resume``; a wrapper's ``inner`` one counts)."""
    data = getattr(trainer, "datamodule", None)
    data = getattr(data, "inner", data)
    return trainer.world_size == 1 and bool(getattr(data, "mid_epoch_resume", False))


class CheckpointOnPreemption(Callback):
    """SIGTERM or SIGINT during training (:func:`fewshot.faults.defer_preemption`): save
    ``checkpoints/last.ckpt`` at the next step boundary and stop with
    :class:`fewshot.faults.Preempted`; re-running the command resumes from that step.

    Mid-epoch checkpoints resume bitwise: the optimiser, schedule and loop counters are in the
    checkpoint, path draws are functions of (seed, global step), and the data module skips the
    batches of the epoch already trained (:meth:`fewshot.data.base.FewshotDataModule.state_dict`).
    A signal in an epoch's last batch, under DDP (several processes), or with a data module
    that cannot continue an epoch (no ``mid_epoch_resume``), waits for the epoch-end checkpoint
    and stops before the next epoch's first step. With fused steps (one Lightning batch carries
    several optimiser steps, :meth:`fewshot.training.module.LeafModule.fuse_steps`) the chunk
    ends at the first step boundary after the signal, and Lightning's batch counters count
    training batches, so this callback saves at that step.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / CHECKPOINTS / LAST_CHECKPOINT

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        signum = faults.preemption_signal()
        if signum is not None:
            raise faults.Preempted(signum, str(self.path) if self.path.is_file() else "")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        signum = faults.preemption_signal()
        loop = trainer.fit_loop.epoch_loop
        last = loop.batch_progress.current.processed >= trainer.num_training_batches
        if signum is None or last or loop.done or not resumes_mid_epoch(trainer):
            return
        trainer.save_checkpoint(self.path)
        raise faults.Preempted(signum, f"{self.path} (step {trainer.global_step})")


def save_weights(model: nn.Module, path: Path) -> None:
    """Write ``model``'s ``state_dict`` to ``path`` atomically (a temporary file, then a rename)."""
    state = model.state_dict()
    atomic_write(path, lambda f: torch.save(state, f))


def fit_resumable(
    module: pl.LightningModule,
    hardware: TrainerSettings,
    *,
    max_epochs: int,
    out_dir: Path | None,
    settings: Mapping[str, Any],
    data: Mapping[str, Any],
    callbacks: Sequence[Callback] = (),
    **options: Any,
) -> pl.Trainer:
    """Fit ``module`` (``data``: ``trainer.fit``'s data arguments) with :func:`make_trainer`.

    With ``out_dir``: checkpoint ``out_dir/checkpoints/last.ckpt`` at every epoch end, and
    first resume from it when it was saved with the same ``settings`` (and the same
    :func:`result_settings` of ``hardware``), so a killed run continues where it stopped; a
    checkpoint saved under another device or CPU thread count (:func:`compute_record`) is
    refused with one line.
    """
    record = {**settings, **result_settings(hardware)}
    compute = compute_record(hardware)
    own = (
        []
        if out_dir is None
        else [
            last_checkpoint_callback(out_dir),
            RecordSettings(record, compute),
            CheckpointOnPreemption(out_dir),
        ]
    )
    trainer = make_trainer(
        hardware,
        max_epochs=max_epochs,
        out_dir=out_dir if out_dir is not None else Path.cwd(),
        callbacks=[*own, *callbacks],
        **options,
    )
    resume = None if out_dir is None else resume_checkpoint(out_dir, hardware, record, compute)
    with faults.defer_preemption():
        trainer.fit(prepare_model(module, hardware), ckpt_path=resume, **data)
    return trainer


# -- accuracy -------------------------------------------------------------------------------------


def top1(logits: Tensor, labels: Tensor) -> Tensor:
    """The fraction of ``labels`` that are the top-scoring class of ``logits`` (a 0-d tensor)."""
    return (logits.argmax(1) == labels).float().mean()


@torch.no_grad()
def accuracy(model: nn.Module, batches: Iterable[Batch], *, arch: Any = None) -> float:
    """Top-1 accuracy (percent) of ``model`` over ``batches``, in eval mode (running BatchNorm
    statistics), without gradients; batches are moved to the device of the model's weights.

    ``arch``: passed as ``model(x, arch)`` (a supernet's path); None calls ``model(x)``.
    """
    model.eval()
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    correct = total = 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        logits = model(x) if arch is None else model(x, arch)
        correct += int((logits.argmax(1) == y).sum())
        total += int(y.numel())
    if total == 0:
        raise ValueError("no batches to measure accuracy on")
    return 100.0 * correct / total


def result_settings(hardware: TrainerSettings) -> dict[str, Any]:
    """The options of ``hardware`` that change what training computes (for
    :class:`RecordSettings`): precision, memory format, compilation."""
    return {
        "precision": hardware.precision,
        "channels_last": hardware.channels_last,
        "compile": hardware.compile,
    }


COMPUTE_RECORD = "compute.json"
"""The file in a training folder that records where it was trained (:func:`compute_record`)."""


def compute_record(hardware: TrainerSettings) -> dict[str, Any]:
    """Where a run computes, as results depend on it: the device type (``cpu``, ``cuda``,
    ``mps``) and torch's CPU threads (after :func:`apply_threads`; the default is one per
    core). The thread count changes the order of float sums, so the same seed gives other
    weights under another count (measured: a supernet's Kendall tau 0.390 with one thread,
    0.210 with two); it is compared on the CPU only, where it decides the arithmetic."""
    apply_threads(hardware.threads)
    return {
        "device": eval_device(hardware).type,
        "threads": torch.get_num_threads(),
        **cpu_arithmetic(),
    }


def cpu_arithmetic() -> dict[str, str]:
    """What else decides a CPU's float results, recorded (not compared: a resume on another
    machine is allowed): the instruction set torch dispatches to (``AVX512``, ``AVX2``, ...)
    and the oneDNN version that runs the convolutions. The ranking study's seed 0 gives tau
    0.390 on the machine it was published from and 0.102 on an AVX-512 machine with the same
    torch and numpy (docs/training/ranking_study.md, section 1b)."""
    config = torch.__config__.show()
    onednn = next((line.split(" v", 1)[1].split()[0] for line in config.splitlines()
                   if "MKL-DNN v" in line or "oneDNN v" in line), "unknown")  # fmt: skip
    return {"cpu_capability": str(torch.backends.cpu.get_cpu_capability()), "onednn": onednn}


def compute_difference(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: saved -> current`` for the parts of two :func:`compute_record` values that change
    results (the thread count only when both ran on the CPU)."""
    keys = ["device"] + (["threads"] if current.get("device") == "cpu" else [])
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys
            if k in saved and saved.get(k) != current.get(k)]  # fmt: skip


def refuse_other_compute(out_dir: Path, current: Mapping[str, Any]) -> None:
    """Raise :class:`~fewshot.errors.UsageError` (one line) when ``out_dir`` was partly trained
    with another device or thread count (:data:`COMPUTE_RECORD`); a folder without a record
    (trained before it existed) is resumed."""
    path = Path(out_dir) / COMPUTE_RECORD
    if not path.is_file():
        return
    diff = compute_difference(json.loads(path.read_text(encoding="utf-8")), current)
    if diff:
        raise UsageError(
            f"cannot resume {out_dir} under other compute settings ({'; '.join(diff)}): "
            f"{_COMPUTE_HINT}"
        )


def eval_device(hardware: TrainerSettings) -> torch.device:
    """The torch device of ``hardware``'s first training device (where to measure accuracy
    after fitting: Lightning moves the module back to the CPU at the end of ``fit``)."""
    accelerator = hardware.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator in ("gpu", "cuda"):
        devices = parse_devices(hardware.devices)
        index = devices[0] if isinstance(devices, list) and devices else 0
        return torch.device("cuda", index)
    return torch.device("mps" if accelerator == "mps" else "cpu")


__all__ = [
    "CHECKPOINT_KEYS",
    "COMPUTE_RECORD",
    "CPU",
    "AtomicCheckpointIO",
    "CheckpointOnPreemption",
    "LR_BASE_BATCH",
    "RecordSettings",
    "TrainerSettings",
    "accuracy",
    "announce_once",
    "apply_threads",
    "compute_difference",
    "compute_record",
    "eval_device",
    "fit_resumable",
    "fused_steps",
    "last_checkpoint_callback",
    "load_checkpoint",
    "make_trainer",
    "one_device",
    "parse_devices",
    "prepare_model",
    "quiet_lightning",
    "resolve_strategy",
    "refuse_other_compute",
    "result_settings",
    "resumes_mid_epoch",
    "resume_checkpoint",
    "save_weights",
    "scaled_lr",
    "silence_unactionable_warnings",
    "single_process",
    "top1",
    "trainer_option",
]
