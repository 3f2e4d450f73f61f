"""Figures that read: axis scales for values spanning orders of magnitude, bounded error bars
and the random-split level, what decided a split in the tree picture, the overall pick, the
training curves."""

from __future__ import annotations

import numpy as np
import pytest

from fewshot.analysis.split_distance import DistanceReport, random_split_reference
from fewshot.correlation import Correlation
from fewshot.plotting.correlation import plot_metric_scatter
from fewshot.plotting.output import value_scale
from fewshot.plotting.split_distance import _bar_values
from fewshot.plotting.training import plot_training_curves
from fewshot.plotting.tree import node_label, plot_tree
from fewshot.spaces.nb201 import Mask
from fewshot.splitting.tree import Split, SplitTree

PNG = b"\x89PNG"


@pytest.mark.parametrize(
    "values, scale",
    [
        ([1.0, 2.0, 50.0], "linear"),
        ([1e-3, 1.0, 5e48], "log"),
        ([0.0, 3.0, 1e10, 5e48], "symlog"),  # synflow: zero for a cut-off network
        ([-1e6, 1.0, 2.0], "symlog"),
        ([0.0, 0.0, 5.0], "linear"),
        ([np.nan, np.inf, 1.0, 1e9], "log"),
    ],
)
def test_value_scale(values, scale):
    assert value_scale(values)[0] == scale


def test_symlog_is_linear_within_the_smallest_magnitude():
    assert value_scale([0.0, 3.0, 1e10])[1] == {"linthresh": 3.0}


def test_the_synflow_scatter_is_drawn_on_a_symlog_axis(tmp_path, monkeypatch):
    import matplotlib.axes

    seen = []
    real = matplotlib.axes.Axes.set_xscale
    monkeypatch.setattr(matplotlib.axes.Axes, "set_xscale",
                        lambda ax, s, **kw: (seen.append(s), real(ax, s, **kw)))  # fmt: skip
    rng = np.random.default_rng(0)
    scores = np.concatenate([[0.0, 5e48], 10 ** rng.uniform(5, 40, 48)])
    corr = Correlation("synflow", 50, 0, 0.5, 0.4)
    path = plot_metric_scatter(scores, rng.uniform(80, 94, 50), corr, tmp_path / "s.png")
    assert seen == ["symlog"] and path.read_bytes().startswith(PNG)


def test_random_split_reference_by_hand():
    assert random_split_reference(2, 2) == 0.0  # one partition only
    # 3 ops, 2 groups: 3 partitions, two different ones are 1 apart: 6 of 9 ordered pairs
    assert random_split_reference(3, 2) == pytest.approx(2 / 3)
    assert random_split_reference(5, 2) == pytest.approx(56 / 45)  # 1.24, the docs' level


def test_the_report_records_the_random_level():
    report = DistanceReport({}, branch=2)
    assert report.random_reference == pytest.approx(1.2444, abs=1e-4)
    assert DistanceReport.from_dict(report.to_dict()).branch == 2
    assert DistanceReport({}).random_reference is None


def test_error_bars_stop_at_zero():
    from fewshot.analysis.split_distance import DistanceSummary

    means, bars = _bar_values([DistanceSummary(0.1, 0.3, 4), DistanceSummary(1.0, 0.2, 4),
                               DistanceSummary(None, None, 0)])  # fmt: skip
    assert bars[0].tolist() == pytest.approx([0.1, 0.2, 0.0])  # below: never under 0
    assert bars[1].tolist() == pytest.approx([0.3, 0.2, 0.0])  # above: the std
    assert np.isnan(means[2])


def _tree(decided_by: str, ties: int = 1) -> SplitTree:
    tree = SplitTree(metric="synflow", seed=0, dataset="synthetic", config={})
    tree.add_root(Mask.full())
    ops = Mask.full().ops(0)
    split = Split(0, ops, (ops[:2], ops[2:]), tuple(tuple(0.0 for _ in ops) for _ in ops),
                  cut=0.0, decided_by=decided_by, ties=ties)  # fmt: skip
    tree.apply_split(0, split)
    return tree


