"""Any image-classification folder tree: ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``.

Read with torchvision's ``ImageFolder``; images are resized to ``image_size`` (default 32)
and normalised with the CIFAR-10 statistics unless ``mean``/``std`` are given, with NB201's
CIFAR augmentation for training. ``../shared/data/cifar10-subset`` is such a tree.

On the tensor path the images are decoded once (in parallel processes for large folders, with
progress on the ``fewshot`` logger), resized exactly as the loader resizes them, and cached in
one file (:mod:`fewshot.data.cache`). Imports: the data package's base and cache, torch,
torchvision, numpy, PIL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import transforms as T
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import pil_loader

from fewshot.data.base import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    DataNotFoundError,
    FewshotDataModule,
    image_transforms,
)
from fewshot.data.cache import cached_tensors
from fewshot.data.tensor import Augmentation
from fewshot.errors import UsageError

log = logging.getLogger("fewshot")

SPLITS = ("train", "test")
PARALLEL_DECODE_MIN = 4000  # fewer files decode faster in this process than with a pool
DECODE_CHUNK = 2000


def _decode_chunk(paths: list[str], size: int) -> np.ndarray:
    """(n, 3, size, size) uint8: each file as the loader sees it (RGB, ``Resize((size, size))``)."""
    resize = T.Resize((size, size))
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = np.asarray(resize(pil_loader(path)), dtype=np.uint8).transpose(2, 0, 1)
    return out


def decode_files(paths: Sequence[str], size: int, *, what: str = "images") -> Tensor:
    """Decode image files into one uint8 tensor (N, 3, size, size), in parallel when many."""
    chunks = [list(paths[i : i + DECODE_CHUNK]) for i in range(0, len(paths), DECODE_CHUNK)]
    workers = min(len(chunks), os.cpu_count() or 1)
    if len(paths) < PARALLEL_DECODE_MIN or workers < 2:
        parts = [_decode_chunk(c, size) for c in chunks]
    else:
        parts, done = [], 0
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(_decode_chunk, chunks, [size] * len(chunks)):
                parts.append(part)
                done += len(part)
                log.info("decoding %s: %d/%d", what, done, len(paths))
    if not parts:
        return torch.empty(0, 3, size, size, dtype=torch.uint8)
    return torch.from_numpy(np.concatenate(parts))


class FolderDataModule(FewshotDataModule):
    """An ``ImageFolder`` pair of splits under ``data_root`` (required).

    Extra options: ``image_size`` (side after resizing), ``mean``/``std`` (per channel,
    default CIFAR-10's), ``augment`` (flip + random crop with padding ``image_size // 8``).
    """

    name = "folder"

    def __init__(
        self,
        *,
        image_size: int = 32,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
        augment: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(image_size, int) or image_size < 8:
            raise UsageError(f"image_size must be an integer >= 8, got {image_size!r}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise UsageError(f"mean and std need 3 values (std > 0), got {mean} and {std}")
        self.image_size, self.mean, self.std, self.augment = image_size, mean, std, augment
        self._classes: list[str] | None = None

    @property
    def classes(self) -> list[str]:
        """Class names: the sub-folders of ``train/`` (checked against ``test/``)."""
        if self._classes is None:
            train, test = (self._class_dirs(s) for s in SPLITS)
            if train != test:
                raise DataNotFoundError(
                    f"{self.data_root}: train/ and test/ have different class folders "
                    f"(only in train: {sorted(set(train) - set(test))}, only in test: "
                    f"{sorted(set(test) - set(train))}); make them match"
                )
            self._classes = train
        return self._classes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _class_dirs(self, split: str) -> list[str]:
        if self.data_root is None:
            raise DataNotFoundError(
                "the 'folder' data set needs a location: pass --data-root DIR containing "
                "train/<class>/ and test/<class>/ image folders"
            )
        path = self.data_root / split
        dirs = sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
        if not dirs:
            raise DataNotFoundError(
                f"no class folders in {path}: pass --data-root DIR containing "
                "train/<class>/*.png and test/<class>/*.png (torchvision ImageFolder layout)"
            )
        return dirs

    def augmentation(self) -> Augmentation:
        pad = self.image_size // 8 if self.augment else 0
        return Augmentation(tuple(self.mean), tuple(self.std), pad, self.augment)

    def decoded_bytes(self) -> int:
        self.classes  # noqa: B018 - a missing or malformed folder is a clear error first
        files = sum(len(files) for s in SPLITS for _, _, files in os.walk(self.data_root / s))
        return files * 3 * self.image_size**2

    def decode_tensors(self) -> dict[str, Tensor]:
        self.classes  # noqa: B018 - validates both splits before reading images
        key = {"dataset": self.name, "image_size": self.image_size, "classes": self.classes}
        name = f"folder-{self.image_size}px.pt"
        return cached_tensors(self.data_root, name, key, self._decode)

    def _decode(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for split in SPLITS:
            folder = self._read(split, None)
            paths = [p for p, _ in folder.samples]
            log.info("decoding %d images of %s", len(paths), self.data_root / split)
            out[f"{split}_images"] = decode_files(paths, self.image_size, what=split)
            out[f"{split}_labels"] = torch.tensor(folder.targets, dtype=torch.long)
        return out

    def load_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        self.classes  # noqa: B018 - validates both splits before reading images
        size, pad = self.image_size, self.image_size // 8
        common = {"size": size, "resize": True}
        aug = image_transforms(self.mean, self.std, train=self.augment, pad=pad, **common)
        plain = image_transforms(self.mean, self.std, train=False, **common)
        return self._read("train", aug), self._read("train", plain), self._read("test", plain)

    def _read(self, split: str, transform) -> ImageFolder:
        path = self.data_root / split
        try:
            return ImageFolder(str(path), transform=transform)
        except (FileNotFoundError, OSError) as exc:
            raise DataNotFoundError(f"cannot read images under {path}: {exc}") from exc
