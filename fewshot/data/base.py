"""What every fewshot data module shares: splits, loaders, transforms, clear errors.

A :class:`FewshotDataModule` is a ``LightningDataModule`` with three splits:

- ``train``: the training set minus a held-out part, with augmentation;
- ``val``: that held-out part (``val_fraction`` of the training set, chosen by ``seed``),
  without augmentation: the leaf search scores archs on it;
- ``test``: the data set's own test split, without augmentation.

Two data paths (the ``data_path`` option, recorded with the other data options):

- ``tensor``: the data set is decoded once into uint8 tensors (cached on disk, see
  :mod:`fewshot.data.cache`), held whole in memory (or on the training device), and augmented
  and normalised a batch at a time (:mod:`fewshot.data.tensor`); held-out, test and scoring
  examples come from the same tensors, normalised;
- ``loader``: per-image PIL transforms in a ``DataLoader`` (worker processes optional), for
  data sets too large for memory;
- ``auto`` (default): ``tensor`` when the decoded data set fits in ``TENSOR_PATH_MAX_BYTES``.

Both paths draw the batch order from ``(seed, epoch)`` and the augmentation from
``(seed, epoch, index)`` (see :mod:`fewshot.data.tensor`), so a resumed run sees the batches an
uninterrupted run sees. ``image_size`` resizes any data set (at decode time on the tensor path).

Subclasses only say how to read their data (:meth:`FewshotDataModule.load_datasets` for the
loader path, :meth:`FewshotDataModule.decode_tensors` for the tensor path, and
:meth:`FewshotDataModule.augmentation`); the split, the loaders and the validation of arguments
live here. Imports: torch, torchvision, Lightning, fewshot.errors and this package's modules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms as T

from fewshot.data.tensor import (
    Augmentation,
    ChunkSampler,
    EpochSampler,
    SeededItems,
    TensorItems,
    TensorSet,
    TrainBatches,
    check_data_path,
)
from fewshot.errors import UsageError

log = logging.getLogger("fewshot")

Stats = tuple[float, float, float]

# NB201 (xautodl) normalisation constants, per data set.
CIFAR10_MEAN: Stats = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD: Stats = (63.0 / 255, 62.1 / 255, 66.7 / 255)
CIFAR100_MEAN: Stats = (129.3 / 255, 124.1 / 255, 112.4 / 255)
CIFAR100_STD: Stats = (68.2 / 255, 65.4 / 255, 70.4 / 255)
IMAGENET16_MEAN: Stats = (122.68 / 255, 116.66 / 255, 104.01 / 255)
IMAGENET16_STD: Stats = (63.22 / 255, 61.26 / 255, 65.09 / 255)

TENSOR_PATH_MAX_BYTES = 2 * 1024**3
"""``data_path=auto`` decodes a data set into memory when its uint8 tensors fit in this."""


class DataNotFoundError(FileNotFoundError):
    """A data set is missing or unreadable; the message says what was looked for and the fix."""

    def __str__(self) -> str:  # FileNotFoundError formats (errno, msg) pairs; keep ours plain.
        return str(self.args[0]) if self.args else ""


def default_data_root() -> Path:
    """The download cache: ``$FEWSHOT_DATA`` or ``~/.cache/fewshot/data``."""
    env = os.environ.get("FEWSHOT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fewshot" / "data"


def offline() -> bool:
    """True when ``FEWSHOT_OFFLINE`` is set to a true value: never try to download."""
    return os.environ.get("FEWSHOT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def image_transforms(
    mean: Sequence[float],
    std: Sequence[float],
    *,
    train: bool,
    size: int = 32,
    pad: int = 4,
    flip: bool = True,
    to_tensor: bool = True,
    resize: bool = False,
) -> Callable:
    """NB201 transforms: training adds [flip,] random crop ``size`` with ``pad``; eval none.

    ``to_tensor`` converts PIL images (False when the data are already float tensors);
    ``resize`` first resizes to ``size`` x ``size`` (image folders of other sizes).
    """
    steps: list[Callable] = [T.Resize((size, size))] if resize else []
    if train:
        steps += [T.RandomHorizontalFlip()] if flip else []
        steps += [T.RandomCrop(size, padding=pad)] if pad > 0 else []
    steps += [T.ToTensor()] if to_tensor else []
    steps.append(T.Normalize(list(mean), list(std)))
    return T.Compose(steps)


class TensorImages(Dataset):
    """Images held in one float tensor (N, 3, H, W) with integer labels, plus a transform."""

    def __init__(self, images: Tensor, labels: Tensor, transform: Callable | None = None) -> None:
        if images.ndim != 4 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"images (N,3,H,W) and labels (N,) expected, got {images.shape}")
        self.images, self.labels, self.transform = images, labels.long(), transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = self.images[i]
        return (self.transform(x) if self.transform else x), int(self.labels[i])


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint (train, val) index lists over ``range(n)``: a seeded random ``val_fraction``.

    The val indices come in the seeded random order, not sorted: an image folder is ordered
    by class, so a sorted held-out set served its first N batches (``--search-val-batches``,
    the ranking study's first N held-out images) from one or two classes (held-out accuracies
    of 7-58%); in random order any prefix is a uniform sample of the held-out set. The train
    indices stay sorted (training shuffles them per epoch)."""
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    if n_val >= n:
        raise UsageError(
            f"val_fraction={val_fraction} leaves no training data out of {n} examples; "
            "use a smaller --val-fraction"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(perm[n_val:]), perm[:n_val]


class FewshotDataModule(pl.LightningDataModule):
    """Base data module: seeded train/val split of the training set, a test split, loaders.

    Args:
        data_root: where the data lie (or are downloaded); ``None``: the data set's default.
        batch_size: examples per batch in every loader.
        num_workers: ``DataLoader`` worker processes (0: load in the main process).
        seed: chooses the held-out validation part and the training shuffle order.
        val_fraction: share of the training set held out as ``val`` (0 <= f < 1).
        download: allow downloads in :meth:`prepare_data` (data sets that can be downloaded).
        image_size: side of the images trained and scored on (default: the data set's own).
        data_path: ``auto``, ``tensor`` or ``loader`` (see the module docstring).
    """

    name: ClassVar[str] = ""
    native_size: ClassVar[int] = 32
    mid_epoch_resume: ClassVar[bool] = True
    """A fit resumed from a mid-epoch checkpoint continues its epoch's batches (:meth:`state_dict`)."""

    def __init__(
        self,
        *,
        data_root: str | Path | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        val_fraction: float = 0.1,
        download: bool = True,
        image_size: int | None = None,
        data_path: str = "auto",
    ) -> None:
        super().__init__()
        _check_positive("batch_size", batch_size)
        if num_workers < 0:
            raise UsageError(f"num_workers must be >= 0, got {num_workers}")
        if not 0.0 <= val_fraction < 1.0:
            raise UsageError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        self.data_root = Path(data_root).expanduser() if data_root is not None else None
        self.batch_size, self.num_workers = batch_size, num_workers
        self.seed, self.val_fraction, self.download = seed, val_fraction, download
        if image_size is not None and (not isinstance(image_size, int) or image_size < 4):
            raise UsageError(f"image_size must be an integer >= 4, got {image_size!r}")
        self.image_size = image_size if image_size is not None else self.native_size
        self.data_path = check_data_path(data_path)
        self.data_device = torch.device("cpu")
        self._datasets: tuple[Dataset, Dataset, Dataset] | None = None
        self._tensors: tuple[TensorSet, TensorSet] | None = None
        self._resume_epoch: int | None = None
        self._resume_batches = 0
        self.train_indices: list[int] = []
        self.val_indices: list[int] = []

    # -- to implement -------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        raise NotImplementedError

    def load_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        """``(train with augmentation, train without augmentation, test)``.

        The two training views hold the same examples in the same order (they differ only in
        transforms); :class:`DataNotFoundError` when the data are missing or unreadable.
        """
        raise NotImplementedError

    def decode_tensors(self) -> dict[str, Tensor]:
        """The whole data set at :attr:`image_size`: ``train_images``, ``test_images``
        (N, 3, H, W) uint8 (or float for in-memory data sets) and ``train_labels``,
        ``test_labels`` (N,) int64, in the order of :meth:`load_datasets`'s examples."""
        raise NotImplementedError

    def augmentation(self) -> Augmentation:
        """Normalisation and training augmentation of the tensor path (same as the loader's)."""
        raise NotImplementedError

    def decoded_bytes(self) -> int | None:
        """Size of the decoded uint8 tensors, for ``data_path=auto`` (None: unknown, small)."""
        return None

    def resolved_data_path(self) -> str:
        """``tensor`` or ``loader``: the option, or for ``auto`` whether the data set fits."""
        if self.data_path != "auto":
            return self.data_path
        size = self.decoded_bytes()
        return "tensor" if size is None or size <= TENSOR_PATH_MAX_BYTES else "loader"

    def to_device(self, device: torch.device | str) -> None:
        """Hold the tensor path's training tensors on ``device`` (augmentation runs there)."""
        self.data_device = torch.device(device)

    # -- Lightning hooks ----------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        """Read the data and split the training set (once; later calls do nothing)."""
        if self._datasets is not None:
            return
        datasets = self._tensor_datasets() if self.resolved_data_path() == "tensor" else None
        datasets = datasets or self.load_datasets()
        self.train_indices, self.val_indices = split_indices(
            len(datasets[1]), self.val_fraction, self.seed
        )
        self._datasets = datasets

    def _tensor_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        t = self.decode_tensors()
        train = TensorSet(t["train_images"], t["train_labels"])
        test = TensorSet(t["test_images"], t["test_labels"])
        self._tensors, aug = (train, test), self.augmentation()
        return (
            TensorItems(train, aug, augment=True),
            TensorItems(train, aug),
            TensorItems(test, aug),
        )

    def train_dataloader(self, steps_per_call: int = 1) -> DataLoader:
        """Shuffled, augmented batches of the training part: order by ``(seed, epoch)``,
        augmentation by ``(seed, epoch, index)`` on either path (Lightning sets the epoch).

        ``steps_per_call`` > 1: on the tensor path, in one process, each item is a chunk of up
        to that many consecutive batches (:class:`fewshot.data.tensor.ChunkSampler`), for a
        module that fuses optimiser steps (:meth:`fewshot.training.module.LeafModule.fuse_steps`);
        the loader path keeps one batch per item (the module steps once per item then)."""
        self.setup()
        if self._tensors is not None:
            data = self._tensors[0].to(self._device())
            batches = TrainBatches(
                data, self.train_indices, self.batch_size, self.seed, self.augmentation()
            )
            sampler = self._batch_sampler(len(batches), steps_per_call)
            sampler.set_epoch(self._epoch())
            sampler.skip_once(self._skipped_batches())
            log.info("data: %s on the tensor path (%s)", self.name, data.images.device)
            return DataLoader(batches, batch_size=None, sampler=sampler)
        dataset = SeededItems(self.train_dataset(), self.seed)
        sampler = EpochSampler(len(dataset), self.seed, epoch_source=self._trainer_epoch)
        sampler.set_epoch(self._epoch())
        sampler.skip_once(self._skipped_batches() * self.batch_size)
        log.info("data: %s on the loader path (%d workers)", self.name, self.num_workers)
        return self._loader(dataset, sampler=sampler)

    def _batch_sampler(self, n: int, steps: int) -> EpochSampler:
        """The tensor path's keys: one batch each, or chunks of ``steps`` batches when training
        runs in one process (DDP steps one batch per call)."""
        trainer = getattr(self, "trainer", None)
        one_process = trainer is None or trainer.world_size == 1
        if steps > 1 and one_process:
            return ChunkSampler(n, self.seed, steps, epoch_source=self._trainer_epoch)
        return EpochSampler(n, self.seed, shuffle=False, epoch_source=self._trainer_epoch)

    def _epoch(self) -> int:
        """The epoch the next training loader starts at: a resumed fit's (from the checkpoint),
        else the attached Trainer's, else 0.

        A resumed fit creates its loader, and prefetches its first batch, before it restores
        its loops and calls ``set_epoch`` (``configure_optimizers`` asks for the number of
        steps), but after it has called :meth:`load_state_dict`: so the epoch comes from there.
        """
        if self._resume_epoch is not None:
            epoch, self._resume_epoch = self._resume_epoch, None
            return epoch
        return self._trainer_epoch()

    def _trainer_epoch(self) -> int:
        """The epoch of the fit the attached Trainer is running (0 outside a running fit, so
        batches taken before or after training are those of epoch 0)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or trainer.state.fn != "fit" or trainer.state.status != "running":
            return 0
        return trainer.fit_loop.epoch_progress.current.processed

    def _skipped_batches(self) -> int:
        """Batches of its epoch a fit resumed from a mid-epoch checkpoint already trained
        (its first loader starts after them; Lightning counts them as done)."""
        skipped, self._resume_batches = self._resume_batches, 0
        return skipped

    def state_dict(self) -> dict[str, Any]:
        """Saved in Lightning checkpoints: the epoch a fit resumed from it starts at, and the
        batches of that epoch already trained (a checkpoint saved mid-epoch, at a step
        boundary, by a preempted training: :mod:`fewshot.training.trainer`)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {}
        loop = trainer.fit_loop.epoch_loop
        done = bool(loop.done)
        state = {"data_epoch": trainer.current_epoch + int(done)}
        if not done and trainer.world_size == 1:
            state["data_batches"] = int(loop.batch_progress.current.processed)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restored from a checkpoint before the training loader is made (see :meth:`_epoch`)."""
        epoch = state_dict.get("data_epoch")
        self._resume_epoch = int(epoch) if epoch is not None else None
        self._resume_batches = int(state_dict.get("data_batches") or 0)

    def _device(self) -> torch.device:
        """The training device: the attached Trainer's, else :attr:`data_device`."""
        trainer = getattr(self, "trainer", None)
        return trainer.strategy.root_device if trainer is not None else self.data_device

    def val_dataloader(self) -> DataLoader:
        """The held-out part of the training set, unaugmented, in a fixed order."""
        return self._loader(self.val_dataset())

    def test_dataloader(self) -> DataLoader:
        """The test split, unaugmented, in a fixed order."""
        return self._loader(self.test_dataset())

    # -- datasets -----------------------------------------------------------------------
    def train_dataset(self, *, augment: bool = True) -> Dataset:
        """The training part (``augment=False``: the same examples without augmentation)."""
        train_aug, train_eval, _ = self._loaded()
        return Subset(train_aug if augment else train_eval, self.train_indices)

    def val_dataset(self) -> Dataset:
        _, train_eval, _ = self._loaded()
        if not self.val_indices:
            raise UsageError(
                f"{self.name}: val_fraction=0 holds nothing out; use --val-fraction > 0"
            )
        return Subset(train_eval, self.val_indices)

    def test_dataset(self) -> Dataset:
        return self._loaded()[2]

    def _loaded(self) -> tuple[Dataset, Dataset, Dataset]:
        self.setup()
        assert self._datasets is not None
        return self._datasets

    def _loader(self, dataset: Dataset, *, sampler: EpochSampler | None = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(data_root={self.data_root}, batch_size={self.batch_size}, "
            f"seed={self.seed}, val_fraction={self.val_fraction}, image_size={self.image_size}, "
            f"data_path={self.data_path})"
        )


def _check_positive(what: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
