"""Metric registry, result types, and shared probes.

A *metric* maps a network and some data to one typed result. Most zero-cost proxies are cheap
reductions of the same few passes (one cross-entropy backward serves grad_norm, snip, fisher,
ssnr; one forward's ReLU codes serve naswot and t-cet). Those passes are *probes*: registered
functions computed lazily, once, by a :class:`ProbeCache` and shared by every metric asked for
in the same :func:`compute_metrics` call. Calling one metric at a time gives the same numbers
(probes are deterministic given the cache's seed), only slower.

Rules every metric follows (the decorator and cache enforce what they can):
- The network it is given is never mutated: probes work on :meth:`ProbeCache.working_copy`
  (one deep copy per cache) or on their own transformed copies.
- Layers that did not run in the forward (disabled ops of a sub-supernet) are skipped; layers
  are matched by their module names.
- A NaN or inf result raises :class:`MetricError` unless the metric declares ``allow_nonfinite``.

Adding a metric: one file in ``fewshot/metrics/``, one ``@register_metric("name")`` function
taking a :class:`ProbeCache` and returning a :class:`MetricResult` (or ``float``), and one
import line in ``fewshot/metrics/__init__.py``. The registry-wide tests then cover it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from fewshot.metrics.settings import DEFAULT_SETTINGS, MetricSettings
from fewshot.registry import Registry

MetricKind = Literal["scalar", "pairwise"]


class MetricError(RuntimeError):
    """A metric could not produce a valid value (NaN/inf, missing data, unsuitable network)."""


@dataclass(frozen=True)
class MetricResult:
    """One scalar metric value for one network.

    Attributes:
        name: registry name of the metric.
        value: the score (higher means "predicted better" unless the spec says otherwise).
        per_layer: per-layer contributions keyed by module name, for per-layer metrics.
        extras: other named numbers (e.g. ``log`` of a huge synflow value).
    """

    name: str
    value: float
    per_layer: Mapping[str, float] | None = None
    extras: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PairwiseResult:
    """A pairwise metric over candidates: a symmetric distance matrix (zero diagonal)."""

    name: str
    distance: np.ndarray


@dataclass(frozen=True)
class ScoringData:
    """The batches a metric sees. ``batches[0]`` is the main batch; zico/gm use all of them.

    Inputs are image tensors (B, 3, H, W); targets class indices (B,).
    """

    batches: tuple[tuple[Tensor, Tensor], ...]
    num_classes: int

    def __post_init__(self) -> None:
        if not self.batches:
            raise ValueError("ScoringData needs at least one (inputs, targets) batch")
        for i, (x, y) in enumerate(self.batches):
            if x.ndim != 4 or y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"batch {i}: expected inputs (B,C,H,W) and targets (B,), "
                    f"got {tuple(x.shape)} and {tuple(y.shape)}"
                )

    @property
    def inputs(self) -> Tensor:
        return self.batches[0][0]

    @property
    def targets(self) -> Tensor:
        return self.batches[0][1]

    def require_batches(self, n: int, metric: str) -> None:
        """Raise a clear error when a metric needs more batches than were given."""
        if len(self.batches) < n:
            raise MetricError(
                f"metric {metric!r} needs at least {n} batches, got {len(self.batches)}; "
                f"pass --batches {n} (or more)"
            )

    @classmethod
    def random(
        cls,
        *,
        batch_size: int = 8,
        num_batches: int = 2,
        num_classes: int = 10,
        image_size: int = 32,
        seed: int = 0,
    ) -> ScoringData:
        """Gaussian images with random labels (tests and smoke runs)."""
        g = torch.Generator().manual_seed(seed)
        batches = tuple(
            (
                torch.randn(batch_size, 3, image_size, image_size, generator=g),
                torch.randint(num_classes, (batch_size,), generator=g),
            )
            for _ in range(num_batches)
        )
        return cls(batches, num_classes)

    @classmethod
    def placeholder(cls, *, num_classes: int, image_size: int, batch_size: int = 1) -> ScoringData:
        """One batch of zero images with label 0: the input of data-free metrics, which read
        only the image shape (:func:`data_free`); no data set is read to build it."""
        x = torch.zeros(batch_size, 3, image_size, image_size)
        return cls(((x, torch.zeros(batch_size, dtype=torch.long)),), num_classes)


# -- registries ---------------------------------------------------------------------------

ProbeFn = Callable[["ProbeCache"], Any]
PROBES: Registry[ProbeFn] = Registry("probe")


def register_probe(name: str) -> Callable[[ProbeFn], ProbeFn]:
    """Register a shared pass computed at most once per :class:`ProbeCache`."""
    return PROBES.decorator(name)


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric and its run policy."""

    name: str
    fn: Callable[..., Any]
    kind: MetricKind = "scalar"
    allow_nonfinite: bool = False
    description: str = ""
    needs_data: bool = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(
    name: str,
    *,
    kind: MetricKind = "scalar",
    allow_nonfinite: bool = False,
    needs_data: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a metric under its literature name.

    A scalar metric is ``fn(cache: ProbeCache) -> MetricResult | float``. A pairwise metric is
    ``fn(caches: Sequence[ProbeCache]) -> np.ndarray`` (an n x n distance matrix).
    ``needs_data=False`` declares a *data-free* metric: it reads only the shape of the main
    batch's images (and the class count through the network), never their values or labels,
    so it may be given :meth:`ScoringData.placeholder` instead of images.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or "").strip().splitlines()
        METRICS.register(
            name,
            MetricSpec(name, fn, kind, allow_nonfinite, doc[0] if doc else "", needs_data),
        )
        return fn

    return wrap


