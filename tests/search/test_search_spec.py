"""A proxy table records how it was scored; a search that would mix two specs stops (exit 2)
naming both; a data-free proxy (synflow) needs no image of the search's data set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.errors import UsageError
from fewshot.score import main as score_main
from fewshot.scoring import DATA_FREE, ScoringSpec, read_spec_record, spec_record_path
from fewshot.search.__main__ import main as search_main
from fewshot.search.experiment import proxy_spec
from fewshot.search.oracle import Oracle
from fewshot.search.proxy import ProxyTable, table_spec

TINY_SCORE = ["--num", "2", "--metrics", "synflow", "--C", "4", "--N", "1", "--dataset",
              "synthetic", "--data-option", "image_size=8", "--batch-size", "8", "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def ly_manson_table(tmp_path_factory) -> str:
    """A synflow table written by ``fewshot.score --recipe ly-manson``."""
    out = tmp_path_factory.mktemp("ly-manson")
    assert score_main([*TINY_SCORE, "--recipe", "ly-manson", "--out", str(out)]) == 0
    return out / "scores.csv"


def _search(bench, out, *extra) -> list[str]:
    return ["--benchmark", str(bench), "--out", str(out), "--threads", "1", "--algo", "ae",
            "--proxy", "synflow", "--warmup", "4", "--population", "4", "--tournament", "2",
            "--repeats", "1", "--budget", "6", *extra]  # fmt: skip


def test_the_score_command_records_its_spec(ly_manson_table):
    spec = read_spec_record(ly_manson_table)
    assert spec.recipe == "ly-manson" and spec.init == "kaiming_fan_out"
    assert spec.settings.bn_mode == "eval" and (spec.C, spec.N) == (4, 1)
    record = json.loads(spec_record_path(ly_manson_table).read_text())
    assert record["data"] == DATA_FREE  # synflow alone reads no image


def test_a_ly_manson_table_is_refused_by_a_zero_cost_nas_search(
    tmp_path, small_benchmark, ly_manson_table, capsys
):
    argv = _search(small_benchmark, tmp_path / "s", "--dataset", "cifar10", "--proxy-table",
                   str(ly_manson_table))  # fmt: skip
    assert search_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(ly_manson_table) in err
    assert "recipe ly-manson (init kaiming_fan_out)" in err  # the table's spec
    assert "recipe zero-cost-nas (init pytorch)" in err  # the search's spec
    assert "settings.bn_mode" in err and not (tmp_path / "s" / "summary.json").exists()


def test_an_older_table_without_record_is_judged_by_its_config_yaml(
    tmp_path, small_benchmark, ly_manson_table
):
    old = tmp_path / "old"
    old.mkdir()
    for name in ("scores.csv", "config.yaml"):  # a table written before spec records
        (old / name).write_bytes((ly_manson_table.parent / name).read_bytes())
    spec, origin, _ = table_spec(old / "scores.csv")
    assert spec == read_spec_record(ly_manson_table) and "config.yaml" in origin
    oracle = Oracle.from_benchmark(small_benchmark, "cifar10")
    with pytest.raises(UsageError, match="differ in .*recipe.*init"):
        ProxyTable("synflow", oracle, spec=ScoringSpec()).load_csv(old / "scores.csv")
    (old / "config.yaml").unlink()  # nothing says how it was scored: assumed, with a warning
    assert table_spec(old / "scores.csv")[0] is None
    assert ProxyTable("synflow", oracle, spec=ScoringSpec()).load_csv(old / "scores.csv") == 0


def test_tables_of_one_spec_agree_and_two_specs_do_not(tmp_path, small_benchmark, ly_manson_table):
    oracle = Oracle.from_benchmark(small_benchmark, "cifar10")
    same = ProxyTable("synflow", oracle)  # no scorer: the first table sets the spec
    same.load_csv(ly_manson_table)
    same.load_csv(ly_manson_table)
    other = tmp_path / "zc"
    assert score_main([*TINY_SCORE, "--out", str(other)]) == 0
    with pytest.raises(UsageError, match="recipe zero-cost-nas .* recipe ly-manson"):
        same.load_csv(other / "scores.csv")


@pytest.mark.parametrize("classes", [100, 10])
def test_a_data_free_table_is_judged_by_its_class_count_and_image_size(
    tmp_path, small_benchmark, offline, classes
):
    """The published synflow tables were scored on a synthetic data set of CIFAR-100's shape
    (before spec records): a CIFAR-100 search takes them, one of 10 classes it refuses."""
    out = tmp_path / "table"
    argv = ["--num", "1", "--metrics", "synflow", "--dataset", "synthetic", "--data-option",
            f"num_classes={classes}", "--data-option", "image_size=32", "--no-progress",
            "--out", str(out)]  # fmt: skip
    assert score_main(argv) == 0
    spec_record_path(out / "scores.csv").unlink()  # as the tables written before records
    oracle = Oracle.from_benchmark(small_benchmark, "cifar100")
    table = ProxyTable("synflow", oracle, spec=proxy_spec("cifar100"))
    if classes == 100:
        assert table.load_csv(out / "scores.csv") == 0  # its arch is not in the tiny benchmark
    else:
        with pytest.raises(UsageError, match=r"\(classes, image size\) \(10, 32\) vs \(100, 32\)"):
            table.load_csv(out / "scores.csv")


def test_synflow_search_on_cifar100_needs_no_cifar100_images(
    tmp_path, small_benchmark, offline, monkeypatch
):
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("FEWSHOT_DATA", str(empty))
    argv = _search(small_benchmark, tmp_path / "runs" / "s", "--dataset", "cifar100",
                   "--data-root", str(empty))  # fmt: skip
    assert search_main(argv) == 0
    summary = json.loads((tmp_path / "runs" / "s" / "summary.json").read_text())
    assert summary["proxy_values_computed"] == 4  # the warmup's archs, scored on demand
    cache = tmp_path / "runs" / "proxy-cache" / "synflow-cifar100.csv"
    record = json.loads(spec_record_path(cache).read_text())
    assert record["data"] == DATA_FREE and record["spec"]["dataset"] == "cifar100"
    assert list(empty.iterdir()) == []  # nothing downloaded or read there
    values = np.loadtxt(cache, delimiter=",", skiprows=1, usecols=2)
    assert np.isfinite(values).all() and len(values) == 4
