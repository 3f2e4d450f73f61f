"""Where do trained supernets start to rank? One-shot Kendall tau against training budget.

Few-shot NAS can only help where a supernet ranks architectures at all; at the budgets this
project first ran, every supernet ranked them backwards. This experiment finds the regime:
for each cheap **regime** (image size, width C, cells N, training images; EcoNAS-style,
SPEC 5a) and each **budget** (optimiser steps, one full cosine schedule per budget, so every
point is a finished training run, not a snapshot of a longer one) it trains the one-shot
supernet (uniform single-path sampling, the spec's SGD) for 2+ seeds and scores a fixed,
stratified sample of connected archs (BN recalibrated per arch, accuracy on held-out training
images), against NATS-Bench CIFAR-10::

    python -m fewshot.experiments.ranking_budget \\
        --data-roots subset=../shared/data/cifar10-subset,full=../shared/data/cifar10-jpeg \\
        --out runs/ranking-budget --results docs/training/ranking_budget.json

**Evaluation settings first.** Before the curve, the largest budget of seed 0 is scored on a
grid of recalibration batches x held-out images (the first h of the fixed held-out order; BN
statistics as a cumulative average over the first c training batches); the settings used for
the curve are the cheapest grid point from which doubling either, as far as the grid goes,
moves tau by less than ``--tolerance`` (0.02), or the largest point if none does
(:func:`choose_settings`). Reported per budget: global tau,
tau within the top 10% of the sample, the true accuracy of the picked arch, training seconds.

Everything is resumable (each supernet checkpoints per epoch; scores are cached beside it);
``--results`` also writes the table and figure beside the JSON. The data module's held-out
part is drawn with data seed 0 for every seed (the sample of held-out images is fixed); the
training seed sets the initialisation, the sampled paths and the data order.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fewshot.analysis.baselines import baseline_rows, free_baselines_text
from fewshot.analysis.ranking import ranking_quality
from fewshot.choices import space_option
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    lightning_hardware,
    option,
    resolve_device,
    to_dict,
)
from fewshot.correlation import kendall_tau
from fewshot.data.identity import required_column
from fewshot.errors import UsageError
from fewshot.experiments.common import sampling_option, start_experiment, write_results
from fewshot.experiments.free_baselines import ProxySettings, add_free_baselines
from fewshot.io import atomic_write_json, software_versions
from fewshot.spaces import Arch, get_space
from fewshot.tables import format_number as _f
from fewshot.tables import markdown_table

log = logging.getLogger("fewshot")

FORMAT = "fewshot.ranking_budget"
VERSION = 1
TAU_GOAL = 0.3
_REGIME = re.compile(r"^px(\d+)-c(\d+)-n(\d+)-([A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class Regime:
    """A cheap training regime: ``px{image_size}-c{C}-n{N}-{data}`` (data: a --data-roots key)."""

    name: str
    image_size: int
    C: int
    N: int
    data: str

    @classmethod
    def parse(cls, name: str) -> Regime:
        match = _REGIME.match(name)
        if not match:
            raise UsageError(
                f"regime {name!r} is not px<SIZE>-c<C>-n<N>-<DATA>, e.g. px16-c8-n1-subset"
            )
        size, C, N, data = match.groups()
        return cls(name, int(size), int(C), int(N), data)


@dataclass(kw_only=True)
class RankingBudgetConfig(CommonOptions):
    """One-shot ranking quality against training steps, per cheap regime."""

    space: str = space_option()
    out: Path = option(Path("runs/ranking-budget"), help="experiment folder (resumable)")
    results: Path | None = option(
        None, help="also write the results JSON here (table and figure beside it)",
        affects_results=False,
    )  # fmt: skip
    regimes: list[str] = option(  # each regime's results are independent: adding one is fine
        ["px8-c4-n1-full", "px8-c4-n1-subset", "px16-c8-n1-subset", "px32-c8-n1-subset"],
        help="regimes px<SIZE>-c<C>-n<N>-<DATA> (comma-separated)",
        affects_results=False,
    )
    data_roots: list[str] = option(
        [], help="DATA=FOLDER for every regime's DATA (ImageFolder trees, comma-separated)",
        affects_results=False,
    )  # fmt: skip
    steps: list[int] = option(  # every budget is its own run: adding one changes no other
        [250, 500, 1000, 2000, 4000], help="budgets in optimiser steps", affects_results=False
    )
    seeds: int = option(2, help="training seeds 0..SEEDS-1", minimum=1, affects_results=False)
    batch_size: int = option(64, help="training batch size", minimum=1)
    lr: float = option(0.025, help="cosine learning rate from lr (spec SGD)")
    sampling: str = sampling_option()
    pack: bool = option(
        False, help="train the seeds of each budget together, as one pack (K networks per pass; "
        "each equals its training alone up to float rounding: docs/training/README.md, 'Packs'); "
        "packed supernets live in packed-seedS/ folders",
    )  # fmt: skip
    val_fraction: float = option(
        0.2, help="training images held out for scoring (0.2 of the 10k subset: 2,000)"
    )
    sample: int = option(100, help="connected archs in the stratified sample", minimum=10)
    sample_seed: int = option(0, help="seed of the stratified sample")
    archs: Path | None = option(
        None, help="score the first --sample archs of this file (one arch string a line) "
        "instead of drawing the stratified sample",
    )  # fmt: skip
    calib_grid: list[int] = option([2, 4, 8, 16], help="recalibration batches tried")
    held_out_grid: list[int] = option([250, 500, 1000, 2000], help="held-out images tried")
    tolerance: float = option(0.02, help="tau change allowed when doubling an eval setting")
    benchmark: Path | None = option(None, help="NATS-Bench directory or accuracy CSV",
                                    affects_results=False)  # fmt: skip
    benchmark_dataset: str | None = option(
        None, help="benchmark accuracy column (default: the regimes' data's, when every DATA "
        "folder holds a benchmark data set's classes; else the study refuses; naming a column "
        "forces it, with a warning)",
    )  # fmt: skip
    free_baselines: bool = option(
        True, help="also rank the sample by free baselines (convolutions, params, FLOPs, "
        "zero-cost proxies at initialisation on the space's benchmark network with one batch "
        "of 64 of the first regime's images at their own size; cached in OUT/free-baselines) "
        "and compare every budget with them (fewshot.experiments.free_baselines)",
        affects_results=False,
    )  # fmt: skip
    whole_space: bool = option(
        False, help="also score every arch of the space on seed 0's largest budget at the chosen "
        "settings (whole_space-c<C>-h<H>.csv beside its weights; resumable) and report tau over "
        "the space's valid archs beside the sample's", affects_results=False,
    )  # fmt: skip

    def resolve(self) -> RankingBudgetConfig:
        try:
            self.benchmark = self.benchmark or get_space(self.space).find_benchmark(required=True)
        except NotImplementedError as exc:  # the sample is stratified by ground truth
            raise UsageError(f"{exc}: give an accuracy CSV as --benchmark") from None
        for name in self.regimes:
            regime = Regime.parse(name)
            if regime.data not in self.roots():
                raise UsageError(f"regime {name} needs --data-roots {regime.data}=FOLDER")
        self.benchmark_dataset = self._column()
        if sorted(self.calib_grid) != self.calib_grid or sorted(self.held_out_grid) != (
            self.held_out_grid
        ):
            raise UsageError("--calib-grid and --held-out-grid must be ascending")
        return self

    def _column(self) -> str:
        """The benchmark column every regime's data is judged by (:func:`required_column`)."""
        roots = self.roots()
        columns = {
            required_column("folder", roots[Regime.parse(name).data], self.benchmark_dataset,
                            what="the ranking-budget study")
            for name in self.regimes
        }  # fmt: skip
        if len(columns) != 1:
            raise UsageError(f"the regimes' data are different benchmark data sets "
                             f"({', '.join(sorted(columns))}): study one at a time")  # fmt: skip
        return columns.pop()

    def roots(self) -> dict[str, Path]:
        out = {}
        for item in self.data_roots:
            key, sep, value = item.partition("=")
            if not sep or not key or not value:
                raise UsageError(f"--data-roots wants DATA=FOLDER items, got {item!r}")
            out[key] = Path(value)
        return out


