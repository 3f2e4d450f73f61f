"""Any image-classification folder tree: ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``.

Read with torchvision's ``ImageFolder``; images are resized to ``image_size`` (default 32)
and normalised with the CIFAR-10 statistics unless ``mean``/``std`` are given, with NB201's
CIFAR augmentation for training. ``../shared/data/cifar10-subset`` is such a tree.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder

from fewshot.data.base import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    DataNotFoundError,
    FewshotDataModule,
    image_transforms,
)
from fewshot.errors import UsageError

SPLITS = ("train", "test")


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
