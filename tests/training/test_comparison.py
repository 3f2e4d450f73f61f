"""Few-shot vs one-shot: methods, leaf assignment, and the experiment command end to end."""

from __future__ import annotations

import json
import random
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fewshot.analysis.few_vs_one_shot import comparison_pairs
from fewshot.spaces.nb201 import Arch, Mask, all_archs
from fewshot.splitting.tree import Split, SplitTree
from fewshot.training.comparison import (
    Leaf,
    assign_leaves,
    exhaustive_leaves,
    leaves_at_depth,
    method_predictions,
    plan_methods,
    supernet_key,
    supernets,
)
from tests.fakes import write_fake_benchmark


def _split(edge: int, first: int) -> Split:
    """Split ``edge`` into its first ``first`` ops and the rest (distances irrelevant here)."""
    ops = Mask.full().ops(edge)
    zeros = tuple((0.0,) * len(ops) for _ in ops)
    return Split(edge, ops, (ops[:first], ops[first:]), zeros, 0.0)


def _tree(metric: str = "snip") -> SplitTree:
    """Depth 2: edge 0 into {none, skip} | rest, then each child on edge 1."""
    tree = SplitTree(metric=metric, seed=0, dataset="synthetic", complete=True)
    tree.add_root()
    a, b = tree.apply_split(0, _split(0, 2))
    tree.apply_split(a.id, _split(1, 1))
    tree.apply_split(b.id, _split(1, 3))
    return tree


def test_cut_leaves_partition_the_space_at_every_depth():
    tree = _tree()
    for depth, count in ((1, 2), (2, 4)):
        leaves = leaves_at_depth(tree, depth)
        assert len(leaves) == count
        assert sum(leaf.mask.num_archs for leaf in leaves) == 15625
        for x, y in combinations(leaves, 2):  # disjoint
            sample = random.Random(0).sample(list(x.mask.archs()), 20)
            assert not any(arch in y.mask for arch in sample)
    with pytest.raises(ValueError, match="depth 2 < 3"):
        leaves_at_depth(tree, 3)


def test_exhaustive_split_is_one_leaf_per_op_of_the_edge():
    leaves = exhaustive_leaves(edge=3)
    assert [leaf.id for leaf in leaves] == list(Mask.full().ops(3))
    assert all(leaf.mask.num_archs == 3125 and leaf.mask.ops(3) == (leaf.id,) for leaf in leaves)


def test_methods_of_another_space_and_mixed_spaces():
    """The exhaustive split and one-shot are the given space's; trees of two spaces are refused."""
    from tests.toy_space import toy_space

    toy = toy_space()
    leaves = exhaustive_leaves(edge=1, space=toy)
    assert [leaf.id for leaf in leaves] == ["a", "b"] and leaves[0].mask.num_archs == 4
    with pytest.raises(ValueError, match="one leaf per op: branch 2, not 5"):
        exhaustive_leaves(edge=1, branch=5, space=toy)
    methods = plan_methods({}, depths=[1], epochs=2, space=toy, protocols=("inherited",))
    assert {m.space.name for m in methods} == {toy.name}
    assert all(run.mask.space is toy for run in supernets(methods).values())
    with pytest.raises(ValueError, match="different spaces"):
        plan_methods({"snip": _tree()}, depths=[1], epochs=2, space=toy)


def test_each_arch_is_assigned_to_the_leaf_that_contains_it():
    leaves = leaves_at_depth(_tree(), 2)
    archs = random.Random(1).sample(list(all_archs()), 200)
    owners = assign_leaves(archs, leaves)
    by_id = {leaf.id: leaf for leaf in leaves}
    assert all(arch in by_id[owner].mask for arch, owner in zip(archs, owners, strict=True))
    assert len(set(owners)) == 4
    overlapping = [Leaf("all", Mask.full()), leaves[0]]
    with pytest.raises(ValueError, match="lies in 2 leaves"):
        assign_leaves(archs, overlapping)
    with pytest.raises(ValueError, match="lies in no leaf"):
        assign_leaves(archs, leaves[:1])


def test_methods_budgets_and_shared_supernets():
    methods = {m.name: m for m in plan_methods({"snip": _tree()}, depths=[1, 2], epochs=3)}
    assert list(methods) == ["snip-d1", "snip-d2", "exhaustive-b5", "one-shot", "one-shot-x2",
                             "one-shot-x4", "one-shot-x5"]  # fmt: skip
    assert methods["snip-d2"].compute_epochs == 12 == methods["one-shot-x4"].compute_epochs
    assert methods["snip-d2"].baseline("papers", 3) == "one-shot"
    assert methods["snip-d2"].baseline("equal-compute", 3) == "one-shot-x4"
    assert methods["exhaustive-b5"].baseline("equal-compute", 3) == "one-shot-x5"
    # the same mask at the same epochs is one supernet, whichever method needs it
    twice = plan_methods({"a": _tree("a"), "b": _tree("b")}, depths=[1], epochs=3,
                         exhaustive_edge=None)  # fmt: skip
    assert len(supernets(twice)) == 2 + 2  # two shared leaves, one-shot, one-shot-x2


def test_predictions_come_from_the_owning_leafs_supernet():
    tree = _tree()
    (method,) = [
        m for m in plan_methods({"snip": tree}, depths=[2], epochs=1) if m.name == "snip-d2"
    ]
    archs = random.Random(2).sample(list(all_archs()), 50)
    scores = {
        supernet_key(leaf.mask, 1): {a.to_string(): float(i) for a in archs if a in leaf.mask}
        for i, leaf in enumerate(method.leaves)
    }
    predicted, owners = method_predictions(method, archs, scores)
    index = {leaf.id: i for i, leaf in enumerate(method.leaves)}
    assert predicted == [float(index[o]) for o in owners]


