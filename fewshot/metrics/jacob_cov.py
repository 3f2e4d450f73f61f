"""jacob_cov: correlation of input Jacobians (Mellor et al. v1; zero-cost-nas ``jacob_cov``)."""

from __future__ import annotations

import numpy as np

from fewshot.metrics.base import MetricError, MetricResult, ProbeCache, register_metric
from fewshot.metrics.probes import ActivationPass

JACOB_COV_K = 1e-5
"""The regulariser ``k`` of zero-cost-nas's ``eval_score``."""


def jacob_cov_score(jacobian: np.ndarray, k: float = JACOB_COV_K) -> float:
    """``-sum(log(v + k) + 1/(v + k))`` over eigenvalues ``v`` of ``corrcoef(jacobian rows)``.

    The correlation matrix is symmetric, so its eigenvalues come from ``eigvalsh`` (the reference
    uses ``np.linalg.eig`` and gets the same real values). A constant Jacobian row (a sample
    the network ignores) has no correlation: that raises :class:`MetricError`.
    """
    if jacobian.ndim != 2 or jacobian.shape[0] < 2:
        raise MetricError(f"jacob_cov needs a batch of at least 2 samples, got {jacobian.shape}")
    if np.any(np.ptp(jacobian, axis=1) == 0):
        raise MetricError(
            "jacob_cov: the input gradient of some sample is constant, so its correlation is "
            "undefined (the network ignores its input: e.g. an all-'none' cell)"
        )
    v = np.linalg.eigvalsh(np.corrcoef(jacobian))
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


@register_metric("jacob_cov")
def jacob_cov(cache: ProbeCache) -> MetricResult:
    """Eigenvalue score of the correlation of per-sample input Jacobians (higher is better)."""
    activations: ActivationPass = cache.get("activations")
    return MetricResult("jacob_cov", jacob_cov_score(activations.input_jacobian))