# -- data and scoring ----------------------------------------------------------------------------


@dataclass
class RegimeData:
    """One regime's data module and its fixed scoring tensors."""

    regime: Regime
    datamodule: Any
    calib: list
    held_x: Any
    held_y: Any
    steps_per_epoch: int


def load_regime_data(config: RankingBudgetConfig, regime: Regime) -> RegimeData:
    """The data module (data seed 0), the calibration batches and the held-out tensors."""
    import torch

    from fewshot.data import make_datamodule
    from fewshot.training.search import take_batches

    root = config.roots()[regime.data]
    dm = make_datamodule(
        "folder", data_root=root, batch_size=config.batch_size, seed=0, num_workers=0,
        val_fraction=config.val_fraction, download=False,
        **{**config.data_option, "image_size": regime.image_size},
    )  # fmt: skip
    dm.setup("fit")
    device = resolve_device(config.device)
    calib = take_batches(dm.train_dataloader(), max(config.calib_grid), device)
    held = take_batches(dm.val_dataloader(), None, device)
    x, y = torch.cat([b[0] for b in held]), torch.cat([b[1] for b in held])
    if x.shape[0] < max(config.held_out_grid):
        raise UsageError(
            f"{root}: {x.shape[0]} held-out images < {max(config.held_out_grid)}; "
            "raise --val-fraction or lower --held-out-grid"
        )
    spe = math.ceil(len(dm.train_dataset()) / config.batch_size)
    return RegimeData(regime, dm, calib, x, y, spe)


