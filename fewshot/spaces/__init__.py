"""Search spaces: what an architecture is, before any network is built.

- :mod:`fewshot.spaces.base`: the interface every space implements (:class:`SearchSpace`:
  positions, ops, :class:`Arch` / :class:`Mask` values, encodings, sampling, builders,
  benchmark adapter) and the registry (``@register_space``, :func:`get_space`,
  :func:`space_names`). Everything above this package takes a space, never NB201 constants.
- :mod:`fewshot.spaces.cell`: cell spaces (edges of a DAG cell are the positions).
- :mod:`fewshot.spaces.nb201`: NAS-Bench-201 (``--space nb201``, the default).
- :mod:`fewshot.spaces.macro`: NAS-Bench-Macro (``--space nas-bench-macro``): a chain of 8
  layers x 3 MobileNetV2-style blocks, and its benchmark adapter (a JSON file read here).
- :mod:`fewshot.spaces.tnb101`: TransNAS-Bench-101 micro (``--space tnb101-micro``): NB201's
  cell with 4 ops, ground truth on 7 Taskonomy tasks (a CSV read here), CIFAR proxy networks.
- :mod:`fewshot.spaces.anynet`: pycls's AnyNet for CIFAR (Radosavovic et al.), the design
  space that da Silva et al. refine with zero-cost predictors (SPEC section 8): the frozen
  :class:`~fewshot.spaces.anynet.AnyNetConfig` value and its stage specs (its ``nn.Module`` s
  and complexity count are :mod:`fewshot.models.anynet`). Not a split space.
- :mod:`fewshot.spaces.anynet_sampling`: the space's hyperparameter ranges, seeded sampling
  with FLOPs-range rejection, and subspace sizes.

May import numpy and the plumbing below (errors, registry); never torch at import, models or
anything above, except the edges declared in ``.importlinter``: a space's builders and
benchmark adapter import :mod:`fewshot.models` / :mod:`fewshot.benchmark` when called.
"""

from fewshot.spaces import macro as macro  # registers "nas-bench-macro"
from fewshot.spaces import nb201 as nb201  # registers "nb201"
from fewshot.spaces import tnb101 as tnb101  # registers "tnb101-micro"
from fewshot.spaces.base import (
    DEFAULT_SPACE,
    GROUPINGS,
    SPACES,
    Arch,
    ArchGroup,
    BenchmarkAdapter,
    Mask,
    SearchSpace,
    get_space,
    register_space,
    space_names,
    space_of,
)

__all__ = [
    "DEFAULT_SPACE",
    "GROUPINGS",
    "SPACES",
    "Arch",
    "ArchGroup",
    "BenchmarkAdapter",
    "Mask",
    "SearchSpace",
    "get_space",
    "register_space",
    "space_names",
    "space_of",
]
