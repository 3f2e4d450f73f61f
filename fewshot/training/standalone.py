"""Train standalone archs of a search space for real (Lightning), for data without a benchmark.

The proxy-filtered pipeline (:mod:`fewshot.search.pipeline`) keeps a few archs; this module
trains each one from scratch and measures its accuracy, reusing the leaf-training pieces: the
arch's own network (its space's ``build_network``, only its ops) inside a
:class:`~fewshot.training.module.LeafModule` (a one-arch mask, so the single path is the arch;
SGD + Nesterov, cosine schedule, the spec's defaults). BatchNorm running statistics belong to
this one arch, so validation and test use them (``val_bn="running"``).

:func:`train_archs` writes ``results.json`` (atomically) after every arch, and a second call
with the same folder skips the archs already in it (resumable). Within an arch, training
checkpoints ``archs/<op indices>/checkpoints/last.ckpt`` at every epoch end and a re-run resumes
from it (a checkpoint of other settings is not resumed). The data module itself is fitted (not its
training loader), so Lightning saves its ``state_dict`` (the data epoch) in the checkpoint and a
resumed run's first epoch draws the batch order and augmentation of that epoch, not epoch 0's
(see :mod:`fewshot.data.tensor` for every source of randomness); validation is off
(``limit_val_batches=0``: accuracy is measured after fitting). The ``Trainer`` comes from
:func:`fewshot.training.trainer.make_trainer` (the CPU unless ``hardware`` says otherwise).

May import models, data values and the training layer; nothing from search, refine or commands.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytorch_lightning as pl
import torch

from fewshot.io import atomic_write_json
from fewshot.optimiser import SGDSettings, settings_record
from fewshot.spaces import Arch
from fewshot.training.module import LeafModule
from fewshot.training.trainer import CPU, TrainerSettings, accuracy, eval_device, fit_resumable

log = logging.getLogger("fewshot")

RESULTS_NAME = "results.json"


@dataclass(frozen=True)
class StandaloneSettings(SGDSettings):
    """How each arch is trained (small CPU defaults; NB201 itself: C=16, N=5, 200 epochs): the
    optimiser (:class:`~fewshot.optimiser.SGDSettings`, with lr 0.1) and the fields below."""

    lr: float = 0.1
    C: int = 8
    N: int = 1
    epochs: int = 2
    seed: int = 0
    limit_train_batches: int | float | None = None

    added_fields: ClassVar[tuple[str, ...]] = (
        "momentum", "nesterov", "schedule", "milestones", "gamma",
    )  # fmt: skip
    """Recorded (``results.json``, checkpoints) only when not at their defaults."""


def train_arch(
    arch: Arch,
    datamodule: pl.LightningDataModule,
    settings: StandaloneSettings,
    *,
    hardware: TrainerSettings = CPU,
    out_dir: Path | None = None,
) -> dict:
    """Train ``arch`` from scratch; its validation and test accuracy (percent) and time.

    With ``out_dir`` training checkpoints there at every epoch end and resumes from the last
    checkpoint of the same settings (:func:`~fewshot.training.trainer.resume_checkpoint`).
    """
    start = time.perf_counter()
    pl.seed_everything(settings.seed, workers=True, verbose=False)
    datamodule.setup("fit")
    net = arch.space.build_network(
        arch, C=settings.C, N=settings.N, num_classes=datamodule.num_classes
    )
    module = LeafModule(net, optimiser=settings, seed=settings.seed, val_bn="running")
    with _deterministic_algorithms():
        fit_resumable(
            module, hardware, max_epochs=settings.epochs, out_dir=out_dir,
            settings={"arch": arch.to_string(), **settings_record(settings)},
            data={"datamodule": datamodule},
            gradient_clip_val=settings.grad_clip, limit_train_batches=settings.limit_train_batches,
            limit_val_batches=0, deterministic=True,
        )  # fmt: skip
    net.to(eval_device(hardware))
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


def arch_folder(out_dir: Path, arch: Arch) -> Path:
    """Where :func:`train_archs` checkpoints ``arch``: ``out_dir/archs/<op indices>``."""
    return Path(out_dir) / "archs" / "-".join(str(i) for i in arch.op_indices)


def train_archs(
    archs: Sequence[Arch],
    datamodule: pl.LightningDataModule,
    settings: StandaloneSettings,
    out_dir: str | Path,
    *,
    hardware: TrainerSettings = CPU,
    pack: bool = False,
) -> list[dict]:
    """Train every arch not yet in ``out_dir/results.json`` (each resumable, in
    :func:`arch_folder`); all results, in ``archs`` order. ``pack``: train them together, as
    one pack (:mod:`fewshot.training.pack`; equal to alone up to float rounding, so recorded
    in the settings: a packed and an unpacked run never mix)."""
    path = Path(out_dir) / RESULTS_NAME
    record = {**settings_record(settings), **({"pack": True} if pack else {})}
    done = {}
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("settings") == record:
            done = {r["arch"]: r for r in saved["results"]}
        else:
            log.warning("%s was written with other settings: training again", path)
    if pack:
        todo = [a for a in archs if a.to_string() not in done]
        for result in _train_packed(todo, datamodule, settings, path.parent, hardware):
            done[result["arch"]] = result
        atomic_write_json(path, {"settings": record, "results": list(done.values())})
        return [done[a.to_string()] for a in archs]
    for arch in archs:
        key = arch.to_string()
        if key in done:
            continue
        log.info("training %s (%d epochs)", key, settings.epochs)
        done[key] = train_arch(
            arch, datamodule, settings, hardware=hardware, out_dir=arch_folder(path.parent, arch)
        )
        atomic_write_json(
            path, {"settings": settings_record(settings), "results": list(done.values())}
        )
    return [done[a.to_string()] for a in archs]


def _train_packed(
    archs: Sequence[Arch],
    datamodule: pl.LightningDataModule,
    settings: StandaloneSettings,
    out_dir: Path,
    hardware: TrainerSettings,
) -> list[dict]:
    """``archs`` trained as one pack (one-arch masks), then each scored as :func:`train_arch`
    scores it (running BN statistics, validation and test accuracy)."""
    from fewshot.training.pack import PackMember, PackSettings, PackTrainer, datamodule_batches

    if not archs:
        return []
    if settings.limit_train_batches is not None:
        raise ValueError("a pack trains whole epochs: drop limit_train_batches (or the pack)")
    start = time.perf_counter()
    batches, per_epoch = datamodule_batches(datamodule)
    members = [
        PackMember(a.to_string(), a.space.mask_type.from_arch(a), settings.seed, batches,
                   per_epoch, arch_folder(out_dir, a))
        for a in archs
    ]  # fmt: skip
    pack_settings = PackSettings.of(settings, num_classes=datamodule.num_classes)
    log.info("training %d archs as one pack (%d epochs)", len(archs), settings.epochs)
    device = eval_device(hardware)
    trainer = PackTrainer(members, pack_settings, out_dir / "pack", device=device)
    trainer.fit()
    seconds = (time.perf_counter() - start) / len(archs)
    results = []
    for k, arch in enumerate(archs):
        net = trainer.network(k).to(device)
        results.append({
            "arch": arch.to_string(),
            "val_acc": accuracy(net, datamodule.val_dataloader()),
            "test_acc": accuracy(net, datamodule.test_dataloader()),
            "seconds": seconds,
        })  # fmt: skip
    return results


__all__ = ["StandaloneSettings", "arch_folder", "train_arch", "train_archs"]
