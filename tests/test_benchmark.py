"""fewshot.benchmark: the NATS-Bench adapter, on a tiny fake directory and the real one."""

from __future__ import annotations

import csv
import logging
import shutil

import numpy as np
import pytest

from fewshot import benchmark as benchmark_module
from fewshot.benchmark import (
    BENCHMARK_DIRNAME,
    BENCHMARK_ENV,
    Benchmark,
    BenchmarkNotFoundError,
    canonical_dataset,
    default_benchmark_path,
    default_benchmark_paths,
    find_benchmark,
)
from fewshot.spaces.nb201 import Arch
from tests.fakes import mean_accuracy, write_fake_benchmark

ARCH_9391 = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


# -- fake benchmark ------------------------------------------------------------------------


def test_fake_round_trip(fake_benchmark):
    bench = Benchmark(fake_benchmark.path)
    archs = list(fake_benchmark.entries)
    assert len(bench) == len(archs)
    assert [a.to_string() for a in bench.archs()] == archs
    for i, arch_str in enumerate(archs):
        assert bench.index(arch_str) == i
        assert bench.index(Arch.from_string(arch_str)) == i
        assert bench.arch(i).to_string() == arch_str


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "ImageNet16-120", "cifar10-valid"])
def test_fake_accuracies_are_seed_means(fake_benchmark, dataset):
    bench = Benchmark(fake_benchmark.path)
    for i, arch_str in enumerate(fake_benchmark.entries):
        expected = mean_accuracy(fake_benchmark.entries, arch_str, dataset)
        assert bench.accuracy(arch_str, dataset) == pytest.approx(expected)
        assert bench.accuracy(i, dataset) == pytest.approx(expected)
    column = bench.accuracies(dataset)
    assert column.shape == (len(bench),)


@pytest.mark.parametrize(("dataset", "best_index"), [("cifar10", 2), ("cifar100", 3)])
def test_fake_best(fake_benchmark, dataset, best_index):
    bench = Benchmark(fake_benchmark.path)
    best = bench.best(dataset)
    arch_str = list(fake_benchmark.entries)[best_index]
    assert best.arch.to_string() == arch_str
    assert best.accuracy == pytest.approx(mean_accuracy(fake_benchmark.entries, arch_str, dataset))
    accuracy, arch = best  # unpacks as (accuracy, arch)
    assert bench.index(arch) == best_index


def test_dataset_aliases(fake_benchmark):
    bench = Benchmark(fake_benchmark.path)
    assert bench.accuracy(0, "imagenet16-120") == bench.accuracy(0, "ImageNet16-120")
    assert canonical_dataset("CIFAR10") == "cifar10"
    with pytest.raises(ValueError, match="unknown benchmark data set 'svhn'.*cifar10"):
        bench.accuracy(0, "svhn")


def test_bad_lookups(fake_benchmark):
    bench = Benchmark(fake_benchmark.path)
    absent = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|none~2|"
    with pytest.raises(ValueError, match="not in the benchmark"):
        bench.index(absent)
    with pytest.raises(ValueError, match="nodes"):
        bench.index("|none~0|+|none~0|none~1|")
    with pytest.raises(IndexError, match="outside 0..3"):
        bench.arch(len(bench))
    with pytest.raises(IndexError):
        bench.accuracy(-1)
    with pytest.raises(TypeError, match="a benchmark index is an int, got bool"):
        bench.accuracy(True)  # True == 1: it would silently read arch 1


def test_missing_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(BenchmarkNotFoundError) as info:
        Benchmark(missing)
    message = str(info.value)
    assert str(missing) in message and "--benchmark" in message and "TORCH_HOME" in message
    assert isinstance(info.value, FileNotFoundError)


def test_directory_without_meta(tmp_path):
    with pytest.raises(BenchmarkNotFoundError, match="meta.pickle.pbz2"):
        Benchmark(tmp_path)


def test_corrupt_meta(tmp_path):
    (tmp_path / "meta.pickle.pbz2").write_bytes(b"not bz2")
    with pytest.raises(BenchmarkNotFoundError, match="unreadable"):
        Benchmark(tmp_path)


def test_missing_arch_file(tmp_path, fake_benchmark):
    root = shutil.copytree(fake_benchmark.path, tmp_path / "bench")
    (root / "000001.pickle.pbz2").unlink()
    bench = Benchmark(root)
    assert bench.accuracy(0) > 0
    with pytest.raises(BenchmarkNotFoundError, match="000001.pickle.pbz2"):
        bench.accuracy(1)


