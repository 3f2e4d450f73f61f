"""Evaluation of a refined AnyNet subspace: train its top-scoring net (and a baseline).

As da Silva et al.: draw 25 nets from the final subspace (the run's final ranges, its FLOPs
range), score them with the run's predictor, and train the best one from scratch; their
recipe (300 epochs, batch 32, SGD lr 0.025 with Nesterov momentum 0.9, weight decay 5e-5, lr
times 0.1 at epochs 150 and 225, label smoothing 0.1) is ``configs/refine-eval-paper.yaml``.
A ResNet-like net of the same space (:data:`RESNET_LIKE`: bottleneck ratio 1, one group,
widths doubling per stage) is the baseline.

:class:`ClassifierModule` is the Lightning system for any plain classifier ``nn.Module``
(the model is built by the caller; the module only trains it) with a :class:`TrainingRecipe`:
a member of the leaves' module family (:class:`fewshot.training.module.SGDModule`, the one
optimiser of :mod:`fewshot.optimiser` with its ``step`` schedule), so the recipe's optimiser
fields are :class:`~fewshot.optimiser.SGDSettings`'s.
:func:`train_and_test` trains a net with the trainer of
:func:`fewshot.training.trainer.make_trainer` (``--device``, threads, precision, channels-last,
compile), checkpoints ``<out>/checkpoints/last.ckpt`` at every epoch end and resumes from it
(a checkpoint of other settings is not resumed), and writes ``<out>/weights.pt``.

May import spaces, metrics, the training layer and refine's engine and predictors; never a
command module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from torch import Tensor, nn
from torch.nn.functional import cross_entropy

from fewshot.errors import UsageError
from fewshot.metrics import ScoringData
from fewshot.optimiser import Schedule, SGDSettings, settings_record
from fewshot.refine.engine import RECORD_NAME, iteration_seed
from fewshot.refine.predictors import score_network
from fewshot.spaces.anynet import AnyNetConfig
from fewshot.spaces.anynet_sampling import DesignSpace, sample_configs
from fewshot.training.module import SGDModule
from fewshot.training.trainer import (
    CPU,
    TrainerSettings,
    accuracy,
    eval_device,
    fit_resumable,
    save_weights,
    top1,
)

RESNET_LIKE = AnyNetConfig(
    depths=(2, 2, 2), widths=(16, 32, 64), bottleneck_ratios=(1, 1, 1), group_widths=(16, 32, 64)
)
"""A ResNet-like member of the space inside the default FLOPs range (21.7 MFLOPs): 2 blocks
per stage, widths doubling 16/32/64, ordinary 3x3 convs (one group), no bottleneck reduction."""


@dataclass(frozen=True)
class TrainingRecipe(SGDSettings):
    """How the evaluated nets are trained (defaults: da Silva et al.'s recipe); its field
    names are the ``configs/refine-eval-*.yaml`` keys. The optimiser is
    :class:`~fewshot.optimiser.SGDSettings` with a step schedule, weight decay 5e-5 and no
    gradient clipping."""

    weight_decay: float = 5e-5
    grad_clip: float | None = None
    schedule: Schedule = "step"
    milestones: tuple[int, ...] = (150, 225)
    epochs: int = 300
    batch_size: int = 32
    label_smoothing: float = 0.1

    added_fields: ClassVar[tuple[str, ...]] = ("lr_min", "grad_clip", "schedule")
    """Recorded (checkpoints) only when not at their defaults."""


class ClassifierModule(SGDModule):
    """Train a plain classifier with SGD, a step schedule (per epoch) and label smoothing."""

    def __init__(self, model: nn.Module, recipe: TrainingRecipe) -> None:
        super().__init__(recipe)
        self.model = model
        self.recipe = recipe

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        loss = cross_entropy(self.model(x), y, label_smoothing=self.recipe.label_smoothing)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def _accuracy(self, batch: tuple[Tensor, Tensor], name: str) -> None:
        x, y = batch
        acc = top1(self.model(x), y)
        self.log(name, acc, prog_bar=True, batch_size=len(y))

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._accuracy(batch, "val_acc")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._accuracy(batch, "test_acc")


def final_space(run_dir: Path) -> tuple[dict[str, Any], DesignSpace]:
    """A refinement run's record and the design space of its final ranges."""
    path = Path(run_dir) / RECORD_NAME
    if not path.is_file():
        raise UsageError(f"{run_dir} has no {RECORD_NAME}: not a refinement run folder")
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("space") != "anynet" or not record.get("iterations"):
        raise UsageError(f"{path} holds no finished AnyNet iteration to evaluate")
    return record, DesignSpace.from_dict(record["final_ranges"])


def top_candidate(
    record: dict[str, Any], space: DesignSpace, data: ScoringData, *, candidates: int = 25
) -> tuple[AnyNetConfig, list[dict[str, Any]]]:
    """Draw ``candidates`` nets from ``space`` (the run's FLOPs range and seed), score them
    with the run's predictor, and return the best with every candidate's score."""
    s = record["settings"]
    sample = sample_configs(
        space,
        candidates,
        seed=iteration_seed(s["seed"], 10_000),
        flops_range=tuple(s["flops_range"]),
        num_classes=data.num_classes,
    )
    predictor = record["predictor"]
    rows = []
    for c in sample.configs:
        scored = score_network(
            lambda c=c: c.build(num_classes=data.num_classes), [predictor], data, seed=s["seed"]
        )
        if predictor in scored.scores:
            rows.append({"hyperparameters": c.hyperparameters(), "score": scored.scores[predictor]})
    if not rows:
        raise UsageError(f"no candidate of the final subspace could be scored by {predictor}")
    best = max(rows, key=lambda r: r["score"])
    return AnyNetConfig.from_hyperparameters(best["hyperparameters"]), rows


def train_and_test(
    config: AnyNetConfig,
    datamodule: pl.LightningDataModule,
    recipe: TrainingRecipe,
    *,
    seed: int,
    out_dir: Path,
    hardware: TrainerSettings = CPU,
    limit_train_batches: int | float = 1.0,
    callbacks: Sequence[Callback] = (),
) -> dict[str, float]:
    """Train ``config``'s net from scratch (seeded) in ``out_dir`` and return its test accuracy
    (a fraction) and parameter count; ``callbacks`` are added to the trainer's.

    Resumes from ``out_dir/checkpoints/last.ckpt`` when it holds the same settings (recipe,
    net, seed, batches, precision, ...); writes the trained weights to ``out_dir/weights.pt``.
    """
    pl.seed_everything(seed, workers=True, verbose=False)
    model = ClassifierModule(config.build(num_classes=datamodule.num_classes), recipe)
    fit_resumable(
        model, hardware, max_epochs=recipe.epochs, out_dir=out_dir,
        settings={"net": config.hyperparameters(), "recipe": settings_record(recipe), "seed": seed,
                  "limit_train_batches": limit_train_batches},
        data={"datamodule": datamodule}, callbacks=callbacks,
        limit_train_batches=limit_train_batches, gradient_clip_val=recipe.grad_clip,
    )  # fmt: skip
    save_weights(model.model, Path(out_dir) / "weights.pt")
    model.model.to(eval_device(hardware))
    return {
        "test_acc": accuracy(model.model, datamodule.test_dataloader()) / 100.0,
        "params": sum(p.numel() for p in model.model.parameters()),
        "epochs": recipe.epochs,
    }


def recipe_from(values: dict[str, Any]) -> TrainingRecipe:
    """A :class:`TrainingRecipe` from a mapping of its fields (unknown keys raise
    ``UsageError``)."""
    known = set(TrainingRecipe.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"unknown recipe keys {unknown}; known: {sorted(known)}")
    v = dict(values)
    if "milestones" in v:
        v["milestones"] = tuple(int(m) for m in v["milestones"])
    return TrainingRecipe(**v)
