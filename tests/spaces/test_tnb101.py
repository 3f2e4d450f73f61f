"""fewshot.spaces.tnb101: TransNAS-Bench-101 micro's encodings, proxy networks and CSV adapter."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from fewshot.errors import UsageError
from fewshot.spaces import get_space, space_of
from fewshot.spaces.tnb101 import (
    BENCHMARK_ENV,
    BENCHMARK_FILE,
    OPS,
    TASKS,
    Arch,
    Mask,
    TNB101Benchmark,
    all_archs,
    find_benchmark,
)

SPACE = get_space("tnb101-micro")
HEADER = ["op_indices", "arch_str", *TASKS]


@pytest.fixture(autouse=True)
def _nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No benchmark from the developer's environment or default folders."""
    monkeypatch.delenv(BENCHMARK_ENV, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "fewshot-data"))


def digits_of(code: int) -> str:
    return np.base_repr(code, 4).rjust(6, "0")


def tnb_string(digits: str) -> str:
    return f"64-41414-{digits[0]}_{digits[1:3]}_{digits[3:]}"


def score(code: int, task: int) -> float:
    """A synthetic score: distinct per cell and task (task 5, room_layout, negative)."""
    value = code * 0.5 + task
    return -value if TASKS[task] == "room_layout" else value


def write_csv(path: Path, codes: list[int] | None = None, *, header: list[str] = HEADER,
              edit: dict[int, dict[str, str]] | None = None) -> Path:  # fmt: skip
    """A benchmark CSV with one row per code (default: all 4,096, in a shuffled order)."""
    if codes is None:
        codes = list(np.random.default_rng(0).permutation(4096))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row_number, code in enumerate(codes):
            digits = digits_of(int(code))
            row = {"op_indices": digits, "arch_str": tnb_string(digits)}
            row |= {task: repr(score(int(code), k)) for k, task in enumerate(TASKS)}
            row |= (edit or {}).get(row_number, {})
            writer.writerow([row.get(h, "") for h in header])
    return path


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("tnb") / BENCHMARK_FILE)


# -- the space -----------------------------------------------------------------------------


def test_space_is_nb201s_cell_with_four_ops():
    nb201 = get_space("nb201")
    assert SPACE.ops == OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
    assert SPACE.ops == nb201.ops[:4]  # the CSV's indices 0..3 are NB201's first four ops
    assert SPACE.edges == nb201.edges and SPACE.positions == nb201.positions
    assert SPACE.shape == (6, 4) and SPACE.num_archs == 4096
    assert SPACE.zero_op == "none"
    assert SPACE.parametric_ops == {"nor_conv_1x1", "nor_conv_3x3"}
    assert SPACE.benchmark_datasets == TASKS and len(TASKS) == 7
    assert SPACE.model_options() == {"C": 16, "N": 5}
    assert [SPACE.op_label(op) for op in OPS] == ["none", "skip", "c1x1", "c3x3"]
    assert SPACE.Arch is Arch and SPACE.Mask is Mask and space_of(SPACE.full_mask()) is SPACE


def test_arch_strings_round_trip_and_three_formats():
    seen = set()
    for arch in all_archs():
        text = arch.to_string()
        assert Arch.from_string(text) == arch
        digits = "".join(map(str, arch.op_indices))
        assert Arch.from_string(digits) == arch == Arch.from_string(tnb_string(digits))
        assert int(digits, 4) == arch.code and Arch.from_code(arch.code) == arch
        seen.add(text)
    assert len(seen) == 4096
    arch = Arch.from_string("64-41414-3_10_213")
    assert arch.ops == ("nor_conv_3x3", "skip_connect", "none", "nor_conv_1x1",
                        "skip_connect", "nor_conv_3x3")  # fmt: skip
    assert arch.to_string() == (
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
         "unknown operation 'avg_pool_3x3' in search space 'tnb101-micro'"),
        ("22212220", "6 op indices in 0..3"),  # a NAS-Bench-Macro string
        ("310214", "6 op indices in 0..3"),
        ("64-41414-3_10_2", "6 op indices"),
    ],
)  # fmt: skip
def test_strings_of_other_spaces_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        Arch.from_string(text)


def test_values_of_nb201_do_not_mix():
    nb201 = get_space("nb201")
    same_ops = ("nor_conv_3x3",) * 6
    assert nb201.arch(same_ops) != SPACE.arch(same_ops)
    with pytest.raises(ValueError, match=r"6x4"):
        Mask(nb201.full_mask().to_array())
    assert SPACE.arch(same_ops) not in nb201.full_mask()


def test_validity_and_parametric_count():
    assert not SPACE.arch(("none",) * 6).is_valid
    direct = SPACE.arch(("none", "none", "none", "skip_connect", "none", "none"))
    assert direct.is_valid and SPACE.num_parametric(direct) == 0
    dangling = SPACE.arch(("nor_conv_3x3", "none", "nor_conv_1x1", "none", "none", "none"))
    assert not dangling.is_valid and SPACE.num_parametric(dangling) == 2


def test_proxy_supernet_and_network_on_cifar_shaped_input():
    torch.manual_seed(0)
    net = SPACE.build_supernet(C=4, N=1, num_classes=10)
    assert net.space is SPACE and net.search_mask == SPACE.full_mask()
    assert set(net.cells[0].edges[0].ops) == set(OPS)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    arch = Arch.from_string("310213")
    single = SPACE.build_network("310213", C=4, N=1)
    assert single.search_mask == Mask.from_arch(arch)
    names = set(single.state_dict())
    assert names <= set(net.state_dict())  # weights move between network and supernet
    assert single(torch.randn(2, 3, 8, 8)).shape == (2, 10)