def test_each_seed_records_the_leaves_of_its_own_tree():
    """A split method cuts each seed's own tree: seed 0 split edge 0 into {none, skip} | rest,
    seed 1 into {none} | rest. The results give each seed's leaves (before, the last seed's
    leaves were written as the method's, so a seed-0 arch looked scored by a supernet it was
    not in); a method whose leaves are the same for every seed keeps them at method level.
    Archs in a supernet shared with the exhaustive method get the same prediction."""
    from fewshot.analysis.few_vs_one_shot import evaluate_seed, summarise

    def tree(first: int) -> SplitTree:
        t = SplitTree(metric="gm", seed=0, dataset="synthetic", complete=True)
        t.add_root()
        t.apply_split(0, _split(0, first))
        return t

    archs = random.Random(3).sample(list(all_archs()), 40)
    true = np.array([float(i) for i in range(len(archs))])
    per_seed, leaves = {}, {}
    for seed, first in ((0, 2), (1, 1)):
        methods = plan_methods({"gm": tree(first)}, depths=[1], epochs=1)
        rng = random.Random(seed)
        scores = {key: {a.to_string(): rng.random() for a in archs if a in run.mask}
                  for key, run in supernets(methods).items()}  # fmt: skip
        per_seed[seed] = evaluate_seed(methods, scores, archs, true, top_k=3)
        leaves[seed] = {leaf.id: leaf.mask.to_op_lists() for leaf in methods[0].leaves}
        gm, exhaustive = per_seed[seed]["gm-d1"], per_seed[seed]["exhaustive-b5"]
        alone = [i for i, a in enumerate(archs) if a.ops[0] == "none"]
        if first == 1:  # {none} is a leaf of both methods: one supernet, one prediction
            assert [gm["predicted"][i] for i in alone] == [
                exhaustive["predicted"][i] for i in alone
            ]
    result = summarise(methods, per_seed, true, epochs=1, resamples=10, seed=0)["methods"]
    assert leaves[0] != leaves[1]
    assert result["gm-d1"]["leaves"] is None
    assert {s: q["leaves"] for s, q in result["gm-d1"]["seeds"].items()} == {
        "0": leaves[0], "1": leaves[1]
    }  # fmt: skip
    assert result["exhaustive-b5"]["leaves"] == result["exhaustive-b5"]["seeds"]["0"]["leaves"]
    assert len(result["exhaustive-b5"]["leaves"]) == 5


# -- the command, end to end on a tiny fake benchmark ---------------------------------------------


def _tool():
    from fewshot.experiments import few_vs_one_shot

    return few_vs_one_shot


def _kendall_tau_b(x: list[float], y: list[float]) -> float:
    """Tau-b counted pair by pair (an independent check of scipy's)."""
    concordant = discordant = ties_x = ties_y = 0
    for i, j in combinations(range(len(x)), 2):
        dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        ties_x += dx == 0
        ties_y += dy == 0
        concordant += dx * dy > 0
        discordant += dx * dy < 0
    pairs = len(x) * (len(x) - 1) / 2
    return (concordant - discordant) / np.sqrt((pairs - ties_x) * (pairs - ties_y))


def random_benchmark(folder: Path) -> Path:
    """A fake NATS-Bench folder of 24 seeded archs with random CIFAR-10 accuracies."""
    rng = random.Random(0)
    archs = rng.sample(list(all_archs()), 24)
    entries = {a.to_string(): {"cifar10": [rng.uniform(10, 94)], "cifar100": [1.0],
                               "ImageNet16-120": [1.0], "cifar10-valid": [1.0]}
               for a in archs}  # fmt: skip
    return write_fake_benchmark(folder, entries)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fvo")
    bench = random_benchmark(tmp / "bench")
    argv = [
        "--dataset", "synthetic", "--data-option", "num_train=128", "--data-option", "num_test=8",
        "--val-fraction", "0.25", "--benchmark", str(bench), "--trees", str(tmp / "trees"),
        "--out", str(tmp / "run"), "--C", "4", "--N", "1", "--epochs", "1", "--seeds", "1",
        "--sample", "8", "--metrics", "random", "--depths", "1", "--exhaustive-edge", "2",
        "--split-args", "--C 4 --N 1 --batch-size 8", "--threads", "1", "--no-progress",
        "--resamples", "100", "--results", str(tmp / "docs" / "few_vs_one_shot.json"),
        "--benchmark-dataset", "cifar10",  # synthetic data: judged only when forced
    ]  # fmt: skip
    assert _tool().main(argv) == 0
    return tmp, argv


def test_every_method_scores_the_same_arch_sample(experiment):
    tmp, _ = experiment
    result = json.loads((tmp / "run" / "results.json").read_text())
    sample = result["sample"]["archs"]
    assert len(sample) == 8 == len(set(sample))
    predictions = result["predictions"]["0"]
    assert set(predictions) == {"random-d1", "exhaustive-b5", "one-shot", "one-shot-x2",
                                "one-shot-x5"}  # fmt: skip
    for name, predicted in predictions.items():
        assert len(predicted) == len(sample), name
        leaves = result["methods"][name]["leaves"]
        epochs = result["methods"][name]["epochs"]
        for arch_str, value in zip(sample, predicted, strict=True):
            arch = Arch.from_string(arch_str)
            (owner,) = [
                Mask.from_op_lists(m) for m in leaves.values() if arch in Mask.from_op_lists(m)
            ]
            scores = (
                tmp / "run" / "seed0" / "supernets" / supernet_key(owner, epochs) / "scores.json"
            )
            assert json.loads(scores.read_text())[arch_str] == value


def test_pooled_tau_matches_a_hand_count_on_the_fake_benchmark(experiment):
    tmp, _ = experiment
    result = json.loads((tmp / "docs" / "few_vs_one_shot.json").read_text())
    true = result["sample"]["accuracy"]
    for name, predicted in result["predictions"]["0"].items():
        tau = result["methods"][name]["seeds"]["0"]["kendall_tau"]
        if np.ptp(predicted) == 0:
            assert tau is None
        else:
            assert tau == pytest.approx(_kendall_tau_b(predicted, true)), name
    convs = [sum(op.startswith("nor_conv") for op in Arch.from_string(a).ops)
             for a in result["sample"]["archs"]]  # fmt: skip
    quality = result["methods"]["one-shot"]["seeds"]["0"]
    assert quality["tau_true_vs_convs"] == pytest.approx(_kendall_tau_b(true, convs))
    assert (tmp / "docs" / "few_vs_one_shot.png").stat().st_size > 0
    table = (tmp / "docs" / "few_vs_one_shot_table.md").read_text()
    assert "tau - baseline" in table and "| free: convs | - |" in table  # free baselines too
    block = result["free_baselines"]
    assert set(block["tau_difference"]) == set(result["predictions"]["0"])
    assert block["baselines"]["convs"]["predicted"] == convs


