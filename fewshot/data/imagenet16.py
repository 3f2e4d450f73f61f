"""ImageNet16-120: NAS-Bench-201's 16x16 downsampled ImageNet, first 120 classes.

On-disk format (Chrabaszcz et al.'s "Downsampled ImageNet" pickles, as read by NB201):
a folder with ``train_data_batch_1`` ... ``train_data_batch_10`` and ``val_data``, each a
pickle of a dict with ``data`` (N x 768 uint8, channel-planar: 256 red, 256 green, 256 blue
values of a 16x16 image) and ``labels`` (N ints, 1-based). Only labels 1..120 are kept, and
shifted to 0..119. ``val_data`` is the test split. The data cannot be downloaded
automatically (ImageNet's terms); the error message says where to put them.

The tensor path holds the pickles' arrays (resized as the loader resizes them, and cached,
at sizes other than 16). Imports: the data package's base, cache, cifar (``resize_hwc``) and
tensor modules, numpy, PIL, torch.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from fewshot.data.base import (
    IMAGENET16_MEAN,
    IMAGENET16_STD,
    DataNotFoundError,
    FewshotDataModule,
    default_data_root,
    image_transforms,
)
from fewshot.data.cache import cached_tensors
from fewshot.data.cifar import resize_hwc
from fewshot.data.tensor import Augmentation

FOLDER = "ImageNet16"
TRAIN_PATTERN = re.compile(r"^train_data_batch_(\d+)$")
TEST_FILE = "val_data"
SIDE = 16


def read_batch(path: Path, keep_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One pickle as (N, 16, 16, 3) uint8 images and 0-based labels ``< keep_classes``."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry["labels"], dtype=np.int64)
        images = data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
        raise DataNotFoundError(
            f"{path} is not a readable ImageNet16 pickle (a dict with 'data': N x "
            f"{3 * SIDE * SIDE} uint8 and 'labels': N ints): {exc}"
        ) from exc
    if len(labels) != len(images):
        raise DataNotFoundError(f"{path}: {len(images)} images but {len(labels)} labels")
    keep = (labels >= 1) & (labels <= keep_classes)
    return images[keep], labels[keep] - 1


def read_batches(files: list[Path], keep_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of several pickles, concatenated in file order."""
    parts = [read_batch(p, keep_classes) for p in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class ArrayImages(Dataset):
    """HWC uint8 images in a numpy array with 0-based labels, as PIL images to ``transform``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.images[i])
        return (self.transform(img) if self.transform else img), int(self.labels[i])


class ImageNet16DataModule(FewshotDataModule):
    """ImageNet16-120 (151,700 train / 6,000 test in full), 16x16, NB201 normalisation.

    Training augmentation as in NB201: horizontal flip and random crop 16 with padding 2.
    ``data_root`` is the folder holding the pickles, or a folder with an ``ImageNet16/``
    subfolder (default: ``<cache>/ImageNet16``).
    """

    name = "imagenet16-120"
    native_size = SIDE
    keep_classes = 120

    @property
    def num_classes(self) -> int:
        return self.keep_classes

    @property
    def folder(self) -> Path:
        root = self.data_root if self.data_root is not None else default_data_root()
        return root / FOLDER if (root / FOLDER).is_dir() else root

    def files(self) -> tuple[list[Path], Path]:
        """The training pickles (by batch number) and the test pickle; clear error if absent."""
        folder = self.folder
        train = sorted(
            (p for p in folder.glob("train_data_batch_*") if TRAIN_PATTERN.match(p.name)),
            key=lambda p: int(TRAIN_PATTERN.match(p.name).group(1)),
        )
        test = folder / TEST_FILE
        if not train or not test.is_file():
            raise DataNotFoundError(
                f"ImageNet16-120 not found in {folder}: expected train_data_batch_1..10 and "
                f"{TEST_FILE} (NB201's downsampled ImageNet pickles). Fix: download "
                "Imagenet16_train.zip / Imagenet16_val.zip (16x16) from image-net.org "
                "(downsampled ImageNet), extract the pickles into one folder and pass "
                "--data-root DIR, or use --dataset cifar10 / digits"
            )
        return train, test

    def augmentation(self) -> Augmentation:
        return Augmentation(IMAGENET16_MEAN, IMAGENET16_STD, self.image_size // 8, True)

    def decoded_bytes(self) -> int:
        return 160_000 * 3 * self.image_size**2

    def _arrays(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        train_files, test_file = self.files()
        images, labels = read_batches(train_files, self.keep_classes)
        if len(labels) == 0:
            raise DataNotFoundError(
                f"no training image with a label in 1..{self.keep_classes} in {self.folder}"
            )
        return (images, labels), read_batches([test_file], self.keep_classes)

    def decode_tensors(self) -> dict[str, Tensor]:
        if self.image_size == SIDE:
            return self._decode()
        key = {"dataset": self.name, "image_size": self.image_size}
        name = f"{self.name}-{self.image_size}px.pt"
        return cached_tensors(self.folder, name, key, self._decode)

    def _decode(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for split, (images, labels) in zip(("train", "test"), self._arrays(), strict=True):
            out[f"{split}_images"] = resize_hwc(images, self.image_size)
            out[f"{split}_labels"] = torch.from_numpy(labels.astype(np.int64))
        return out

    def load_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        mean, std, size = IMAGENET16_MEAN, IMAGENET16_STD, self.image_size
        common = {"size": size, "resize": size != SIDE}
        aug = image_transforms(mean, std, train=True, pad=size // 8, **common)
        plain = image_transforms(mean, std, train=False, **common)
        (images, labels), test_arrays = self._arrays()
        test = ArrayImages(*test_arrays, plain)
        return ArrayImages(images, labels, aug), ArrayImages(images, labels, plain), test
