"""Free baselines beside a ranking study's supernets, on the same archs (issue 31).

For every result JSON of the ranking study (``fewshot.experiments.ranking_budget``'s and
``tools/few_vs_one_shot.py``'s: both keep the sample and every supernet's per-arch
predictions), this scores the sample's archs with free predictors, measures them as the study
measures a supernet, compares every supernet arm with every baseline (paired bootstrap,
:mod:`fewshot.analysis.baselines`), adds the block ``free_baselines`` to the JSON and rewrites
its table. Nothing is trained::

    python -m fewshot.experiments.free_baselines \\
        --results docs/training/ranking_budget.json,docs/training/ranking_compare.json \\
        --data-root ../shared/data/cifar10-subset --out runs/free-baselines \\
        --csv docs/training/free_baselines.csv --threads 1

The baselines: the number of parametric ops of the arch (its space's ``num_parametric``;
NB201: convolutions), EFS-NAS's count of nonlinear functions on its deepest path (the space's
``nonlinear_count``, where it defines one), and the registry metrics ``params``, ``flops``, ``synflow``, ``naswot``,
``jacob_cov`` and ``snip`` at initialisation with their votes (rank averages). The proxies are
scored as the zero-cost papers score them (:mod:`fewshot.scoring`, recipe ``zero-cost-nas``):
the space's benchmark network (NB201: C=16, N=5), the data folder's images at their own size
(CIFAR-10: 32 px), one batch of 64 drawn with seed 0, PyTorch's default initialisation. The
scores are cached per arch in ``OUT/scores.csv`` (with its spec record; a cache scored with
other settings is refused), so a rerun scores nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.baselines import (
    CONVS,
    KEY,
    NONLINEAR,
    PROXIES,
    arms_against_baselines,
    baseline_quality,
    beaten_by,
    free_baselines_text,
    free_predictions,
    undefined_counts,
)
from fewshot.choices import dataset_names, space_option
from fewshot.cli import run_main
from fewshot.config import CommonOptions, option, resolve_device
from fewshot.errors import UsageError
from fewshot.experiments.common import start_experiment, write_results
from fewshot.io import atomic_write_text
from fewshot.scoring import (
    ScoreFile,
    load_scoring_data,
    read_spec_record,
    score_archs,
    spec_difference,
    write_spec_record,
)
from fewshot.spaces import Arch, get_space
from fewshot.splitting.recipes import scoring_spec

log = logging.getLogger("fewshot")

SCORES = "scores.csv"


@dataclass(frozen=True)
class ProxySettings:
    """How the proxies are scored (the zero-cost papers' standard, see the module docstring)."""

    space: str
    dataset: str
    data_root: Path | None
    C: int | None = None
    N: int | None = None
    batch_size: int = 64
    batches: int = 1
    seed: int = 0
    metrics: tuple[str, ...] = PROXIES

    def spec(self) -> Any:
        """The :class:`~fewshot.scoring.ScoringSpec` (recipe ``zero-cost-nas``)."""
        return scoring_spec(
            {"space": self.space, "C": self.C, "N": self.N, "dataset": self.dataset,
             "batch_size": self.batch_size, "batches": self.batches, "seed": self.seed,
             "recipe": "zero-cost-nas"},
        )  # fmt: skip


def proxy_scores(
    archs: Sequence[Arch], settings: ProxySettings, out: Path, *, device: str = "cpu",
    progress: bool = False, index_of: Mapping[str, int] | None = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Every proxy of ``settings`` on ``archs`` (in their order), scored into ``out/scores.csv``
    where missing (a CSV scored with another spec is a usage error, one line)."""
    spec = settings.spec()
    path = Path(out) / SCORES
    recorded = read_spec_record(path) if path.is_file() else None
    if recorded is not None and (diff := spec_difference(recorded, spec)):
        raise UsageError(f"{path} was scored with other settings ({', '.join(diff)}); "
                         "use another --out")  # fmt: skip
    store = ScoreFile(path, list(settings.metrics))
    todo = [a for a in archs if a.to_string() not in store.done()]
    if todo:
        _, data = load_scoring_data(spec, data_root=settings.data_root, metrics=settings.metrics)
        write_spec_record(path, spec, data_free=False, data_root=settings.data_root)
        lookup = dict(index_of or {})
        score_archs(todo, data, store, spec, device=resolve_device(device), progress=progress,
                    index_of=lambda a: lookup.get(a.to_string()))  # fmt: skip
        store = ScoreFile(path, list(settings.metrics))
    rows = dict(zip(store.archs(), range(len(store.archs())), strict=True))
    missing = [a.to_string() for a in archs if a.to_string() not in rows]
    if missing:
        raise UsageError(f"{path}: no scores for {len(missing)} archs (e.g. {missing[0]})")
    order = [rows[a.to_string()] for a in archs]
    return {m: store.column(m)[order] for m in settings.metrics}


def baselines_block(
    archs: Sequence[Arch], true: np.ndarray, proxies: Mapping[str, np.ndarray],
    arms: Mapping[str, Sequence[Sequence[float]]], *, settings: ProxySettings,
    resamples: int, seed: int, resample_seeds: bool,
) -> dict[str, Any]:  # fmt: skip
    """The ``free_baselines`` block of a result: per baseline its predictions and quality, per
    arm the tau difference to every baseline with its paired interval, and what beats what."""
    predictions = free_predictions(structure_counts(archs), proxies)
    intervals = arms_against_baselines(arms, predictions, true, resamples=resamples, seed=seed,
                                       resample_seeds=resample_seeds)  # fmt: skip
    return {
        "settings": {**settings.spec().to_dict(), "data_root": _text(settings.data_root),
                     "description": _describe(settings),
                     "convs": "the space's num_parametric (NB201: convolutions)",
                     "nonlinear": "the space's nonlinear_count (EFS-NAS: ReLU-convs on the "
                                  "deepest input-output path)"},
        "bootstrap": {"resamples": resamples, "seed": seed, "resample_seeds": resample_seeds,
                      "paired": "archs (and seeds when resampled); one set of resamples"},
        "undefined_archs": undefined_counts(proxies),
        "baselines": {name: {"predicted": [float(v) for v in values],
                             "quality": baseline_quality(values, true)}
                      for name, values in predictions.items()},
        "tau_difference": intervals,
        "verdict": beaten_by(intervals),
    }  # fmt: skip


def structure_counts(archs: Sequence[Arch]) -> dict[str, list[int]]:
    """The structural baselines the archs' space defines: its parametric ops (NB201:
    convolutions) and, where defined, EFS-NAS's nonlinear count."""
    counts = {CONVS: [a.space.num_parametric(a) for a in archs]}
    nonlinear = [a.space.nonlinear_count(a) for a in archs]
    if all(n is not None for n in nonlinear):
        counts[NONLINEAR] = [int(n) for n in nonlinear if n is not None]
    return counts


def _describe(settings: ProxySettings) -> str:
    """The spec in words, with the data folder's name (its images at their own size)."""
    where = "" if settings.data_root is None else f" ({Path(settings.data_root).name})"
    return f"{settings.spec().describe()}{where}"


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


# -- the two result formats ---------------------------------------------------------------------


def study_arms(result: Mapping[str, Any]) -> tuple[dict[str, list[list[float]]], bool]:
    """The supernet arms of a study's result (``(seeds, archs)`` predictions) and whether its
    intervals resampled training seeds (few-vs-one-shot's ``--bootstrap-seeds``)."""
    kind = result.get("format")
    if kind == "fewshot.ranking_budget":
        return {
            f"{regime} {steps}": [seed["predicted"] for seed in budget["seeds"].values()]
            for regime, r in result["regimes"].items() for steps, budget in r["budgets"].items()
        }, False  # fmt: skip
    if kind == "fewshot.few_vs_one_shot":
        seeds = sorted(result["predictions"], key=int)
        methods = result["predictions"][seeds[0]]
        arms = {m: [result["predictions"][s][m] for s in seeds] for m in methods}
        return arms, bool(result["config"].get("bootstrap_seeds"))
    raise UsageError(f"not a ranking-study result (format {kind!r}): give a ranking_budget or "
                     "few_vs_one_shot results JSON")  # fmt: skip


def sample_of(result: Mapping[str, Any], space: str) -> tuple[list[Arch], np.ndarray, list[int]]:
    """A result's arch sample: archs, benchmark accuracies, benchmark indices."""
    sample = result["sample"]
    parse = get_space(space).Arch.from_string
    return ([parse(s) for s in sample["archs"]], np.asarray(sample["accuracy"], dtype=float),
            [int(i) for i in sample["indices"]])  # fmt: skip


def add_free_baselines(
    result: dict[str, Any], settings: ProxySettings, out: Path, *, resamples: int = 1000,
    seed: int = 0, device: str = "cpu", progress: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """``result`` with its ``free_baselines`` block (proxies scored into ``out`` if missing)."""
    archs, true, indices = sample_of(result, settings.space)
    arms, resample_seeds = study_arms(result)
    index_of = {a.to_string(): i for a, i in zip(archs, indices, strict=True)}
    proxies = proxy_scores(archs, settings, out, device=device, progress=progress,
                           index_of=index_of)  # fmt: skip
    result[KEY] = baselines_block(archs, true, proxies, arms, settings=settings,
                                  resamples=resamples, seed=seed, resample_seeds=resample_seeds)  # fmt: skip
    return result


def per_arch_csv(result: Mapping[str, Any]) -> str:
    """The sample's archs with their benchmark accuracy and every baseline's value (CSV)."""
    block = result[KEY]["baselines"]
    names = list(block)
    lines = [",".join(["arch", "index", "accuracy", *names])]
    sample = result["sample"]
    for i, (arch, index, acc) in enumerate(
        zip(sample["archs"], sample["indices"], sample["accuracy"], strict=True)
    ):
        values = [repr(float(block[n]["predicted"][i])) for n in names]
        lines.append(",".join([arch, str(index), repr(float(acc)), *values]))
    return "\n".join(lines) + "\n"


# -- command ----------------------------------------------------------------------------------


@dataclass(kw_only=True)
class FreeBaselinesConfig(CommonOptions):
    """Free baselines (arch counts, zero-cost proxies at initialisation) beside a ranking
    study's supernets, on the same archs, with paired bootstrap intervals."""

    results: list[Path] = option(
        [], help="ranking-study result JSONs to add the baselines to (comma-separated; each is "
        "rewritten with a free_baselines block, and its NAME_table.md beside it)",
    )  # fmt: skip
    space: str = space_option()
    dataset: str = option("folder", help="data set of the proxies' batch", choices=dataset_names)
    data_root: Path | None = option(None, help="its folder (CIFAR-10 images at 32 px)")
    C: int | None = option(None, help="proxy network width (default: the space's; NB201: 16)",
                           minimum=1)  # fmt: skip
    N: int | None = option(None, help="proxy network depth (default: the space's; NB201: 5)",
                           minimum=1)  # fmt: skip
    batch_size: int = option(64, help="images in the proxies' batch", minimum=1)
    batches: int = option(1, help="batches the proxies read", minimum=1)
    seed: int = option(0, help="the batch's draw, the initialisation and the bootstrap")
    resamples: int = option(1000, help="bootstrap resamples", minimum=100)
    out: Path = option(Path("runs/free-baselines"), help="cache of the proxies' scores")
    csv: Path | None = option(None, help="also write the per-arch baselines here (CSV)")

    def resolve(self) -> FreeBaselinesConfig:
        if not self.results:
            raise UsageError("give --results: the ranking-study JSONs to add baselines to")
        missing = [str(p) for p in self.results if not Path(p).is_file()]
        if missing:
            raise UsageError(f"no such result file: {', '.join(missing)}")
        return self

    def settings(self) -> ProxySettings:
        return ProxySettings(self.space, self.dataset, self.data_root, C=self.C, N=self.N,
                             batch_size=self.batch_size, batches=self.batches, seed=self.seed)  # fmt: skip


def study_tables_text(result: Mapping[str, Any]) -> str:
    """The study's ``NAME_table.md`` text, with the baselines (the study's own table function,
    so the rows match what the experiment writes)."""
    if result["format"] == "fewshot.ranking_budget":
        from fewshot.experiments.ranking_budget import tables_text
    else:
        from fewshot.analysis.few_vs_one_shot import tables_text
    return tables_text(result)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = start_experiment(FreeBaselinesConfig, argv,
                              prog="python -m fewshot.experiments.free_baselines")  # fmt: skip
    for path in config.results:
        result = json.loads(Path(path).read_text())
        add_free_baselines(result, config.settings(), config.out, resamples=config.resamples,
                           seed=config.seed, device=config.device,
                           progress=not config.no_progress)  # fmt: skip
        table = write_results(path, result, study_tables_text(result))
        print(f"{path}: free baselines added; {table}")
        print(free_baselines_text(result))
        if config.csv is not None:
            atomic_write_text(config.csv, per_arch_csv(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
