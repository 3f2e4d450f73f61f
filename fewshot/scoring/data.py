"""The batches a :class:`~fewshot.scoring.spec.ScoringSpec` scores on.

:func:`load_scoring_data` draws the spec's fixed batches from its data set; when every metric
asked for is data-free (:func:`fewshot.metrics.data_free`: synflow, params, flops read only
the image shape), it reads no data set at all and builds a placeholder batch from the data
set's known class count and image size, so those metrics run where the images are absent.

May import: :mod:`fewshot.data`, :mod:`fewshot.metrics`, :mod:`fewshot.scoring.spec`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from fewshot.metrics import ScoringData, data_free
from fewshot.scoring.spec import DATA_FIELDS, ScoringSpec, spec_difference

log = logging.getLogger("fewshot")


def load_scoring_data(
    config: ScoringSpec | Mapping[str, Any] | Any,
    *,
    data_root: str | Path | None = None,
    metrics: Collection[str] = (),
) -> tuple[str, ScoringData]:
    """(data set actually used, the fixed scoring batches) of a spec.

    ``config`` is a :class:`ScoringSpec`, or ``fewshot.score`` configuration keys (a mapping
    or a config dataclass with ``dataset``, ``data_root``, ``data_option`` (or the older
    ``dataset_option``), ``batch_size``, ``batches``, ``seed``), as commands and tools pass
    it. With ``metrics`` all data-free, no image is read (:func:`data_free_input`).
    """
    from fewshot.data import scoring_data

    spec, root = _spec_and_root(config, data_root)
    name, dm = _datamodule(spec, root)
    if data_free(metrics):
        log.info("data-free metrics (%s): no image of %s is read", ", ".join(metrics), name)
        return name, data_free_input(dm, spec.batch_size)
    data = scoring_data(dm, num_batches=spec.batches, batch_size=spec.batch_size, seed=spec.seed)
    return name, data


def _datamodule(spec: ScoringSpec, data_root: str | Path | None) -> tuple[str, Any]:
    """(data set actually used, its data module): nothing is read yet."""
    from fewshot.data import make_datamodule, resolve_dataset

    name, root = resolve_dataset(spec.dataset, data_root)
    dm = make_datamodule(name, data_root=root, batch_size=spec.batch_size, seed=spec.seed,
                         **spec.data_option)  # fmt: skip
    return name, dm


def scoring_data_path(
    config: ScoringSpec | Mapping[str, Any] | Any, dataset: str, data_root: str | Path | None = None
) -> str:
    """``tensor`` or ``loader``: the data path of the spec's data module for ``dataset`` (the
    data set :func:`load_scoring_data` used), reading no image; what ``fewshot.score`` records
    as ``resolved_data_path``."""
    from fewshot.data import resolved_data_path

    spec, root = _spec_and_root(config, data_root)
    return resolved_data_path(dataset, data_root=root, **spec.data_option)


def input_size(spec: ScoringSpec, data_root: str | Path | None = None) -> tuple[int, int]:
    """(class count, image side) of the spec's data set: all a data-free metric sees of it."""
    _, dm = _datamodule(spec, data_root)
    return dm.num_classes, dm.image_size


def scoring_difference(
    a: ScoringSpec,
    b: ScoringSpec,
    metrics: Collection[str],
    roots: tuple[str | Path | None, str | Path | None] = (None, None),
) -> list[str]:
    """Where ``a`` and ``b`` would give ``metrics`` different values: every field that
    differs; for data-free metrics the images only through (class count, image side), so a
    synthetic data set of CIFAR-100's 100 classes and 32 pixels scores as CIFAR-100 does.
    ``roots``: the two specs' data folders (a folder data set's classes are listed there)."""
    if not data_free(metrics):
        return spec_difference(a, b)
    diff = spec_difference(a, b, ignore=DATA_FIELDS)
    sizes = input_size(a, roots[0]), input_size(b, roots[1])
    if sizes[0] != sizes[1]:
        diff.append(f"(classes, image size) {sizes[0]} vs {sizes[1]}")
    return diff


def data_free_input(dm: Any, batch_size: int) -> ScoringData:
    """A placeholder batch of the data module's image size and class count (nothing read)."""
    return ScoringData.placeholder(
        num_classes=dm.num_classes, image_size=dm.image_size, batch_size=batch_size
    )


def _spec_and_root(config: Any, data_root: str | Path | None) -> tuple[ScoringSpec, Any]:
    if isinstance(config, ScoringSpec):
        return config, data_root
    c = dict(config) if isinstance(config, Mapping) else dataclasses.asdict(config)
    return ScoringSpec.from_mapping(c), data_root if data_root is not None else c.get("data_root")


__all__ = [
    "data_free_input",
    "input_size",
    "load_scoring_data",
    "scoring_data_path",
    "scoring_difference",
]
