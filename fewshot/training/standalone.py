"""Train standalone NB201 archs for real (Lightning), for spaces without a benchmark.

The proxy-filtered pipeline (:mod:`fewshot.search.pipeline`) keeps a few archs; this module
trains each one from scratch and measures its accuracy, reusing the leaf-training pieces: the
arch's own network (:func:`fewshot.models.build_network`, only its ops) inside a
:class:`~fewshot.training.module.LeafModule` (a one-arch mask, so the single path is the arch;
SGD + Nesterov, cosine schedule, the spec's defaults). BatchNorm running statistics belong to
this one arch, so validation and test use them (``val_bn="running"``).

:func:`train_archs` writes ``results.json`` (atomically) after every arch, and a second call
with the same folder skips the archs already in it (resumable).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from fewshot.io import atomic_write_json
from fewshot.models.supernet import build_network
from fewshot.space import Arch
from fewshot.training.module import LeafModule

log = logging.getLogger("fewshot")

RESULTS_NAME = "results.json"


@dataclass(frozen=True)
class StandaloneSettings:
    """How each arch is trained (small CPU defaults; NB201 itself: C=16, N=5, 200 epochs)."""

    C: int = 8
    N: int = 1
    epochs: int = 2
    lr: float = 0.1
    lr_min: float = 0.001
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    seed: int = 0
    limit_train_batches: int | float | None = None


@torch.no_grad()
def accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    """Top-1 accuracy (percent) in eval mode (running BatchNorm statistics)."""
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return 100.0 * correct / max(total, 1)


def train_arch(
    arch: Arch, datamodule: pl.LightningDataModule, settings: StandaloneSettings
) -> dict:
    """Train ``arch`` from scratch; its validation and test accuracy (percent) and time."""
    start = time.perf_counter()
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    datamodule.setup("fit")
    net = build_network(arch, C=settings.C, N=settings.N, num_classes=datamodule.num_classes)
    module = LeafModule(
        net,
        lr=settings.lr,
        lr_min=settings.lr_min,
        weight_decay=settings.weight_decay,
        seed=settings.seed,
        val_bn="running",
    )
    with _deterministic_algorithms():
        _fit(module, datamodule, settings)
    return {
        "arch": arch.to_string(),
        "val_acc": accuracy(net, datamodule.val_dataloader()),
        "test_acc": accuracy(net, datamodule.test_dataloader()),
        "seconds": time.perf_counter() - start,
    }


@contextlib.contextmanager
def _deterministic_algorithms() -> Iterator[None]:
    """Lightning's ``deterministic=True`` switches torch's deterministic algorithms on for the
    whole process and leaves them on; restore the caller's setting afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _fit(
    module: LeafModule, datamodule: pl.LightningDataModule, settings: StandaloneSettings
) -> None:
    trainer = pl.Trainer(
        max_epochs=settings.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=settings.grad_clip,
        limit_train_batches=settings.limit_train_batches,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        deterministic=True,
    )
    trainer.fit(module, train_dataloaders=datamodule.train_dataloader())


def train_archs(
    archs: Sequence[Arch],
    datamodule: pl.LightningDataModule,
    settings: StandaloneSettings,
    out_dir: str | Path,
) -> list[dict]:
    """Train every arch not yet in ``out_dir/results.json``; all results, in ``archs`` order."""
    path = Path(out_dir) / RESULTS_NAME
    done = {}
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("settings") == asdict(settings):
            done = {r["arch"]: r for r in saved["results"]}
        else:
            log.warning("%s was written with other settings: training again", path)
    for arch in archs:
        key = arch.to_string()
        if key in done:
            continue
        log.info("training %s (%d epochs)", key, settings.epochs)
        done[key] = train_arch(arch, datamodule, settings)
        atomic_write_json(path, {"settings": asdict(settings), "results": list(done.values())})
    return [done[a.to_string()] for a in archs]


__all__ = ["StandaloneSettings", "accuracy", "train_arch", "train_archs"]
