"""The tiny training run that the lean-step and fused-step tests train twice and compare bit for
bit: the whole NB201 supernet (C=4, N=1) on synthetic 8x8 images, two epochs, seed 3, on the
CPU, and what such a run writes (weights, ``metrics.jsonl``, ``logs/metrics.csv``,
``done.json``) read back without the fields that may differ between equal runs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from fewshot.data import FewshotDataModule, make_datamodule
from fewshot.spaces import get_space
from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet

MASK = get_space().full_mask()


def tiny_data(**options: Any) -> FewshotDataModule:
    """12 training batches per epoch (180 examples of 16, the last one of 4)."""
    return make_datamodule("synthetic", batch_size=16, num_train=200, num_test=40, image_size=8,
                           **options)  # fmt: skip


def cpu_hardware(**options: Any) -> TrainerSettings:
    """One CPU device, no progress bar; ``options`` as ``steps_per_call``."""
    return TrainerSettings(accelerator="cpu", devices=1, progress_bar=False, **options)


def tiny_settings(**overrides: Any) -> TrainSettings:
    """Two epochs of the C=4, N=1 supernet from seed 3; ``overrides`` replace or add fields."""
    return TrainSettings(**{"C": 4, "N": 1, "epochs": 2, "seed": 3, **overrides})


def train_tiny(
    out: Path, data: pl.LightningDataModule, hardware: TrainerSettings, **overrides: Any
) -> pl.Trainer:
    """Train the whole supernet into ``out`` with :func:`tiny_settings`; return the trainer."""
    _, trainer = train_subsupernet(MASK, data, out, tiny_settings(**overrides), hardware)
    return trainer


def run_outputs(out: Path, *, ignore: Iterable[str] = ("resumed_from",)) -> dict[str, object]:
    """What the run in ``out`` wrote: the weights, each epoch's ``metrics.jsonl`` line without
    its wall time, the CSV log, and ``done.json`` without the ``ignore`` fields."""
    done = json.loads((out / "done.json").read_text())
    skip = set(ignore)
    return {
        "weights": torch.load(out / "weights.pt", weights_only=True),
        "epochs": [
            {k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (out / "metrics.jsonl").read_text().splitlines()
        ],
        "csv": (out / "logs" / "metrics.csv").read_text(),
        "done": {k: v for k, v in done.items() if k not in skip},
    }