def test_rerun_resumes_without_training_again(experiment, capsys):
    tmp, argv = experiment
    saved = yaml.safe_load((tmp / "run" / "few_vs_one_shot_config.yaml").read_text())
    assert saved["resolved_data_path"] == "tensor" and saved["image_size"] is None
    weights = sorted((tmp / "run").rglob("weights.pt"))
    stamps = [w.stat().st_mtime_ns for w in weights]
    capsys.readouterr()
    results = tmp / "run" / "results.json"
    written = results.stat().st_mtime_ns
    assert _tool().main(argv) == 0
    assert "already finished (same settings)" in capsys.readouterr().out
    assert results.stat().st_mtime_ns == written  # nothing redone
    assert [w.stat().st_mtime_ns for w in weights] == stamps
    changed = list(argv)
    changed[changed.index("--epochs") + 1] = "2"
    assert _tool().main(changed) == 2
    assert "epochs" in capsys.readouterr().err


def test_each_split_is_compared_with_one_shot_per_budget_and_metrics_with_random():
    methods = plan_methods({"snip": _tree("snip"), "random": _tree("random")}, depths=[1, 2],
                           epochs=2)  # fmt: skip
    pairs = comparison_pairs(methods, 2)
    assert ("papers", "snip-d2", "one-shot") in pairs
    assert ("equal-compute", "snip-d2", "one-shot-x4") in pairs
    assert ("equal-compute", "exhaustive-b5", "one-shot-x5") in pairs
    vs_random = [p for p in pairs if p[0] == "vs-random"]
    assert vs_random == [
        ("vs-random", "snip-d1", "random-d1"),
        ("vs-random", "snip-d2", "random-d2"),
    ]
    assert len(pairs) == 2 * 5 + 2  # 5 split methods x 2 budgets, 2 metric-vs-random


def test_inherited_methods_count_the_warmup_and_train_their_parent_first():
    methods = {m.name: m for m in plan_methods({"snip": _tree()}, depths=[1], epochs=2,
                                               exhaustive_edge=0,
                                               protocols=["scratch", "inherited"])}  # fmt: skip
    inh, scratch = methods["snip-d1-inh"], methods["snip-d1"]
    assert (inh.protocol, scratch.protocol) == ("inherited", "scratch")
    assert inh.compute_epochs == 2 + 2 * 2 == methods["one-shot-x3"].compute_epochs
    assert methods["exhaustive-b5-inh"].compute_epochs == 2 + 5 * 2
    assert inh.baseline("equal-compute", 2) == "one-shot-x3"
    assert methods["exhaustive-b5-inh"].baseline("equal-compute", 2) == "one-shot-x6"
    runs = supernets(methods.values())
    keys = list(runs)
    warm = supernet_key(Mask.full(), 2)  # the warm-up is the base one-shot run itself
    for leaf in inh.leaves:
        key = supernet_key(leaf.mask, 2, 2)
        assert runs[key].parent == warm and keys.index(warm) < keys.index(key)
        assert key != supernet_key(leaf.mask, 2)  # never shared with the scratch leaf
    pairs = comparison_pairs(list(methods.values()), 2)
    assert ("inherited-vs-scratch", "snip-d1-inh", "snip-d1") in pairs
    with pytest.raises(ValueError, match="multiple"):
        plan_methods({"snip": _tree()}, depths=[1], epochs=2, protocols=["inherited"], warmup=3)


def test_connected_only_sample_excludes_disconnected_archs_and_ignores_seeds(tmp_path):
    from fewshot.experiments.few_vs_one_shot import FewVsOneShotConfig, arch_sample

    rng = random.Random(1)
    archs = list(all_archs())
    disconnected = [a for a in archs if not a.is_connected]
    chosen = rng.sample([a for a in archs if a.is_connected], 30) + disconnected[:30]
    entries = {a.to_string(): {"cifar10": [10.0 if not a.is_connected else rng.uniform(20, 94)],
                               "cifar100": [1.0], "ImageNet16-120": [1.0],
                               "cifar10-valid": [1.0]} for a in chosen}  # fmt: skip
    bench = write_fake_benchmark(tmp_path / "bench", entries)
    config = FewVsOneShotConfig(
        benchmark=bench, sample=20, connected_only=True, benchmark_dataset="cifar10"
    )
    sample, true, _ = arch_sample(config)
    assert all(a.is_connected for a in sample) and min(true) > 10.0
    again, _, _ = arch_sample(FewVsOneShotConfig(benchmark=bench, sample=20, connected_only=True,
                                                 seeds=5, epochs=9, benchmark_dataset="cifar10"))  # fmt: skip
    assert again == sample  # the sample depends on the sample seed only
    with_disconnected, _, _ = arch_sample(
        FewVsOneShotConfig(benchmark=bench, sample=20, benchmark_dataset="cifar10")
    )
    assert any(not a.is_connected for a in with_disconnected)


def test_first_examples_keeps_order_and_refuses_too_many():
    import torch

    from fewshot.errors import UsageError
    from fewshot.experiments.few_vs_one_shot import first_examples

    batches = [(torch.arange(4), torch.arange(4)), (torch.arange(4, 8), torch.arange(4, 8))]
    got = first_examples(batches, 6)
    assert torch.cat([y for _, y in got]).tolist() == [0, 1, 2, 3, 4, 5]
    assert first_examples(batches, None) is batches
    with pytest.raises(UsageError, match="exceeds the 8"):
        first_examples(batches, 9)


def test_each_arm_records_the_optimiser_steps_it_spent(experiment):
    tmp, _ = experiment
    result = json.loads((tmp / "run" / "results.json").read_text())
    per_epoch = 2  # 96 training examples in batches of 64
    for name, method in result["methods"].items():
        assert method["seeds"]["0"]["steps"] == method["compute_epochs"] * per_epoch, name
    assert result["methods"]["exhaustive-b5"]["seeds"]["0"]["steps"] == 5 * per_epoch


