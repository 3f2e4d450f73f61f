"""``python -m fewshot.search`` on a tiny benchmark written by the test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fewshot.scoring import ScoreFile, ScoreRow
from fewshot.search.__main__ import main
from fewshot.search.oracle import Oracle
from tests.outputs import assert_lists_outputs
from tests.search.search_fakes import known_quality


@pytest.fixture()
def table(tmp_path, small_benchmark):
    """A synflow CSV for the 64 archs: the known quality plus noise (distinct values)."""
    oracle = Oracle.from_benchmark(small_benchmark, "cifar10")
    store = ScoreFile(tmp_path / "scores.csv", ["synflow"])
    rng = np.random.default_rng(0)
    for i in range(len(oracle)):
        value = known_quality(oracle.arch(i)) + rng.normal(0, 0.1)
        store.append(ScoreRow(oracle.arch(i).to_string(), i, {"synflow": value}, 0.1))
    return store.path


def _args(bench, out, *extra):
    return ["--benchmark", str(bench), "--out", str(out), "--threads", "1", *extra]


def test_search_writes_summary_and_figure_and_is_deterministic(
    tmp_path, small_benchmark, table, capsys
):
    flags = ["--dataset", "cifar10", "--algo", "ae", "--proxy", "synflow", "--warmup", "32",
             "--proxy-table", str(table), "--no-scoring", "--repeats", "3", "--budget", "40",
             "--population", "8", "--tournament", "3", "--target", "84"]  # fmt: skip
    assert main(_args(small_benchmark, tmp_path / "a", *flags)) == 0
    assert main(_args(small_benchmark, tmp_path / "b", *flags)) == 0
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a["curves"] == b["curves"] and a["trained"] == b["trained"]
    assert a["selection"] == "validation" and a["report"] == "test"
    assert len(a["curves"]) == 3 and len(a["curves"][0]) == 40
    assert a["acc_at_50"] is None and a["final"]["median"] > 80
    assert a["models_to_target"]["target"] == 84.0
    assert a["config"]["warmup"] == 32
    assert (tmp_path / "a" / "curves.png").is_file()
    assert (tmp_path / "a" / "config.yaml").is_file()
    assert a["config"]["benchmark"] == str(small_benchmark)  # which benchmark judged the run
    b_dir = tmp_path / "b"
    printed = capsys.readouterr().out
    assert f"benchmark: {small_benchmark}" in printed
    assert_lists_outputs(printed, [b_dir / "summary.json", b_dir / "config.yaml"],
                         [b_dir / "curves.png"])  # fmt: skip


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--algo", "nope"], "--algo 'nope' is not valid"),
        (["--proxy", "nope"], "--proxy 'nope' is not valid"),
        (["--budget", "0"], "--budget must be >= 1"),
        (["--proxy", "synflow", "--warmup", "65"], "warmup 65 is larger than the search space"),
        (["--warmup", "5"], "--warmup and --move need --proxy"),
    ],
)
def test_errors_exit_2_with_one_line(tmp_path, small_benchmark, table, capsys, extra, message):
    argv = _args(small_benchmark, tmp_path / "o", "--proxy-table", str(table), "--no-scoring")
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["missing", "empty"])
def test_missing_or_wrong_benchmark_dir(tmp_path, capsys, bad):
    path = tmp_path / bad
    if bad == "empty":
        path.mkdir()
    assert main(["--benchmark", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "NATS-Bench topology benchmark" in capsys.readouterr().err


def test_filter_mode_trains_kept_archs_for_real(tmp_path, small_benchmark, table):
    flags = ["--dataset", "cifar10", "--filter", "--proxy", "synflow", "--proxy-table",
             str(table), "--no-scoring", "--candidates", "40", "--top-k", "4", "--repeats", "3",
             "--train-epochs", "1", "--train-max", "2", "--train-C", "4", "--train-dataset",
             "synthetic", "--data-option", "num_train=40", "--data-option", "num_test=16",
             "--data-option", "image_size=8"]  # fmt: skip
    assert main(_args(small_benchmark, tmp_path / "f", *flags)) == 0
    report = json.loads((tmp_path / "f" / "filter.json").read_text())
    assert report["kept_count"]["median"] == 4
    assert len(report["trained"]) == 2
    for r in report["trained"]:
        assert 0 <= r["test_acc"] <= 100 and r["benchmark_test_acc"] > 80
    assert (tmp_path / "f" / "trained" / "results.json").is_file()


def test_print_config_round_trips_and_console_command(tmp_path, capsys):
    from fewshot.__main__ import main as fewshot_main

    with pytest.raises(SystemExit) as exc:
        main(["--algo", "rl", "--proxy", "synflow", "--warmup", "100", "--print-config"])
    assert exc.value.code == 0
    first = capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(first)
    with pytest.raises(SystemExit):
        fewshot_main(["search", "--config", str(tmp_path / "c.yaml"), "--print-config"])
    assert capsys.readouterr().out == first
    assert "out: runs/search/rl-synflow-w100-cifar100" in first


@pytest.mark.parametrize(("device", "accelerator", "devices"),
                         [("cuda:1", "gpu", [1]), ("cpu", "cpu", 1)])  # fmt: skip
def test_filter_mode_trains_on_the_device_asked_for(
    tmp_path, small_benchmark, table, monkeypatch, device, accelerator, devices
):
    """--device reaches the trainer of the kept archs (a fake CUDA with 2 GPUs; the fake
    Trainer stops the run once asked)."""
    import pytorch_lightning as pl
    import torch

    class TrainerAsked(Exception):
        pass

    asked: dict = {}

    def fake_trainer(**kwargs):
        asked.update(kwargs)
        raise TrainerAsked

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(pl, "Trainer", fake_trainer)
    flags = ["--dataset", "cifar10", "--filter", "--proxy", "synflow", "--proxy-table",
             str(table), "--no-scoring", "--candidates", "40", "--top-k", "4", "--repeats", "1",
             "--train-epochs", "1", "--train-max", "1", "--train-C", "4", "--train-dataset",
             "synthetic", "--data-option", "num_train=40", "--data-option", "num_test=16",
             "--data-option", "image_size=8", "--device", device]  # fmt: skip
    with pytest.raises(TrainerAsked):
        main(_args(small_benchmark, tmp_path / "f", *flags))
    assert asked["accelerator"] == accelerator and asked["devices"] == devices


def test_the_same_search_twice_reports_it_finished_and_other_settings_exit_2(
    tmp_path, small_benchmark, table, capsys
):
    flags = ["--dataset", "cifar10", "--algo", "rand", "--proxy-table", str(table),
             "--no-scoring", "--repeats", "2", "--budget", "10"]  # fmt: skip
    out = tmp_path / "run"
    assert main(_args(small_benchmark, out, *flags)) == 0
    before = (out / "summary.json").read_bytes()
    capsys.readouterr()
    assert main(_args(small_benchmark, out, *flags)) == 0
    assert "already finished" in capsys.readouterr().out
    assert (out / "summary.json").read_bytes() == before
    assert main(_args(small_benchmark, out, *flags, "--budget", "12")) == 2
    assert "budget: 10 -> 12" in capsys.readouterr().err


def test_the_python_api_runs_the_command_and_flattens_the_repeats(tmp_path, small_benchmark, table):
    import fewshot

    result = fewshot.search(
        dataset="cifar10", algo="rand", proxy_table=[table], no_scoring=True, repeats=2,
        budget=10, benchmark=small_benchmark, out=tmp_path / "api", threads=1,
    )  # fmt: skip
    assert main(_args(small_benchmark, tmp_path / "cli", "--dataset", "cifar10", "--algo",
                      "rand", "--proxy-table", str(table), "--no-scoring", "--repeats", "2",
                      "--budget", "10")) == 0  # fmt: skip
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert result.summary["curves"] == cli["curves"] and result.summary["trained"] == cli["trained"]
    archs = result.archs()
    assert len(archs) == 20 and list(archs.columns) == ["repeat", "step", "index", "reported"]
    assert archs[archs.repeat == 0]["reported"].tolist() == cli["curves"][0]
    assert archs[archs.repeat == 1]["index"].tolist() == cli["trained"][1]


def test_space_is_recorded_and_a_tree_of_another_space_is_refused(
    tmp_path, small_benchmark, capsys
):
    from fewshot.splitting.tree import SplitTree
    from tests.toy_space import TOY, toy_space

    flags = ["--dataset", "cifar10", "--algo", "rand", "--repeats", "1", "--budget", "5"]
    assert main(_args(small_benchmark, tmp_path / "a", "--space", "nb201", *flags)) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["config"]["space"] == "nb201"
    toy = SplitTree("snip", 0, "digits", space=toy_space())
    toy.add_root()
    toy.complete = True
    toy.save(tmp_path / "toy" / "tree.json")
    capsys.readouterr()
    tree_flags = ["--tree", str(tmp_path / "toy" / "tree.json"), "--algo", "ae"]
    assert main(_args(small_benchmark, tmp_path / "b", *flags[:2], *tree_flags)) == 2
    err = capsys.readouterr().err
    assert f"splits search space {TOY!r}, not 'nb201'" in err and len(err.splitlines()) == 1
    # a space whose benchmark lacks the data set: one line naming what it has
    assert main(_args(small_benchmark, tmp_path / "c", "--space", TOY, *flags)) == 2
    assert "has no such data set" in capsys.readouterr().err
