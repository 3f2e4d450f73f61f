"""The Lightning system that trains one sub-supernet (a leaf of a split tree).

:class:`LeafModule` wraps a plain :class:`~fewshot.models.Supernet` built by the caller (the
module never builds models from configuration) and a leaf's :class:`~fewshot.spaces.Mask`:

- the supernet is re-initialised (every leaf is trained from scratch: no co-adaptation is
  inherited from the parent, spec section 5);
- each training step trains the archs of its path-sampling rule (:mod:`fewshot.training.sampling`,
  ``sampling``): by default one single path drawn uniformly inside the mask (RSPS / SPOS), or
  inside the leaf's arch group when it has one (``group``: EFS-NAS's sub-supernets, the archs of
  the mask with a given nonlinear count); a rule of several archs per step sums their losses
  (one backward, one update). The draws come from a generator seeded by ``(seed,
  global_step)``, so every DDP rank trains the same paths in a step (the parameters off the
  paths are unused on all ranks and stay untouched) and a resumed run draws the same paths as
  an uninterrupted one;
- the one optimiser (:class:`fewshot.optimiser.SGDSettings`, ``optimiser``): SGD with Nesterov
  momentum, cosine learning rate from ``lr`` to ``lr_min`` over the run (stepped per batch),
  weight decay; gradient clipping is the Trainer's ``gradient_clip_val`` (``grad_clip``);
- fused steps (:meth:`LeafModule.fuse_steps`, ``--steps-per-call``): one Lightning batch
  carries several training batches and the module makes one optimiser step per batch itself
  (manual optimisation, clipping at ``grad_clip`` where Lightning clips), so Lightning's
  per-batch loop runs once per chunk; every step is the unfused step, bit for bit.

:class:`SGDModule` is the family's base (the optimiser and its schedule); refine's AnyNet
evaluation trains its classifiers with a subclass of it
(:class:`fewshot.refine.evaluation.ClassifierModule`).

Validation reports the accuracy of a uniformly drawn path per batch (a fixed sequence of draws
per epoch, so epochs are comparable). BatchNorm running statistics are shared by every path of
the leaf and fit none of them, so by default validation normalises with each batch's own
statistics (``val_bn="batch"``; the running statistics are not touched). The search
(:mod:`fewshot.training.search`) recalibrates them per arch instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.nn.functional import cross_entropy
from torch.nn.modules.batchnorm import _BatchNorm

from fewshot import faults
from fewshot.data.tensor import chunk_batches
from fewshot.models.supernet import Supernet
from fewshot.optimiser import SPEC_SGD, SGDSettings
from fewshot.spaces import Arch, ArchGroup, Mask
from fewshot.training.sampling import DEFAULT_SAMPLING, Within, get_sampling_rule, uniform_arch
from fewshot.training.trainer import resumes_mid_epoch, top1

ValBN = Literal["batch", "running"]
_VAL_SEED_OFFSET = 1_000_003
_SUMS_KEY = "fewshot_epoch_sums"


def reinitialise(model: nn.Module, seed: int) -> None:
    """Reset every layer that has ``reset_parameters`` (PyTorch's default init), seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in model.modules():
            if module is not model and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()


def path_generator(
    seed: int, step: int, generator: torch.Generator | None = None
) -> torch.Generator:
    """A CPU generator whose state depends only on ``(seed, step)``: ``generator`` re-seeded
    (a training loop reuses one instead of creating one per step; ``manual_seed`` resets the
    whole state, so the draws are those of a fresh generator), else a new one."""
    generator = torch.Generator() if generator is None else generator
    return generator.manual_seed(seed * 1_000_000_007 + step)


@contextlib.contextmanager
def batch_statistics_bn(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers normalise with batch statistics and leave running stats untouched."""
    saved = [
        (m, m.training, m.track_running_stats) for m in model.modules() if isinstance(m, _BatchNorm)
    ]
    try:
        for m, _, _ in saved:
            m.train()
            m.track_running_stats = False
        yield
    finally:
        for m, training, track in saved:
            m.train(training)
            m.track_running_stats = track


class EpochSums:
    """The training epoch's running sums of loss and top-1 accuracy, kept on the device.

    The same arithmetic as Lightning's mean reduction of a value logged every step (``value *
    batch_size`` summed in float32, batch sizes summed in int64, divided at the end), so the
    epoch means are bitwise those that ``self.log(..., on_epoch=True)`` per step gave, without
    its per-call bookkeeping."""

    def __init__(self) -> None:
        self.loss: Tensor = torch.tensor(0.0, dtype=torch.get_default_dtype())
        self.acc: Tensor = torch.tensor(0.0, dtype=torch.get_default_dtype())
        self.count: Tensor = torch.tensor(0)

    def add(self, loss: Tensor, acc: Tensor, batch_size: int) -> None:
        if self.loss.device != loss.device:
            self.loss, self.acc = self.loss.to(loss.device), self.acc.to(loss.device)
            self.count = self.count.to(loss.device)
        self.loss = self.loss + loss.float() * batch_size
        self.acc = self.acc + acc.float() * batch_size
        self.count = self.count + batch_size

    def means(self) -> tuple[Tensor, Tensor]:
        return self.loss / self.count, self.acc / self.count

    def state(self) -> dict[str, Tensor]:
        return {"loss": self.loss.cpu(), "acc": self.acc.cpu(), "count": self.count.cpu()}

    @classmethod
    def from_state(cls, state: dict[str, Tensor] | None) -> EpochSums:
        """Sums from :meth:`state` (``None``, a checkpoint without them: zeros)."""
        sums = cls()
        if state is not None:
            sums.loss, sums.acc, sums.count = state["loss"], state["acc"], state["count"]
        return sums


_AUTOMATIC_STEPS = "epoch_loop.automatic_optimization.optim_progress"
_MANUAL_STEPS = "epoch_loop.manual_optimization.optim_step_progress"


def carry_step_count(checkpoint: dict[str, Any], *, manual: bool) -> None:
    """Make the optimiser step counter this run reads (``global_step``: Lightning counts
    automatic and manual optimisation steps apart) the checkpoint's larger one, so a run
    resumed with fused steps from a checkpoint of unfused ones (or back) continues at its
    step (path draws, the schedule, step budgets). Counters only grow, so the larger one is
    the last run's."""
    loops = checkpoint.get("loops", {}).get("fit_loop", {})
    if _AUTOMATIC_STEPS not in loops or _MANUAL_STEPS not in loops:
        return
    automatic = loops[_AUTOMATIC_STEPS]["optimizer"]["step"]
    steps = loops[_MANUAL_STEPS]
    source, target = (automatic, steps) if manual else (steps, automatic)
    if source["total"]["completed"] > target["total"]["completed"]:
        for part in ("total", "current"):
            target[part] = {key: source[part][key] for key in ("ready", "completed")}


class SGDModule(pl.LightningModule):
    """The base of fewshot's Lightning systems: the one optimiser and its schedule.

    ``optimiser``: :class:`~fewshot.optimiser.SGDSettings` (gradient clipping is the Trainer's
    ``gradient_clip_val``). ``total_steps``: the optimiser steps a cosine schedule spans;
    ``None``: every step of the trainer's epochs (``estimated_stepping_batches``).
    """

    def __init__(self, optimiser: SGDSettings, total_steps: int | None = None) -> None:
        super().__init__()
        optimiser.check()
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"total_steps must be a positive step count, got {total_steps}")
        self.optimiser = optimiser.sgd()
        self.total_steps = total_steps

    def configure_optimizers(self) -> Any:
        optimizer = self.optimiser.optimizer(self.parameters())
        # Closed-form cosine over the current run's total steps, read at every step: resuming
        # with more epochs stretches the schedule instead of restarting a periodic cosine.
        total = self.total_steps
        if self.optimiser.schedule == "cosine" and total is None:
            total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = self.optimiser.scheduler(optimizer, total or 1)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