def test_a_capped_multiple_leaves_out_only_the_comparisons_it_cannot_make():
    methods = plan_methods({"snip": _tree()}, depths=[1], epochs=2, exhaustive_edge=0,
                           protocols=["scratch", "inherited"], max_multiple=3)  # fmt: skip
    names = {m.name for m in methods}
    assert {"one-shot", "one-shot-x2", "one-shot-x3"} <= names
    assert not {"one-shot-x5", "one-shot-x6"} & names
    pairs = comparison_pairs(methods, 2)
    assert ("equal-compute", "snip-d1-inh", "one-shot-x3") in pairs
    assert not [p for p in pairs if p[0] == "equal-compute" and p[1].startswith("exhaustive")]
    assert ("papers", "exhaustive-b5", "one-shot") in pairs


def test_one_shot_multiples_add_longer_one_shot_runs_past_the_cap():
    methods = plan_methods({}, depths=[1], epochs=2, exhaustive_edge=None, max_multiple=1,
                           one_shot_multiples=[5, 3, 5])  # fmt: skip
    assert [(m.name, m.epochs) for m in methods] == [
        ("one-shot", 2), ("one-shot-x3", 6), ("one-shot-x5", 10)]  # fmt: skip
    with pytest.raises(ValueError, match=">= 1"):
        plan_methods({}, depths=[1], epochs=2, exhaustive_edge=None, one_shot_multiples=[0])


def test_the_arch_sample_is_parsed_in_the_experiments_space(tmp_path):
    """A benchmark table of NB201 arch strings read for another space: one usage error."""
    from fewshot.config import make_config
    from fewshot.errors import UsageError
    from fewshot.experiments.few_vs_one_shot import FewVsOneShotConfig, arch_sample
    from tests.toy_space import TOY

    archs = list(all_archs())[::500]
    table = tmp_path / "acc.csv"
    table.write_text("arch_str,cifar10_test\n" + "".join(f"{a},{i}\n" for i, a in enumerate(archs)))
    values = {
        "benchmark": table,
        "sample": 5,
        "metrics": ["random"],
        "out": tmp_path / "o",
        "benchmark_dataset": "cifar10",
    }
    sample, true, indices = arch_sample(make_config(FewVsOneShotConfig, values))
    assert [a.to_string() for a in sample] == [archs[i].to_string() for i in indices]
    with pytest.raises(UsageError, match=f"not a benchmark of search space '{TOY}'"):
        arch_sample(make_config(FewVsOneShotConfig, {**values, "space": TOY}))


def test_data_of_other_classes_is_refused_unless_forced(tmp_path, capsys):
    """A folder of 3 classes that are not CIFAR-10's: no comparison with its accuracy."""
    from fewshot.config import make_config
    from fewshot.errors import UsageError
    from fewshot.experiments.few_vs_one_shot import FewVsOneShotConfig

    for name in ("cat", "dog", "frog"):
        (tmp_path / "pets" / "train" / name).mkdir(parents=True)
    table = tmp_path / "acc.csv"
    table.write_text("arch_str,cifar10_test\n" + f"{next(iter(all_archs()))},1\n")
    argv = ["--dataset", "folder", "--data-root", str(tmp_path / "pets"), "--benchmark",
            str(table), "--out", str(tmp_path / "run"), "--metrics", "random"]  # fmt: skip
    assert _tool().main(argv) == 2
    err = capsys.readouterr().err
    assert "the data is not the benchmark's" in err and "--benchmark-dataset" in err
    assert not (tmp_path / "run").exists()
    values = {"dataset": "folder", "data_root": tmp_path / "pets", "benchmark": table}
    with pytest.raises(UsageError, match="not the benchmark's"):
        make_config(FewVsOneShotConfig, values)
    forced = make_config(FewVsOneShotConfig, {**values, "benchmark_dataset": "cifar10"})
    assert forced.benchmark_dataset == "cifar10"
    from fewshot.data.identity import CIFAR10_CLASSES

    for name in CIFAR10_CLASSES:
        (tmp_path / "cifar" / "train" / name).mkdir(parents=True)
    own = make_config(FewVsOneShotConfig, {**values, "data_root": tmp_path / "cifar"})
    assert own.benchmark_dataset == "cifar10"


def test_pack_trains_every_supernet_of_a_seed_in_waves(tmp_path):
    """``--pack``: the scratch supernets, then the inherited leaves, as packs; every run's
    folder has its weights, an inherited one says so, and the analysis reads them."""
    bench = random_benchmark(tmp_path / "bench")
    argv = [
        "--dataset", "synthetic", "--data-option", "num_train=128", "--data-option", "num_test=8",
        "--data-option", "image_size=8",
        "--val-fraction", "0.25", "--benchmark", str(bench), "--trees", str(tmp_path / "trees"),
        "--out", str(tmp_path / "run"), "--C", "4", "--N", "1", "--epochs", "1", "--seeds", "1",
        "--sample", "8", "--metrics", "random", "--depths", "1", "--no-exhaustive",
        "--protocols", "scratch,inherited", "--pack",
        "--split-args", "--C 4 --N 1 --batch-size 8", "--threads", "1", "--no-progress",
        "--resamples", "100", "--benchmark-dataset", "cifar10",
    ]  # fmt: skip
    assert _tool().main(argv) == 0
    root = tmp_path / "run" / "seed0" / "supernets"
    done = {d.name: json.loads((d / "done.json").read_text()) for d in root.iterdir()
            if (d / "done.json").is_file()}  # fmt: skip
    assert {r["protocol"] for r in done.values()} == {"scratch", "inherited"}
    assert all(r["pack"]["size"] >= 1 for r in done.values())
    packs = tmp_path / "run" / "packs"
    assert len(list(packs.glob("pack-e1-*"))) == 2  # one wave from scratch, one inheriting
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "random-d1-inh" in result["methods"]


