"""CIFAR-10 and CIFAR-100 through torchvision, downloaded into a cache when online.

Offline, a download fails fast (a short reachability probe runs first, so nothing hangs) and
becomes a :class:`~fewshot.data.base.DataNotFoundError` saying where the data were looked for
and how to provide them.

The tensor path takes torchvision's decoded arrays as they are (at 32 pixels), or resized
image by image as the loader resizes them and cached (:mod:`fewshot.data.cache`) at other
sizes. Imports: the data package's base, cache and tensor modules, torch, torchvision.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets as tvd
from torchvision import transforms as T

from fewshot.data.base import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR100_MEAN,
    CIFAR100_STD,
    DataNotFoundError,
    FewshotDataModule,
    default_data_root,
    image_transforms,
    offline,
)
from fewshot.data.cache import cached_tensors
from fewshot.data.tensor import Augmentation

log = logging.getLogger("fewshot")

PROBE_TIMEOUT_S = 3.0


def url_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` seconds.

    DNS lookups ignore socket timeouts, so the probe runs in a daemon thread that is
    abandoned after ``timeout``. Always False when ``FEWSHOT_OFFLINE`` is set.
    """
    if offline():
        return False
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)


def resize_hwc(images: np.ndarray, size: int) -> Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) uint8, each image resized as the loader resizes
    (PIL, ``Resize((size, size))``); no resize when the size is already ``size``."""
    from PIL import Image

    if images.shape[1:3] != (size, size):
        resize = T.Resize((size, size))
        images = np.stack([np.asarray(resize(Image.fromarray(im))) for im in images])
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


class _TorchvisionCifar(FewshotDataModule):
    """Shared logic of the torchvision CIFAR data sets (subclasses set the class attributes)."""

    dataset_cls: ClassVar[type[tvd.CIFAR10]]
    title: ClassVar[str]
    mean: ClassVar[tuple[float, float, float]]
    std: ClassVar[tuple[float, float, float]]
    classes: ClassVar[int]

    @property
    def num_classes(self) -> int:
        return self.classes

    @property
    def root(self) -> Path:
        """The folder holding (or to hold) ``base_folder``; accepts that folder itself too."""
        root = self.data_root if self.data_root is not None else default_data_root()
        return root.parent if root.name == self.dataset_cls.base_folder else root

    def is_available(self) -> bool:
        """The extracted batches are present (file check only: quick, no checksums)."""
        folder = self.root / self.dataset_cls.base_folder
        names = [n for n, _ in self.dataset_cls.train_list + self.dataset_cls.test_list]
        return all((folder / n).is_file() for n in names)

    def prepare_data(self) -> None:
        """Download into :attr:`root` when missing and allowed; else a clear error."""
        if self.is_available():
            return
        if not self.download:
            raise DataNotFoundError(self._missing_message("downloads are disabled"))
        if not url_reachable(self.dataset_cls.url):
            raise DataNotFoundError(self._missing_message(f"{self.dataset_cls.url} is unreachable"))
        log.info("downloading %s into %s", self.title, self.root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.dataset_cls(str(self.root), train=True, download=True)
            self.dataset_cls(str(self.root), train=False, download=True)
        except (OSError, RuntimeError) as exc:
            raise DataNotFoundError(self._missing_message(f"download failed: {exc}")) from exc

    def augmentation(self) -> Augmentation:
        return Augmentation(self.mean, self.std, self.image_size // 8, True)

    def decoded_bytes(self) -> int:
        return 60_000 * 3 * self.image_size**2

    def decode_tensors(self) -> dict[str, Tensor]:
        self.prepare_data()
        if self.image_size == self.native_size:
            return self._decode()
        key = {"dataset": self.name, "image_size": self.image_size}
        source = self.root / self.dataset_cls.base_folder
        return cached_tensors(source, f"{self.name}-{self.image_size}px.pt", key, self._decode)

    def _decode(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for split in ("train", "test"):
            try:
                ds = self.dataset_cls(str(self.root), train=split == "train")
            except (OSError, RuntimeError, EOFError, ValueError) as exc:
                raise DataNotFoundError(self._missing_message(f"unreadable: {exc}")) from exc
            out[f"{split}_images"] = resize_hwc(ds.data, self.image_size)
            out[f"{split}_labels"] = torch.tensor(ds.targets, dtype=torch.long)
        return out

    def load_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        self.prepare_data()
        size, resize = self.image_size, self.image_size != self.native_size
        train, test = (
            image_transforms(self.mean, self.std, train=t, size=size, pad=size // 8, resize=resize)
            for t in (True, False)
        )
        try:
            return (
                self.dataset_cls(str(self.root), train=True, transform=train),
                self.dataset_cls(str(self.root), train=True, transform=test),
                self.dataset_cls(str(self.root), train=False, transform=test),
            )
        except (OSError, RuntimeError, EOFError, ValueError) as exc:
            raise DataNotFoundError(self._missing_message(f"unreadable: {exc}")) from exc

    def _missing_message(self, why: str) -> str:
        folder = self.root / self.dataset_cls.base_folder
        return (
            f"{self.title} not found in {folder} ({why}). Fix: go online and let fewshot "
            f"download it (into --data-root DIR, default {default_data_root()}), or download "
            f"{self.dataset_cls.url} yourself and extract it into {self.root}, or pass "
            f"--data-root DIR containing {self.dataset_cls.base_folder}/, or use "
            "--dataset digits (bundled, works offline)"
        )


class CIFAR10DataModule(_TorchvisionCifar):
    """CIFAR-10 (50,000 train / 10,000 test, 32x32), NB201 normalisation and augmentation."""

    name = "cifar10"
    dataset_cls = tvd.CIFAR10
    title = "CIFAR-10"
    mean, std, classes = CIFAR10_MEAN, CIFAR10_STD, 10


class CIFAR100DataModule(_TorchvisionCifar):
    """CIFAR-100 (50,000 train / 10,000 test, 32x32), NB201 normalisation and augmentation."""

    name = "cifar100"
    dataset_cls = tvd.CIFAR100
    title = "CIFAR-100"
    mean, std, classes = CIFAR100_MEAN, CIFAR100_STD, 100