def test_default_path_follows_torch_home(no_default_benchmark, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert default_benchmark_path() == tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    with pytest.raises(BenchmarkNotFoundError, match=str(tmp_path)):
        Benchmark()
    write_fake_benchmark(default_benchmark_path(), {ARCH_9391: {"cifar10": [91.0]}})
    assert Benchmark().accuracy(ARCH_9391) == pytest.approx(91.0)


def test_entry_without_dataset(tmp_path):
    root = write_fake_benchmark(tmp_path / "b", {ARCH_9391: {"cifar10": [91.0]}})
    with pytest.raises(ValueError, match="no cifar100 accuracy"):
        Benchmark(root).accuracy(0, "cifar100")


def test_the_adapter_declares_its_space_and_refuses_another_spaces_arch(fake_benchmark):
    from fewshot.spaces import get_space
    from tests import tiny_space

    bench = Benchmark(fake_benchmark.path)
    assert bench.space is get_space("nb201") and bench.datasets[0] == "cifar10"
    assert set(bench.datasets) == set(get_space("nb201").benchmark_datasets)
    assert all(type(a).space is bench.space for a in bench.archs())
    other = next(tiny_space.SPACE.all_archs())
    with pytest.raises(ValueError, match="of search space 'test-tiny'"):
        bench.index(other)
    with pytest.raises(ValueError, match="of search space 'test-tiny'"):
        bench.accuracy(other)
    with pytest.raises(ValueError, match="expected 3 nodes|has 2 nodes"):
        bench.index("|skip_connect~0|+|nor_conv_1x1~0|avg_pool_3x3~1|")


def test_params_count_the_benchmark_network_per_data_set(fake_benchmark):
    bench = Benchmark(fake_benchmark.path)
    arch = bench.arch(0)
    count = sum(
        p.numel() for p in bench.space.build_network(arch, C=16, N=5, num_classes=100).parameters()
    )
    assert bench.params(0, "cifar100") == count / 1e6
    assert bench.params(arch.to_string()) < bench.params(0, "cifar100")  # 10-class head


# -- the real benchmark (skipped when ../shared/data is absent) ----------------------------


def test_shared_known_arch(shared_benchmark):
    assert len(shared_benchmark) == 15_625
    index = shared_benchmark.index(ARCH_9391)
    assert shared_benchmark.arch(index).to_string() == ARCH_9391
    assert shared_benchmark.accuracy(ARCH_9391, "cifar10") == pytest.approx(93.91, abs=0.005)
    assert shared_benchmark.accuracy(index, "cifar10") == pytest.approx(93.91, abs=0.005)


@pytest.mark.slow
def test_shared_best(shared_benchmark):
    accuracy, arch = shared_benchmark.best("cifar10")
    assert accuracy == pytest.approx(94.37, abs=0.005)
    assert shared_benchmark.index(arch) == 6111
    # NB201 optima quoted in the spec: 73.51 (CIFAR-100), 47.31 (ImageNet16-120).
    assert shared_benchmark.best("cifar100").accuracy == pytest.approx(73.51, abs=0.005)
    assert shared_benchmark.best("imagenet16-120").accuracy == pytest.approx(47.31, abs=0.005)


def test_shared_params_equal_the_reference_table(shared_benchmark, reference_csv):
    """The simple files hold no parameter counts; the space's networks give NB201's."""
    with open(reference_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["params_M_c10"]]
    for r in [rows[0], rows[1], rows[9000]]:
        assert shared_benchmark.params(int(r["index"])) == pytest.approx(
            float(r["params_M_c10"]), abs=1e-9
        )


@pytest.mark.slow
def test_shared_matches_reference_table(shared_benchmark, reference_csv):
    with open(reference_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [shared_benchmark.index(r["arch_str"]) for r in rows] == [int(r["index"]) for r in rows]
    for column, dataset in [("cifar10_test", "cifar10"), ("ImageNet16_120_test", "ImageNet16-120")]:
        reference = np.array([float(r[column]) for r in rows])
        np.testing.assert_allclose(shared_benchmark.accuracies(dataset), reference, atol=1e-6)


# -- finding the benchmark: flag, $FEWSHOT_BENCHMARK, default folders -----------------------


@pytest.fixture
def no_default_benchmark(monkeypatch, tmp_path):
    """Default folders that hold no benchmark, and no $FEWSHOT_BENCHMARK."""
    monkeypatch.delenv(BENCHMARK_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(benchmark_module, "_ANNOUNCED", set())
    # the real default folders (conftest points them nowhere for every other test)
    monkeypatch.setattr(benchmark_module, "default_benchmark_paths", default_benchmark_paths)
    return tmp_path


def test_find_benchmark_order_flag_then_env_then_defaults(
    no_default_benchmark, fake_benchmark, monkeypatch
):
    tmp = no_default_benchmark
    data_default = write_fake_benchmark(tmp / "data" / BENCHMARK_DIRNAME)
    assert default_benchmark_paths() == [tmp / "torch" / BENCHMARK_DIRNAME, data_default]
    assert find_benchmark() == data_default  # the second default folder
    torch_default = write_fake_benchmark(tmp / "torch" / BENCHMARK_DIRNAME)
    assert find_benchmark() == torch_default  # nats_bench's own folder first
    monkeypatch.setenv(BENCHMARK_ENV, str(fake_benchmark.path))
    assert find_benchmark() == fake_benchmark.path
    assert find_benchmark(data_default) == data_default  # the flag wins over everything


def test_a_named_benchmark_that_is_missing_is_an_error(no_default_benchmark, monkeypatch):
    with pytest.raises(BenchmarkNotFoundError, match="--benchmark: .*directory not found"):
        find_benchmark(no_default_benchmark / "nowhere")
    monkeypatch.setenv(BENCHMARK_ENV, str(no_default_benchmark))  # a folder, no meta file
    with pytest.raises(BenchmarkNotFoundError, match=r"\$FEWSHOT_BENCHMARK: .*meta.pickle.pbz2"):
        find_benchmark()


def test_no_benchmark_anywhere_is_said_once_with_where_and_how(no_default_benchmark, caplog):
    with caplog.at_level(logging.WARNING, logger="fewshot"):
        assert find_benchmark(purpose="judging") is None
        assert find_benchmark(purpose="judging") is None
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1  # once per process
    for place in default_benchmark_paths():
        assert str(place) in notes[0]
    assert "judging" in notes[0] and "NATS-tss-v1_0-3ffb9-simple" in notes[0]
    assert BENCHMARK_ENV in notes[0] and "--benchmark" in notes[0]
    with pytest.raises(BenchmarkNotFoundError, match="looked in") as info:
        find_benchmark(required=True)
    assert "github.com/D-X-Y/NATS-Bench" in str(info.value)
    caplog.clear()
    assert find_benchmark(note=False) is None and not caplog.records
