"""Data sets that need no files: scikit-learn's bundled digits, and synthetic images.

- ``digits``: the 1,797 8x8 handwritten digits shipped with scikit-learn, resized to 32x32
  RGB. A real, learnable, offline data set: the fallback when CIFAR-10 cannot be had.
- ``synthetic``: Gaussian class prototypes plus noise, of any size and class count: for
  smoke tests (fast, and learnable, so a training loop can be seen to work).

Both are float tensors in memory; the tensor path uses them as they are (batch augmentation).
Imports: the data package's base and tensor modules, torch, scikit-learn (digits, lazily).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from fewshot.data.base import FewshotDataModule, TensorImages, image_transforms
from fewshot.data.tensor import Augmentation
from fewshot.errors import UsageError

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0  # the test split is fixed; ``seed`` only moves the val split


class DigitsDataModule(FewshotDataModule):
    """scikit-learn's 8x8 digits (10 classes) as 32x32 RGB images.

    A fixed, stratified 20% is the test split (independent of ``seed``). Pixels are scaled
    to [0, 1] and normalised with the training split's mean and std. Training augmentation:
    random crop 32 with padding 4 (no flip: digits are not mirror symmetric).
    """

    name = "digits"
    native_size = 32

    @property
    def num_classes(self) -> int:
        return 10

    def decode_tensors(self) -> dict[str, Tensor]:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        images = torch.as_tensor(bunch.images, dtype=torch.float32) / 16.0
        images = _upscale(images, self.image_size)
        labels = torch.as_tensor(bunch.target, dtype=torch.long)
        tr, te = train_test_split(
            range(len(labels)),
            test_size=DIGITS_TEST_FRACTION,
            random_state=DIGITS_SPLIT_SEED,
            stratify=bunch.target,
        )
        return {
            "train_images": images[tr],
            "train_labels": labels[tr],
            "test_images": images[te],
            "test_labels": labels[te],
        }

    def augmentation(self) -> Augmentation:
        """The training split's mean and std; crop padding ``image_size // 8``, no flip."""
        if self._tensors is not None:
            x = self._tensors[0].images
        else:
            x = self.decode_tensors()["train_images"]
        mean, std = (float(x.mean()),) * 3, (float(x.std()),) * 3
        return Augmentation(mean, std, self.image_size // 8, False)

    def load_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        t = self.decode_tensors()
        aug = self.augmentation()
        common = {"size": self.image_size, "to_tensor": False}
        train = image_transforms(aug.mean, aug.std, train=True, flip=False, pad=aug.pad, **common)
        plain = image_transforms(aug.mean, aug.std, train=False, **common)
        return (
            TensorImages(t["train_images"], t["train_labels"], train),
            TensorImages(t["train_images"], t["train_labels"], plain),
            TensorImages(t["test_images"], t["test_labels"], plain),
        )


def _upscale(images: Tensor, size: int = 32) -> Tensor:
    """(N, 8, 8) grey images in [0, 1] -> (N, 3, size, size) RGB by bilinear resizing."""
    x = F.interpolate(images[:, None], size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(0.0, 1.0).expand(-1, 3, -1, -1).contiguous()


class SyntheticDataModule(FewshotDataModule):
    """Random images: one Gaussian prototype per class plus Gaussian noise (unit variance).

    Extra options: ``num_classes``, ``image_size``, ``num_train``, ``num_test``,
    ``data_seed`` (draws the images; ``seed`` only moves the val split and the shuffle).
    """

    name = "synthetic"

    def __init__(
        self,
        *,
        num_classes: int = 10,
        image_size: int = 32,
        num_train: int = 512,
        num_test: int = 128,
        data_seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        for what, value in [("num_classes", num_classes), ("image_size", image_size)]:
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{what} must be a positive integer, got {value!r}")
        if not isinstance(num_train, int) or num_train < 2 or num_test < 1:
            raise UsageError(f"need num_train >= 2 and num_test >= 1, got {num_train}, {num_test}")
        self._num_classes, self.image_size = num_classes, image_size
        self.num_train, self.num_test, self.data_seed = num_train, num_test, data_seed

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def decode_tensors(self) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(self.data_seed)
        shape = (3, self.image_size, self.image_size)
        prototypes = torch.randn(self.num_classes, *shape, generator=g)
        out: dict[str, Tensor] = {}
        for split, n in (("train", self.num_train), ("test", self.num_test)):
            labels = torch.arange(n) % self.num_classes
            labels = labels[torch.randperm(n, generator=g)]
            noise = torch.randn(n, *shape, generator=g)
            out[f"{split}_images"] = (prototypes[labels] + noise) / 2**0.5
            out[f"{split}_labels"] = labels
        return out

    def augmentation(self) -> Augmentation:
        """None: the images are used as drawn (already centred, unit variance)."""
        return Augmentation()

    def load_datasets(self) -> tuple[Dataset, Dataset, Dataset]:
        t = self.decode_tensors()
        train = TensorImages(t["train_images"], t["train_labels"])
        return train, train, TensorImages(t["test_images"], t["test_labels"])