class LeafModule(SGDModule):
    """Train ``supernet`` restricted to ``mask`` with a path-sampling rule (default: uniform
    single path).

    Args:
        supernet: a plain supernet whose ``candidates`` include ``mask``.
        mask: the leaf's search space (default: the supernet's current mask).
        optimiser: the optimiser (default: the spec's, cosine from 0.025 to 0.001, SGD with
            Nesterov momentum 0.9, weight decay 5e-4).
        sampling: the path-sampling rule's name (:data:`fewshot.training.sampling.SAMPLING_RULES`).
        seed: seeds the re-initialisation and the sequence of sampled paths.
        reinit: re-initialise the weights (leaves are trained from scratch).
        val_bn: ``"batch"`` (batch statistics) or ``"running"`` (running statistics).
        total_steps: the optimiser steps the cosine schedule spans (a run stopped at a step
            budget, :class:`fewshot.training.runner.StopAtStep`); ``None``: every step of
            the trainer's epochs (``estimated_stepping_batches``).
        group: train only the archs of this group of the mask (training and validation
            draws stay inside it); ``None``: every arch of the mask.
    """

    def __init__(
        self,
        supernet: Supernet,
        mask: Mask | None = None,
        *,
        optimiser: SGDSettings = SPEC_SGD,
        sampling: str = DEFAULT_SAMPLING,
        seed: int = 0,
        reinit: bool = True,
        val_bn: ValBN = "batch",
        total_steps: int | None = None,
        group: ArchGroup | None = None,
    ) -> None:
        super().__init__(optimiser, total_steps)
        if val_bn not in ("batch", "running"):
            raise ValueError(f"val_bn must be 'batch' or 'running', got {val_bn!r}")
        self.supernet = supernet
        self.sampling = get_sampling_rule(sampling, supernet.space)
        if group is not None and not self.sampling.keeps_to_groups:
            raise ValueError(f"sampling rule {sampling!r} cannot keep to an arch group "
                             f"({group.label}); use uniform or balanced")  # fmt: skip
        self.group = group
        # Made on first use: a module pickled to spawned DDP processes carries no tensors of its own.
        self._path_generator: torch.Generator | None = None
        self._sums: EpochSums | None = None
        self._last_loss: Tensor | None = None
        self._fused = False
        self.step_budget: int | None = None
        """Optimiser steps after which fused steps stop within a chunk (the run's budget,
        :class:`fewshot.training.runner.StopAtStep`); None: none."""
        if mask is not None:
            supernet.set_mask(mask)
        if group is not None and group.mask != supernet.search_mask:
            raise ValueError(f"arch group {group} is not of the leaf's mask {supernet.search_mask}")
        supernet.mode = "single_path"
        if reinit:
            reinitialise(supernet, seed)
        o = self.optimiser
        self.save_hyperparameters(
            {
                "mask": supernet.search_mask.to_op_lists(),
                "lr": o.lr,
                "lr_min": o.lr_min,
                "momentum": o.momentum,
                "weight_decay": o.weight_decay,
                "nesterov": o.nesterov,
                "sampling": sampling,
                "seed": seed,
                "val_bn": val_bn,
                "C": supernet.C,
                "N": supernet.N,
                "num_classes": supernet.num_classes,
            }
            | ({} if group is None else {"group": group.to_dict()})
        )

    @property
    def mask(self) -> Mask:
        return self.supernet.search_mask

    @property
    def within(self) -> Within:
        """Where the paths are drawn: the leaf's arch group, else its mask."""
        return self.mask if self.group is None else self.group

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        return self.supernet(x, arch)

    # -- steps --------------------------------------------------------------------------
    def fuse_steps(self, steps: int) -> bool:
        """Let one Lightning batch carry up to ``steps`` training batches, each trained as its
        own optimiser step (:meth:`training_step`, manual optimisation), so Lightning's
        per-batch loop (hooks over every callback, the optimisation closure, the logger
        connector, the fetcher) runs once per chunk: issue 30's lean step. Every step is the
        step of ``steps=1`` (same batch, path draw, loss, clipping, SGD and schedule step), so
        the weights are bitwise equal. ``steps=1``, or a subclass with a ``training_step`` of
        its own, keeps Lightning's automatic optimisation (the caller then passes the Trainer
        its ``gradient_clip_val``). Returns whether the steps are fused; the caller gives the
        Trainer no ``gradient_clip_val`` then (this module clips, once)."""
        own_step = type(self).training_step is LeafModule.training_step
        self._fused = steps > 1 and own_step
        return self._fused

    @property
    def automatic_optimization(self) -> bool:  # type: ignore[override]
        return not getattr(self, "_fused", False)

    @automatic_optimization.setter
    def automatic_optimization(self, value: bool) -> None:
        self._fused = not value

    def training_step(self, batch: Any, batch_idx: int) -> Tensor | None:
        """One optimiser step's loss (Lightning's automatic optimisation), or, with fused steps
        (:meth:`fuse_steps`), every step of a chunk (:func:`fewshot.data.tensor.chunk_batches`)
        or of a plain batch, optimised here."""
        if self.automatic_optimization:
            return self.step_loss(batch)
        self._fused_steps(chunk_batches(batch))
        return None

    def step_loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """The loss of the optimiser step at ``global_step`` on ``batch``: the archs of the
        sampling rule drawn from ``path_generator(seed, global_step)``; its loss and top-1 are
        added to the epoch's sums."""
        x, y = batch
        if self._path_generator is None:
            self._path_generator = torch.Generator()
        generator = path_generator(self.hparams.seed, self.global_step, self._path_generator)
        archs = self.sampling.step_archs(self.within, generator)
        if len(archs) == 1:  # the single path: the step as it was before sampling rules
            logits = self.supernet(x, archs[0])
            loss = cross_entropy(logits, y)
            step_loss, acc = loss.detach(), top1(logits, y)
        else:
            loss, step_loss, acc = self._several(x, y, archs)
        self._sums = self._sums or EpochSums()
        self._sums.add(step_loss, acc, len(y))
        self._last_loss = step_loss
        return loss

    def _fused_steps(self, batches: list[tuple[Tensor, Tensor]]) -> None:
        """Train ``batches`` one optimiser step each, as Lightning's automatic loop would: zero
        the gradients, backward, clip (:meth:`on_before_optimizer_step`), SGD step through the
        ``LightningOptimizer`` (which counts ``global_step``), step-interval schedule step.
        Between two steps of a chunk, Lightning's per-batch bookkeeping that shows in results
        or logs is done here (the step loss at logging steps, the step counter of the logs);
        at the end its batch counters are advanced by the extra batches, so they count
        training batches, not chunks (epoch ends, mid-epoch checkpoints and resumes see
        batches). Stops early, leaving the rest of the chunk, at a step budget
        (:attr:`step_budget`) and at a preemption that checkpoints mid-epoch."""
        trainer, loop = self.trainer, self.trainer.fit_loop.epoch_loop
        optimizer = self.optimizers()
        assert not isinstance(optimizer, list), "LeafModule has one optimiser"
        done = 0
        for batch in batches:
            if done:  # the previous step was not the chunk's last one
                self._between_steps(trainer)
            loss = self.step_loss(batch)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()
            done += 1
            self._schedule_step("step", loop.batch_progress.current.ready - 1 + done)
            if self._stops_within_chunk(trainer):
                break
        progress = loop.batch_progress
        if done > 1:
            progress.increment_by(done - 1, is_last_batch=progress.is_last_batch)
        epoch_done = progress.current.ready >= trainer.num_training_batches or (
            progress.is_last_batch and done == len(batches)
        )
        if epoch_done:
            self._schedule_step("epoch", trainer.current_epoch + 1)

    def _between_steps(self, trainer: pl.Trainer) -> None:
        """Lightning's bookkeeping after a batch that shows in a run's output: the step loss
        written at logging steps (``log_every_n_steps``, as :meth:`on_train_batch_end` logs
        it), and the log step counter advanced."""
        loop = trainer.fit_loop.epoch_loop
        every = trainer.log_every_n_steps
        if every and (loop._batches_that_stepped + 1) % every == 0 and self._last_loss is not None:
            trainer._logger_connector.log_metrics({"train_loss_step": self._last_loss})
        loop._batches_that_stepped += 1

    def _schedule_step(self, interval: str, index: int) -> None:
        """Step the schedules of ``interval`` whose frequency divides ``index`` (1-based: the
        batch of the epoch for ``"step"``, the epoch for ``"epoch"``), as Lightning's
        automatic loop does after each batch and at each epoch end."""
        for config in self.trainer.lr_scheduler_configs:
            if config.reduce_on_plateau:
                raise ValueError("fused steps do not support ReduceLROnPlateau schedules")
            if config.interval == interval and index % config.frequency == 0:
                config.scheduler.step()  # type: ignore[call-arg]

    def _stops_within_chunk(self, trainer: pl.Trainer) -> bool:
        """Whether the chunk ends after this step: the step budget is reached, or a preemption
        signal arrived and the checkpoint will be saved mid-epoch (it is saved at the chunk's
        end, :class:`fewshot.training.trainer.CheckpointOnPreemption`, so no batch is lost)."""
        budget = self.step_budget
        if trainer.max_steps is not None and trainer.max_steps >= 0:
            budget = trainer.max_steps if budget is None else min(budget, trainer.max_steps)
        if budget is not None and self.global_step >= budget:
            return True
        return faults.preemption_signal() is not None and resumes_mid_epoch(trainer)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Fused steps clip here, where Lightning's automatic loop clips (after this hook, and
        after the gradients are unscaled under 16-bit mixed precision): the precision plugin's
        ``clip_grad_by_norm`` over the optimiser's parameters at ``grad_clip``."""
        if not self.automatic_optimization and self.optimiser.grad_clip:
            self.clip_gradients(optimizer, self.optimiser.grad_clip, "norm")

    def _several(self, x: Tensor, y: Tensor, archs: list[Arch]) -> tuple[Tensor, Tensor, Tensor]:
        """The summed loss of ``archs`` on one batch (one backward accumulates their
        gradients), and their mean loss and top-1 accuracy (what the step logs)."""
        losses, accs = [], []
        for arch in archs:
            logits = self.supernet(x, arch)
            losses.append(cross_entropy(logits, y))
            accs.append(top1(logits, y))
        loss = torch.stack(losses).sum()
        return loss, loss.detach() / len(archs), torch.stack(accs).mean()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Log the step's loss only at the steps Lightning writes logs, and the epoch's means
        once, at the batch that ends the epoch: one ``self.log`` per step costs Lightning's
        bookkeeping (~0.6 ms on a CPU), a third of a small network's step (issue 30)."""
        trainer = self.trainer
        batches = trainer.fit_loop.epoch_loop.batch_progress.current.ready  # of fused chunks too
        epoch_ends = batches >= trainer.num_training_batches or trainer.should_stop
        if epoch_ends or trainer._logger_connector.should_update_logs:
            self.log("train_loss_step", self._last_loss, on_step=True, on_epoch=False,
                     prog_bar=True, sync_dist=True)  # fmt: skip
        if epoch_ends:
            loss, acc = (self._sums or EpochSums()).means()
            self.log("train_loss_epoch", loss, on_step=False, on_epoch=True, prog_bar=True,
                     sync_dist=True, batch_size=1)  # fmt: skip
            self.log("train_acc", acc, on_step=False, on_epoch=True, prog_bar=True,
                     sync_dist=True, batch_size=1)  # fmt: skip
            self._sums = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A mid-epoch checkpoint keeps the epoch's running sums (bitwise epoch means on resume)."""
        checkpoint[_SUMS_KEY] = (self._sums or EpochSums()).state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._sums = EpochSums.from_state(checkpoint.get(_SUMS_KEY))
        carry_step_count(checkpoint, manual=not self.automatic_optimization)

    def on_validation_epoch_start(self) -> None:
        self._val_generator = path_generator(self.hparams.seed + _VAL_SEED_OFFSET, 0)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        if self.group is None:
            arch = self.supernet.sample_arch(self._val_generator)
        else:
            arch = uniform_arch(self.group, self._val_generator)
        bn = (
            batch_statistics_bn(self.supernet)
            if self.hparams.val_bn == "batch"
            else contextlib.nullcontext()
        )
        with bn:
            logits = self.supernet(x, arch)
        loss = cross_entropy(logits, y)
        acc = top1(logits, y)
        self.log("val_loss", loss, on_epoch=True, sync_dist=True)
        self.log("val_acc", acc, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss


__all__ = [
    "SPEC_SGD",
    "EpochSums",
    "LeafModule",
    "SGDModule",
    "SGDSettings",
    "batch_statistics_bn",
    "carry_step_count",
    "path_generator",
    "reinitialise",
]
