"""Data modules (LightningDataModule) for the data sets fewshot scores and trains on.

``make_datamodule(name, ...)`` builds one; ``resolve_dataset`` picks CIFAR-10 or, when it
cannot be had and the user named no data set, the bundled ``digits`` (with a warning);
``scoring_data`` draws the fixed batches zero-cost metrics see.

Data sets: ``cifar10``, ``cifar100`` (torchvision, downloaded into ``$FEWSHOT_DATA`` or
``~/.cache/fewshot/data``), ``imagenet16-120`` (NB201's pickles), ``folder`` (an ImageFolder
tree with ``train/`` and ``test/``), ``digits`` (scikit-learn, offline), ``synthetic``.
Set ``FEWSHOT_OFFLINE=1`` to never attempt a download.

Every data set also takes ``image_size`` (resize; default its own) and ``data_path``
(``auto``/``tensor``/``loader``: decoded tensors with batch augmentation, or the per-image
loader; see :mod:`fewshot.data.base`). May import torch, Lightning, torchvision, the plumbing
below (errors, io) and metrics (:class:`~fewshot.metrics.base.ScoringData`, the batches a metric
sees); never scoring, splitting, training or anything above.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Any

import torch

from fewshot.data.base import DataNotFoundError, FewshotDataModule, default_data_root, offline
from fewshot.data.cifar import CIFAR10DataModule, CIFAR100DataModule, url_reachable
from fewshot.data.folder import FolderDataModule
from fewshot.data.imagenet16 import ImageNet16DataModule
from fewshot.data.small import DigitsDataModule, SyntheticDataModule
from fewshot.errors import UsageError
from fewshot.metrics.base import ScoringData

log = logging.getLogger("fewshot")

_MODULES: dict[str, type[FewshotDataModule]] = {
    cls.name: cls
    for cls in (
        CIFAR10DataModule,
        CIFAR100DataModule,
        ImageNet16DataModule,
        FolderDataModule,
        DigitsDataModule,
        SyntheticDataModule,
    )
}

DATASETS: tuple[str, ...] = tuple(_MODULES)
"""Names accepted by :func:`make_datamodule` (and ``--dataset``)."""

FALLBACK_DATASET = "digits"


def _check_name(name: str) -> type[FewshotDataModule]:
    try:
        return _MODULES[name]
    except (KeyError, TypeError):
        raise UsageError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None


COMMON_OPTIONS: tuple[str, ...] = ("image_size", "data_path")
"""Data options every data set accepts (``--data-option image_size=16``)."""


def dataset_options(name: str) -> list[str]:
    """The keyword options data set ``name`` accepts as data options: its own, then
    :data:`COMMON_OPTIONS`."""
    cls = _check_name(name)
    common = inspect.signature(FewshotDataModule.__init__).parameters
    params = inspect.signature(cls.__init__).parameters
    own = [p for p, v in params.items() if v.kind is v.KEYWORD_ONLY and p not in common]
    return own + [p for p in COMMON_OPTIONS if p not in own]


def make_datamodule(
    name: str,
    *,
    data_root: str | Path | None = None,
    batch_size: int = 64,
    num_workers: int = 0,
    seed: int = 0,
    val_fraction: float = 0.1,
    download: bool = True,
    **options: Any,
) -> FewshotDataModule:
    """Build the data module ``name``; unknown names or options raise ``UsageError``.

    ``options`` are data-set specific (e.g. ``synthetic``: ``num_classes``, ``image_size``;
    ``folder``: ``image_size``, ``mean``, ``std``) or common (``image_size``, ``data_path``);
    :func:`dataset_options` lists them.
    Nothing is read or downloaded here: that happens in ``prepare_data``/``setup`` (or
    lazily in the loaders).
    """
    cls = _check_name(name)
    unknown = sorted(set(options) - set(dataset_options(name)))
    if unknown:
        allowed = ", ".join(dataset_options(name)) or "it takes no option"
        raise UsageError(f"data set {name!r} has no option(s) {unknown}; its options: {allowed}")
    return cls(
        data_root=data_root,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        val_fraction=val_fraction,
        download=download,
        **options,
    )


def resolved_data_path(name: str, *, data_root: str | Path | None = None, **options: Any) -> str:
    """``tensor`` or ``loader``: the data path data set ``name`` takes with these data
    ``options`` (``data_path=auto`` decides by the decoded size), reading no image: what a run
    records as its ``resolved_data_path``."""
    dm = make_datamodule(name, data_root=data_root, download=False, **options)
    return dm.resolved_data_path()


def resolve_dataset(
    name: str | None, data_root: str | Path | None, *, download: bool = True
) -> tuple[str, Path | None]:
    """The data set to use and its root.

    A named data set is returned as is (never replaced). With no name: ``cifar10`` when it
    is under ``data_root`` (or the cache) or can be downloaded now (``download`` and
    online); otherwise ``digits`` with a warning on the ``fewshot`` logger.
    """
    root = Path(data_root).expanduser() if data_root is not None else None
    if name is not None:
        _check_name(name)
        return name, root
    cifar = CIFAR10DataModule(data_root=root, download=download)
    if cifar.is_available():
        return "cifar10", cifar.root
    if download and url_reachable(CIFAR10DataModule.dataset_cls.url):
        return "cifar10", cifar.root
    why = "downloads are disabled" if not download else "it cannot be downloaded (offline?)"
    log.warning(
        "no data set named and CIFAR-10 is not in %s and %s: falling back to the bundled "
        "'digits' data set (8x8 digits resized to 32x32). Pass --dataset cifar10 with "
        "--data-root DIR to use CIFAR-10, or --dataset to choose another (%s).",
        cifar.root,
        why,
        ", ".join(DATASETS),
    )
    return FALLBACK_DATASET, None


def scoring_data(
    dm: FewshotDataModule,
    *,
    num_batches: int = 1,
    batch_size: int = 64,
    seed: int = 0,
    augment: bool = False,
) -> ScoringData:
    """Fixed batches from the training split for zero-cost metrics (same seed, same tensors).

    Examples are drawn without replacement by ``seed`` from the training part (not the
    held-out part), without augmentation unless ``augment`` (then with the training
    transforms, crop and flip drawn from ``seed`` too; torch's global RNG is left untouched).
    """
    if num_batches < 1 or batch_size < 1:
        raise UsageError(
            f"need num_batches >= 1 and batch_size >= 1, got {num_batches}, {batch_size}"
        )
    dataset = dm.train_dataset(augment=augment)
    needed = num_batches * batch_size
    if needed > len(dataset):
        raise UsageError(
            f"{dm.name}: {num_batches} batches of {batch_size} need {needed} examples but the "
            f"training split has {len(dataset)}; use fewer or smaller batches"
        )
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    batches = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for b in range(num_batches):
            items = [dataset[int(i)] for i in order[b * batch_size : (b + 1) * batch_size]]
            x = torch.stack([x for x, _ in items])
            y = torch.tensor([y for _, y in items], dtype=torch.long)
            batches.append((x, y))
    return ScoringData(tuple(batches), dm.num_classes)


__all__ = [
    "DATASETS",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "DataNotFoundError",
    "DigitsDataModule",
    "FewshotDataModule",
    "FolderDataModule",
    "ImageNet16DataModule",
    "SyntheticDataModule",
    "dataset_options",
    "default_data_root",
    "make_datamodule",
    "offline",
    "resolve_dataset",
    "resolved_data_path",
    "scoring_data",
]
