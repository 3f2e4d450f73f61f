"""Tiny stand-ins for external data, written by the tests themselves (hermetic, fast).

- :func:`write_fake_benchmark`: a NATS-Bench topology directory in the official fast-mode
  layout (``meta.pickle.pbz2`` + ``NNNNNN.pickle.pbz2``), serialised through nats_bench's own
  ``ArchResults``/``ResultsCount`` classes as the shared "simple" benchmark is: final-epoch
  accuracies only (epoch 199 of 200), no weights, times or losses.
- :func:`write_imagenet16`: NB201's downsampled-ImageNet pickles.
- :func:`write_image_folder`: a torchvision ``ImageFolder`` tree of PNG files.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from nats_bench import pickle_save
from nats_bench.api_utils import ArchResults, ResultsCount
from PIL import Image

EPOCHS = 200
LAST = EPOCHS - 1

# The evaluation sets each data set's entry carries in NATS-Bench.
EVAL_SETS = {
    "cifar10": ("ori-test",),
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
NUM_CLASSES = {"cifar10": 10, "cifar10-valid": 10, "cifar100": 100, "ImageNet16-120": 120}

# Per arch string: per data set, one accuracy per seed (the benchmark reports their mean).
FakeEntries = Mapping[str, Mapping[str, Sequence[float]]]

FAKE_ENTRIES: dict[str, dict[str, list[float]]] = {
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|": {
        "cifar10": [93.0, 94.0],  # two seeds: mean 93.5
        "cifar100": [70.0],
        "ImageNet16-120": [44.0],
        "cifar10-valid": [90.0],
    },
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|": {
        "cifar10": [10.0],
        "cifar100": [1.0],
        "ImageNet16-120": [0.8],
        "cifar10-valid": [10.0],
    },
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|": {
        "cifar10": [94.5, 94.0, 94.6],  # best on cifar10: mean 94.366...
        "cifar100": [72.0],
        "ImageNet16-120": [47.0, 46.0],
        "cifar10-valid": [91.5],
    },
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|": {
        "cifar10": [85.9],
        "cifar100": [73.0],  # best on cifar100
        "ImageNet16-120": [26.6],
        "cifar10-valid": [81.9],
    },
}


def _result(dataset: str, seed: int, arch_str: str, accuracy: float) -> ResultsCount:
    config = {"channel": 16, "num_cells": 5, "arch_str": arch_str}
    config["class_num"] = NUM_CLASSES[dataset]
    result = ResultsCount(
        dataset, None, {LAST: None}, {LAST: None}, None, None, config, seed, EPOCHS, None
    )
    for eval_set in EVAL_SETS[dataset]:
        result.update_OLD_eval(eval_set, {LAST: accuracy}, {LAST: None})
    return result


def arch_results(index: int, arch_str: str, per_dataset: Mapping[str, Sequence[float]]) -> dict:
    """The ``state_dict`` of one arch's ``ArchResults`` (seeds numbered 777, 888, ...)."""
    results = ArchResults(index, arch_str)
    for dataset, accuracies in per_dataset.items():
        for k, accuracy in enumerate(accuracies):
            seed = 777 + 111 * k
            results.update(dataset, seed, _result(dataset, seed, arch_str, accuracy))
    results.clear_net_done = True
    return results.state_dict()


def write_fake_benchmark(root: Path, entries: FakeEntries = FAKE_ENTRIES) -> Path:
    """Write a fast-mode benchmark directory with ``entries`` (in that index order)."""
    root.mkdir(parents=True, exist_ok=True)
    archs = list(entries)
    meta = {
        "meta_archs": archs,
        "total_archs": len(archs),
        "arch2infos": None,
        "evaluated_indexes": set(),
    }
    pickle_save(meta, str(root / "meta.pickle"))  # pickle_save appends ".pbz2"
    for index, arch_str in enumerate(archs):
        state = {"200": arch_results(index, arch_str, entries[arch_str])}
        pickle_save(state, str(root / f"{index:06d}.pickle"))
    return root


def mean_accuracy(entries: FakeEntries, arch_str: str, dataset: str) -> float:
    values = entries[arch_str][dataset]
    return sum(values) / len(values)


def write_imagenet16(
    root: Path, *, num_train_batches: int = 2, per_batch: int = 6, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """NB201 ImageNet16 pickles under ``root``; returns the raw (data, labels) per file.

    Labels are 1-based and include some above 120, which the 120-class loader must drop.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    names = [f"train_data_batch_{i}" for i in range(1, num_train_batches + 1)] + ["val_data"]
    written = {}
    for name in names:
        data = rng.integers(0, 256, size=(per_batch, 3 * 16 * 16), dtype=np.uint8)
        labels = rng.integers(1, 1001, size=per_batch)
        labels[:3] = [1, 120, 121]  # both ends of the kept range and one just outside
        with open(root / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels.tolist()}, f)
        written[name] = (data, labels)
    return written


def write_image_folder(
    root: Path, *, classes: Sequence[str] = ("cat", "dog", "emu"), per_class: int = 4, size=32
) -> Path:
    """``root/{train,test}/<class>/<i>.png`` with random RGB images."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def write_fake_macro_benchmark(path: Path, *, seed: int = 0) -> Path:
    """Write a NAS-Bench-Macro file in the real format: all 6,561 archs, keys in a shuffled
    order (indices are not codes), equivalent archs sharing one entry as in the real file
    (:meth:`fewshot.spaces.macro.Arch.canonical`); accuracies random, params and flops
    synthetic (``1000 + code`` and ``10 * code`` of the canonical arch)."""
    import json

    from fewshot.spaces.macro import all_archs

    rng = np.random.default_rng(seed)
    archs = list(all_archs())
    rng.shuffle(archs)  # type: ignore[arg-type]
    trained: dict[str, dict] = {}
    for arch in sorted({a.canonical() for a in archs}, key=lambda a: a.code):
        runs = [round(float(v), 2) for v in rng.uniform(40.0, 94.0, size=3)]
        trained[str(arch)] = {
            "test_acc": runs,
            "mean_acc": float(np.mean(runs)),
            "std": float(np.std(runs)),
            "params": 1000 + arch.code,
            "flops": 10 * arch.code,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({str(a): trained[str(a.canonical())] for a in archs}))
    return path