def test_pack_trains_the_seeds_together_and_limits_the_pack_size(tmp_path):
    """``--pack`` without ``--only-seed``: both seeds' one-shot supernets in one pack, their
    inherited leaves in packs of at most ``--pack-size``; each network keeps its own seed (the
    two seeds' one-shot weights differ) and ``--only-seed`` afterwards trains nothing again."""
    bench = random_benchmark(tmp_path / "bench")
    argv = [
        "--dataset", "synthetic", "--data-option", "num_train=128", "--data-option", "num_test=8",
        "--data-option", "image_size=8",
        "--val-fraction", "0.25", "--benchmark", str(bench), "--trees", str(tmp_path / "trees"),
        "--out", str(tmp_path / "run"), "--C", "4", "--N", "1", "--epochs", "1", "--seeds", "2",
        "--sample", "8", "--metrics", "random", "--depths", "1", "--no-exhaustive",
        "--protocols", "inherited", "--max-multiple", "1", "--pack", "--pack-size", "3",
        "--split-args", "--C 4 --N 1 --batch-size 8", "--threads", "1", "--no-progress",
        "--resamples", "100", "--benchmark-dataset", "cifar10",
    ]  # fmt: skip
    assert _tool().main(argv) == 0
    sizes = {}
    for seed in (0, 1):
        for d in (tmp_path / "run" / f"seed{seed}" / "supernets").iterdir():
            sizes[(seed, d.name)] = json.loads((d / "train_time.json").read_text())["pack"]
    one_shot = [k for k in sizes if "inherit" not in k[1] and sizes[k] == 2]
    assert len(one_shot) == 2, sizes  # the two seeds' one-shot supernets shared one pack
    assert max(sizes.values()) <= 3
    weights = [torch.load(tmp_path / "run" / f"seed{s}" / "supernets" / k / "weights.pt")
               for s, k in one_shot]  # fmt: skip
    assert weights[0]["mask"].all() and weights[1]["mask"].all()
    assert not torch.equal(weights[0]["classifier.bias"], weights[1]["classifier.bias"])
    before = sorted(p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("weights.pt"))
    assert _tool().main([*argv, "--only-seed", "1"]) == 0
    after = sorted(p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("weights.pt"))
    assert before == after


def test_the_comparison_on_nas_bench_macro_with_a_listed_sample(tmp_path, fake_macro_benchmark):
    """NAS-Bench-Macro end to end: a listed arch sample (the first --sample archs of the file,
    in its order) and the inherited leaves of a random split, judged by the benchmark."""
    from fewshot.spaces.macro import MacroBenchmark
    from fewshot.spaces.macro import all_archs as macro_archs

    listed = [a.to_string() for a in list(macro_archs())[::700]]  # 10 archs
    (tmp_path / "sample.txt").write_text("# a comment\n" + "\n".join(listed) + "\n")
    argv = [
        "--space", "nas-bench-macro", "--dataset", "synthetic", "--data-option", "num_train=128",
        "--data-option", "num_test=8", "--val-fraction", "0.25",
        "--benchmark", str(fake_macro_benchmark), "--benchmark-dataset", "cifar10",
        "--trees", str(tmp_path / "trees"), "--out", str(tmp_path / "run"), "--C", "2",
        "--epochs", "1", "--seeds", "1", "--sample", "8", "--archs", str(tmp_path / "sample.txt"),
        "--metrics", "random", "--depths", "1", "--no-exhaustive", "--protocols", "inherited",
        "--split-args", "--C 2 --batch-size 8", "--threads", "1", "--no-progress",
        "--resamples", "100",
    ]  # fmt: skip
    assert _tool().main(argv) == 0
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    assert result["sample"]["archs"] == listed[:8]
    assert result["config"]["space"] == "nas-bench-macro"
    assert set(result["methods"]) == {"random-d1-inh", "one-shot", "one-shot-x3"}
    bench = MacroBenchmark(fake_macro_benchmark)
    assert result["sample"]["accuracy"] == [bench.accuracy(a) for a in listed[:8]]
    assert result["sample"]["indices"] == [bench.index(a) for a in listed[:8]]
    irs = [sum(op != "id" for op in bench.arch(bench.index(a)).ops) for a in listed[:8]]
    quality = result["methods"]["one-shot"]["seeds"]["0"]
    true = result["sample"]["accuracy"]
    assert quality["tau_true_vs_convs"] == pytest.approx(_kendall_tau_b(true, irs))
    leaves = result["methods"]["random-d1-inh"]["seeds"]["0"]["leaves"]
    assert len(leaves) == 2 and all(len(ops) == 8 for ops in leaves.values())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--archs", "MISSING"], "cannot read it"),
        (["--archs", "SHORT"], "lists 2 archs, fewer than --sample 8"),
        (["--archs", "FOREIGN", "--sample", "2"], "not a NAS-Bench-Macro arch string"),
        (["--archs", "TWICE", "--sample", "2"], "listed twice"),
    ],
)
def test_a_bad_arch_list_is_one_line(tmp_path, fake_macro_benchmark, capsys, flags, message):
    (tmp_path / "SHORT").write_text("00000000\n22212220\n")
    (tmp_path / "TWICE").write_text("00000000\n00000000\n")
    (tmp_path / "FOREIGN").write_text(
        "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|\n" * 2
    )
    flags = [str(tmp_path / f) if f.isupper() and f != "MISSING" else f for f in flags]
    flags = [str(tmp_path / "missing.txt") if f == "MISSING" else f for f in flags]
    argv = ["--space", "nas-bench-macro", "--dataset", "synthetic", "--benchmark",
            str(fake_macro_benchmark), "--benchmark-dataset", "cifar10", "--out",
            str(tmp_path / "run"), "--sample", "8", "--metrics", "random", *flags]  # fmt: skip
    assert _tool().main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_tau_interval_brackets_the_tau_of_a_seed_free_ranking():
    from fewshot.analysis.ranking import tau_interval

    rng = np.random.default_rng(0)
    true = rng.normal(size=60)
    noisy = true + rng.normal(scale=1.0, size=60)
    interval = tau_interval(noisy, true, n_resamples=200, seed=0)
    assert interval.estimate == pytest.approx(_kendall_tau_b(list(noisy), list(true)))
    assert interval.low < interval.estimate < interval.high
    assert tau_interval(true, true, n_resamples=50).low == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same 1-d shape"):
        tau_interval(true[:5], true)