def correctness(model: Any, arch: Arch, x: Any, y: Any, batch: int = 1000) -> np.ndarray:
    """Per held-out image, whether ``model`` on path ``arch`` (eval mode) classifies it right."""
    import torch

    model.eval()
    with torch.no_grad():
        hits = [
            model(xb, arch).argmax(1) == yb
            for xb, yb in zip(x.split(batch), y.split(batch), strict=True)
        ]
    return torch.cat(hits).cpu().numpy()


def score_grid(
    model: Any, archs: Sequence[Arch], data: RegimeData, calib: Sequence[int], held: Sequence[int]
) -> dict[str, list[float]]:
    """Held-out accuracy (%) of every arch for every ``(c, h)``: BN recalibrated on the first
    ``c`` calibration batches, accuracy on the first ``h`` held-out images. Key ``c{c}-h{h}``."""
    from fewshot.training.search import recalibrate_bn

    work = copy.deepcopy(model)
    out: dict[str, list[float]] = {f"c{c}-h{h}": [] for c in calib for h in held}
    x, y = data.held_x[: max(held)], data.held_y[: max(held)]
    for arch in archs:
        for c in calib:
            recalibrate_bn(work, arch, data.calib[:c])
            right = correctness(work, arch, x, y)
            for h in held:
                out[f"c{c}-h{h}"].append(100.0 * float(right[:h].mean()))
    return out


def choose_settings(
    taus: dict[str, float], calib: Sequence[int], held: Sequence[int], tolerance: float
) -> tuple[int, int]:
    """The cheapest ``(c, h)`` (fewest held-out images, then fewest batches) from which tau
    moves by less than ``tolerance`` however far ``c`` and ``h`` are doubled on the grid (every
    point with ``c' >= c`` and ``h' >= h``, so at least one doubling of each must be on the
    grid); else the largest point. Checking every larger point, not only the next doubling,
    matters: a noisy tau can sit still for one doubling and jump at the next (measured: 250
    -> 500 held-out images moved tau by 0.005, 500 -> 1000 by 0.135)."""
    for h in held:
        for c in calib:
            larger = [f"c{c2}-h{h2}" for c2 in calib for h2 in held if c2 >= c and h2 >= h]
            if (2 * c in calib and 2 * h in held) and all(
                abs(taus[k] - taus[f"c{c}-h{h}"]) < tolerance for k in larger
            ):
                return c, h
    return max(calib), max(held)


# -- training -------------------------------------------------------------------------------------


