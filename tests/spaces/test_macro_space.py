"""fewshot.spaces.macro: the registered NAS-Bench-Macro space, its values and its benchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.errors import UsageError, is_user_error
from fewshot.spaces import get_space, space_names
from fewshot.spaces import nb201 as nb201_space
from fewshot.spaces.macro import (
    MACRO,
    NUM_ARCHS,
    Arch,
    MacroBenchmark,
    Mask,
    all_archs,
    find_benchmark,
)

# -- the space and its values --------------------------------------------------------------


def test_registered_with_its_shape():
    assert "nas-bench-macro" in space_names()
    space = get_space("nas-bench-macro")
    assert space is MACRO
    assert space.shape == (8, 3) and space.num_archs == NUM_ARCHS == 6561
    assert space.ops == ("id", "ir_3x3_t3", "ir_5x5_t6")
    assert space.Arch is Arch and space.Mask is Mask


def test_arch_string_round_trip_and_code_order():
    archs = list(all_archs())
    assert len(archs) == len(set(archs)) == 6561
    assert [a.code for a in archs] == list(range(6561))
    for arch in archs[::97]:
        assert Arch.from_string(str(arch)) == arch
        assert arch.code == int(str(arch), 3)
    best = Arch.from_string("22212220")
    assert best.ops == ("ir_5x5_t6",) * 3 + ("ir_3x3_t3",) + ("ir_5x5_t6",) * 3 + ("id",)


@pytest.mark.parametrize(
    "text", ["2221222", "222122201", "22212230", "|nor_conv_3x3~0|+|none~0|", "abcdefgh"]
)
def test_bad_arch_strings_say_what_is_valid(text):
    with pytest.raises(ValueError, match="8 digits"):
        Arch.from_string(text)


def test_values_of_two_spaces_never_mix():
    nb201 = nb201_space.Arch.from_string(
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
    )
    assert nb201 not in Mask.full()
    assert not Mask.full().is_subset_of(nb201_space.Mask.full())
    with pytest.raises(ValueError, match="8x3"):
        Mask(np.ones((6, 5), dtype=bool))


def test_canonical_moves_identities_to_the_end_of_their_stage():
    assert str(Arch.from_string("02012100").canonical()) == "02012100"
    assert str(Arch.from_string("20102001").canonical()) == "20120010"
    assert str(Arch.from_string("00000000").canonical()) == "00000000"
    canon = {a.canonical() for a in all_archs()}
    assert len(canon) == 3969  # 9 x 21 x 21 distinct trainings
    assert all(c.canonical() == c for c in canon)


def test_masks_restrict_and_sample():
    mask = MACRO.full_mask().restrict(0, ["id"]).restrict(7, ["ir_3x3_t3", "ir_5x5_t6"])
    assert mask.num_archs == 3**6 * 2
    rng = np.random.default_rng(0)
    drawn = [MACRO.sample(mask, rng) for _ in range(50)]
    assert all(a in mask for a in drawn) and len(set(drawn)) > 40
    with pytest.raises(ValueError, match="layer"):
        mask.restrict(8, ["id"])
    assert Mask.from_op_lists(mask.to_op_lists()) == mask


def test_builders_through_the_space():
    net = MACRO.build_network("22212220")  # C=32: the benchmark's network
    assert sum(p.numel() for p in net.parameters()) == 1_985_514
    supernet = MACRO.build_supernet(C=4, mode="single_path")
    assert supernet.search_mask == MACRO.full_mask() and supernet.mode == "single_path"
    assert supernet.space is MACRO and net.space is MACRO  # the engine reads the space here
    assert MACRO.model_options() == {"C": 32, "N": 1}
    assert len(MACRO.build_supernet(C=4, N=2).layers) == 16


# -- the benchmark adapter -----------------------------------------------------------------


def test_adapter_reads_the_real_format(fake_macro_benchmark):
    bench = MACRO.open_benchmark(fake_macro_benchmark.parent)  # a folder holding the file
    entries = json.loads(fake_macro_benchmark.read_text())
    assert len(bench) == 6561 and bench.path == fake_macro_benchmark
    keys = list(entries)
    assert [str(a) for a in bench.archs()] == keys  # index order is the file's
    for i in (0, 17, 6560):
        arch, entry = bench.arch(i), entries[keys[i]]
        assert bench.index(arch) == bench.index(str(arch)) == i
        assert bench.accuracy(arch) == pytest.approx(entry["mean_acc"])
        assert bench.accuracy(i, "CIFAR10") == bench.accuracies()[i]
        assert bench.test_accuracies(arch) == tuple(entry["test_acc"])
        assert bench.std(i) == pytest.approx(entry["std"])
        assert bench.param_count(arch) == entry["params"]
        assert bench.params(arch) == entry["params"] / 1e6
        assert bench.flops(arch) == entry["flops"]


def test_best_is_the_trained_representative(fake_macro_benchmark):
    bench = MacroBenchmark(fake_macro_benchmark)
    best = bench.best()
    column = bench.accuracies()
    assert best.accuracy == column.max()
    assert best.arch == best.arch.canonical()
    assert (column == column.max()).sum() > 1  # its equivalents tie with it


def test_adapter_refuses_other_data_sets_and_archs(fake_macro_benchmark):
    bench = MacroBenchmark(fake_macro_benchmark)
    with pytest.raises(ValueError, match="cifar10 only"):
        bench.accuracy("22212220", "cifar100")
    with pytest.raises(IndexError):
        bench.arch(6561)
    with pytest.raises(ValueError, match="8 digits"):
        bench.index("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|")
    with pytest.raises(ValueError):
        bench.accuracies()[0] = 1.0  # read-only


def _one_line_user_error(excinfo: pytest.ExceptionInfo, *words: str) -> None:
    message = str(excinfo.value)
    assert is_user_error(excinfo.value) and "\n" not in message
    for word in words:
        assert word in message


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError) as excinfo:
        MacroBenchmark(tmp_path / "nothing.json")
    _one_line_user_error(excinfo, "nothing.json", "NAS-Bench-Macro")
    with pytest.raises(FileNotFoundError) as excinfo:
        find_benchmark(required=True)  # the tests' default folders hold none
    _one_line_user_error(excinfo, "looked in")
    assert find_benchmark() is None


def test_nats_bench_folder_is_named_as_another_spaces(tmp_path):
    (tmp_path / "meta.pickle.pbz2").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as excinfo:
        MacroBenchmark(tmp_path)
    _one_line_user_error(excinfo, "NATS-Bench", "nb201")
    with pytest.raises(FileNotFoundError) as excinfo:
        find_benchmark(tmp_path / "empty-folder")
    _one_line_user_error(excinfo, "--benchmark", "no NAS-Bench-Macro benchmark")


def test_env_variable_names_the_file(fake_macro_benchmark, monkeypatch):
    monkeypatch.setenv("FEWSHOT_MACRO_BENCHMARK", str(fake_macro_benchmark))
    assert find_benchmark() == fake_macro_benchmark.resolve()
    assert len(MacroBenchmark()) == 6561


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("op_indices,arch_str,autoencoder\n000000,64-41414-0_00_000,0.04\n", ["not JSON"]),
        (json.dumps([1, 2, 3]), ["not a JSON object"]),
        (json.dumps({"|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|": {}}), ["another search space"]),
        (json.dumps({"22212220": {"mean_acc": 93.1}}), ["22212220", "test_acc"]),
    ],
    ids=["tnb101-csv", "list", "nb201-keys", "missing-field"],
)
def test_a_file_of_another_space_is_one_line(tmp_path, content, words):
    path = tmp_path / "bench.json"
    path.write_text(content)
    with pytest.raises(UsageError) as excinfo:
        MacroBenchmark(path)
    _one_line_user_error(excinfo, str(path), *words)


def test_a_truncated_file_is_refused(tmp_path, fake_macro_benchmark):
    entries = json.loads(fake_macro_benchmark.read_text())
    path = tmp_path / "short.json"
    path.write_text(json.dumps(dict(list(entries.items())[:100])))
    with pytest.raises(UsageError, match="6561 archs, this file 100"):
        MacroBenchmark(path)


def test_real_benchmark(shared_data):
    path = shared_data / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    bench = MACRO.open_benchmark(path)
    best = bench.best()
    assert str(best.arch) == "22212220" and best.accuracy == pytest.approx(93.1267, abs=1e-4)
    assert bench.param_count("22212220") == 1_985_514
    runs = {a: bench.test_accuracies(a) for a in bench.archs()}
    assert all(runs[a] == runs[a.canonical()] for a in runs)  # copies of the trained entry
    assert len(set(runs.values())) == 3969


def test_a_split_tree_of_the_space_round_trips(tmp_path):
    """The splitting engine's tree file holds NAS-Bench-Macro masks (layers as positions)."""
    from fewshot.splitting.tree import Split, SplitTree, load_tree

    tree = SplitTree(metric="snip", seed=0, dataset="synthetic", space=MACRO)
    tree.add_root()
    groups = (("id",), ("ir_3x3_t3", "ir_5x5_t6"))
    distance = ((0.0, 1.0, 2.0), (1.0, 0.0, 0.5), (2.0, 0.5, 0.0))
    split = Split(edge=5, ops=MACRO.ops, groups=groups, distance=distance, cut=3.0)
    children = tree.apply_split(0, split)
    assert [c.mask.num_archs for c in children] == [2187, 4374]
    loaded = load_tree(tree.save(tmp_path / "tree.json"))
    assert loaded.space is MACRO
    assert [n.mask for n in loaded.nodes] == [n.mask for n in tree.nodes]
