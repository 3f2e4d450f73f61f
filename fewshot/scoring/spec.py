"""One value says how an arch is scored: :class:`ScoringSpec`, and the record a table keeps of it.

Everything that changes a score's value lives in one frozen :class:`ScoringSpec`: the
search space (``space``, a registered name) and its standalone network (width ``C``, depth
``N``: the space's ``model_defaults`` unless given; ``init``), how metrics are computed
(``settings``, named by the ``recipe`` they come from), the data (``dataset``,
``data_option``, ``batch_size`` x ``batches`` drawn by ``seed``) and the seed of the
network's initialisation and of the probes. ``fewshot.score``, the search's proxy tables, the
executor's shards and refine's predictors all score from one; its field defaults are the only
defaults of these settings (zero-cost-nas's conventions, as the published correlation tables
used). ``fork_rng`` is not a setting of the values: it keeps each path's historical seeding
(see :attr:`ScoringSpec.fork_rng`).

A scores CSV records its spec beside it (:func:`write_spec_record`, ``<csv stem>.spec.json``)
with what data it read (``data``: ``images``, or ``none (data-free metrics)``).

May import: :mod:`fewshot.metrics` (settings), :mod:`fewshot.spaces` (the registry, for the
space's default network size), :mod:`fewshot.io`, :mod:`fewshot.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from fewshot.errors import UsageError
from fewshot.io import atomic_write_json
from fewshot.metrics.settings import DEFAULT_SETTINGS, MetricSettings
from fewshot.spaces import DEFAULT_SPACE, SearchSpace, get_space

DATA_FREE = "none (data-free metrics)"
"""The ``data`` of a spec record whose metrics read no image."""
IMAGES = "images"
SPEC_SUFFIX = ".spec.json"
SPEC_VERSION = 1


@dataclass(frozen=True)
class ScoringSpec:
    """How an arch is scored (see the module docstring).

    Attributes:
        space: the search space of the archs (a registered name; records and CSVs written
            before spaces were plug-ins are NB201's).
        C, N: the standalone network's width and depth (NB201: channels of the first stage
            and cells per stage); None: the space's ``model_defaults`` (NB201: 16, 5), filled
            in on construction (a space without a depth knob keeps ``N`` None).
        init: weight initialisation (:mod:`fewshot.models.init`).
        settings: how metrics are computed (:mod:`fewshot.metrics.settings`).
        recipe: the recipe ``init`` and ``settings`` come from (:mod:`fewshot.splitting.recipes`).
        dataset: the data set of the scoring batches (``None``: resolved when loading).
        data_option: data-set options (e.g. ``image_size``).
        batch_size, batches: the scoring batches (zico needs 2).
        seed: the batches' draw, the network's initialisation and the probes.
        fork_rng: build the network inside ``torch.random.fork_rng`` (refine's predictors:
            torch's global RNG is left as it was) rather than seeding the global RNG and
            leaving it advanced (``fewshot.score`` and the search, whose published tables
            were made so). Each path keeps its own, so no published number changes.
    """

    space: str = DEFAULT_SPACE
    C: int | None = None
    N: int | None = None
    init: str = "pytorch"
    settings: MetricSettings = DEFAULT_SETTINGS
    recipe: str = "zero-cost-nas"
    dataset: str | None = None
    data_option: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    batches: int = 2
    seed: int = 0
    fork_rng: bool = False

    def __post_init__(self) -> None:
        space = self.search_space  # an unknown name raises, listing the known ones
        object.__setattr__(self, "space", space.name)
        for key in ("C", "N"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, space.model_defaults.get(key))

    @property
    def search_space(self) -> SearchSpace:
        """The registered space named by ``space``."""
        return get_space(self.space)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], **overrides: Any) -> ScoringSpec:
        """The spec of ``fewshot.score`` configuration keys (``config.yaml``, a mapping);
        absent keys take the defaults above, ``overrides`` win (e.g. a recipe's settings).
        The older ``dataset_option`` key is read as ``data_option``."""
        c = dict(config)
        if "dataset_option" in c:
            c.setdefault("data_option", c.pop("dataset_option"))
        own = {f.name for f in fields(cls)} - {"settings"}
        values = {k: c[k] for k in own if c.get(k) is not None}
        values["data_option"] = dict(values.get("data_option") or {})
        return cls(**(values | overrides))

    def with_(self, **changes: Any) -> ScoringSpec:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML values (``settings`` as its dict), in field order."""
        d = asdict(self)
        d["data_option"] = dict(self.data_option)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoringSpec:
        d = dict(data)
        d["settings"] = MetricSettings.from_dict(d.get("settings") or {})
        return cls(**d)

    def describe(self) -> str:
        """One line naming the spec, e.g. ``recipe zero-cost-nas (init pytorch), nb201 C=16
        N=5, cifar100 batch 64x2, seed 0``."""
        data = self.dataset or "default data"
        if self.data_option:
            data += " " + ",".join(f"{k}={v}" for k, v in sorted(self.data_option.items()))
        size = " ".join(f"{k}={v}" for k, v in (("C", self.C), ("N", self.N)) if v is not None)
        return (
            f"recipe {self.recipe} (init {self.init}), {self.space} {size}, {data} batch "
            f"{self.batch_size}x{self.batches}, seed {self.seed}"
        )


DATA_FIELDS = ("dataset", "data_option", "batch_size", "batches")
"""The fields of the images a spec draws (data-free metrics see only their class count and size)."""


def spec_difference(a: ScoringSpec, b: ScoringSpec, *, ignore: Collection[str] = ()) -> list[str]:
    """The keys where two specs differ (metric settings as ``settings.<name>``), but ``ignore``."""
    da, db = a.to_dict(), b.to_dict()
    keys = [k for k in da if k not in ("settings", *ignore) and da[k] != db[k]]
    sa, sb = da["settings"], db["settings"]
    return keys + [f"settings.{k}" for k in sa if sa[k] != sb[k]]


def spec_record_path(csv_path: str | Path) -> Path:
    """Where a scores CSV's spec record lies: ``scores.csv`` -> ``scores.spec.json``."""
    path = Path(csv_path)
    return path.with_name(path.stem + SPEC_SUFFIX)


def write_spec_record(
    csv_path: str | Path,
    spec: ScoringSpec,
    *,
    data_free: bool,
    data_root: str | Path | None = None,
) -> Path:
    """Record beside a scores CSV the spec its values were scored with, what data it read and
    where the data set lies (``data_root``: where a folder data set's classes are listed)."""
    record = {
        "version": SPEC_VERSION,
        "spec": spec.to_dict(),
        "data": DATA_FREE if data_free else IMAGES,
        "data_root": None if data_root is None else str(data_root),
    }
    return atomic_write_json(spec_record_path(csv_path), record)


def read_spec_record(csv_path: str | Path) -> ScoringSpec | None:
    """The spec recorded beside a scores CSV; ``None`` when it has no record (older tables)."""
    record = _read_record(csv_path)
    return None if record is None else ScoringSpec.from_dict(record["spec"])


def read_record_root(csv_path: str | Path) -> str | None:
    """The ``data_root`` recorded beside a scores CSV (``None``: none, or no record)."""
    record = _read_record(csv_path)
    return None if record is None else record.get("data_root")


def _read_record(csv_path: str | Path) -> dict[str, Any] | None:
    path = spec_record_path(csv_path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        ScoringSpec.from_dict(record["spec"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable scoring spec record ({exc})") from None
    return record


__all__ = [
    "DATA_FIELDS",
    "DATA_FREE",
    "IMAGES",
    "ScoringSpec",
    "read_record_root",
    "read_spec_record",
    "spec_difference",
    "spec_record_path",
    "write_spec_record",
]
