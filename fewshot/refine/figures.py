"""The figures of a refinement run folder, from its ``refinement.json`` and sample files."""

from __future__ import annotations

import json
from pathlib import Path

from fewshot.analysis.refinement import interval_series, read_iterations
from fewshot.plotting.refinement import (
    plot_complexities,
    plot_hyperparameter_intervals,
    plot_mask_accuracy,
    plot_score_edf,
    plot_subspace_size,
)
from fewshot.spaces.anynet import HYPERPARAMETERS

FIGURES_DIR = "figures"


def write_run_figures(out: Path) -> list[Path]:
    """EDF of scores, subspace size, the four interval figures and complexities (PNG)."""
    record = json.loads((out / "refinement.json").read_text(encoding="utf-8"))
    predictor, iterations = record["predictor"], record["iterations"]
    if not iterations:
        return []
    per_iter = read_iterations(out, predictor)
    fig_dir = out / FIGURES_DIR
    paths = [
        plot_score_edf([it["scores"] for it in per_iter], predictor, fig_dir / "score_edf.png"),
        plot_subspace_size(
            [it["subspace_size"] for it in iterations] + [record["final_subspace_size"]],
            predictor,
            fig_dir / "subspace_size.png",
        ),
        plot_complexities(
            [it["flops"] for it in per_iter],
            [it["params"] for it in per_iter],
            predictor,
            fig_dir / "complexities.png",
        ),
    ]
    names = list(iterations[0]["intervals"])
    for kind in HYPERPARAMETERS:
        series = {n: interval_series(iterations, n) for n in names if n[0] == kind}
        paths.append(
            plot_hyperparameter_intervals(
                series, kind, predictor, fig_dir / f"intervals_{kind}.png"
            )
        )
    return paths


def write_nb201_figures(out: Path) -> list[Path]:
    """A split space's run (NB201's by default): subspace size per iteration and, with a
    benchmark, the masks' accuracy."""
    record = json.loads((out / "refinement.json").read_text(encoding="utf-8"))
    predictor, iterations = record["predictor"], record["iterations"]
    if not iterations:
        return []
    fig_dir = out / FIGURES_DIR
    sizes = [it["subspace_size"] for it in iterations] + [record["final_subspace_size"]]
    paths = [plot_subspace_size(sizes, predictor, fig_dir / "subspace_size.png")]
    if "final_accuracy" in record:
        acc = [it["accuracy"] for it in iterations] + [record["final_accuracy"]]
        space = str(record.get("space", "nb201")).upper()
        paths.append(plot_mask_accuracy(acc, predictor, fig_dir / "mask_accuracy.png", space=space))
    return paths
