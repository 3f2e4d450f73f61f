"""The decoded-tensor data path, and the seeded order and augmentation of both data paths.

What lives here:

- :class:`TensorSet`: a data set held whole as one tensor ``(N, 3, H, W)`` (uint8 pixels, or
  float values for the in-memory data sets) with int64 labels, in memory or on a device;
- :func:`normalise` and :func:`augment_batch`: normalisation and NB201's augmentation (random
  crop with zero padding, horizontal flip) on whole batches, on the tensors' device;
- :class:`TrainBatches` + :class:`EpochSampler`: the training batches of the tensor path;
- :class:`ChunkSampler` + :func:`chunk_batches`: the same batches in chunks of consecutive
  batches, one chunk per loader item, for fused training steps (issue 30, the lean step);
- :class:`SeededItems`: the kept per-image (PIL) loader's augmentation made reproducible.

Randomness, for a resumed run to see the same batches as an uninterrupted one: every draw is a
pure function of ``(seed, epoch, batch or example index)``, never of a global generator.

- Batch order: a permutation seeded by ``(seed, epoch)`` (both paths; the epoch comes from
  Lightning, which calls ``set_epoch`` on the loader's sampler at each epoch start, a restored
  epoch counter included, like ``DistributedSampler``).
- Tensor path augmentation: crop offsets and flips of batch ``b`` from a generator seeded by
  ``(seed, epoch, b)``.
- Loader path augmentation: example ``i`` of epoch ``e`` is transformed with torch's global
  generator forked and seeded by ``(seed, e, i)`` (torchvision's transforms draw from it), so
  worker processes and restarts change nothing.
- Path draws (``fewshot.training.module.path_generator(seed, step)``) are functions of
  ``(seed, global step)`` already; the supernet has no dropout.
- DDP: Lightning wraps the sampler and splits its keys over the ranks by ``(seed, epoch)``;
  the keys still carry the epoch (read from the running fit). Ray: every task builds its own
  data module from the same options, so the same draws.

Imports: torch and fewshot.errors only (the data layer's bottom).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from fewshot.errors import UsageError


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends only on ``parts`` (stable across runs and platforms)."""
    digest = hashlib.blake2b(",".join(str(int(p)) for p in parts).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") >> 1


def seeded_generator(*parts: int) -> torch.Generator:
    """A CPU generator seeded by :func:`derive_seed` of ``parts``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


def epoch_permutation(n: int, seed: int, epoch: int) -> Tensor:
    """The order of ``n`` examples in ``epoch``: a function of ``(seed, epoch)`` only."""
    return torch.randperm(n, generator=seeded_generator(seed, epoch))


@dataclass(frozen=True)
class Augmentation:
    """Per-data-set normalisation and augmentation: ``mean``/``std`` per channel (of values
    in [0, 1] for uint8 pixels), crop ``pad`` (0: none) and horizontal ``flip``."""

    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    pad: int = 0
    flip: bool = False


@dataclass
class TensorSet:
    """A whole data set: ``images`` (N, 3, H, W) uint8 or float, ``labels`` (N,) int64."""

    images: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"{self.images.shape[0]} images but labels {self.labels.shape}")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> TensorSet:
        """This set on ``device`` (the same object when already there)."""
        if self.images.device == torch.device(device):
            return self
        return TensorSet(self.images.to(device), self.labels.to(device))


def normalise(images: Tensor, aug: Augmentation) -> Tensor:
    """Float32 ``(x - mean) / std``; uint8 pixels are first scaled to [0, 1] (as ``ToTensor``),
    so the values are bitwise those of torchvision's ``ToTensor`` + ``Normalize``."""
    x = images.float().div(255) if images.dtype == torch.uint8 else images.float()
    mean = torch.as_tensor(aug.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    std = torch.as_tensor(aug.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return x.sub(mean).div(std)


def draw_augmentation(n: int, pad: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Crop offsets ``(n, 2)`` (row, column) in ``[0, 2 * pad]`` and flips ``(n,)`` (bool)."""
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    return offsets, flips


def augment_batch(images: Tensor, offsets: Tensor, flips: Tensor, pad: int) -> Tensor:
    """Crop each image at ``offsets`` from it zero-padded by ``pad``, then mirror where
    ``flips``: for image ``i``, ``hflip(crop(pad(x, pad), dy, dx, H, W))`` if ``flips[i]``.

    Works on whole batches on the images' device (one gather), any dtype.
    """
    n, _, h, w = images.shape
    dev = images.device
    offsets, flips = offsets.to(dev), flips.to(dev)
    if pad > 0:
        images = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    rows = offsets[:, 0, None] + torch.arange(h, device=dev)  # (n, h)
    cols = offsets[:, 1, None] + torch.arange(w, device=dev)  # (n, w)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=dev)[:, None, None]
    out = images.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (n, h, w, 3)
    return out.permute(0, 3, 1, 2).contiguous()


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, i)`` keys for ``i`` in ``range(n)``, shuffled by ``(seed, epoch)`` when
    ``shuffle``; ``set_epoch`` (called by Lightning at every epoch start) picks the epoch.

    ``epoch_source`` (the Trainer's epoch) is read at every iteration and wins when larger:
    under DDP Lightning wraps this sampler and sets the wrapper's epoch, not this one's.
    """

    def __init__(
        self,
        n: int,
        seed: int,
        *,
        shuffle: bool = True,
        epoch_source: Callable[[], int] | None = None,
    ) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0
        self.epoch_source = epoch_source
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def skip_once(self, keys: int) -> None:
        """Leave out the first ``keys`` keys of the next iteration only: a fit resumed from a
        mid-epoch checkpoint continues its epoch's order where it stopped."""
        self._skip = max(0, int(keys))

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = max(self.epoch, self.epoch_source()) if self.epoch_source else self.epoch
        order = epoch_permutation(self.n, self.seed, epoch) if self.shuffle else range(self.n)
        skip, self._skip = self._skip, 0
        return iter([(epoch, int(i)) for i in order][skip:])


class ChunkSampler(EpochSampler):
    """Yields ``(epoch, first, stop)`` keys: the epoch's ``n`` batches in consecutive chunks
    of at most ``steps`` (fused training steps, :func:`chunk_batches`), cut at the multiples of
    ``steps``; a skip (:meth:`EpochSampler.skip_once`, in batches) starts a shorter first chunk
    where a resumed epoch continues, whatever chunk size the run before it had.

    Its length is the epoch's batch count, not its chunk count: Lightning's training loop
    counts a fused chunk as the batches it carries (the module advances its counters), so the
    epoch ends, and ``estimated_stepping_batches`` is the number of optimiser steps, as
    unfused."""

    def __init__(
        self,
        n: int,
        seed: int,
        steps: int,
        *,
        epoch_source: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(n, seed, shuffle=False, epoch_source=epoch_source)
        if steps < 1:
            raise ValueError(f"steps must be a positive count, got {steps}")
        self.steps = steps

    def __iter__(self) -> Iterator[tuple[int, int, int]]:  # type: ignore[override]
        epoch = max(self.epoch, self.epoch_source()) if self.epoch_source else self.epoch
        first, self._skip = min(self._skip, self.n), 0
        keys = []
        while first < self.n:
            stop = min(self.n, (first // self.steps + 1) * self.steps)
            keys.append((epoch, first, stop))
            first = stop
        return iter(keys)


CHUNK_KEY = "fused_batches"
"""The key of a chunk of training batches (:func:`chunk_batches`)."""


def chunk_batches(batch: object) -> list[tuple[Tensor, Tensor]]:
    """The training batches a loader item carries, in order: a chunk
    (``{CHUNK_KEY: (images, labels, batch_size)}``, :meth:`TrainBatches.__getitem__` of a
    :class:`ChunkSampler` key) split into batches of ``batch_size`` (views: the same tensors a
    batch-by-batch loader gives), or a plain ``(images, labels)`` batch alone."""
    if isinstance(batch, dict) and CHUNK_KEY in batch:
        images, labels, size = batch[CHUNK_KEY]
        return list(zip(images.split(int(size)), labels.split(int(size)), strict=True))
    x, y = batch  # type: ignore[misc]
    return [(x, y)]


class TrainBatches(Dataset):
    """Batch ``(epoch, b)`` of the training part: examples ``perm[b*B:(b+1)*B]`` of the
    ``(seed, epoch)`` permutation, augmented with draws seeded by ``(seed, epoch, b)`` and
    normalised, on ``data``'s device. The last batch may be smaller (as a ``DataLoader``'s).

    The first batch asked of an epoch makes the whole epoch at once (one gather and one
    normalisation over every example, the same draws per batch, so bitwise the batches made
    one by one) when it takes at most ``epoch_bytes`` (default 1 GiB): a small network's step
    then pays a slice, not a dozen small tensor ops (issue 30, the lean step). Larger epochs
    are made batch by batch.
    """

    def __init__(
        self,
        data: TensorSet,
        indices: Sequence[int],
        batch_size: int,
        seed: int,
        aug: Augmentation,
        *,
        epoch_bytes: int = 1 << 30,
    ) -> None:
        self.data, self.batch_size, self.seed, self.aug = data, batch_size, seed, aug
        self.indices = torch.as_tensor(list(indices), dtype=torch.long)
        self.epoch_bytes = epoch_bytes
        self._perm: tuple[int, Tensor] | None = None
        self._epoch: tuple[int, Tensor, Tensor] | None = None

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def batch_indices(self, epoch: int, b: int) -> Tensor:
        """Indices (into ``data``) of batch ``b`` of ``epoch``."""
        return self._epoch_indices(epoch)[b * self.batch_size : (b + 1) * self.batch_size]

    def _epoch_indices(self, epoch: int) -> Tensor:
        if self._perm is None or self._perm[0] != epoch:
            order = epoch_permutation(len(self.indices), self.seed, epoch)
            self._perm = (epoch, self.indices[order])
        return self._perm[1]

    def __getitem__(self, key: tuple[int, ...]) -> tuple[Tensor, Tensor] | dict[str, object]:
        epoch, first = key[0], key[1]
        stop = key[2] if len(key) > 2 else first + 1
        if self._whole_epochs():
            if self._epoch is None or self._epoch[0] != epoch:
                self._epoch = (epoch, *self._make(epoch, range(len(self))))
            rows = slice(first * self.batch_size, stop * self.batch_size)
            x, y = self._epoch[1][rows], self._epoch[2][rows]
        else:
            x, y = self._make(epoch, range(first, stop))
        return (x, y) if len(key) == 2 else {CHUNK_KEY: (x, y, self.batch_size)}

    def _whole_epochs(self) -> bool:
        """Whether an epoch of float32 images (and its padded copy) fits ``epoch_bytes``."""
        _, c, h, w = self.data.images.shape
        pad = self.aug.pad
        per_image = 4 * c * h * w + self.data.images.element_size() * c * (h + 2 * pad) * (
            w + 2 * pad
        )
        return len(self.indices) * per_image <= self.epoch_bytes

    def _make(self, epoch: int, batches: Sequence[int]) -> tuple[Tensor, Tensor]:
        """The images and labels of ``batches`` of ``epoch``, in order, augmented with each
        batch's own draws."""
        idx = torch.cat([self.batch_indices(epoch, b) for b in batches])
        idx = idx.to(self.data.images.device)
        x = self.data.images[idx]
        if self.aug.pad > 0 or self.aug.flip:
            draws = [
                draw_augmentation(len(self.batch_indices(epoch, b)), self.aug.pad,
                                  seeded_generator(self.seed, epoch, b))
                for b in batches
            ]  # fmt: skip
            offsets = torch.cat([d[0] for d in draws])
            flips = torch.cat([d[1] for d in draws])
            x = augment_batch(x, offsets, flips & self.aug.flip, self.aug.pad)
        return normalise(x, self.aug), self.data.labels[idx]


class TensorItems(Dataset):
    """Examples of a :class:`TensorSet` one by one, normalised; augmented (global generator,
    like torchvision's transforms) when ``augment``. The per-image view of the tensor path
    (held-out and scoring batches, the ``*_dataset()`` API)."""

    def __init__(self, data: TensorSet, aug: Augmentation, *, augment: bool = False) -> None:
        self.data, self.aug, self.augment = data, aug, augment

    @property
    def images(self) -> Tensor:
        return self.data.images

    @property
    def labels(self) -> Tensor:
        return self.data.labels

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = self.data.images[i : i + 1]
        if self.augment and (self.aug.pad > 0 or self.aug.flip):
            offsets, flips = self._draw_like_torchvision()
            x = augment_batch(x, offsets, flips, self.aug.pad)
        return normalise(x, self.aug)[0], int(self.data.labels[i])

    def _draw_like_torchvision(self) -> tuple[Tensor, Tensor]:
        """The draws of the loader's ``RandomHorizontalFlip`` then ``RandomCrop``, in their
        order from the global generator, so both paths augment a seeded example alike."""
        flip = bool(torch.rand(1) < 0.5) if self.aug.flip else False
        span = 2 * self.aug.pad + 1
        pad = self.aug.pad > 0  # no RandomCrop (no draws) without padding
        row, col = (int(torch.randint(0, span, size=(1,))) if pad else 0 for _ in range(2))
        col = span - 1 - col if flip else col  # flip-then-crop = crop the mirror column, flip
        return torch.tensor([[row, col]]), torch.tensor([flip])


class SeededItems(Dataset):
    """``dataset`` indexed by ``(epoch, i)`` keys (from :class:`EpochSampler`): item ``i``
    transformed with torch's global CPU generator seeded by ``(seed, epoch, i)`` and restored
    after, so per-image augmentation is reproducible (and the caller's generator untouched)."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        cpu = torch.default_generator  # CPU only: torch.manual_seed also seeds every device
        state = cpu.get_state()
        try:
            cpu.manual_seed(derive_seed(self.seed, epoch, i))
            return self.dataset[i]
        finally:
            cpu.set_state(state)


DATA_PATHS = ("auto", "tensor", "loader")
"""Values of the ``data_path`` data option."""


def check_data_path(value: str) -> str:
    """``value`` if it names a data path, else ``UsageError``."""
    if value not in DATA_PATHS:
        raise UsageError(f"data_path must be one of {', '.join(DATA_PATHS)}, got {value!r}")
    return value
