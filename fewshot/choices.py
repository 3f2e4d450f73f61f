"""The names a command's ``--metric``, ``--space`` and ``--dataset`` accept, for ``option(choices=...)``.

Each function imports its registry only when called (:mod:`fewshot.config` calls a ``choices``
callable only to show ``--help`` or to check a value), so declaring a command's configuration
imports neither the metrics nor the data modules. These lived in :mod:`fewshot.config`, which
sits below every layer and so may not import the registries; this module sits just above data
(beside scoring). The recipe names are :func:`fewshot.splitting.recipes.list_recipes`.
"""

from __future__ import annotations


def metric_names(kind: str | None = None) -> list[str]:
    """Registered metric names (for ``choices=``; imports the metric registry when called)."""
    from fewshot.metrics import list_metrics

    return list_metrics(kind=kind) if kind is not None else list_metrics()


def space_names() -> list[str]:
    """Search space names ``--space`` accepts (for ``choices=``; imports the space registry)."""
    from fewshot.spaces import space_names as names

    return names()


def space_option(**kwargs: object) -> object:
    """The ``--space`` field every command declares: default ``nb201``, recorded in every run
    folder and tree, and a result-affecting setting (a run resumed with another is refused)."""
    from fewshot.config import option
    from fewshot.spaces.base import DEFAULT_SPACE

    return option(
        DEFAULT_SPACE,
        help="search space (fewshot.spaces registry): what a split cuts, the archs, the "
        "networks and the benchmark",
        choices=space_names,
        **kwargs,
    )


def dataset_names() -> list[str]:
    """Data set names ``--dataset`` accepts (for ``choices=``; imports the data modules)."""
    from fewshot.data import DATASETS

    return list(DATASETS)


__all__ = ["dataset_names", "metric_names", "space_names", "space_option"]