def data_free(names: Collection[str]) -> bool:
    """Whether every metric of ``names`` (at least one) is data-free (``needs_data=False``)."""
    return bool(names) and not any(get_metric(n).needs_data for n in names)


def list_metrics(pattern: str = "*", *, kind: MetricKind | None = None) -> list[str]:
    """Registered metric names matching ``pattern`` (and ``kind`` when given)."""
    return [n for n in METRICS.names(pattern) if kind is None or METRICS.get(n).kind == kind]


def get_metric(name: str) -> MetricSpec:
    """The spec of metric ``name``; unknown names raise with the list of known metrics."""
    return METRICS.get(name)


# -- probe cache --------------------------------------------------------------------------


class ProbeCache:
    """Lazily computed, shared passes over one network and one :class:`ScoringData`.

    Args:
        net: the classifier to score (never mutated).
        data: the batches; moved to the network's device on first use.
        seed: seeds every random draw a probe makes (via :meth:`generator`).
        metrics: the metrics this cache will serve, when known; a probe may then skip work
            that only other metrics need (see :meth:`wants`). ``None``: serve any metric.
        settings: how the metrics are computed (BN mode, gradient target and layout, synflow
            dtype...; see :mod:`fewshot.metrics.settings`). Default: zero-cost-nas's.
    """

    def __init__(
        self,
        net: nn.Module,
        data: ScoringData,
        *,
        seed: int = 0,
        metrics: Collection[str] | None = None,
        settings: MetricSettings = DEFAULT_SETTINGS,
    ) -> None:
        self.net = net
        self.data = data
        self.seed = seed
        self.settings = settings
        self.metrics = None if metrics is None else frozenset(metrics)
        self.device = _device_of(net)
        self._values: dict[str, Any] = {}
        self._copy: nn.Module | None = None
        self._batches: tuple[tuple[Tensor, Tensor], ...] | None = None
        self.probe_seconds: dict[str, float] = {}

    def get(self, probe: str) -> Any:
        """Value of ``probe`` (computed on first request, then cached)."""
        if probe not in self._values:
            fn = PROBES.get(probe)
            torch.manual_seed(self.seed)
            start = time.perf_counter()
            self._values[probe] = fn(self)
            self.probe_seconds[probe] = time.perf_counter() - start
        return self._values[probe]

    def wants(self, metric: str) -> bool:
        """Whether ``metric`` may be asked of this cache (always, when its metrics are unknown)."""
        return self.metrics is None or metric in self.metrics

    def has(self, probe: str) -> bool:
        """Whether ``probe`` has been computed already (a probe may then reuse its value)."""
        return probe in self._values

    def batches(self) -> tuple[tuple[Tensor, Tensor], ...]:
        """All batches on the network's device."""
        if self._batches is None:
            self._batches = tuple(
                (x.to(self.device), y.to(self.device)) for x, y in self.data.batches
            )
        return self._batches

    def batch(self, i: int = 0) -> tuple[Tensor, Tensor]:
        return self.batches()[i]

    def working_copy(self) -> nn.Module:
        """One deep copy of the network in ``settings.bn_mode``, shared by probes, grads cleared.

        Every parameter of the copy requires grad: a metric scores all weights whatever
        the caller froze. Probes may run forward/backward on it; each must leave ``.grad``
        cleared (:func:`clear_grads`) and must not change weights.
        """
        if self._copy is None:
            self._copy = copy.deepcopy(self.net).train(self.settings.bn_mode == "train")
            for p in self._copy.parameters():
                p.requires_grad_(True)
            clear_grads(self._copy)
        return self._copy

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the cache seed (plus ``offset`` per use)."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + offset)