# -- the benchmark adapter -----------------------------------------------------------------


def test_adapter_reads_every_cell_in_row_order(csv_file: Path):
    bench = SPACE.open_benchmark(csv_file)
    assert isinstance(bench, TNB101Benchmark) and bench.space is SPACE
    assert len(bench) == 4096 and bench.datasets == TASKS
    order = [int(c) for c in np.random.default_rng(0).permutation(4096)]
    assert [a.code for a in bench.archs()] == order
    for row in (0, 17, 4095):
        arch = bench.arch(row)
        assert bench.index(arch) == row == bench.index(arch.to_string())
        for k, task in enumerate(TASKS):
            assert bench.accuracy(arch, task) == score(arch.code, k) == bench.accuracy(row, task)
    column = bench.accuracies("class_scene")
    assert column.tolist() == [score(c, 2) for c in order]
    with pytest.raises(ValueError):
        column[0] = 0.0  # read-only
    assert bench.best("jigsaw") == (score(4095, 3), Arch.from_code(4095))
    assert bench.best("room_layout") == (score(0, 5), Arch.from_code(0))  # higher is better
    assert bench.accuracy(0) == bench.accuracy(0, "autoencoder")  # the first task is the default
    assert bench.params(0) is None


def test_adapter_lookup_errors(csv_file: Path):
    bench = TNB101Benchmark(csv_file)
    with pytest.raises(ValueError, match="unknown TransNAS-Bench-101 micro task 'cifar10'"):
        bench.accuracies("cifar10")
    assert bench.accuracy(5, "Class-Object") == bench.accuracy(5, "class_object")
    with pytest.raises(IndexError, match="outside 0..4095"):
        bench.arch(4096)
    with pytest.raises(TypeError, match="a benchmark index is an int, got float"):
        bench.accuracy(5.0, "class_object")
    with pytest.raises(ValueError, match="not a tnb101-micro arch"):
        bench.index(get_space("nb201").arch(("none",) * 6))


def test_find_benchmark_flag_env_and_default_folders(csv_file, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("fewshot.spaces.tabular._ANNOUNCED", set())
    assert find_benchmark() is None and find_benchmark() is None
    notes = [r for r in caplog.records if "no TransNAS-Bench-101 micro benchmark" in r.message]
    assert len(notes) == 1  # once per process
    with pytest.raises(FileNotFoundError, match="looked in: .*torch-home"):
        find_benchmark(required=True)
    assert find_benchmark(csv_file.parent) == csv_file.resolve() == find_benchmark(csv_file)
    monkeypatch.setenv(BENCHMARK_ENV, str(csv_file))
    assert SPACE.find_benchmark() == csv_file.resolve()
    monkeypatch.setenv(BENCHMARK_ENV, str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match=r"^\$FEWSHOT_TNB101: no TransNAS-Bench-101"):
        SPACE.find_benchmark()
    monkeypatch.delenv(BENCHMARK_ENV)
    default = write_csv(tmp_path / "fewshot-data" / "transnas-bench-101-micro" / BENCHMARK_FILE)
    assert SPACE.find_benchmark() == default.resolve()
    assert len(SPACE.open_benchmark()) == 4096


def test_other_spaces_files_are_refused_in_one_line(tmp_path: Path):
    nats = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    nats.mkdir()
    (nats / "meta.pickle.pbz2").write_bytes(b"")
    macro = tmp_path / "nas-bench-macro_cifar10.json"
    macro.write_text(json.dumps({"00000000": {"mean_acc": 90.0}}))
    for path, what in [
        (nats, "NATS-Bench's topology benchmark (--space nb201)"),
        (nats / "meta.pickle.pbz2", "NATS-Bench's topology benchmark (--space nb201)"),
        (macro, "JSON file (NAS-Bench-Macro's benchmark is one: --space nas-bench-macro)"),
    ]:
        with pytest.raises(UsageError, match=re.escape(what)) as info:
            SPACE.open_benchmark(path)
        assert "\n" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="no TransNAS-Bench-101 micro benchmark at"):
        SPACE.open_benchmark(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("codes", "header", "edit", "message"),
    [
        (None, ["op_indices", "arch_str", *TASKS[:-1]], None, "lacks the column.*segmentsemantic"),
        (list(range(4095)), HEADER, None, "4096 distinct cells, this file 4095"),
        ([*range(4096), 7], HEADER, None, "cell 000013 appears 2 times"),
        (None, HEADER, {3: {"op_indices": "000004"}}, "line 5: op_indices '000004'"),
        (None, HEADER, {0: {"arch_str": "64-41414-0_00_000"}}, "disagrees with op_indices"),
        (None, HEADER, {9: {"jigsaw": "n/a"}}, "line 11: malformed row"),
        (None, HEADER, {9: {"jigsaw": "nan"}}, "line 11: a task score is not a finite"),
    ],
)
def test_malformed_csvs_are_usage_errors(tmp_path, codes, header, edit, message):
    if codes is None:
        codes = list(range(4096))[::-1]  # row 0 is cell 4095, never 000000
    path = write_csv(tmp_path / "bench.csv", codes, header=header, edit=edit)
    with pytest.raises(UsageError, match=message) as info:
        TNB101Benchmark(path)
    assert "\n" not in str(info.value)


def test_the_shared_benchmark(shared_data: Path):
    path = shared_data / "transnas-bench-101-micro" / BENCHMARK_FILE
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    bench = SPACE.open_benchmark(path)
    assert len(bench) == 4096 and {a.code for a in bench.archs()} == set(range(4096))
    best = bench.best("class_object")
    assert (
        bench.accuracy(best.arch, "class_object")
        == best.accuracy
        == max(bench.accuracies("class_object"))
    )