@pytest.mark.parametrize(
    "decided_by, ties, text",
    [("value", 1, "by value"), ("tie", 3, "by tie (3 tied)"), ("nonfinite", 1, "by nonfinite")],
)
def test_tree_labels_say_what_decided_the_split(decided_by, ties, text):
    assert text in node_label(_tree(decided_by, ties).nodes[0])


def test_a_deeper_tree_grows_taller_not_smaller(tmp_path):
    from PIL import Image

    shallow = Image.open(plot_tree(_tree("value"), tmp_path / "a.png")).size
    tree = _tree("value")
    ops = tree.nodes[1].mask.ops(1)
    for node_id in (1, 2):
        groups = (ops[:2], ops[2:])
        tree.apply_split(node_id, Split(1, ops, groups, tuple(tuple(0.0 for _ in ops)
                                                                for _ in ops), cut=0.0))  # fmt: skip
    deep = Image.open(plot_tree(tree, tmp_path / "b.png")).size
    assert deep[1] > shallow[1]  # more leaves: taller, same font size


def test_training_curves_one_line_per_leaf(tmp_path, monkeypatch):
    import matplotlib.axes

    logs = {"1": [{"step": 5, "train_loss": 2.3, "val_acc": 0.1},
                  {"step": 10, "train_loss": 2.1, "val_acc": 0.2}],
            "oneshot": [{"step": 10, "train_loss": 2.2}]}  # fmt: skip
    lines = []
    real = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda ax, *a, **kw: (lines.append(kw["label"]), real(ax, *a, **kw))[1])  # fmt: skip
    path = plot_training_curves(logs, tmp_path / "curves.png", title="t")
    assert path.read_bytes().startswith(PNG)
    # loss: both jobs; held-out accuracy: only leaf 1 logged it; no training accuracy panel
    assert lines == ["leaf 1", "one-shot", "leaf 1"]


def test_the_search_figure_rings_the_overall_pick(tmp_path, monkeypatch):
    import matplotlib.axes

    from fewshot.plotting.leaf_search import plot_leaf_search

    labels = []
    real = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda ax, *a, **kw: (labels.append(kw.get("label")), real(ax, *a, **kw))[1])  # fmt: skip
    archs = {"1": [{"arch": "a", "predicted": 30.0, "true": 90.0},
                   {"arch": "b", "predicted": 20.0, "true": 91.0}],
             "2": [{"arch": "c", "predicted": 40.0, "true": 88.5}]}  # fmt: skip
    evaluation = {"few-shot": {
        "leaves": {k: {"archs": v} for k, v in archs.items()},
        "overall": {"kendall_tau": 0.1, "chosen": {"leaf": "2", "arch": "c", "true": 88.5}},
    }}  # fmt: skip
    assert plot_leaf_search(evaluation, tmp_path / "s.png").read_bytes().startswith(PNG)
    assert "overall pick (88.50%)" in labels


def test_a_figure_is_drawn_once_and_written_whole_to_every_place(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from fewshot.plotting.output import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    draws = []
    original = fig.savefig
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: draws.append(1) or original(*a, **k))
    first, copy = tmp_path / "run" / "fig.png", tmp_path / "docs" / "fig.png"
    assert save_figure(fig, first, copy) == first
    assert len(draws) == 1 and not plt.fignum_exists(fig.number)
    assert first.read_bytes().startswith(PNG) and copy.read_bytes() == first.read_bytes()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["fig.png", "fig.png"]


def test_a_figure_takes_its_format_from_the_suffix(tmp_path):
    import matplotlib.pyplot as plt

    from fewshot.plotting.output import save_figure

    fig, _ = plt.subplots()
    assert save_figure(fig, tmp_path / "fig.pdf").read_bytes().startswith(b"%PDF")