# -- EFS-NAS's arm (issue 31 item 4): leaves that are groups of archs -----------------------------


def test_the_efs_nas_arm_has_one_group_leaf_per_nonlinear_count():
    from fewshot.spaces import get_space
    from fewshot.training.comparison import EFS_NAS, group_leaves

    methods = {m.name: m for m in plan_methods({}, depths=[1], epochs=2, exhaustive_edge=None,
                                               protocols=["scratch", "inherited"],
                                               efs_nas=True)}  # fmt: skip
    assert list(methods) == ["efs-nas", "efs-nas-inh", "one-shot", "one-shot-x3", "one-shot-x4"]
    efs, inh = methods[EFS_NAS], methods["efs-nas-inh"]
    assert [leaf.id for leaf in efs.leaves] == ["nonlinear=0+1", "nonlinear=2", "nonlinear=3"]
    assert [leaf.group.num_archs for leaf in efs.leaves] == [9105, 5520, 1000]
    assert efs.compute_epochs == 6 and inh.compute_epochs == 2 + 6
    assert inh.baseline("equal-compute", 2) == "one-shot-x4"
    runs = supernets(methods.values())
    one_shot = supernet_key(Mask.full(), 2)
    keys = {leaf.key(2) for leaf in efs.leaves} | {leaf.key(2, 2) for leaf in inh.leaves}
    assert len(keys) == 6 and one_shot not in keys  # never the one-shot supernet's folder
    assert all(runs[leaf.key(2, 2)].parent == one_shot for leaf in inh.leaves)
    assert all(runs[k].group is not None and runs[k].mask == Mask.full() for k in keys)
    archs = random.Random(4).sample(list(all_archs()), 300)
    owners = assign_leaves(archs, efs.leaves)
    by_id = {leaf.id: leaf for leaf in efs.leaves}
    assert all(a in by_id[o].group for a, o in zip(archs, owners, strict=True))
    assert len(set(owners)) == 3
    scores = {leaf.key(2): {a.to_string(): float(i) for a in archs if a in leaf}
              for i, leaf in enumerate(efs.leaves)}  # fmt: skip
    predicted, owners = method_predictions(efs, archs, scores)
    assert predicted == [float(list(by_id).index(o)) for o in owners]
    assert ("vs-random", "efs-nas", "random-d1") not in comparison_pairs(
        plan_methods({"random": _tree("random")}, depths=[1], epochs=2, efs_nas=True), 2
    )
    assert efs.to_dict()["leaves"]["nonlinear=3"]["values"] == [3]
    assert group_leaves(get_space("nb201")) == efs.leaves


def test_the_efs_nas_arm_of_another_space_counts_its_own_nonlinear_layers():
    from tests.toy_space import toy_space

    toy = toy_space()
    (efs,) = [m for m in plan_methods({}, depths=[1], epochs=1, space=toy, efs_nas=True)
              if m.family == "efs-nas"]  # fmt: skip
    assert efs.space is toy
    assert [leaf.group.values for leaf in efs.leaves] == [{0, 1}, {2}, {3}]  # b layers in a row
    assert sum(leaf.group.num_archs for leaf in efs.leaves) == toy.num_archs


def _efs_argv(tmp_path, *extra: str) -> list[str]:
    """The tool on a fake benchmark of 8 archs of each EFS-NAS group, all 24 scored."""
    from fewshot.spaces import get_space

    rng = random.Random(5)
    archs = [a for g in get_space("nb201").arch_groups() for a in rng.sample(g.archs(), 8)]
    entries = {a.to_string(): {"cifar10": [rng.uniform(10, 94)], "cifar100": [1.0],
                               "ImageNet16-120": [1.0], "cifar10-valid": [1.0]}
               for a in archs}  # fmt: skip
    bench = write_fake_benchmark(tmp_path / "bench", entries)
    return [
        "--dataset", "synthetic", "--data-option", "num_train=128", "--data-option", "num_test=8",
        "--data-option", "image_size=8",
        "--val-fraction", "0.25", "--benchmark", str(bench), "--trees", str(tmp_path / "trees"),
        "--out", str(tmp_path / "run"), "--C", "4", "--N", "1", "--epochs", "1", "--seeds", "1",
        "--sample", "24", "--metrics", "", "--no-exhaustive", "--efs-nas",
        "--threads", "1", "--no-progress", "--resamples", "100", "--benchmark-dataset", "cifar10",
        "--no-free-baselines", *extra,
    ]  # fmt: skip


def _check_efs_scores(tmp_path, name: str) -> dict:
    """Every sampled arch's prediction under ``name`` is its group's supernet's score, and a
    group's supernet scored the archs of its group only."""
    from fewshot.spaces import ArchGroup

    result = json.loads((tmp_path / "run" / "results.json").read_text())
    method = result["methods"][name]
    root = tmp_path / "run" / "seed0" / "supernets"
    groups = {i: ArchGroup(Mask.from_op_lists(g["mask"]), g["by"], frozenset(g["values"]))
              for i, g in method["leaves"].items()}  # fmt: skip
    owners = set()
    for arch_str, value in zip(result["sample"]["archs"], result["predictions"]["0"][name],
                               strict=True):  # fmt: skip
        arch = Arch.from_string(arch_str)
        (owner,) = [i for i, g in groups.items() if arch in g]
        owners.add(owner)
        key = supernet_key(Mask.full(), 1, method["warmup_epochs"], group=groups[owner])
        scores = json.loads((root / key / "scores.json").read_text())
        assert scores[arch_str] == value
        assert all(Arch.from_string(a) in groups[owner] for a in scores)
        done = json.loads((root / key / "done.json").read_text())
        assert done["group"] == groups[owner].to_dict() and done["protocol"] == method["protocol"]
    assert len(owners) == 3
    return result