def _device_of(net: nn.Module) -> torch.device:
    for t in net.parameters():
        return t.device
    return torch.device("cpu")


def clear_grads(net: nn.Module) -> None:
    """Set every parameter's ``.grad`` to ``None``."""
    for p in net.parameters():
        p.grad = None


def weight_layers(net: nn.Module) -> Iterable[tuple[str, nn.Module]]:
    """Named Conv2d/Linear modules: the layers saliency metrics score (no BN, no biases)."""
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            yield name, module


# -- running metrics ----------------------------------------------------------------------


def _as_result(name: str, out: MetricResult | float) -> MetricResult:
    if isinstance(out, MetricResult):
        return out
    return MetricResult(name, float(out))


def check_finite(
    result: MetricResult, spec: MetricSpec, settings: MetricSettings = DEFAULT_SETTINGS
) -> MetricResult:
    """Raise :class:`MetricError` for NaN/inf unless the metric or the settings allow them.

    ``settings.keep_nonfinite`` keeps them (to reproduce code that did; callers must flag them).
    """
    allowed = spec.allow_nonfinite or settings.keep_nonfinite
    if not allowed and not math.isfinite(result.value):
        raise MetricError(
            f"metric {spec.name!r} returned {result.value}; the network or batch makes it "
            "undefined (check for dead networks, e.g. paths of zero ops only, or diverging weights)"
        )
    return result


def compute_metrics(
    net: nn.Module,
    data: ScoringData,
    names: Sequence[str],
    *,
    seed: int = 0,
    errors: dict[str, str] | None = None,
    settings: MetricSettings = DEFAULT_SETTINGS,
) -> dict[str, MetricResult]:
    """Scalar metrics ``names`` for ``net``, sharing probes between them.

    With ``errors`` (a dict), a metric that raises (a :class:`MetricError`, e.g. undefined on a
    dead network, or any other exception) is recorded there as ``name -> message`` and left out
    of the result, instead of aborting the others: bulk scoring keeps every metric it can.
    ``settings`` says how they are computed (see :mod:`fewshot.metrics.settings`).
    """
    specs = [get_metric(n) for n in names]
    pairwise = [s.name for s in specs if s.kind != "scalar"]
    if pairwise:
        raise MetricError(
            f"{pairwise} are pairwise metrics: use compute_pairwise on a list of candidates"
        )
    cache = ProbeCache(net, data, seed=seed, metrics=[s.name for s in specs], settings=settings)
    results = {}
    for s in specs:
        try:
            results[s.name] = check_finite(_as_result(s.name, s.fn(cache)), s, settings)
        except Exception as exc:
            if errors is None:
                raise
            errors[s.name] = str(exc) if isinstance(exc, MetricError) else f"{exc!r}"
    return results


def compute_metric(
    net: nn.Module,
    data: ScoringData,
    name: str,
    *,
    seed: int = 0,
    settings: MetricSettings = DEFAULT_SETTINGS,
) -> MetricResult:
    """One scalar metric for ``net`` (a fresh probe cache: nothing shared)."""
    return compute_metrics(net, data, [name], seed=seed, settings=settings)[name]


def compute_pairwise(
    nets: Sequence[nn.Module],
    data: ScoringData,
    name: str,
    *,
    seed: int = 0,
    settings: MetricSettings = DEFAULT_SETTINGS,
) -> PairwiseResult:
    """A pairwise metric over candidate networks: an n x n distance matrix."""
    spec = get_metric(name)
    if spec.kind != "pairwise":
        raise MetricError(f"{name!r} is a scalar metric; use compute_metrics")
    caches = [ProbeCache(n, data, seed=seed, settings=settings) for n in nets]
    dist = np.asarray(spec.fn(caches), dtype=float)
    allowed = spec.allow_nonfinite or settings.keep_nonfinite
    if not allowed and not np.isfinite(dist).all():
        raise MetricError(f"pairwise metric {name!r} produced non-finite distances")
    return PairwiseResult(name, dist)
