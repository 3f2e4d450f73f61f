"""Which benchmark a data set is: may a run on it be judged by NATS-Bench's accuracies?

NATS-Bench holds the accuracy of every NB201 arch trained on CIFAR-10, CIFAR-100 and
ImageNet16-120. A run on other data (a user's own image folder, digits, synthetic images) ranks
archs for *that* data, and a Kendall tau or a regret against CIFAR-10 accuracy says nothing
about it. So a run is judged only when its data set is the benchmark's:

- by name: ``cifar10`` -> the ``cifar10`` (and ``cifar10-valid``) columns, ``cifar100`` ->
  ``cifar100``, ``imagenet16-120`` -> ``ImageNet16-120``;
- a ``folder`` data set whose ``train/`` class folders are exactly the benchmark data set's
  class names (the 10 CIFAR-10 names, or the 100 CIFAR-100 fine labels; case, spaces and
  hyphens ignored), like ``../shared/data/cifar10-subset``.

Otherwise the run is not judged, unless the user forces a column (``--benchmark-dataset``),
which is allowed with a warning. Imports: the standard library and :mod:`fewshot.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fewshot.errors import UsageError

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
"""CIFAR-10's class names, in its label order."""

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip
"""CIFAR-100's 100 fine labels, in its label order."""

BY_NAME = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
"""fewshot data set name -> the benchmark data set it is."""

BY_CLASSES = {"cifar10": CIFAR10_CLASSES, "cifar100": CIFAR100_CLASSES}
"""Benchmark data set -> the class names a folder must have to be it."""


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def folder_classes(data_root: Path | str | None) -> list[str]:
    """The class folders under ``data_root/train`` (empty when absent)."""
    if data_root is None:
        return []
    train = Path(data_root) / "train"
    return sorted(p.name for p in train.iterdir() if p.is_dir()) if train.is_dir() else []


def benchmark_of_classes(classes: Iterable[str]) -> str | None:
    """The benchmark data set whose class names are exactly ``classes``, or None."""
    got = sorted(_key(c) for c in classes)
    for bench, names in BY_CLASSES.items():
        if got == sorted(_key(n) for n in names):
            return bench
    return None


def benchmark_of(dataset: str | None, data_root: Path | str | None = None) -> str | None:
    """The benchmark data set (``cifar10``, ``cifar100``, ``ImageNet16-120``) that a run on
    ``dataset`` is, or None: by name, or for ``folder`` by its class names."""
    if dataset is None:
        return None
    if dataset.lower() in BY_NAME:
        return BY_NAME[dataset.lower()]
    if dataset == "folder":
        return benchmark_of_classes(folder_classes(data_root))
    return None


def _family(column: str) -> str:
    """The data set a benchmark accuracy column is about (``cifar10-valid`` -> ``cifar10``)."""
    low = column.lower()
    low = low.removesuffix("-valid")
    return BY_NAME.get(low, column)


@dataclass(frozen=True)
class Judging:
    """Whether and how a run is judged by the benchmark.

    ``column``: the benchmark accuracy column that judges the run, or None (not judged);
    ``forced``: the user named a column that is not the run's data set (a warning is due);
    ``why``: one line saying which data the run used and why it is (not) judged.
    """

    column: str | None
    forced: bool
    why: str


NOT_JUDGED = "not judged: the data is not the benchmark's"


def judging(dataset: str | None, data_root: Path | str | None, requested: str | None) -> Judging:
    """How a run on ``dataset`` (at ``data_root``) is judged; ``requested`` is the user's
    ``--benchmark-dataset`` (None: the run's own data set, when it is a benchmark's)."""
    own = benchmark_of(dataset, data_root)
    what = dataset if dataset != "folder" else f"the folder {data_root}"
    if requested is None:
        if own is None:
            return Judging(
                None,
                False,
                f"{NOT_JUDGED} ({what} is none of NATS-Bench's cifar10, cifar100, "
                "ImageNet16-120; --benchmark-dataset NAME forces it)",
            )
        return Judging(own, False, f"{what} is the benchmark's {own}")
    if own is not None and _family(requested) == own:
        return Judging(requested, False, f"{what} is the benchmark's {own}")
    return Judging(
        requested,
        True,
        f"judged against {requested} accuracy although the data ({what}) is not the "
        "benchmark's (--benchmark-dataset forces it): tau and regret say nothing about this data",
    )


def required_column(
    dataset: str | None, data_root: Path | str | None, requested: str | None, *, what: str
) -> str:
    """The benchmark column a command that cannot run unjudged compares with (``what``: the
    command, for the message): the run's own data set when it is a benchmark's, else the
    user's ``--benchmark-dataset`` (allowed, with a warning). Neither: one line, exit 2.
    A folder with no ``train/`` classes (absent here, as a GPU node's configuration read
    elsewhere) is left to the data set's own check, which refuses to load it."""
    if dataset == "folder" and not folder_classes(data_root):
        return requested or "cifar10"
    judged = judging(dataset, data_root, requested)
    if judged.column is None:
        shown = dataset if dataset != "folder" else f"the folder {data_root}"
        raise UsageError(
            f"{what} compares with the benchmark's accuracy, but the data is not the "
            f"benchmark's ({shown} is none of cifar10, cifar100, ImageNet16-120 or their "
            "classes); --benchmark-dataset NAME forces it"
        )
    if judged.forced:
        logging.getLogger(__name__).warning("%s", judged.why)
    return judged.column


__all__ = [
    "BY_CLASSES",
    "BY_NAME",
    "CIFAR100_CLASSES",
    "CIFAR10_CLASSES",
    "NOT_JUDGED",
    "Judging",
    "benchmark_of",
    "benchmark_of_classes",
    "folder_classes",
    "judging",
    "required_column",
]
