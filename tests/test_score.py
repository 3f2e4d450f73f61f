"""``python -m fewshot.score``: CSV layout, resume without rescoring, failures, evaluation."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import fewshot.scoring.engine as scoring
from fewshot.correlation import rank_correlation, spearman_interval
from fewshot.metrics import ScoringData, compute_metrics
from fewshot.models.supernet import build_network
from fewshot.score import main
from fewshot.scoring import resolve_metrics, sample_archs, select_archs
from fewshot.spaces import get_space
from fewshot.spaces.nb201 import Arch
from tests.fakes import FAKE_ENTRIES, mean_accuracy
from tests.outputs import assert_lists_outputs

FAKE_ARCHS = list(FAKE_ENTRIES)
DEAD = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # output ignores the input
LIVE = [a for a in FAKE_ARCHS if a != DEAD]
TINY = ["--C", "4", "--N", "1", "--dataset", "synthetic", "--dataset-option", "image_size=8"]
TINY += ["--batch-size", "8", "--no-progress", "--seed", "0"]


def run(tmp_path, archs, metrics="snip,naswot", *extra):
    """Run the CLI on ``archs`` into ``tmp_path/out``; returns (exit code, rows, header)."""
    out = tmp_path / "out"
    code = main(
        ["--archs", ",".join(archs), "--metrics", metrics, "--out", str(out), *TINY, *extra]
    )
    path = out / "scores.csv"
    if not path.is_file():
        return code, [], []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return code, list(reader), reader.fieldnames


@pytest.fixture
def scored(monkeypatch):
    """Counts the archs :func:`fewshot.scoring.engine.score_arch` is called on."""
    calls: list[str] = []
    real = scoring.score_arch

    def counting(arch, *args, **kwargs):
        calls.append(arch.to_string())
        return real(arch, *args, **kwargs)

    monkeypatch.setattr(scoring, "score_arch", counting)
    return calls


def test_csv_columns_values_and_benchmark_index(tmp_path, fake_benchmark):
    code, rows, header = run(
        tmp_path, LIVE[:2], "snip,naswot", "--benchmark", str(fake_benchmark.path)
    )
    assert code == 0
    assert header == ["arch", "index", "snip", "naswot", "seconds", "error"]
    assert [r["arch"] for r in rows] == LIVE[:2]
    assert [int(r["index"]) for r in rows] == [FAKE_ARCHS.index(a) for a in LIVE[:2]]
    for r in rows:
        assert math.isfinite(float(r["snip"])) and float(r["seconds"]) > 0 and r["error"] == ""


def test_values_equal_a_direct_combined_pass(tmp_path):
    """The CSV holds what compute_metrics gives for the seeded standalone network."""
    from fewshot.config import make_config
    from fewshot.score import ScoreConfig
    from fewshot.scoring import load_scoring_data

    code, rows, _ = run(tmp_path, LIVE[:1], "snip,synflow")
    assert code == 0
    config = make_config(
        ScoreConfig, {"dataset": "synthetic", "batch_size": 8, "data_option": {"image_size": 8}}
    )
    name, data = load_scoring_data(config)
    assert name == "synthetic"
    old_style = {"dataset": "synthetic", "data_root": None, "batch_size": 8, "batches": 2}
    _, same = load_scoring_data(old_style | {"seed": 0, "dataset_option": {"image_size": 8}})
    assert all((a[0] == b[0]).all() for a, b in zip(data.batches, same.batches, strict=True))
    import torch

    torch.manual_seed(0)
    net = build_network(LIVE[0], C=4, N=1, num_classes=data.num_classes)
    expected = compute_metrics(net, data, ["snip", "synflow"])
    assert float(rows[0]["snip"]) == expected["snip"].value
    assert float(rows[0]["synflow"]) == expected["synflow"].value


def test_resume_scores_nothing_twice(tmp_path, scored):
    assert run(tmp_path, LIVE[:2])[0] == 0
    assert scored == LIVE[:2]
    path = tmp_path / "out" / "scores.csv"
    with path.open("a") as f:  # a run killed while writing its third row
        f.write(LIVE[2] + ",,1.0")
    code, rows, _ = run(tmp_path, LIVE)
    assert code == 0
    assert scored == LIVE  # only the third arch was scored again, once
    assert [r["arch"] for r in rows] == LIVE
    assert all(r["snip"] for r in rows)


def test_the_same_command_twice_reports_it_finished(tmp_path, scored, capsys):
    assert run(tmp_path, LIVE[:2])[0] == 0
    capsys.readouterr()
    assert run(tmp_path, LIVE[:2])[0] == 0
    assert scored == LIVE[:2]  # nothing scored the second time
    assert "already finished" in capsys.readouterr().out


def test_resume_refuses_another_configuration(tmp_path, capsys):
    assert run(tmp_path, LIVE[:1])[0] == 0
    assert run(tmp_path, LIVE[:1], "snip")[0] == 2
    assert "another configuration" in capsys.readouterr().err
    code, rows, header = run(tmp_path, LIVE[:1], "snip", "--overwrite")
    assert code == 0 and header[2:-2] == ["snip"] and len(rows) == 1


def test_failing_metric_and_failing_arch_are_recorded(tmp_path, monkeypatch):
    space = get_space("nb201")  # the spec's space builds each arch's network
    real = space.build_network
    broken = LIVE[1]

    def build(arch, **kwargs):
        if arch.to_string() == broken:
            raise RuntimeError("boom")
        return real(arch, **kwargs)

    monkeypatch.setattr(type(space), "build_network", lambda self, arch, **kw: build(arch, **kw))
    code, rows, _ = run(tmp_path, [LIVE[0], DEAD, broken, LIVE[2]])
    assert code == 0
    by_arch = {r["arch"]: r for r in rows}
    assert set(by_arch) == {LIVE[0], DEAD, broken, LIVE[2]}
    dead = by_arch[DEAD]  # naswot undefined on a dead network; snip (= 0 there) is kept
    assert dead["naswot"] == "" and "naswot" in dead["error"] and "singular" in dead["error"]
    assert dead["snip"] != ""
    assert by_arch[broken]["snip"] == by_arch[broken]["naswot"] == ""
    assert "RuntimeError: boom" in by_arch[broken]["error"]
    assert by_arch[LIVE[2]]["error"] == "" and by_arch[LIVE[2]]["naswot"] != ""


def test_unknown_metric_and_bad_arch_are_user_errors(tmp_path, capsys):
    assert run(tmp_path, LIVE[:1], "snip,nope")[0] == 2
    err = capsys.readouterr().err
    assert "nope" in err and "synflow" in err and "Traceback" not in err
    assert run(tmp_path, ["|conv~0|+|"])[0] == 2
    assert "not an arch string of search space nb201" in capsys.readouterr().err
    assert run(tmp_path, LIVE[:1], "gm")[0] == 2  # pairwise: not scorable per arch


def test_benchmark_correlations_and_plots(tmp_path, fake_benchmark, capsys):
    code, rows, _ = run(
        tmp_path, FAKE_ARCHS, "snip,synflow", "--benchmark", str(fake_benchmark.path),
        "--benchmark-dataset", "cifar10",  # synthetic images: judging them is forced
    )  # fmt: skip
    assert code == 0
    out = tmp_path / "out"
    corr = {c["metric"]: c for c in json.loads((out / "correlations.json").read_text())}
    acc = [mean_accuracy(FAKE_ENTRIES, r["arch"], "cifar10") for r in rows]
    for metric in ("snip", "synflow"):
        expected = rank_correlation([float(r[metric]) for r in rows], acc, metric)
        assert corr[metric]["spearman"] == pytest.approx(expected.spearman)
        assert corr[metric]["n"] == 4
        assert (out / "plots" / f"{metric}.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and str(fake_benchmark.path) in printed
    files = [out / n for n in ("scores.csv", "scores.spec.json", "config.yaml",
                               "correlations.json", "correlations.md")]  # fmt: skip
    figures = [out / "plots" / "snip.png", out / "plots" / "synflow.png"]
    assert_lists_outputs(printed, files, figures)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert Path(saved["benchmark"]) == fake_benchmark.path  # which benchmark judged the run


def test_the_closing_output_says_which_recipe_and_how_split_differs(tmp_path, capsys):
    assert run(tmp_path, LIVE[:1], "snip")[0] == 0
    printed = capsys.readouterr().out
    assert "recipe zero-cost-nas; fewshot.split defaults to ly-manson" in printed
    assert run(tmp_path / "b", LIVE[:1], "snip", "--recipe", "ly-manson")[0] == 0
    assert "recipe ly-manson (fewshot.split's default too)" in capsys.readouterr().out


def test_data_that_is_not_the_benchmarks_is_not_correlated(tmp_path, fake_benchmark, capsys):
    code, rows, _ = run(tmp_path, LIVE[:2], "snip", "--benchmark", str(fake_benchmark.path))
    assert code == 0 and len(rows) == 2
    assert "not judged: the data is not the benchmark's" in capsys.readouterr().out
    assert not (tmp_path / "out" / "correlations.json").exists()


def test_vote_is_reported_when_its_three_metrics_are_scored(tmp_path, fake_benchmark, capsys):
    from fewshot.metrics.vote import vote_accuracy

    code, rows, _ = run(
        tmp_path,
        LIVE,
        "snip,synflow,jacob_cov",
        "--benchmark",
        str(fake_benchmark.path),
        "--benchmark-dataset",
        "cifar10",
    )
    assert code == 0
    acc = [mean_accuracy(FAKE_ENTRIES, r["arch"], "cifar10") for r in rows]
    expected = vote_accuracy(
        {m: [float(r[m]) for r in rows] for m in ("synflow", "jacob_cov", "snip")}, acc
    )
    voted = json.loads((tmp_path / "out" / "vote.json").read_text())["vote"]
    assert voted == pytest.approx(expected)
    assert "vote (synflow, jacob_cov, snip)" in capsys.readouterr().out


# -- helpers -----------------------------------------------------------------------------------


def test_rank_correlation_by_hand_and_drops_nonfinite():
    r = rank_correlation([1.0, 2.0, math.nan, 3.0, 4.0], [10, 20, 99, 40, 30], "m")
    assert (r.n, r.dropped) == (4, 1)
    assert r.spearman == pytest.approx(1 - 6 * 2 / (4 * 15))  # one swapped pair: d^2 sum 2
    assert r.kendall == pytest.approx((5 - 1) / 6)
    assert rank_correlation([1.0, 1.0, 1.0], [1, 2, 3], "c").spearman is None


def test_sample_is_seeded_and_prefix_stable():
    a = sample_archs(20, seed=3)
    assert a == sample_archs(20, seed=3) and len(set(a)) == 20
    assert sample_archs(30, seed=3)[:20] == a  # a larger run extends the same sample
    assert a != sample_archs(20, seed=4)
    assert len(select_archs(num=None, seed=0, every=True)) == 15_625
    assert all(isinstance(x, Arch) for x in a)


def test_resolve_metrics():
    assert resolve_metrics("snip, synflow,snip") == ["snip", "synflow"]
    everything = resolve_metrics("all")
    assert {"snip", "naswot", "jacob_cov"} <= set(everything) and "gm" not in everything


def test_compute_metrics_errors_dict_keeps_the_other_metrics():
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype("float32")
    import torch

    batch = torch.from_numpy(x).repeat(4, 1, 1, 1)  # identical inputs: naswot singular
    data = ScoringData(((batch, torch.zeros(4, dtype=torch.long)),), 10)
    torch.manual_seed(0)
    net = build_network(LIVE[0], C=4, N=1)
    errors: dict[str, str] = {}
    out = compute_metrics(net, data, ["naswot", "snip"], errors=errors)
    assert set(out) == {"snip"} and "singular" in errors["naswot"]


def test_retry_failed_rescores_only_archs_without_any_value(tmp_path, monkeypatch, scored):
    space = get_space("nb201")
    real = space.build_network

    def build(arch, **kwargs):
        if arch.to_string() == LIVE[1]:
            raise RuntimeError("boom")
        return real(arch, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(type(space), "build_network", lambda self, arch, **kw: build(arch, **kw))
        assert run(tmp_path, [LIVE[0], DEAD, LIVE[1]])[0] == 0
    code, rows, _ = run(tmp_path, [LIVE[0], DEAD, LIVE[1]], "snip,naswot", "--retry-failed")
    assert code == 0
    assert scored == [LIVE[0], DEAD, LIVE[1], LIVE[1]]  # DEAD has snip: kept, not retried
    assert {r["arch"]: r["error"] for r in rows}[LIVE[1]] == ""


def test_spearman_interval_brackets_the_estimate():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal(200)
    lo, hi = spearman_interval(truth, truth, resamples=50)
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.0)  # perfect stays perfect
    noisy = truth + rng.standard_normal(200)
    rho = rank_correlation(noisy, truth, "m").spearman
    lo, hi = spearman_interval(noisy, truth, resamples=200)
    assert lo < rho < hi and 0.05 < hi - lo < 0.4


def test_print_config_lists_the_metrics_and_round_trips(tmp_path, capsys):
    argv = ["--dataset", "synthetic", "--out", str(tmp_path / "o"), "--print-config"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    config = yaml.safe_load(printed)
    assert config["metrics"] == resolve_metrics("all") and config["dataset"] == "synthetic"
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    with pytest.raises(SystemExit):
        main(["--config", str(path), "--print-config"])
    assert yaml.safe_load(capsys.readouterr().out) == config
    assert not (tmp_path / "o").exists()  # printing the configuration runs nothing


def test_spearman_interval_equals_a_plain_resampling_loop():
    """scipy.stats.bootstrap (percentile, paired) draws the same resamples as the loop it
    replaced: the intervals in docs/metrics are reproduced exactly."""
    from scipy import stats

    rng = np.random.default_rng(1)
    truth = rng.standard_normal(60)
    scores = truth + rng.standard_normal(60)
    draw, rhos = np.random.default_rng(0), []
    for _ in range(100):
        i = draw.integers(0, 60, 60)
        rhos.append(stats.spearmanr(scores[i], truth[i]).statistic)
    expected = tuple(np.quantile(rhos, [0.025, 0.975]))
    assert spearman_interval(scores, truth, resamples=100) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("max_bytes", "expected"), [(None, "tensor"), (0, "loader")])
def test_config_records_image_size_and_the_resolved_data_path(
    tmp_path, monkeypatch, max_bytes, expected
):
    """``data_path=auto`` picks the tensor path when the decoded set fits, else the loader: the
    choice is saved in config.yaml (issue 20 item 1), and so is ``--image-size`` (item 4)."""
    from fewshot.data import base
    from tests.fakes import write_image_folder

    if max_bytes is not None:
        monkeypatch.setattr(base, "TENSOR_PATH_MAX_BYTES", max_bytes)
    root = write_image_folder(tmp_path / "imgs", per_class=4, size=8)
    out = tmp_path / "out"
    argv = ["--archs", LIVE[0], "--metrics", "snip", "--out", str(out), "--C", "4", "--N", "1",
            "--dataset", "folder", "--data-root", str(root), "--image-size", "16",
            "--batch-size", "4", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["image_size"] == 16 and saved["data_option"]["image_size"] == 16
    assert saved["resolved_data_path"] == expected
