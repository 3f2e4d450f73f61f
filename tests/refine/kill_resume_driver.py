"""Subprocess driver of the kill-and-resume tests of refine's standalone training.

Usage: ``kill_resume_driver.py COUNT_FILE [--kill] library OUT`` or
``kill_resume_driver.py COUNT_FILE [--kill] cli ARGV...``.

Every ``Trainer`` that :func:`fewshot.training.trainer.make_trainer` makes gets two more callbacks: one
that counts the epochs this process trains (written to ``COUNT_FILE`` as they start) and, with
``--kill``, one that SIGKILLs the process when the second epoch starts (after the first
epoch's checkpoint was saved). ``library`` trains a tiny AnyNet net on fixed-order data with
:func:`~fewshot.refine.evaluation.train_and_test` and writes ``OUT/result.json``; ``cli``
runs ``python -m fewshot.refine.evaluate ARGV``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from fewshot.refine import evaluation
from fewshot.spaces.anynet import AnyNetConfig
from fewshot.training import trainer
from fewshot.training.trainer import TrainerSettings

TINY = AnyNetConfig(
    depths=(1, 1, 1), widths=(8, 8, 16), bottleneck_ratios=(1, 1, 1), group_widths=(8, 8, 16)
)


class EpochCounter(pl.Callback):
    """Write the number of epochs started in this process to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path, self.count = path, 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.count += 1
        self.path.write_text(json.dumps({"epochs_run": self.count}))


class KillAtSecondEpoch(pl.Callback):
    """SIGKILL this process when the second epoch starts (a preempted job)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch >= 1:
            os.kill(os.getpid(), signal.SIGKILL)


class FixedOrderData(pl.LightningDataModule):
    """Random images of 4 classes served in a fixed order (no shuffle, no augmentation)."""

    num_classes = 4

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(112, 3, 16, 16, generator=g), torch.arange(112) % 4
        self.parts = {"train": (0, 64), "val": (64, 80), "test": (80, 112)}
        self.data = {k: TensorDataset(x[a:b], y[a:b]) for k, (a, b) in self.parts.items()}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.data["train"], batch_size=16)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.data["val"], batch_size=16)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.data["test"], batch_size=16)


def _instrument(count_file: Path, kill: bool) -> None:
    make = trainer.make_trainer

    def make_trainer(*args, callbacks=(), **kwargs):
        extra = [EpochCounter(count_file)] + ([KillAtSecondEpoch()] if kill else [])
        return make(*args, callbacks=[*callbacks, *extra], **kwargs)

    trainer.make_trainer = make_trainer


def _library(out: Path) -> int:
    recipe = evaluation.TrainingRecipe(epochs=3, batch_size=16, lr=0.05, milestones=(1,))
    hardware = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False, threads=1)
    result = evaluation.train_and_test(
        TINY, FixedOrderData(), recipe, seed=0, out_dir=out, hardware=hardware
    )
    (out / "result.json").write_text(json.dumps(result))
    return 0


def main(argv: list[str]) -> int:
    count_file, kill = Path(argv[0]), "--kill" in argv
    rest = [a for a in argv[1:] if a != "--kill"]
    _instrument(count_file, kill)
    if rest[0] == "library":
        return _library(Path(rest[1]))
    from fewshot.refine.evaluate import main as evaluate_main

    return evaluate_main(rest[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
