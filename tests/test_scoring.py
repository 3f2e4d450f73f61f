"""fewshot.scoring: one ScoringSpec (its defaults are zero-cost-nas's), data-free metrics
scored without images and bitwise as with them, the spec record's round trip."""

from __future__ import annotations

import pytest

from fewshot.metrics import ScoringData, data_free, get_metric, list_metrics
from fewshot.scoring import (
    ScoringSpec,
    load_scoring_data,
    read_spec_record,
    score_arch,
    spec_difference,
    write_spec_record,
)
from fewshot.spaces.nb201 import Arch
from fewshot.splitting.recipes import get_recipe, scoring_spec

ARCH = Arch.from_string(
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
)
DATA_FREE_METRICS = ("synflow", "synflow_log", "params", "flops")


def test_the_default_spec_is_the_zero_cost_nas_recipe():
    recipe = get_recipe("zero-cost-nas")
    spec = ScoringSpec()
    assert spec == scoring_spec() == scoring_spec({"recipe": "zero-cost-nas"})
    assert (spec.settings, spec.init) == (recipe.metric_settings, recipe.init)
    ly = scoring_spec({"recipe": "ly-manson", "C": 8, "dataset_option": {"image_size": 8}})
    assert ly.settings == get_recipe("ly-manson").metric_settings and ly.C == 8
    assert ly.data_option == {"image_size": 8} and ly.N == spec.N
    assert spec_difference(spec, ly)[:3] == ["C", "init", "recipe"]


def test_only_shape_reading_metrics_are_data_free():
    assert {m for m in list_metrics(kind="scalar") if not get_metric(m).needs_data} == set(
        DATA_FREE_METRICS
    )
    assert data_free(["synflow", "params"]) and not data_free(["synflow", "snip"])
    assert not data_free([])


@pytest.mark.parametrize("init", ["pytorch", "kaiming_fan_out"])
def test_data_free_metrics_are_bitwise_the_same_without_images(init):
    spec = ScoringSpec(C=4, N=1, seed=3, init=init)
    images = ScoringData.random(batch_size=8, num_batches=2, image_size=8, num_classes=7)
    none = ScoringData.placeholder(num_classes=7, image_size=8)
    with_images = score_arch(ARCH, images, DATA_FREE_METRICS, spec)
    without = score_arch(ARCH, none, DATA_FREE_METRICS, spec)
    assert with_images.values == without.values and set(without.values) == set(DATA_FREE_METRICS)


def test_data_free_scoring_reads_no_data_set(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path))
    spec = ScoringSpec(dataset="cifar100", batch_size=4)
    name, data = load_scoring_data(spec, data_root=tmp_path, metrics=["synflow", "flops"])
    assert name == "cifar100" and data.num_classes == 100
    assert tuple(data.inputs.shape) == (4, 3, 32, 32) and list(tmp_path.iterdir()) == []
    with pytest.raises(Exception, match="(?i)cifar"):  # snip needs the images
        load_scoring_data(spec, data_root=tmp_path, metrics=["synflow", "snip"])


def test_spec_record_round_trip(tmp_path):
    spec = scoring_spec({"recipe": "ly-manson", "dataset": "synthetic", "seed": 4})
    write_spec_record(tmp_path / "scores.csv", spec, data_free=False)
    assert (tmp_path / "scores.spec.json").is_file()
    assert read_spec_record(tmp_path / "scores.csv") == spec
    assert read_spec_record(tmp_path / "other.csv") is None


def test_the_score_command_scores_data_free_metrics_without_the_data_set(
    tmp_path, offline, monkeypatch, capsys
):
    import json

    from fewshot.score import main

    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "nothing"))
    argv = ["--num", "2", "--metrics", "synflow,params", "--C", "4", "--N", "1", "--dataset",
            "cifar100", "--no-progress", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((tmp_path / "out" / "scores.spec.json").read_text())
    assert record["data"] == "none (data-free metrics)" and record["spec"]["dataset"] == "cifar100"
    capsys.readouterr()
    argv = [*argv[:3], "synflow,snip", *argv[4:-1], str(tmp_path / "other")]
    assert main(argv) == 2  # snip needs CIFAR-100's images
    err = capsys.readouterr().err
    assert "CIFAR-100" in err or "cifar100" in err.lower()
    assert "another configuration" not in err
