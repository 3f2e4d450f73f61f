"""Train a tiny one-shot supernet to a budget in optimiser steps (``TrainSettings.max_steps``,
as the ranking study does): ``python step_budget_run.py OUT EPOCHS STEPS``. Run by the
kill-and-resume test, in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

from fewshot.data import make_datamodule
from fewshot.spaces.nb201 import Mask
from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet


def main(out: str, epochs: str, steps: str) -> None:
    data = make_datamodule("synthetic", batch_size=8, num_train=40, image_size=8)
    settings = TrainSettings(C=4, N=1, num_classes=data.num_classes, epochs=int(epochs),
                             max_steps=int(steps), seed=0)  # fmt: skip
    hardware = TrainerSettings(accelerator="cpu", devices=1, limit_val_batches=0, threads=1,
                               progress_bar=False)  # fmt: skip
    train_subsupernet(Mask.full(), data, Path(out), settings, hardware)


if __name__ == "__main__":
    main(*sys.argv[1:4])
