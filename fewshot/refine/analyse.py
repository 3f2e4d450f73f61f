"""``python -m fewshot.refine.analyse``: the initial AnyNet sample scored by several predictors.

Example::

    python -m fewshot.refine.analyse --predictors synflow,snip,grad_norm,fisher,jacob_cov,naswot \\
        --samples 5000 --seed 0 --out runs/refine/initial

Scores iteration 0's sample of ``python -m fewshot.refine`` (same ``--seed``, ``--samples`` as
its ``--initial-samples``, ``--flops-range`` and data) with every predictor in one shared pass
per net, then writes ``analysis.json`` (Kendall's tau between predictors on their logs, the
paper's Fig. 2; depth-limited decision trees of the hyperparameters predicting each
predictor's tertile, Fig. 3; with ``--measure-cost K`` the seconds per network of each
predictor alone, over the first K nets) and ``figures/``. A refinement run reuses the scored
nets with ``--initial-from`` this folder. Resumable like the refinement.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fewshot.choices import dataset_names
from fewshot.cli import run_main
from fewshot.config import (
    CommonOptions,
    apply_common,
    option,
    parse_config,
)
from fewshot.errors import UsageError
from fewshot.io import atomic_write_json, atomic_write_text
from fewshot.run_folder import CONFIG, keep_run_config
from fewshot.tables import outputs_block

_RUN = "sample and predictors"
_DATA = "data (scoring batches)"


@dataclass(kw_only=True)
class AnalyseConfig(CommonOptions):
    """Score the initial AnyNet sample with several predictors; correlations and trees."""

    predictors: list[str] = option(
        ["synflow", "snip", "grad_norm", "fisher", "jacob_cov", "naswot"],
        help="comma list of predictors, or 'all' (grasp costs ~4x the others)", group=_RUN,
    )  # fmt: skip
    samples: int = option(500, help="nets (paper: 5000)", minimum=2, group=_RUN)
    seed: int = option(0, help="sampling, network init and data batches", group=_RUN)
    flops_range: list[float] = option(
        [10e6, 50e6], help="accepted multiply-adds at 32x32, LOW,HIGH", group=_RUN
    )
    tree_depth: int = option(
        3, help="decision-tree depth", minimum=1, group=_RUN, affects_results=False
    )
    measure_cost: int = option(
        0, help="time each predictor alone on the first K nets", minimum=0, group=_RUN,
        affects_results=False,
    )  # fmt: skip
    dataset: str | None = option(
        None, help="data set (default: cifar10 if available, else digits with a warning)",
        choices=dataset_names, group=_DATA,
    )  # fmt: skip
    data_root: Path | None = option(None, help="data folder (data sets that need one)", group=_DATA)
    batch_size: int = option(64, help="scoring batch size (papers: 64)", minimum=1, group=_DATA)
    out: Path = option(
        Path("runs/refine/initial"), help="output folder", affects_results=False, group="output"
    )
    no_plots: bool = option(False, help="no figures", affects_results=False, group="output")

    def resolve(self) -> AnalyseConfig:
        from fewshot.data import resolve_dataset
        from fewshot.refine.predictors import resolve_predictors

        self.predictors = resolve_predictors(self.predictors)
        if len(self.flops_range) != 2 or not 0 <= self.flops_range[0] <= self.flops_range[1]:
            raise UsageError(f"--flops-range {self.flops_range}: need LOW,HIGH, 0 <= LOW <= HIGH")
        self.dataset, _ = resolve_dataset(self.dataset, self.data_root)
        return self


def measure_costs(configs, predictors, data, *, seed: int) -> dict[str, dict[str, float]]:
    """Seconds per network (build + score) of each predictor alone: median, mean, max."""
    from fewshot.refine.predictors import measure_cost

    out = {}
    for p in predictors:
        times = [
            measure_cost(lambda c=c: c.build(num_classes=data.num_classes), p, data, seed=seed)
            for c in configs
        ]
        out[p] = {
            "median": statistics.median(times),
            "mean": statistics.fmean(times),
            "max": max(times),
            "nets": len(times),
        }
    return out


def analyse_rows(rows, predictors, *, depth: int, seed: int) -> dict:
    """Kendall matrix and tertile trees over the nets every predictor scored."""
    from fewshot.analysis.refinement import (
        complete_rows,
        kendall_matrix,
        score_matrix,
        tertile_trees,
    )
    from fewshot.refine.predictors import LOG_SCALE
    from fewshot.spaces.anynet import hyperparameter_names

    rows = complete_rows(rows, predictors)
    if len(rows) < 3:
        raise UsageError(f"only {len(rows)} nets have every predictor's score: nothing to analyse")
    scores = score_matrix(rows, predictors, log_scale={p: p in LOG_SCALE for p in predictors})
    names = hyperparameter_names(3)
    values = np.array([[r["hyperparameters"][n] for n in names] for r in rows], dtype=float)
    trees = tertile_trees(values, names, scores, predictors, depth=depth, seed=seed)
    return {
        "nets": len(rows),
        "predictors": list(predictors),
        "kendall": kendall_matrix(scores).tolist(),
        "trees": [t.to_dict() for t in trees],
    }


def _main(argv: Sequence[str] | None) -> int:
    from fewshot.refine.cli import RefineConfig, load_data
    from fewshot.refine.engine import RefineSettings, iteration_sample, score_sample
    from fewshot.refine.samples import SampleFile
    from fewshot.spaces.anynet_sampling import DesignSpace

    config = parse_config(AnalyseConfig, argv, prog="python -m fewshot.refine.analyse")
    apply_common(config)
    out = config.out
    keep_run_config(out, config)
    flops = (int(config.flops_range[0]), int(config.flops_range[1]))
    settings = RefineSettings(
        "synflow", samples=config.samples, initial_samples=config.samples, seed=config.seed,
        flops_range=flops,
    )  # fmt: skip
    data = load_data(
        RefineConfig(
            dataset=config.dataset, data_root=config.data_root, batch_size=config.batch_size,
            seed=config.seed, data_option=config.data_option,
        )
    )  # fmt: skip
    sample = iteration_sample(DesignSpace.paper(), settings, 0, num_classes=data.num_classes)
    store = SampleFile(out / "samples" / "iter0.jsonl")
    score_sample(
        sample.configs, store, config.predictors, data, seed=config.seed, image_size=32,
        progress=not config.no_progress, desc="initial sample",
    )  # fmt: skip
    result = analyse_rows(
        store.ordered(), config.predictors, depth=config.tree_depth, seed=config.seed
    )
    result["acceptance"] = sample.acceptance
    result["seconds_per_net_all_predictors"] = statistics.median(
        r["seconds"] for r in store.ordered()
    )
    if config.measure_cost:
        k = min(config.measure_cost, len(sample.configs))
        result["cost"] = measure_costs(
            sample.configs[:k], config.predictors, data, seed=config.seed
        )
    atomic_write_json(out / "analysis.json", result)
    atomic_write_text(out / "trees.txt", _trees_text(result))
    figures: list[Path] = []
    if not config.no_plots:
        from fewshot.plotting.refinement import plot_kendall, plot_tree_importances

        figures = [
            plot_kendall(np.array(result["kendall"]), result["predictors"],
                         out / "figures/kendall.png"),
            plot_tree_importances(result["trees"], out / "figures/tree_importances.png"),
        ]  # fmt: skip
    print(_summary(result))
    files = [out / "analysis.json", out / "trees.txt", store.path, out / CONFIG]
    print(outputs_block(files, figures), end="")
    return 0


def _trees_text(result: dict) -> str:
    return "\n".join(
        f"== {t['predictor']} (depth {t['depth']}, training accuracy {t['train_accuracy']:.2f})\n"
        f"{t['rules']}"
        for t in result["trees"]
    )


def _summary(result: dict) -> str:
    p = result["predictors"]
    tau = np.array(result["kendall"])
    lines = [f"{result['nets']} nets; Kendall tau (log scores):"]
    lines += [f"  {a:>10s} " + " ".join(f"{v:6.2f}" for v in tau[i]) for i, a in enumerate(p)]
    for t in result["trees"]:
        top = sorted(t["importances"].items(), key=lambda kv: -kv[1])[:3]
        lines.append(
            f"  tree {t['predictor']}: accuracy {t['train_accuracy']:.2f}, top features "
            + ", ".join(f"{n} {v:.2f}" for n, v in top)
        )
    for name, c in result.get("cost", {}).items():
        lines.append(f"  cost {name}: median {c['median']:.3f} s/net over {c['nets']} nets")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors exit 2 with one line."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