def ensure_one_shot(
    config: RankingBudgetConfig, data: RegimeData, seed: int, steps: int
) -> tuple[Path, float]:
    """Train (or find) the one-shot supernet of ``data``'s regime for ``steps``; its folder and
    training seconds."""
    from fewshot.training.runner import (
        TrainerSettings,
        is_trained,
        train_subsupernet,
    )

    folder = one_shot_folder(config, data, seed, steps)
    timing = folder / "train_time.json"
    if config.pack and not is_trained(folder, 0, steps=steps):
        train_seeds_packed(config, data, steps)
    if is_trained(folder, 0, steps=steps):
        return folder, float(json.loads(timing.read_text())["seconds"])
    log.info("%s seed %d: training one-shot for %d steps", data.regime.name, seed, steps)
    accelerator, devices = lightning_hardware(config.device)
    hardware = TrainerSettings(
        accelerator=accelerator, devices=devices, limit_val_batches=0, threads=config.threads,
        progress_bar=not config.no_progress,
    )  # fmt: skip
    start = time.perf_counter()
    train_subsupernet(get_space(config.space).full_mask(), data.datamodule, folder, settings(config, data, seed, steps),
                      hardware)  # fmt: skip
    seconds = time.perf_counter() - start
    atomic_write_json(timing, {"seconds": seconds, "steps": steps})
    return folder, seconds


def one_shot_folder(config: RankingBudgetConfig, data: RegimeData, seed: int, steps: int) -> Path:
    """Where seed ``seed``'s one-shot supernet of ``steps`` lives (packed ones apart: their
    weights differ from those trained alone by float rounding)."""
    name = f"packed-seed{seed}" if config.pack else f"seed{seed}"
    return config.out / data.regime.name / name / f"steps{steps}"


def train_seeds_packed(config: RankingBudgetConfig, data: RegimeData, steps: int) -> None:
    """Every untrained seed's one-shot supernet of ``steps``, trained as one pack (``--pack``);
    each folder gets the files a training alone writes, and ``train_time.json`` the pack's
    wall seconds (for all its networks) and its size."""
    from fewshot.training.pack import PackMember, PackSettings, PackTrainer, datamodule_batches
    from fewshot.training.runner import is_trained

    todo = [s for s in range(config.seeds)
            if not is_trained(one_shot_folder(config, data, s, steps), 0, steps=steps)]  # fmt: skip
    if not todo:
        return
    batches, per_epoch = datamodule_batches(data.datamodule)
    full = get_space(config.space).full_mask()
    members = [PackMember(f"seed{s}", full, s, batches, per_epoch,
                          one_shot_folder(config, data, s, steps)) for s in todo]  # fmt: skip
    alone = settings(config, data, 0, steps)
    pack_settings = PackSettings.of(alone, max_steps=steps)
    log.info("%s: training seeds %s for %d steps as one pack", data.regime.name, todo, steps)
    start = time.perf_counter()
    pack_dir = config.out / data.regime.name / f"pack-steps{steps}"
    PackTrainer(members, pack_settings, pack_dir, device=resolve_device(config.device)).fit()
    seconds = time.perf_counter() - start
    for member in members:
        atomic_write_json(member.out_dir / "train_time.json",
                          {"seconds": seconds, "steps": steps, "pack": len(members)})  # fmt: skip


def settings(config: RankingBudgetConfig, data: RegimeData, seed: int, steps: int) -> Any:
    from fewshot.training.runner import TrainSettings

    return TrainSettings(
        C=data.regime.C, N=data.regime.N, num_classes=data.datamodule.num_classes,
        epochs=math.ceil(steps / data.steps_per_epoch), lr=config.lr, seed=seed, max_steps=steps,
        sampling=config.sampling,
    )  # fmt: skip


def ensure_scores(
    config: RankingBudgetConfig, data: RegimeData, folder: Path, seed: int, steps: int,
    archs: Sequence[Arch], calib: Sequence[int], held: Sequence[int],
) -> dict[str, list[float]]:  # fmt: skip
    """:func:`score_grid` of the supernet in ``folder``, cached in ``scores.json``."""
    from fewshot.training.runner import load_trained

    path = folder / "scores.json"
    cached: dict[str, list[float]] = json.loads(path.read_text()) if path.is_file() else {}
    keys = [f"c{c}-h{h}" for c in calib for h in held]
    if all(k in cached for k in keys):
        return cached
    full = get_space(config.space).full_mask()
    model = load_trained(folder, settings(config, data, seed, steps), full)
    model = model.to(resolve_device(config.device))
    start = time.perf_counter()
    cached.update(score_grid(model, archs, data, calib, held))
    log.info("%s seed %d steps %d: scored %d archs x %d settings in %.0f s", data.regime.name,
             seed, steps, len(archs), len(keys), time.perf_counter() - start)  # fmt: skip
    atomic_write_json(path, cached)
    return cached


