"""How metrics are computed: the options that change a metric's value (not its definition).

Papers that use "the same" proxy differ in settings that change its value, and a split made
with one setting can differ from a split made with another (see :mod:`fewshot.splitting.recipes`, which
bundles them per paper). :class:`MetricSettings` holds every such option in one frozen value;
a :class:`~fewshot.metrics.base.ProbeCache` carries it and every probe and metric reads it
there, so the same registry serves every recipe.

Options (defaults: the zero-cost-nas / TE-NAS / GM-NAS conventions of SPEC section 3):

- ``bn_mode``: ``"train"`` (batch statistics; zero-cost-nas) or ``"eval"`` (running
  statistics; the framework paper's code, where a fresh network has mean 0, var 1, so BN is
  nearly the identity).
- ``grad_target``: what the gradient metrics differentiate: ``"loss"`` (cross-entropy) or
  ``"logit_sum"`` (the sum of all logits over the batch, as the framework paper's code does).
  It applies to grad_norm, and to jacob_cov, ntk and gm in the ``channel_rows`` layout;
  snip, grasp and fisher always use the loss (their definitions need it).
- ``grad_layout``: ``"layers"`` (each metric's literature form: per-layer gradient norms,
  the input Jacobian for jacob_cov, per-sample NTK rows, gm on the shared parameters) or
  ``"channel_rows"`` (the framework paper's code: the weight gradient ``G`` of every
  Conv2d/Linear weight, each reshaped to ``C`` rows, concatenated column-wise; grad_norm is
  ``||G||_F``, jacob_cov uses the correlation of G's rows, ntk the condition number of
  ``G G^T``, gm the cosine of the flattened ``G``). A weight that did not run (a disabled op)
  has gradient zero there, as ``d/dw`` of an output that does not depend on ``w``.
- ``synflow_dtype`` (``"float64"`` | ``"float32"``) and ``synflow_bn`` (``"identity"``: BN
  layers removed, zero-cost-nas; ``"keep"``: BN left in place in eval mode with ``|buffers|``,
  the framework paper's code). In float32 without rescaling, synflow overflows at NB201 size.
- ``lr_mode``: ``"thin"`` (TE-NAS: a C=1, N=1 copy on 3 x 1000 random crops) or ``"batch"``
  (distinct ReLU sign patterns of the network itself over the scoring batch's samples: at
  most batch-size regions, so ties are common at batch 16).
- ``keep_nonfinite``: return NaN/inf values as computed instead of raising
  :class:`~fewshot.metrics.base.MetricError` (only to reproduce code that kept them; the
  split engine then flags every decision they touched).
- Constants: ``ntk_batch`` (16), ``ntk_nan_value`` (None: a singular NTK raises; the paper's
  code counts NaN as 1e6), ``lr_samples``/``lr_batches``/``lr_crop`` (TE-NAS: 1000, 3, 3),
  ``jacob_cov_k`` (1e-5), ``zen_gamma`` (1e-2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

BnMode = Literal["train", "eval"]
GradTarget = Literal["loss", "logit_sum"]
GradLayout = Literal["layers", "channel_rows"]

CHOICES: dict[str, tuple[str, ...]] = {
    "bn_mode": ("train", "eval"),
    "grad_target": ("loss", "logit_sum"),
    "grad_layout": ("layers", "channel_rows"),
    "synflow_dtype": ("float64", "float32"),
    "synflow_bn": ("identity", "keep"),
    "lr_mode": ("thin", "batch"),
}
"""Valid values of the string options."""


@dataclass(frozen=True)
class MetricSettings:
    """Options that change metric values; see the module docstring for each one."""

    bn_mode: BnMode = "train"
    grad_target: GradTarget = "loss"
    grad_layout: GradLayout = "layers"
    synflow_dtype: Literal["float64", "float32"] = "float64"
    synflow_bn: Literal["identity", "keep"] = "identity"
    lr_mode: Literal["thin", "batch"] = "thin"
    keep_nonfinite: bool = False
    ntk_batch: int = 16
    ntk_nan_value: float | None = None
    lr_samples: int = 1000
    lr_batches: int = 3
    lr_crop: int = 3
    jacob_cov_k: float = 1e-5
    zen_gamma: float = 1e-2

    def __post_init__(self) -> None:
        for name, valid in CHOICES.items():
            value = getattr(self, name)
            if value not in valid:
                raise ValueError(f"metric setting {name}={value!r} is not one of {list(valid)}")
        for name in ("ntk_batch", "lr_samples", "lr_batches", "lr_crop"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"metric setting {name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricSettings:
        """Build from a mapping; unknown keys raise ``ValueError`` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown metric settings {unknown}; known: {sorted(known)}")
        return cls(**data)

    def with_(self, **changes: Any) -> MetricSettings:
        """A copy with ``changes`` applied (validated)."""
        return replace(self, **changes)


DEFAULT_SETTINGS = MetricSettings()

__all__ = ["CHOICES", "DEFAULT_SETTINGS", "MetricSettings"]
