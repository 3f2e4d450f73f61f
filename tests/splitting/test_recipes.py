"""Recipes and the split step's options: what lands in tree.json, resume rules, candidates
``without``, the ``score`` policy never re-splitting an edge, the random baseline, and the
flags for splits decided by ties or non-finite values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.metrics.base import ScoringData
from fewshot.spaces.nb201 import Mask
from fewshot.split import main
from fewshot.splitting.candidates import candidate_masks, evaluate_edge
from fewshot.splitting.engine import SplitEngine, SplitSettings, initial_supernet
from fewshot.splitting.recipes import get_recipe, list_recipes
from fewshot.splitting.tree import load_tree

TINY = ["--C", "4", "--N", "1", "--batch-size", "8", "--dataset", "synthetic"]


def run(tmp_path, *extra: str, metric: str = "snip", depth: int = 2) -> int:
    args = ["--metric", metric, "--depth", str(depth), *TINY, "--out", str(tmp_path)]
    return main([*args, "--no-progress", *extra])


def test_three_recipes_are_registered():
    assert {"ly-manson", "gm-nas", "zero-cost-nas"} <= set(list_recipes())
    ly = get_recipe("ly-manson")
    assert ly.metric_settings.bn_mode == "eval" and ly.init == "kaiming_fan_out"
    assert (
        ly.batch_size == 16
        and ly.edges == (0, 1, 2)
        and ly.pairwise_objective == ("min-similarity")
    )
    assert get_recipe("gm-nas").balanced and get_recipe("gm-nas").edge_policy == "score"


def test_the_recipe_and_its_overrides_land_in_tree_json(tmp_path):
    assert run(tmp_path, "--recipe", "ly-manson", "--recipe-option", "bn_mode=train") == 0
    raw = json.loads((tmp_path / "snip-d2-b2-s0" / "tree.json").read_text())
    assert raw["version"] == 2
    assert raw["recipe"]["name"] == "ly-manson"
    settings = raw["recipe"]["settings"]
    assert settings["init"] == "kaiming_fan_out" and settings["augment"] is True
    assert settings["metric_settings"]["bn_mode"] == "train"  # the override, recorded
    assert settings["metric_settings"]["grad_layout"] == "channel_rows"
    # C, N, batch size were given on the command line: overrides too
    assert raw["recipe"]["overrides"]["bn_mode"] == ["eval", "train"]
    assert raw["recipe"]["overrides"]["C"] == [16, 4]
    env = raw["environment"]
    assert env["device"] == "cpu" and "deterministic_algorithms" in env
    assert raw["config"]["recipe"] == "ly-manson"
    for node in raw["nodes"]:
        if node["split"]:
            assert node["split"]["decided_by"] in ("value", "tie", "nonfinite")
            assert node["split"]["objective"] == "max-distance"


def test_resume_with_another_recipe_exits_2(tmp_path, capsys):
    assert run(tmp_path, "--max-splits", "1") == 0
    capsys.readouterr()
    assert run(tmp_path, "--resume", "--recipe", "zero-cost-nas") == 2
    err = capsys.readouterr().err
    assert "made with recipe 'ly-manson', not 'zero-cost-nas'" in err
    assert run(tmp_path, "--resume") == 0  # the same recipe continues


def test_without_candidates_differ_from_only():
    data = ScoringData.random(batch_size=8, num_batches=1, image_size=8)
    net = initial_supernet(C=4, N=1, num_classes=10, seed=0)
    full = Mask.full()
    only = candidate_masks(full, 0, "only")
    without = candidate_masks(full, 0, "without")
    assert [m.ops(0) for m in only] == [(op,) for op in full.ops(0)]
    assert [m.ops(0) for m in without] == [
        tuple(o for o in full.ops(0) if o != op) for op in full.ops(0)
    ]
    a = evaluate_edge(net, full, 0, "snip", data, candidates="only")
    b = evaluate_edge(net, full, 0, "snip", data, candidates="without")
    assert a.scores != b.scores and not np.allclose(a.distance, b.distance)


@pytest.mark.parametrize("recipe", ["gm-nas", "zero-cost-nas"])
def test_score_policy_never_resplits_an_edge_on_a_path(tmp_path, recipe):
    data = ScoringData.random(batch_size=8, num_batches=2, image_size=8)
    r = get_recipe(recipe)
    s = SplitSettings(
        metric="snip", depth=3, branch=2, seed=0, edge_policy="score",
        edges=tuple(range(6)), balanced=r.balanced, metric_settings=r.metric_settings,
    )  # fmt: skip
    net = initial_supernet(C=4, N=1, num_classes=10, seed=0)
    tree = SplitEngine(s, net, data, progress=False).run(_root_tree())
    for leaf in tree.leaves():
        edges, node = [], leaf
        while node.parent is not None:
            node = tree.node(node.parent)
            edges.append(node.split.edge)
        assert len(edges) == len(set(edges)) == 3, edges  # three distinct edges per path
    for node, split in tree.splits():
        # only edges still fully enabled were considered, each with its recorded cut
        assert split.edge_cuts and all(len(node.mask.ops(e)) == 5 for e in split.edge_cuts)
        assert split.cut == pytest.approx(max(split.edge_cuts.values()))


def _root_tree():
    from fewshot.splitting.tree import SplitTree

    tree = SplitTree("snip", 0, "random")
    tree.add_root()
    return tree


def test_random_baseline_is_seeded_and_valid(tmp_path):
    assert run(tmp_path, metric="random", depth=3) == 0
    assert run(tmp_path, "--seed", "1", metric="random", depth=3) == 0
    a = load_tree(tmp_path / "random-d3-b2-s0")
    b = load_tree(tmp_path / "random-d3-b2-s1")
    assert all(s.decided_by == "random" for _, s in a.splits())
    assert len(a.leaves()) == 8 and a.timings["forward_passes"] == 0
    assert [s.groups for _, s in a.splits()] != [s.groups for _, s in b.splits()]
    assert run(tmp_path / "again", metric="random", depth=3) == 0
    again = load_tree(tmp_path / "again" / "random-d3-b2-s0")
    assert [s.groups for _, s in a.splits()] == [s.groups for _, s in again.splits()]


def test_ties_are_flagged_in_the_tree_and_by_the_cli(tmp_path, capsys):
    """lr over a batch of 4 distinct samples: every candidate counts 4 regions, all tie."""
    assert run(tmp_path, "--batch-size", "4", metric="lr", depth=1) == 0
    tree = load_tree(tmp_path / "lr-d1-b2-s0")
    ((_, split),) = list(tree.splits())
    assert split.decided_by == "tie" and split.ties == 15
    assert split.groups == (("none",), ("skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                                        "avg_pool_3x3"))  # fmt: skip
    assert "1 of 1 splits decided by tie" in capsys.readouterr().err


def test_nonfinite_values_are_kept_and_flagged_by_ly_manson_only(tmp_path, capsys):
    """synflow in float32 with BN kept overflows at C=16, N=5 (the paper's code's artefact)."""
    args = ["--metric", "synflow", "--depth", "1", "--dataset", "synthetic",
            "--batch-size", "2", "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    tree = load_tree(tmp_path / "synflow-d1-b2-s0")
    ((_, split),) = list(tree.splits())
    assert split.decided_by == "nonfinite" and split.nonfinite_ops
    raw = (tmp_path / "synflow-d1-b2-s0" / "tree.json").read_text()
    json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert "decided by nonfinite" in capsys.readouterr().err
    strict = [
        "--recipe",
        "zero-cost-nas",
        "--init",
        "kaiming_fan_out",
        "--recipe-option",
        "synflow_dtype=float32",
        "--recipe-option",
        "synflow_bn=keep",
        "--name",
        "strict",
    ]
    assert main([*args, *strict]) == 2  # the same overflow is an error in other recipes
    assert "synflow" in capsys.readouterr().err


@pytest.mark.parametrize(
    "recipe,name",
    [("ly-manson", "split-ly-manson.yaml"), ("zero-cost-nas", "split-zero-cost-nas.yaml"),
     ("gm-nas", "split-gmnas.yaml")],
)  # fmt: skip
def test_each_recipe_yaml_spells_out_exactly_the_recipe(recipe, name, capsys):
    """configs/split-<recipe>.yaml resolves to the same configuration as --recipe alone."""
    import yaml

    from tests.conftest import REPO_ROOT

    def printed(args):
        with pytest.raises(SystemExit):
            main([*args, "--print-config"])
        return yaml.safe_load(capsys.readouterr().out)

    metric = "gm" if recipe == "gm-nas" else "snip"
    from_yaml = printed(["--config", str(REPO_ROOT / "configs" / name), "--metric", metric])
    from_flag = printed(["--recipe", recipe, "--metric", metric])
    assert from_yaml == from_flag
    assert from_flag["batches"] == (2 if metric == "gm" else 1)
