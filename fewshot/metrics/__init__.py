"""The metric library: zero-cost proxies and gradient matching behind one registry.

Each module below registers its metrics on import (one import line per module; a test checks
that every module registered something). See :mod:`fewshot.metrics.base` for the API and
:mod:`fewshot.metrics.settings` for how metrics are computed. May import torch, models (the
networks a metric probes), spaces and the plumbing below (the registry); never data (a metric
gets its batches as :class:`~fewshot.metrics.base.ScoringData`, defined here), scoring,
splitting or anything above.
"""

from fewshot.metrics import cost as cost  # noqa: F401
from fewshot.metrics import gradient_matching as gradient_matching  # noqa: F401
from fewshot.metrics import jacob_cov as jacob_cov  # noqa: F401
from fewshot.metrics import naswot as naswot  # noqa: F401
from fewshot.metrics import probes as probes  # noqa: F401  (registers shared passes)
from fewshot.metrics import saliency as saliency  # noqa: F401
from fewshot.metrics import ssnr as ssnr  # noqa: F401
from fewshot.metrics import tcet as tcet  # noqa: F401
from fewshot.metrics import tenas as tenas  # noqa: F401
from fewshot.metrics import zen as zen  # noqa: F401
from fewshot.metrics import zico as zico  # noqa: F401
from fewshot.metrics.base import (
    METRICS,
    MetricError,
    MetricResult,
    PairwiseResult,
    ProbeCache,
    ScoringData,
    compute_metric,
    compute_metrics,
    compute_pairwise,
    data_free,
    get_metric,
    list_metrics,
    register_metric,
    register_probe,
)

__all__ = [
    "METRICS",
    "MetricError",
    "MetricResult",
    "PairwiseResult",
    "ProbeCache",
    "ScoringData",
    "compute_metric",
    "compute_metrics",
    "compute_pairwise",
    "data_free",
    "get_metric",
    "list_metrics",
    "register_metric",
    "register_probe",
]
