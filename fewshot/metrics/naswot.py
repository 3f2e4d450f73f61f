"""naswot: log-determinant of the ReLU-code kernel (Mellor et al., "NAS without Training").

Each ``nn.ReLU`` module contributes the kernel ``K_l = c c^T + (1-c)(1-c)^T`` of the binary codes
``c = (ReLU input > 0)`` of the main batch (train-mode BN, one forward, each module counted once;
see the ``activations`` probe). The score is ``log|det(sum_l K_l)|`` (``slogdet``), as the
reference's ``hooklogdet``. ``per_layer`` holds ``log|det K_l|`` of each ReLU on its own, with a
singular ``K_l`` reported as 0 (T-CET's ``safe_hooklogdet`` convention).

A singular kernel means two samples share every activation code (identical inputs, or a network
that ignores its input); the reference returns ``-inf`` then. Here that raises
:class:`MetricError`, so an undefined value never enters a ranking or a split distance silently.
"""

from __future__ import annotations

import math

import numpy as np

from fewshot.metrics.base import MetricError, MetricResult, ProbeCache, register_metric
from fewshot.metrics.probes import ActivationPass


def kernel_logdet(kernel: np.ndarray) -> float:
    """``log|det K|`` via ``slogdet``; ``-inf`` when ``K`` is singular."""
    sign, logdet = np.linalg.slogdet(kernel)
    return float(logdet) if sign != 0 else -math.inf


def safe_logdet(kernel: np.ndarray) -> float:
    """``log|det K|``, with 0 for a singular ``K`` (T-CET's layer-wise convention)."""
    value = kernel_logdet(kernel)
    return value if math.isfinite(value) else 0.0


def naswot_score(kernels: dict[str, np.ndarray]) -> float:
    """``log|det(sum of kernels)|``; raises :class:`MetricError` when it is singular or empty."""
    if not kernels:
        raise MetricError("naswot needs at least one nn.ReLU module that runs in the forward")
    total = sum(kernels[k] for k in sorted(kernels))
    value = kernel_logdet(total)
    if not math.isfinite(value):
        raise MetricError(
            "naswot: the ReLU-code kernel is singular (log|det K| = -inf): at least two inputs "
            "have identical activation codes everywhere (duplicate images in the batch, or a "
            "network that ignores its input)"
        )
    return value


@register_metric("naswot")
def naswot(cache: ProbeCache) -> MetricResult:
    """log|det K| of the summed ReLU binary-code kernels over the main batch (higher is better)."""
    activations: ActivationPass = cache.get("activations")
    kernels = activations.kernels("relu_kernels", "naswot")
    value = naswot_score(kernels)
    per_layer = {n: safe_logdet(k) for n, k in kernels.items()}
    return MetricResult("naswot", value, per_layer)
