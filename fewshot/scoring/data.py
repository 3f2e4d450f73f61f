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
from fewshot.scoring.spec import ScoringSpec

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
    from fewshot.data import make_datamodule, resolve_dataset, scoring_data

    spec, root = _spec_and_root(config, data_root)
    free = data_free(metrics)
    name, root = resolve_dataset(spec.dataset, root)
    dm = make_datamodule(name, data_root=root, batch_size=spec.batch_size, seed=spec.seed,
                         **spec.data_option)  # fmt: skip
    if free:
        log.info("%s are data-free: no image of %s is read", ", ".join(metrics), name)
        return name, data_free_input(dm, spec.batch_size)
    data = scoring_data(dm, num_batches=spec.batches, batch_size=spec.batch_size, seed=spec.seed)
    return name, data


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


__all__ = ["data_free_input", "load_scoring_data"]
