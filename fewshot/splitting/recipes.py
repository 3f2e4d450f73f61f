"""Recipes: the settings a paper used to split (and score), as one named bundle (SPEC 4a).

A split depends on more than the metric's name: the BatchNorm mode, the initialisation, what
is differentiated, the batch, the distance scale, the partition objective, the tie order and
what happens to non-finite values. Papers that name "the same" metric differ in these, and so
do their splits. A :class:`Recipe` fixes all of them; ``python -m fewshot.split --recipe NAME``
selects one (single flags still override it, and the override is recorded), ``tree.json``
records the resolved recipe, and a resumed run must use the same one.

- ``ly-manson`` (default of ``fewshot.split``): the framework paper's code. Eval-mode BN
  (fresh: mean 0, var 1), kaiming-normal fan-out init, one augmented training batch of 16 per
  split, the weight-gradient matrix ``G`` of ``d(sum of logits)/dw`` for grad_norm, jacob_cov,
  ntk and gm (cosine similarity, ``min-similarity``), cross-entropy for snip and grasp, synflow
  in float32 with BN kept (it overflows for conv candidates at C=16, N=5), lr over the batch's
  16 samples, raw distances, ``max-distance`` for scalar metrics, unbalanced groups, ``only``
  candidates, edges 0, 1, 2 in order, no warm-up. Non-finite values are kept as computed and
  every split they (or ties) decided is flagged in ``tree.json`` and by the CLI.
- ``gm-nas`` (Hu et al., ICLR 2022): train-mode BN, warm-up epochs before each split, gm from
  the cross-entropy over the shared weights, ``1 - cos``, balanced groups, the ``score`` edge
  policy (among never-split edges, the largest cut). Non-finite values raise.
- ``zero-cost-nas`` (Abdelfattah et al.; SPEC section 3): train-mode BN, cross-entropy,
  PyTorch's default init, batch 64, synflow in float64 with BN removed; otherwise as fewshot's
  first version split (fixed edges, unbalanced, raw distances). ``fewshot.score`` uses these
  conventions by default, since the published correlation tables were made with them.

Choices made where the spec is silent are written next to each field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from fewshot.errors import UsageError
from fewshot.metrics.settings import MetricSettings
from fewshot.models.init import INIT_SCHEMES
from fewshot.registry import Registry
from fewshot.scoring.spec import ScoringSpec
from fewshot.spaces import SearchSpace
from fewshot.splitting.candidates import CANDIDATE_MODES, SCALES
from fewshot.splitting.partition import OBJECTIVES


@dataclass(frozen=True)
class Recipe:
    """Every setting that changes a split (and a score), named after its source.

    Attributes:
        name, description, source: what it is and where it comes from.
        metric_settings: how metrics are computed (:mod:`fewshot.metrics.settings`).
        init: weight initialisation scheme (:mod:`fewshot.models.init`).
        C, N: supernet width and depth (NB201: channels of the first stage and cells per
            stage); None: the search space's ``model_defaults`` (:meth:`for_space` fills them
            in, so a resolved recipe records the values used; NB201: 16 and 5).
        batch_size, batches: scoring batches (``batches`` None: 1, or 2 for pairwise
            metrics).
        augment: draw scoring batches with the training augmentation (crop, flip).
        batch_per_split: a fresh batch for every split (seeded by the node), rather than one
            for the whole run.
        candidates: ``only`` | ``without`` (SPEC 4, step 1).
        scale: ``raw`` | ``log`` | ``rank`` (scalar metrics' distance).
        objective, pairwise_objective: partition objective for scalar / pairwise metrics.
        balanced: restrict to balanced groups.
        edge_policy, edges: which edge each node splits (None: the policy's default).
        warmup_epochs: supernet training before each split.
    """

    name: str
    description: str
    source: str
    metric_settings: MetricSettings = field(default_factory=MetricSettings)
    init: str = "pytorch"
    C: int | None = None
    N: int | None = None
    batch_size: int = 64
    batches: int | None = None
    augment: bool = False
    batch_per_split: bool = False
    candidates: str = "only"
    scale: str = "raw"
    objective: str = "max-distance"
    pairwise_objective: str = "max-distance"
    balanced: bool = False
    edge_policy: str = "fixed"
    edges: tuple[int, ...] | None = None
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        checks = {
            "init": (self.init, INIT_SCHEMES),
            "candidates": (self.candidates, CANDIDATE_MODES),
            "scale": (self.scale, SCALES),
            "objective": (self.objective, OBJECTIVES),
            "pairwise_objective": (self.pairwise_objective, OBJECTIVES),
        }
        for key, (value, valid) in checks.items():
            if value not in valid:
                raise UsageError(f"recipe {self.name}: {key}={value!r} is not one of {list(valid)}")

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML/JSON-friendly values (what ``tree.json`` records)."""
        d = asdict(self)
        d["edges"] = list(self.edges) if self.edges is not None else None
        return d

    def with_overrides(self, overrides: dict[str, Any]) -> Recipe:
        """A copy with recipe fields and metric settings replaced (validated).

        Keys are :class:`Recipe` field names or :class:`MetricSettings` field names.
        """
        own = {f.name for f in fields(self)} - {"name", "description", "source"}
        metric_keys = {f.name for f in fields(MetricSettings)}
        unknown = sorted(set(overrides) - own - metric_keys)
        if unknown:
            raise UsageError(f"unknown recipe settings {unknown}")
        metric = {k: v for k, v in overrides.items() if k in metric_keys}
        recipe = {k: v for k, v in overrides.items() if k in own}
        if "edges" in recipe and recipe["edges"] is not None:
            recipe["edges"] = tuple(recipe["edges"])
        try:
            settings = self.metric_settings.with_(**metric)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return replace(self, metric_settings=settings, **recipe)

    def for_space(self, space: SearchSpace) -> Recipe:
        """This recipe with ``C`` and ``N`` left to the space (None) set to ``space``'s
        defaults (a space without a depth knob keeps ``N`` None)."""
        defaults = space.model_defaults
        C = self.C if self.C is not None else defaults.get("C")
        N = self.N if self.N is not None else defaults.get("N")
        return replace(self, C=C, N=N)

    def objective_for(self, kind: str) -> str:
        """The partition objective for a metric of ``kind`` (scalar / pairwise / random)."""
        return self.pairwise_objective if kind == "pairwise" else self.objective


RECIPES: Registry[Recipe] = Registry("recipe")


def register_recipe(recipe: Recipe) -> Recipe:
    return RECIPES.register(recipe.name, recipe)


def get_recipe(name: str) -> Recipe:
    """The recipe ``name``; unknown names list the known ones."""
    return RECIPES.get(name)


def list_recipes() -> list[str]:
    return RECIPES.names()


DEFAULT_RECIPE = "ly-manson"

register_recipe(
    Recipe(
        name="ly-manson",
        description="the framework paper's code (default of fewshot.split)",
        source="Ly-Manson, Leonardon, Aissa El Bey: Understanding Few-Shot NAS with "
        "Zero-Cost Proxies (and AutoML-Conf 2024); SPEC 4a",
        metric_settings=MetricSettings(
            bn_mode="eval",
            grad_target="logit_sum",
            grad_layout="channel_rows",
            synflow_dtype="float32",
            synflow_bn="keep",
            lr_mode="batch",
            keep_nonfinite=True,
            ntk_nan_value=1e6,
        ),
        init="kaiming_fan_out",
        batch_size=16,
        batches=1,
        augment=True,
        batch_per_split=True,  # "the same batch for every candidate of a split"
        candidates="only",
        scale="raw",
        objective="max-distance",
        pairwise_objective="min-similarity",
        balanced=False,
        edge_policy="fixed",
        edges=(0, 1, 2),
        warmup_epochs=0,
    )
)

register_recipe(
    Recipe(
        name="gm-nas",
        description="GM-NAS: warm-up, gradient matching, balanced groups, score edge policy",
        source="Hu et al., Generalizing Few-Shot NAS with Gradient Matching (ICLR 2022)",
        metric_settings=MetricSettings(bn_mode="train"),
        init="pytorch",
        batch_size=64,
        batches=None,  # 2 for gm (gradients averaged over batches), 1 for scalar metrics
        augment=True,  # gradients on training batches, as GM-NAS's train queue
        batch_per_split=True,  # each split sees its own batches after its warm-up
        candidates="only",
        scale="raw",
        objective="max-distance",
        pairwise_objective="max-distance",  # max of 1 - cos
        balanced=True,
        edge_policy="score",
        edges=None,
        warmup_epochs=20,  # GM-NAS warms up 20 epochs; --warmup-epochs 0 on a CPU
    )
)

register_recipe(
    Recipe(
        name="zero-cost-nas",
        description="zero-cost-nas conventions (SPEC 3); fewshot's first version's splits",
        source="Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS (ICLR 2021)",
        metric_settings=MetricSettings(),
        init="pytorch",
        batch_size=64,
        batches=None,
        augment=False,
        batch_per_split=False,
        candidates="only",
        scale="raw",
        objective="max-distance",
        pairwise_objective="max-distance",
        balanced=False,
        edge_policy="fixed",
        edges=None,
        warmup_epochs=0,
    )
)


def scoring_spec(config: Mapping[str, Any] | None = None, **fields_: Any) -> ScoringSpec:
    """The :class:`~fewshot.scoring.spec.ScoringSpec` of ``fewshot.score`` configuration keys
    (``config.yaml``, or a command's resolved values; absent keys: the spec's defaults), with
    the named recipe's init and metric settings. ``fields_`` set other spec fields."""
    values = {**(config or {}), **fields_}
    recipe = get_recipe(values.get("recipe") or ScoringSpec.recipe)
    return ScoringSpec.from_mapping(
        values, recipe=recipe.name, init=recipe.init, settings=recipe.metric_settings
    )


__all__ = [
    "DEFAULT_RECIPE",
    "RECIPES",
    "Recipe",
    "get_recipe",
    "list_recipes",
    "register_recipe",
    "scoring_spec",
]