# -- the study ------------------------------------------------------------------------------------


def connected_sample(config: RankingBudgetConfig) -> tuple[list[Arch], np.ndarray, list[int]]:
    """The stratified sample over connected (valid) archs only (or the first ``--sample`` of
    ``--archs``): archs, accuracies, benchmark indices."""
    from fewshot.analysis.ranking import stratified_sample
    from fewshot.experiments.few_vs_one_shot import benchmark_archs, listed_sample

    assert config.benchmark is not None
    space = get_space(config.space)
    parsed, accuracies = benchmark_archs(config.benchmark, config.benchmark_dataset, space=space)
    if config.archs is not None:
        indices = listed_sample(config.archs, config.sample, parsed, space=space)
        return [parsed[i] for i in indices], accuracies[indices], indices
    connected = [i for i, a in enumerate(parsed) if a.is_valid]
    picks = stratified_sample(accuracies[connected], config.sample, config.sample_seed)
    indices = [connected[p] for p in picks]
    return [parsed[i] for i in indices], accuracies[indices], indices


def run_regime(
    config: RankingBudgetConfig, regime: Regime, archs: Sequence[Arch], true: np.ndarray
) -> dict[str, Any]:
    """Sensitivity on seed 0's largest budget, then every seed x budget at the chosen settings."""
    data = load_regime_data(config, regime)
    top = max(config.steps)
    folder, _ = ensure_one_shot(config, data, 0, top)
    grid = ensure_scores(config, data, folder, 0, top, archs, config.calib_grid,
                         config.held_out_grid)  # fmt: skip
    taus = {k: kendall_tau(v, true) for k, v in grid.items()}
    c, h = choose_settings(taus, config.calib_grid, config.held_out_grid, config.tolerance)
    budgets: dict[str, Any] = {}
    for steps in sorted(config.steps):
        per_seed = {}
        for seed in range(config.seeds):
            folder, seconds = ensure_one_shot(config, data, seed, steps)
            scores = ensure_scores(config, data, folder, seed, steps, archs, [c], [h])
            quality = ranking_quality(scores[f"c{c}-h{h}"], true, ["root"] * len(archs))
            done = json.loads((folder / "done.json").read_text())
            per_seed[str(seed)] = {
                **{k: v for k, v in quality.to_dict().items() if k != "per_leaf"},
                "train_s": seconds, "global_step": done["global_step"],
                "predicted": scores[f"c{c}-h{h}"],
            }  # fmt: skip
        budgets[str(steps)] = {"seeds": per_seed, **_means(per_seed)}
    whole = {}
    if config.whole_space:
        sample_tau = budgets[str(top)]["seeds"]["0"]["kendall_tau"]
        whole = {"whole_space": ensure_whole_space(config, data, top, c, h, sample_tau)}
    return {
        "image_size": regime.image_size, "C": regime.C, "N": regime.N, "data": regime.data,
        "train_images": len(data.datamodule.train_dataset()),
        "steps_per_epoch": data.steps_per_epoch,
        "sensitivity": {"steps": top, "seed": 0, "kendall_tau": taus, "tolerance": config.tolerance,
                        "chosen": {"calib_batches": c, "held_out": h}},
        "budgets": budgets, **whole,
    }  # fmt: skip


