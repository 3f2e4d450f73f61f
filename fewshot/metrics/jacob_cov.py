"""jacob_cov: correlation of input Jacobians (Mellor et al. v1; zero-cost-nas ``jacob_cov``).

With ``settings.grad_layout == "channel_rows"`` (the framework paper's code) the same score is
taken over the rows of the weight-gradient matrix ``G`` (``C`` x ``P / C``, see
:mod:`fewshot.metrics.probes`) instead of the per-sample input Jacobians.
"""

from __future__ import annotations

import numpy as np

from fewshot.metrics.base import MetricError, MetricResult, ProbeCache, register_metric
from fewshot.metrics.settings import MetricSettings

JACOB_COV_K = MetricSettings().jacob_cov_k
"""The regulariser ``k`` of zero-cost-nas's ``eval_score`` (``MetricSettings.jacob_cov_k``)."""


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
            "undefined (the network ignores its input: e.g. a cell of zero ops only)"
        )
    return correlation_eigen_score(np.corrcoef(jacobian), k)


def correlation_eigen_score(corr: np.ndarray, k: float = JACOB_COV_K) -> float:
    """``-sum(log(v + k) + 1/(v + k))`` over the eigenvalues ``v`` of a correlation matrix."""
    v = np.linalg.eigvalsh(corr)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def jacob_cov_score_nonfinite(rows: np.ndarray, k: float = JACOB_COV_K) -> float:
    """:func:`jacob_cov_score` as plain numpy computes it: NaN where it is undefined.

    A constant row makes the correlation matrix NaN, and so the score (the framework paper's
    code keeps that value; the split engine flags it).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(rows)
    if not np.isfinite(corr).all():
        return float("nan")
    return correlation_eigen_score(corr, k)


@register_metric("jacob_cov")
def jacob_cov(cache: ProbeCache) -> MetricResult:
    """Eigenvalue score of the correlation of per-sample input Jacobians (higher is better)."""
    s = cache.settings
    if s.grad_layout == "channel_rows":
        rows = cache.get("weight_grads").matrix.double().cpu().numpy()
    else:
        rows = cache.get("activations").input_jacobian
    if s.keep_nonfinite:
        return MetricResult("jacob_cov", jacob_cov_score_nonfinite(rows, s.jacob_cov_k))
    return MetricResult("jacob_cov", jacob_cov_score(rows, s.jacob_cov_k))
