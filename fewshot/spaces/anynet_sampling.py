"""The AnyNet design space of da Silva et al. (SPEC section 8): ranges, seeded sampling, size.

A :class:`DesignSpace` holds an inclusive ``(low, high)`` range per hyperparameter
``d1..d3, w1..w3, g1..g3, b1..b3``; the values it allows are

- depth ``d``: every integer in the range (paper: 1..16), drawn log-uniformly: ``P(d)`` is
  proportional to ``log(d + 1) - log(d)`` (``d = floor(exp(U(log low, log(high + 1))))``), the
  discrete counterpart of a log-uniform draw;
- width ``w`` (paper: 1..512) and group width ``g`` (1..32): the powers of two in the range;
- bottleneck ratio ``b``: ``{1, 2, 4}`` within the range;

each drawn uniformly among the allowed values, independently per stage. A (w, b, g) triple
that makes no block (``w / b`` must hold a whole number of groups of ``g`` channels: the
paper's "w divisible by g" applied to the grouped conv's width ``w / b``) and a net outside the
FLOPs range (default 10-50 MFLOPs at 32x32, pycls's count) are rejected and drawn again, so the
accepted nets are uniform over the valid triples (log-uniform in depth) restricted to the range.

The refinement narrows the ranges to bootstrap intervals (:meth:`DesignSpace.narrow`); the
subspace size counts the nets the ranges allow (valid blocks, any FLOPs), the paper's Fig. 5.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from fewshot.errors import UsageError
from fewshot.spaces.anynet import AnyNetConfig, block_compatible, hyperparameter_names

NUM_STAGES = 3
PAPER_RANGES: dict[str, tuple[int, int]] = {"d": (1, 16), "w": (1, 512), "g": (1, 32), "b": (1, 4)}
"""The initial range of each per-stage hyperparameter (SPEC section 8)."""
BOTTLENECK_RATIOS = (1, 2, 4)
DEFAULT_FLOPS_RANGE = (10_000_000, 50_000_000)
"""Accepted FLOPs (multiply-adds at 32x32), inclusive."""
MAX_PROPOSALS_PER_NET = 20_000


class SamplingError(UsageError):
    """The ranges (with the FLOPs range) allow no net, or too few to sample in reasonable time."""


def allowed_values(kind: str, low: int, high: int) -> tuple[int, ...]:
    """The values hyperparameter kind ``kind`` (d, w, g, b) takes in ``[low, high]``."""
    if kind == "d":
        return tuple(range(max(1, low), high + 1))
    if kind in ("w", "g"):
        return tuple(2**e for e in range(0, 31) if low <= 2**e <= high)
    if kind == "b":
        return tuple(v for v in BOTTLENECK_RATIOS if low <= v <= high)
    raise ValueError(f"unknown AnyNet hyperparameter kind {kind!r}; expected d, w, g or b")


def depth_probabilities(depths: tuple[int, ...]) -> np.ndarray:
    """Discrete log-uniform probabilities over consecutive depths ``low..high``."""
    d = np.asarray(depths, dtype=float)
    p = np.log(d + 1) - np.log(d)
    return p / p.sum()


@dataclass(frozen=True)
class DesignSpace:
    """Inclusive ranges per hyperparameter (``d1..d3, w1..w3, g1..g3, b1..b3``)."""

    ranges: tuple[tuple[str, int, int], ...]

    @classmethod
    def paper(cls, num_stages: int = NUM_STAGES) -> DesignSpace:
        """The full space: d 1..16, w 1..512, g 1..32, b 1..4 in every stage."""
        names = hyperparameter_names(num_stages)
        return cls(tuple((n, *PAPER_RANGES[n[0]]) for n in names))

    @classmethod
    def from_dict(cls, ranges: Mapping[str, tuple[int, int] | list[int]]) -> DesignSpace:
        return cls(tuple((n, int(lo), int(hi)) for n, (lo, hi) in ranges.items()))

    def __post_init__(self) -> None:
        for name, low, high in self.ranges:
            if low > high:
                raise SamplingError(f"range of {name} is empty: low {low} > high {high}")
            if not allowed_values(name[0], low, high):
                raise SamplingError(f"range of {name} [{low}, {high}] holds no allowed value")

    def to_dict(self) -> dict[str, list[int]]:
        return {n: [lo, hi] for n, lo, hi in self.ranges}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _, _ in self.ranges)

    @property
    def num_stages(self) -> int:
        return len(self.ranges) // len(PAPER_RANGES)

    def values(self, name: str) -> tuple[int, ...]:
        """Allowed values of hyperparameter ``name`` (e.g. ``"w2"``)."""
        for n, low, high in self.ranges:
            if n == name:
                return allowed_values(n[0], low, high)
        raise KeyError(f"no hyperparameter {name!r} in this space; known: {self.names}")

    def stage_triples(self, stage: int) -> list[tuple[int, int, int]]:
        """Valid ``(w, b, g)`` triples of stage ``stage`` (1-based)."""
        ws, bs, gs = (self.values(f"{h}{stage}") for h in "wbg")
        return [(w, b, g) for w in ws for b in bs for g in gs if block_compatible(w, b, g)]

    def size(self) -> int:
        """Number of nets the ranges allow: depths x valid (w, b, g) triples, over stages."""
        return math.prod(
            len(self.values(f"d{s}")) * len(self.stage_triples(s))
            for s in range(1, self.num_stages + 1)
        )

    def contains(self, config: AnyNetConfig) -> bool:
        """Whether every hyperparameter of ``config`` is an allowed value here."""
        h = config.hyperparameters()
        return all(h[n] in self.values(n) for n in self.names)

    def narrow(self, intervals: Mapping[str, tuple[int, int]]) -> DesignSpace:
        """The ranges replaced by ``intervals`` (those given), each clipped to the old range."""
        out = []
        for n, low, high in self.ranges:
            lo, hi = intervals.get(n, (low, high))
            out.append((n, max(low, int(lo)), min(high, int(hi))))
        return DesignSpace(tuple(out))

    # -- sampling ---------------------------------------------------------------------------
    def propose(self, rng: np.random.Generator) -> AnyNetConfig:
        """One net with valid blocks (any FLOPs): log-uniform depth, uniform valid triple."""
        depths, widths, ratios, groups = [], [], [], []
        for s in range(1, self.num_stages + 1):
            ds = self.values(f"d{s}")
            depths.append(int(rng.choice(ds, p=depth_probabilities(ds))))
            triples = self.stage_triples(s)
            if not triples:
                raise SamplingError(f"stage {s}: no (w, b, g) in the ranges makes a block")
            w, b, g = triples[int(rng.integers(len(triples)))]
            widths.append(w), ratios.append(b), groups.append(g)
        return AnyNetConfig(tuple(depths), tuple(widths), tuple(ratios), tuple(groups))


@dataclass(frozen=True)
class SampleResult:
    """Accepted nets and how many proposals they took (``acceptance = len / proposals``)."""

    configs: tuple[AnyNetConfig, ...]
    proposals: int

    @property
    def acceptance(self) -> float:
        return len(self.configs) / self.proposals if self.proposals else float("nan")


def check_flops_range(flops_range: tuple[float, float]) -> tuple[float, float]:
    """``(low, high)`` with ``0 <= low <= high``; otherwise :class:`SamplingError`."""
    low, high = flops_range
    if not (0 <= low <= high) or math.isnan(low) or math.isnan(high):
        raise SamplingError(
            f"FLOPs range [{low:g}, {high:g}] is empty or negative; need 0 <= low <= high"
        )
    return low, high


def sample_configs(
    space: DesignSpace,
    n: int,
    *,
    seed: int,
    flops_range: tuple[float, float] = DEFAULT_FLOPS_RANGE,
    image_size: int = 32,
    num_classes: int = 10,
    max_proposals: int | None = None,
) -> SampleResult:
    """``n`` nets from ``space`` with FLOPs in ``flops_range`` (rejection), seeded.

    Raises :class:`SamplingError` when ``max_proposals`` (default ``20,000 * n``) proposals
    do not yield ``n`` nets: the ranges and the FLOPs range barely overlap.
    """
    low, high = check_flops_range(flops_range)
    if n < 0:
        raise SamplingError(f"cannot sample {n} nets")
    limit = max_proposals if max_proposals is not None else MAX_PROPOSALS_PER_NET * max(n, 1)
    rng = np.random.default_rng(seed)
    accepted: list[AnyNetConfig] = []
    proposals = 0
    for config in _proposals(space, rng):
        if len(accepted) == n:
            break
        if proposals >= limit:
            raise SamplingError(
                f"only {len(accepted)} of {n} nets in {proposals} proposals have FLOPs in "
                f"[{low:g}, {high:g}]: the ranges {space.to_dict()} barely meet the FLOPs range"
            )
        proposals += 1
        flops = config.complexity(image_size=image_size, num_classes=num_classes)["flops"]
        if low <= flops <= high:
            accepted.append(config)
    return SampleResult(tuple(accepted), proposals)


def _proposals(space: DesignSpace, rng: np.random.Generator) -> Iterator[AnyNetConfig]:
    while True:
        yield space.propose(rng)