def test_the_tool_runs_the_efs_nas_arm_scratch_and_inherited(tmp_path):
    assert _tool().main(_efs_argv(tmp_path, "--protocols", "scratch,inherited")) == 0
    result = _check_efs_scores(tmp_path, "efs-nas")
    _check_efs_scores(tmp_path, "efs-nas-inh")
    per_epoch = 2  # 96 training examples in batches of 64
    for name in ("efs-nas", "efs-nas-inh"):
        method = result["methods"][name]
        assert method["family"] == "efs-nas"
        assert method["seeds"]["0"]["steps"] == method["compute_epochs"] * per_epoch
    assert result["methods"]["efs-nas-inh"]["seeds"]["0"]["steps"] == (1 + 3) * per_epoch
    assert result["tau_difference"]["equal-compute"]["efs-nas-inh"]["baseline"] == "one-shot-x4"
    assert result["tau_difference"]["inherited-vs-scratch"]["efs-nas-inh"]["baseline"] == "efs-nas"
    table = (tmp_path / "run" / "few_vs_one_shot_table.md").read_text()
    assert "efs-nas-inh" in table
    assert (tmp_path / "run" / "few_vs_one_shot.png").stat().st_size > 0


def test_the_tool_packs_the_efs_nas_arm(tmp_path):
    argv = _efs_argv(tmp_path, "--protocols", "inherited", "--max-multiple", "1", "--pack")
    assert _tool().main(argv) == 0
    result = _check_efs_scores(tmp_path, "efs-nas-inh")
    assert set(result["methods"]) == {"efs-nas-inh", "one-shot"}
    root = tmp_path / "run" / "seed0" / "supernets"
    packed = [json.loads((d / "done.json").read_text()) for d in root.iterdir()]
    assert sorted(r["pack"]["size"] for r in packed) == [1, 3, 3, 3]  # warm-up, then the groups


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--sampling", "fairnas"], "--sampling fairnas cannot keep to"),
        (["--sampling", "sandwich"], "--sampling sandwich cannot keep to"),
    ],
)
def test_the_efs_nas_arm_refuses_a_rule_that_draws_op_by_op(tmp_path, capsys, flags, message):
    assert _tool().main(_efs_argv(tmp_path, *flags)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_nothing_to_compare_names_the_efs_nas_flag(tmp_path, capsys):
    argv = [a for a in _efs_argv(tmp_path) if a != "--efs-nas"]
    assert _tool().main(argv) == 2
    assert "give --metrics, --efs-nas, --sampling-arms or --one-shot-multiples" in (
        capsys.readouterr().err
    )


def test_the_efs_nas_arm_joins_a_finished_run_and_reuses_its_supernets(tmp_path, capsys):
    """``--efs-nas`` is no result-changing setting: added to a finished run folder it trains
    only its group supernets (the inherited ones from the warm-up already there)."""
    flags = ["--protocols", "inherited", "--max-multiple", "1", "--exhaustive-edge", "1"]
    argv = [a for a in _efs_argv(tmp_path, *flags) if a not in ("--efs-nas", "--no-exhaustive")]
    assert _tool().main(argv) == 0
    root = tmp_path / "run" / "seed0" / "supernets"
    before = {d.name: (d / "weights.pt").stat().st_mtime_ns for d in root.iterdir()}
    assert len(before) == 1 + 5  # the warm-up and the exhaustive leaves
    assert _tool().main([*argv, "--efs-nas"]) == 0
    after = {d.name: (d / "weights.pt").stat().st_mtime_ns for d in root.iterdir()}
    assert {k: after[k] for k in before} == before and len(after) == len(before) + 3
    result = _check_efs_scores(tmp_path, "efs-nas-inh")
    assert {"exhaustive-b5-inh", "one-shot"} < set(result["methods"])
    assert result["config"]["efs_nas"] is True


def test_a_later_batch_of_seeds_starts_at_first_seed(tmp_path):
    """``--first-seed 2 --seeds 1``: seed 2 only (its folder, its tree, its predictions), so a
    later batch of seeds can run in its own folder and be pooled with the first."""
    bench = random_benchmark(tmp_path / "bench")
    argv = [
        "--dataset", "synthetic", "--data-option", "num_train=96", "--data-option", "num_test=8",
        "--data-option", "image_size=8",
        "--val-fraction", "0.25", "--benchmark", str(bench), "--trees", str(tmp_path / "trees"),
        "--out", str(tmp_path / "run"), "--C", "2", "--N", "1", "--epochs", "1", "--seeds", "1",
        "--first-seed", "2", "--sample", "8", "--metrics", "random", "--depths", "1",
        "--no-exhaustive", "--protocols", "inherited", "--max-multiple", "1", "--pack",
        "--split-args", "--C 2 --N 1 --batch-size 8", "--threads", "1", "--no-progress",
        "--resamples", "100", "--benchmark-dataset", "cifar10",
    ]  # fmt: skip
    assert _tool().main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "run").glob("seed*")) == ["seed2"]
    assert (tmp_path / "trees" / "random_s2" / "tree.json").is_file()
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    assert list(result["predictions"]) == ["2"]
    assert _tool().main([*argv, "--only-seed", "0"]) == 2


# -- sampling arms (issue 31 item 4): one-shot under another path-sampling rule -------------------


def test_sampling_arms_are_one_shot_supernets_of_their_own_rule_compared_with_one_shot():
    methods = {m.name: m for m in plan_methods({}, depths=[1], epochs=2, exhaustive_edge=0,
                                               sampling_arms=["fairnas", "balanced", "fairnas"])}  # fmt: skip
    assert list(methods) == ["exhaustive-b5", "one-shot", "one-shot-x5", "one-shot-fairnas",
                             "one-shot-balanced"]  # fmt: skip
    fair = methods["one-shot-fairnas"]
    assert (fair.family, fair.epochs, fair.sampling, fair.compute_epochs) == ("one-shot", 2,
                                                                             "fairnas", 2)  # fmt: skip
    assert fair.to_dict()["sampling"] == "fairnas"
    assert "sampling" not in methods["one-shot"].to_dict()
    runs = supernets(methods.values())
    keys = {m: methods[m].leaf_key(methods[m].leaves[0]) for m in methods if m.startswith("one")}
    assert len(set(keys.values())) == 4  # a rule never shares the run's own one-shot folder
    assert keys["one-shot"] == supernet_key(Mask.full(), 2)
    assert keys["one-shot-fairnas"] == supernet_key(Mask.full(), 2, sampling="fairnas")
    assert keys["one-shot-fairnas"].endswith("-fairnas-e2")
    assert runs[keys["one-shot-balanced"]].sampling == "balanced"
    assert runs[keys["one-shot"]].sampling is None
    pairs = comparison_pairs(list(methods.values()), 2)
    assert [p for p in pairs if p[0] == "sampling"] == [
        ("sampling", "one-shot-fairnas", "one-shot"),
        ("sampling", "one-shot-balanced", "one-shot"),
    ]


