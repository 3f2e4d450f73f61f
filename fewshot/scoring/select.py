"""What to score: metric names (``all`` scalar metrics) and archs of a search space (a list, a
file, every arch, or a seeded sample).

May import: :mod:`fewshot.metrics` (the registry), :mod:`fewshot.spaces`, :mod:`fewshot.errors`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fewshot.errors import UsageError
from fewshot.metrics import list_metrics
from fewshot.spaces import DEFAULT_SPACE, Arch, SearchSpace, get_space


def resolve_metrics(spec: str | Sequence[str]) -> list[str]:
    """Metric names from ``"snip,synflow"`` (or a list); ``all``: every scalar metric."""
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = list(dict.fromkeys(n for n in names if n))
    scalar = list_metrics(kind="scalar")
    if names == ["all"]:
        return scalar
    if not names:
        raise UsageError("no metric given; pass --metrics snip,synflow (or 'all')")
    unknown = [n for n in names if n not in scalar]
    if unknown:
        raise UsageError(
            f"unknown or non-scalar metric(s) {unknown}; scalar metrics: {', '.join(scalar)}"
        )
    return names


def parse_archs(
    value: str | os.PathLike[str], *, space: SearchSpace | str = DEFAULT_SPACE
) -> list[Arch]:
    """Archs of ``space`` from a file (one arch string per line, ``#`` comments) or a
    comma-separated list of the space's arch strings."""
    space = get_space(space)
    text = str(value)
    if not _is_arch_list(text, space):  # anything else names a file
        path = Path(value)
        if not path.is_file():
            raise UsageError(f"--archs {value}: no such file, and not a list of arch strings")
        text = path.read_text(encoding="utf-8")
    text = text.replace(",", "\n")
    archs = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            archs.append(space.Arch.from_string(line))
        except ValueError as exc:
            raise UsageError(
                f"--archs: {line!r} is not an arch string of search space {space.name} ({exc})"
            ) from exc
    if not archs:
        raise UsageError(f"--archs {value}: no arch string found (not a file, or empty)")
    return list(dict.fromkeys(archs))


def _is_arch_list(text: str, space: SearchSpace) -> bool:
    """Whether ``--archs`` gave arch strings rather than a file: it holds ``|`` (cell arch
    strings always do, file names never), or its first entry is an arch of ``space``."""
    if "|" in text:
        return True
    first = text.split(",", 1)[0].strip()
    try:
        space.Arch.from_string(first)
    except ValueError:
        return False
    return True


def sample_archs(num: int, seed: int, *, space: SearchSpace | str = DEFAULT_SPACE) -> list[Arch]:
    """``num`` distinct archs of ``space`` drawn with ``seed``; a larger ``num`` extends the
    same sample (a permutation of the space's lexicographic order)."""
    every = list(get_space(space).all_archs())
    if not 1 <= num <= len(every):
        raise UsageError(f"--num must be between 1 and {len(every)}, got {num}")
    order = np.random.default_rng(seed).permutation(len(every))
    return [every[i] for i in order[:num]]


def select_archs(
    *,
    num: int | None,
    seed: int,
    every: bool = False,
    archs: str | None = None,
    space: SearchSpace | str = DEFAULT_SPACE,
) -> list[Arch]:
    """The archs of ``space`` to score: a given list, every arch (``every``), or a seeded
    sample of ``num``."""
    if sum([archs is not None, every, num is not None]) > 1:
        raise UsageError("choose one of --archs, --all and --num")
    if archs is not None:
        return parse_archs(archs, space=space)
    if every:
        return list(get_space(space).all_archs())
    return sample_archs(100 if num is None else num, seed, space=space)


__all__ = ["parse_archs", "resolve_metrics", "sample_archs", "select_archs"]
