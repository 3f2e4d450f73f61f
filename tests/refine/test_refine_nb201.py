"""NB201 refinement: per-edge credible op sets from bootstrap winners; scorers; accuracy."""

from __future__ import annotations

import json

import pytest

from fewshot.errors import UsageError
from fewshot.refine.nb201 import (
    NB201Settings,
    mask_accuracy,
    op_overlap,
    refine_nb201,
    sample_archs,
    table_scorer,
)
from fewshot.spaces.nb201 import Arch, Mask


def conv3_count(arch: Arch) -> float:
    """A known predictor: the number of 3x3 convs (plus a tie-breaking hint towards 1x1)."""
    return arch.ops.count("nor_conv_3x3") + 0.1 * arch.ops.count("nor_conv_1x1")


def test_refinement_keeps_the_ops_the_predictor_rewards(tmp_path):
    settings = NB201Settings("conv3", samples=200, iterations=5, draws=2000)
    record = refine_nb201(tmp_path, settings, conv3_count, progress=False)
    final = Mask.from_op_lists(record["final_mask"])
    assert all("nor_conv_3x3" in final.ops(e) for e in range(6))
    assert final.num_archs < 15625 / 100
    assert "none" not in {op for e in range(6) for op in final.ops(e)}
    sizes = [it["subspace_size"] for it in record["iterations"]]
    assert sizes[0] == 15625 and sizes == sorted(sizes, reverse=True)
    on_disk = json.loads((tmp_path / "refinement.json").read_text())
    assert on_disk["final_mask"] == record["final_mask"]


def test_sampling_stays_in_the_mask_and_is_seeded():
    mask = Mask.full().restrict(0, ["none", "skip_connect"]).restrict(5, ["avg_pool_3x3"])
    archs = sample_archs(mask, 50, seed=1)
    assert all(a in mask for a in archs)
    assert archs == sample_archs(mask, 50, seed=1)


def test_accuracy_summary_and_overlap():
    mask = Mask.full().restrict(0, ["nor_conv_3x3"]).restrict(1, ["none"])
    acc = mask_accuracy(mask, lambda a: float(a.ops.count("nor_conv_3x3")), top=3.0)
    assert acc["archs"] == mask.num_archs == 625 and acc["max"] == 5.0
    assert 0 < acc["share_top5"] < 1
    assert op_overlap(mask, mask) == 1.0 and 0 < op_overlap(mask, Mask.full()) < 1


def test_table_scorer(tmp_path):
    arch = Arch(("nor_conv_3x3",) * 6)
    path = tmp_path / "t.csv"
    path.write_text(f"net_str,synflow,jacov\n{arch},12.5,-3\n")
    assert table_scorer(path, "synflow")(arch) == 12.5
    assert table_scorer(path, "jacob_cov")(arch) == -3.0
    assert table_scorer(path, "synflow")(Arch(("none",) * 6)) is None
    with pytest.raises(UsageError, match="no column"):
        table_scorer(path, "snip")


def test_bad_settings():
    with pytest.raises(UsageError, match="iterations"):
        NB201Settings("synflow", iterations=0)


def test_compare_with_a_splitting_tree(tmp_path):
    from fewshot.refine.nb201 import compare_with_tree
    from fewshot.spaces.nb201 import OPS
    from fewshot.splitting.tree import Split, SplitTree

    tree = SplitTree(metric="synflow", seed=0, dataset="synthetic")
    tree.add_root()
    groups = (("none", "skip_connect"), ("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))
    tree.apply_split(0, Split(edge=0, ops=OPS, groups=groups, distance=((0.0,) * 5,) * 5, cut=1.0))
    tree.complete = True
    path = tree.save(tmp_path / "tree.json")
    refined = Mask.full().restrict(0, ["nor_conv_3x3"])
    result = compare_with_tree(path, refined, lambda a: float(a.ops.count("nor_conv_3x3")), 3.0)
    leaves = {tuple(leaf["mask"][0]): leaf for leaf in result["leaves"]}
    assert result["metric"] == "synflow" and len(leaves) == 2
    assert leaves[groups[1]]["contains_refined"] and not leaves[groups[0]]["contains_refined"]
    assert leaves[groups[1]]["overlap"] > leaves[groups[0]]["overlap"]
    assert leaves[groups[1]]["accuracy"]["mean"] > leaves[groups[0]]["accuracy"]["mean"]


def test_refinement_of_another_space_records_it_and_refuses_a_mixed_resume(tmp_path):
    """The loop is the space's: a 3-layer chain of {a, b} refined by the count of ``b``."""
    from tests.toy_space import TOY, toy_space

    space = toy_space()
    settings = NB201Settings("b_count", samples=40, iterations=4, draws=500)
    score = lambda arch: float(arch.ops.count("b"))  # noqa: E731
    record = refine_nb201(tmp_path, settings, score, progress=False, space=space)
    assert record["space"] == TOY and record["final_mask"] == [["b"], ["b"], ["b"]]
    assert record["iterations"][0]["subspace_size"] == 8
    with pytest.raises(UsageError, match="other settings"):  # the same folder, NB201
        refine_nb201(tmp_path, settings, score, progress=False)
    with pytest.raises(UsageError, match="start mask is of search space 'nb201'"):
        refine_nb201(tmp_path / "x", settings, score, progress=False, space=space,
                     start=Mask.full())  # fmt: skip