def ensure_whole_space(
    config: RankingBudgetConfig, data: RegimeData, steps: int, c: int, h: int,
    sample_tau: float | None,
) -> dict[str, Any]:  # fmt: skip
    """Every arch of the space scored on seed 0's supernet of ``steps`` (BN recalibrated on
    ``c`` batches, accuracy on ``h`` held-out images: :func:`fewshot.training.whole_space.
    score_space`, resumable), and Kendall tau over the valid archs the benchmark knows."""
    from fewshot.experiments.few_vs_one_shot import benchmark_table
    from fewshot.training.runner import load_trained
    from fewshot.training.whole_space import score_space

    assert config.benchmark is not None
    space = get_space(config.space)
    archs = list(space.all_archs())
    folder, _ = ensure_one_shot(config, data, 0, steps)
    model = load_trained(folder, settings(config, data, 0, steps), space.full_mask())
    model = model.to(resolve_device(config.device))
    path = folder / f"whole_space-c{c}-h{h}.csv"
    start = time.perf_counter()
    predicted = score_space(model, archs, data.calib[:c], data.held_x[:h], data.held_y[:h], path,
                            progress=not config.no_progress)  # fmt: skip
    seconds = time.perf_counter() - start
    strings, accuracies = benchmark_table(config.benchmark, config.benchmark_dataset, space=space)
    true = dict(zip(strings, (float(a) for a in accuracies), strict=True))
    keep = [i for i, a in enumerate(archs) if a.is_valid and a.to_string() in true]
    tau = kendall_tau([predicted[i] for i in keep], [true[archs[i].to_string()] for i in keep])
    log.info("%s: whole space, tau %s over %d valid archs (sample: %s), %.0f s",
             data.regime.name, tau, len(keep), sample_tau, seconds)  # fmt: skip
    return {"steps": steps, "seed": 0, "calib_batches": c, "held_out": h, "archs": len(archs),
            "valid_archs": len(keep), "kendall_tau": tau, "sample_kendall_tau": sample_tau,
            "seconds": round(seconds, 1), "csv": str(path)}  # fmt: skip