def _sampling_argv(tmp_path, out: str, *extra: str) -> list[str]:
    argv = _efs_argv(tmp_path, "--max-multiple", "1", *extra)
    argv[argv.index("--out") + 1] = str(tmp_path / out)
    return [a for a in argv if a != "--efs-nas"]


def test_a_sampling_arm_is_the_run_of_its_rule_as_the_run_wide_sampling(tmp_path):
    """``one-shot-balanced`` (``--sampling-arms balanced``) predicts exactly what the one-shot
    supernet of ``--sampling balanced`` predicts, and the other way round: the same training,
    only another folder; and
    FairNAS's arm trains alone beside a pack (a pack trains one arch per network and step)."""
    argv = _sampling_argv(tmp_path, "run", "--sampling-arms", "balanced,fairnas")
    assert _tool().main(argv) == 0
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    swapped = _sampling_argv(tmp_path, "swapped", "--sampling", "balanced", "--sampling-arms",
                             "uniform")  # fmt: skip
    assert _tool().main(swapped) == 0
    other = json.loads((tmp_path / "swapped" / "results.json").read_text())
    assert result["predictions"]["0"]["one-shot-balanced"] == other["predictions"]["0"]["one-shot"]
    assert result["predictions"]["0"]["one-shot"] == other["predictions"]["0"]["one-shot-uniform"]
    assert result["predictions"]["0"]["one-shot-fairnas"] != result["predictions"]["0"]["one-shot"]
    root = tmp_path / "run" / "seed0" / "supernets"
    for rule in ("balanced", "fairnas"):
        done = json.loads(
            (root / supernet_key(Mask.full(), 1, sampling=rule) / "done.json").read_text()
        )
        assert done["sampling"] == rule
    sampling = result["tau_difference"]["sampling"]
    assert {k: v["baseline"] for k, v in sampling.items()} == {
        "one-shot-balanced": "one-shot", "one-shot-fairnas": "one-shot"}  # fmt: skip
    assert result["methods"]["one-shot-fairnas"]["sampling"] == "fairnas"


def test_sampling_arms_pack_the_one_arch_rules_and_join_a_finished_run(tmp_path):
    argv = [a for a in _sampling_argv(tmp_path, "run", "--pack", "--exhaustive-edge", "1")
            if a != "--no-exhaustive"]  # fmt: skip
    assert _tool().main(argv) == 0
    root = tmp_path / "run" / "seed0" / "supernets"
    before = {d.name: (d / "weights.pt").stat().st_mtime_ns for d in root.iterdir()}
    assert _tool().main([*argv, "--sampling-arms", "fairnas,balanced"]) == 0
    after = {d.name: (d / "weights.pt").stat().st_mtime_ns for d in root.iterdir()}
    assert {k: after[k] for k in before} == before and len(after) == len(before) + 2
    done = {r: json.loads((root / supernet_key(Mask.full(), 1, sampling=r) / "done.json")
                          .read_text()) for r in ("balanced", "fairnas")}  # fmt: skip
    assert done["balanced"]["pack"]["size"] == 1 and "pack" not in done["fairnas"]
    assert [done[r]["sampling"] for r in ("balanced", "fairnas")] == ["balanced", "fairnas"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--sampling-arms", "uniform"], "--sampling-arms uniform: the one-shot supernet already"),
        (["--sampling-arms", "fair"], "fair"),
    ],
)
def test_sampling_arms_refuse_the_run_wide_rule_and_unknown_rules(tmp_path, capsys, flags, message):
    assert _tool().main(_sampling_argv(tmp_path, "run", *flags)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_one_shot_multiples_in_another_folder_share_the_first_runs_one_shot(tmp_path, capsys):
    """The equal-step baseline of a finished run's arm, trained in another folder with
    ``--metrics "" --no-exhaustive --one-shot-multiples K``: its one-shot supernet is the first
    run's (equal predictions), so ``key_comparisons`` joins the two files and pairs the arm
    with one-shot-xK; added to the finished folder instead, only the new run trains."""
    from fewshot.experiments import key_comparisons

    arms = [a for a in _sampling_argv(tmp_path, "arms", "--exhaustive-edge", "1")
            if a != "--no-exhaustive"]  # fmt: skip
    assert _tool().main(arms) == 0
    longer = _sampling_argv(tmp_path, "longer", "--one-shot-multiples", "5")
    assert _tool().main(longer) == 0
    files = [json.loads((tmp_path / d / "results.json").read_text()) for d in ("arms", "longer")]
    assert set(files[1]["methods"]) == {"one-shot", "one-shot-x5"}
    assert files[1]["predictions"]["0"]["one-shot"] == files[0]["predictions"]["0"]["one-shot"]
    out = tmp_path / "kc.json"
    assert key_comparisons.main([
        "--results", f"{tmp_path / 'arms' / 'results.json'},{tmp_path / 'longer' / 'results.json'}",
        "--arm", "exhaustive-b5", "--pairs", "exhaustive-b5:one-shot-x5", "--resamples", "100",
        "--out", str(out)]) == 0  # fmt: skip
    assert list(json.loads(out.read_text())["comparisons"]) == ["exhaustive-b5 vs one-shot-x5"]
    assert "| - |" in (tmp_path / "kc_table.md").read_text()  # one seed: no interval over seeds
    root = tmp_path / "arms" / "seed0" / "supernets"
    before = {d.name: (d / "weights.pt").stat().st_mtime_ns for d in root.iterdir()}
    assert _tool().main([*arms, "--one-shot-multiples", "2"]) == 0
    after = {d.name: (d / "weights.pt").stat().st_mtime_ns for d in root.iterdir()}
    assert {k: after[k] for k in before} == before and len(after) == len(before) + 1