def _means(per_seed: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in ("kendall_tau", "kendall_tau_top10pct", "picked_accuracy", "train_s"):
        values = [q[key] for q in per_seed.values() if q.get(key) is not None]
        out[f"{key}_mean"] = float(np.mean(values)) if values else None
        out[f"{key}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return out


def cheapest_regime(regimes: dict[str, Any], goal: float = TAU_GOAL) -> dict[str, Any]:
    """The regime and budget reaching mean tau >= ``goal`` with the fewest training seconds;
    without one, the best mean tau seen (and where)."""
    reached = [
        (b["train_s_mean"], name, int(steps), b["kendall_tau_mean"])
        for name, r in regimes.items()
        for steps, b in r["budgets"].items()
        if b["kendall_tau_mean"] is not None and b["kendall_tau_mean"] >= goal
    ]
    if reached:
        seconds, name, steps, tau = min(reached)
        return {"goal": goal, "reached": True, "regime": name, "steps": steps, "kendall_tau": tau,
                "train_s": seconds}  # fmt: skip
    best = max(
        ((b["kendall_tau_mean"] or -1.0, name, int(s)) for name, r in regimes.items()
         for s, b in r["budgets"].items()),
    )  # fmt: skip
    return {"goal": goal, "reached": False, "regime": best[1], "steps": best[2],
            "kendall_tau": best[0]}  # fmt: skip


def results_table(result: dict[str, Any]) -> str:
    """Markdown: per regime and budget, mean tau (sd), top-10% tau, picked accuracy, seconds;
    then the free baselines (``free: NAME``) when the result has them."""
    rows = []
    for name, r in result["regimes"].items():
        chosen = r["sensitivity"]["chosen"]
        for steps, b in r["budgets"].items():
            rows.append([
                name, steps, f"{int(steps) * result['config']['batch_size'] / r['train_images']:.1f}",
                _f(b["kendall_tau_mean"]), _f(b["kendall_tau_sd"]), _f(b["kendall_tau_top10pct_mean"]),
                _f(b["picked_accuracy_mean"], 2), _f(b["train_s_mean"], 0),
                f"{chosen['calib_batches']} / {chosen['held_out']}",
            ])  # fmt: skip
    for name, q in baseline_rows(result):  # the free baselines on the same archs, untrained
        rows.append([name, "0", "-", _f(q["kendall_tau"]), "-", _f(q["kendall_tau_top10pct"]),
                     _f(q["picked_accuracy"], 2), "0", "-"])  # fmt: skip
    header = ["regime", "steps", "epochs", "tau", "tau sd", "tau top-10%", "picked acc",
              "train s", "calib batches / held-out"]  # fmt: skip
    return markdown_table(header, rows)


def sensitivity_table(result: dict[str, Any]) -> str:
    """Markdown: per regime, tau at every (calibration batches, held-out images) point."""
    rows = []
    for name, r in result["regimes"].items():
        for key, tau in r["sensitivity"]["kendall_tau"].items():
            c, h = key[1:].split("-h")
            rows.append([name, r["sensitivity"]["steps"], c, h, _f(tau)])
    return markdown_table(["regime", "steps", "calib batches", "held-out", "tau"], rows)


def whole_space_text(result: dict[str, Any]) -> str:
    """Markdown: per regime scored on the whole space, tau there beside the sample's ('' if none)."""
    rows = [[name, w["steps"], w["valid_archs"], _f(w["kendall_tau"]), _f(w["sample_kendall_tau"]),
             _f(w["seconds"], 0)]
            for name, r in result["regimes"].items() if (w := r.get("whole_space"))]  # fmt: skip
    if not rows:
        return ""
    header = ["regime", "steps", "valid archs", "tau (whole space)", "tau (sample)", "scoring s"]
    return f"\nWhole space (seed 0, largest budget):\n\n{markdown_table(header, rows)}"


def tables_text(result: dict[str, Any]) -> str:
    """The ``_table.md`` text: the curve (with the free baselines' rows), the sensitivity
    grid, the whole-space taus and the supernets against the free baselines."""
    return (f"{results_table(result)}\n\nEvaluation-settings sensitivity (seed 0, largest "
            f"budget):\n\n{sensitivity_table(result)}\n{whole_space_text(result)}"
            f"{free_baselines_text(result)}")  # fmt: skip


def write_outputs(config: RankingBudgetConfig, result: dict[str, Any]) -> None:
    from fewshot.plotting.ranking import plot_tau_vs_steps

    places = [config.out / "results.json"] + ([config.results] if config.results else [])
    text = tables_text(result)
    for path in places:
        write_results(path, result, text)
    plot_tau_vs_steps(result, *(path.with_name(path.stem + ".png") for path in places))
    log.info("wrote %s (+ tables, figures)", ", ".join(map(str, places)))


def _every_regime_done(config: RankingBudgetConfig) -> bool:
    """Whether the run folder's results hold every regime (they are written after each)."""
    try:
        done = json.loads((config.out / "results.json").read_text()).get("regimes", {})
    except (OSError, ValueError, AttributeError):
        return False
    return set(config.regimes) <= set(done)


def _proxy_settings(config: RankingBudgetConfig) -> ProxySettings:
    """The free baselines' proxies: the first regime's data folder, at its own image size."""
    root = config.roots()[Regime.parse(config.regimes[0]).data]
    return ProxySettings(config.space, "folder", root)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    config = start_experiment(RankingBudgetConfig, argv,
                              prog="python -m fewshot.experiments.ranking_budget")  # fmt: skip
    from fewshot.run_folder import finished, keep_run_config, lock_run

    lock_run(config.out)
    keep_run_config(config.out, config, "ranking_budget_config.yaml",
                    hint="use the original flags or another --out")  # fmt: skip
    if _every_regime_done(config) and finished(config.out, config.out / "results.json", config):
        return 0
    archs, true, indices = connected_sample(config)
    start = time.perf_counter()
    regimes: dict[str, Any] = {}
    result: dict[str, Any] = {}
    for name in config.regimes:
        regimes[name] = run_regime(config, Regime.parse(name), archs, true)
        result = {
            "format": FORMAT, "version": VERSION, "config": to_dict(config),
            "versions": software_versions(),
            "sample": {"indices": indices, "archs": [a.to_string() for a in archs],
                       "accuracy": [float(a) for a in true]},
            "regimes": regimes, "answer": cheapest_regime(regimes),
            "wall_s": time.perf_counter() - start,
        }  # fmt: skip
        if config.free_baselines:
            add_free_baselines(result, _proxy_settings(config), config.out / "free-baselines",
                               seed=config.sample_seed, device=config.device,
                               progress=not config.no_progress)  # fmt: skip
        write_outputs(config, result)  # after every regime: partial results land early
    print(tables_text(result))
    print(json.dumps(result["answer"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
