"""The one-shot tau-versus-budget experiment: regimes, evaluation settings, end to end."""

from __future__ import annotations

import itertools
import json

import pytest

from fewshot.errors import UsageError
from fewshot.experiments.ranking_budget import (
    Regime,
    cheapest_regime,
    choose_settings,
    main,
)
from fewshot.spaces import get_space


def test_regime_names_parse_and_bad_ones_say_the_format():
    assert Regime.parse("px16-c8-n1-subset") == Regime("px16-c8-n1-subset", 16, 8, 1, "subset")
    with pytest.raises(UsageError, match="px<SIZE>-c<C>-n<N>-<DATA>"):
        Regime.parse("16px-c8")


def test_chosen_settings_are_the_cheapest_stable_under_every_doubling():
    taus = {"c2-h250": 0.10, "c4-h250": 0.20, "c8-h250": 0.21,
            "c2-h500": 0.12, "c4-h500": 0.205, "c8-h500": 0.21,
            "c2-h1000": 0.12, "c4-h1000": 0.21, "c8-h1000": 0.215}  # fmt: skip
    # c2 jumps by 0.1 when doubled; from c4-h250 every larger point is within 0.015
    assert choose_settings(taus, [2, 4, 8], [250, 500, 1000], 0.02) == (4, 250)
    assert choose_settings(taus, [2, 4, 8], [250, 500, 1000], 0.001) == (8, 1000)  # none
    # still for one doubling, then a jump: the jump disqualifies the point below it
    jump = {"c1-h250": 0.37, "c1-h500": 0.369, "c1-h1000": 0.5,
            "c2-h250": 0.38, "c2-h500": 0.362, "c2-h1000": 0.507}  # fmt: skip
    assert choose_settings(jump, [1, 2], [250, 500, 1000], 0.02) == (2, 1000)


def test_cheapest_regime_reaching_the_goal_or_the_best_tau():
    regimes = {
        "a": {"budgets": {"100": {"kendall_tau_mean": 0.1, "train_s_mean": 5.0},
                          "200": {"kendall_tau_mean": 0.35, "train_s_mean": 50.0}}},
        "b": {"budgets": {"100": {"kendall_tau_mean": 0.31, "train_s_mean": 20.0}}},
    }  # fmt: skip
    assert cheapest_regime(regimes)["regime"] == "b"
    best = cheapest_regime(regimes, goal=0.5)
    assert not best["reached"] and (best["regime"], best["steps"]) == ("a", 200)


def test_tiny_study_end_to_end_and_resume(tmp_path, shared_data, capsys):
    subset, table = (
        shared_data / "cifar10-subset",
        shared_data / "reference" / "nb201_accuracies.csv",
    )
    if not subset.is_dir() or not table.is_file():
        pytest.skip("the CIFAR-10 subset or the reference table is absent")
    argv = [
        "--data-roots", f"subset={subset}", "--regimes", "px8-c2-n1-subset",
        "--steps", "3,6", "--seeds", "2", "--sample", "10", "--calib-grid", "1,2",
        "--held-out-grid", "50,100", "--out", str(tmp_path / "run"), "--threads", "1",
        "--no-progress", "--benchmark", str(table),
        "--results", str(tmp_path / "docs" / "budget.json"),
    ]  # fmt: skip
    assert main(argv) == 0
    result = json.loads((tmp_path / "docs" / "budget.json").read_text())
    regime = result["regimes"]["px8-c2-n1-subset"]
    assert set(regime["sensitivity"]["kendall_tau"]) == {"c1-h50", "c1-h100", "c2-h50", "c2-h100"}
    for steps, budget in regime["budgets"].items():
        assert {q["global_step"] for q in budget["seeds"].values()} == {int(steps)}
    assert len(result["sample"]["archs"]) == 10
    assert (tmp_path / "docs" / "budget.png").stat().st_size > 0
    table = (tmp_path / "docs" / "budget_table.md").read_text()
    assert "tau top-10%" in table and "| free: convs | 0 |" in table  # the free baselines
    assert set(result["free_baselines"]["tau_difference"]) == {"px8-c2-n1-subset 3",
                                                                "px8-c2-n1-subset 6"}  # fmt: skip
    weights = sorted((tmp_path / "run").rglob("weights.pt"))
    stamps = [w.stat().st_mtime_ns for w in weights]
    written = (tmp_path / "run" / "results.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0  # the same settings again: finished, nothing redone
    assert "already finished (same settings)" in capsys.readouterr().out
    assert (tmp_path / "run" / "results.json").stat().st_mtime_ns == written
    assert [w.stat().st_mtime_ns for w in weights] == stamps
    assert main([*argv, "--steps", "3"]) == 0  # fewer budgets: resumes, trains nothing
    assert "already finished" not in capsys.readouterr().out
    assert [w.stat().st_mtime_ns for w in weights] == stamps


def test_whole_space_scores_every_arch_and_reports_tau(tmp_path, shared_data, monkeypatch):
    subset, table = (
        shared_data / "cifar10-subset",
        shared_data / "reference" / "nb201_accuracies.csv",
    )
    if not subset.is_dir() or not table.is_file():
        pytest.skip("the CIFAR-10 subset or the reference table is absent")
    space = type(get_space())
    first = list(itertools.islice(space.all_archs(get_space()), 60))
    monkeypatch.setattr(space, "all_archs", lambda self: iter(first))  # the space, cut short
    argv = [
        "--data-roots", f"subset={subset}", "--regimes", "px8-c2-n1-subset", "--steps", "3",
        "--seeds", "1", "--sample", "10", "--calib-grid", "1,2", "--held-out-grid", "50,100",
        "--out", str(tmp_path / "run"), "--threads", "1", "--no-progress",
        "--benchmark", str(table), "--whole-space", "--results", str(tmp_path / "b.json"),
        "--no-free-baselines",
    ]  # fmt: skip
    assert main(argv) == 0
    whole = json.loads((tmp_path / "b.json").read_text())["regimes"]["px8-c2-n1-subset"]
    whole = whole["whole_space"]
    assert whole["archs"] == 60 and 0 < whole["valid_archs"] <= 60
    assert whole["kendall_tau"] is None or -1 <= whole["kendall_tau"] <= 1
    rows = (tmp_path / "run").rglob(f"whole_space-c{whole['calib_batches']}-h*.csv")
    assert len(next(rows).read_text().splitlines()) == 61
    assert "tau (whole space)" in (tmp_path / "b_table.md").read_text()
    assert "free_baselines" not in json.loads((tmp_path / "b.json").read_text())


def test_the_prepared_gpu_command_parses_to_the_papers_size(capsys):
    from pathlib import Path

    import yaml

    from fewshot.experiments.few_vs_one_shot import main as few_vs_one_shot

    config = Path(__file__).resolve().parents[2] / "docs" / "training" / "ranking_gpu.yaml"
    with pytest.raises(SystemExit) as stop:
        few_vs_one_shot(["--config", str(config), "--print-config"])
    assert stop.value.code == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert (resolved["C"], resolved["N"], resolved["device"]) == (16, 5, "cuda")
    assert resolved["protocols"] == ["inherited"] and resolved["connected_only"]


def test_pack_trains_every_seed_of_a_budget_together(tmp_path, shared_data):
    subset, table = (
        shared_data / "cifar10-subset",
        shared_data / "reference" / "nb201_accuracies.csv",
    )
    if not subset.is_dir() or not table.is_file():
        pytest.skip("the CIFAR-10 subset or the reference table is absent")
    argv = [
        "--data-roots", f"subset={subset}", "--regimes", "px8-c2-n1-subset", "--pack",
        "--steps", "4", "--seeds", "3", "--sample", "10", "--calib-grid", "1",
        "--held-out-grid", "50", "--out", str(tmp_path / "run"), "--threads", "1",
        "--no-progress", "--benchmark", str(table),
    ]  # fmt: skip
    assert main(argv) == 0
    regime = tmp_path / "run" / "px8-c2-n1-subset"
    for seed in range(3):
        timing = json.loads(
            (regime / f"packed-seed{seed}" / "steps4" / "train_time.json").read_text()
        )
        assert timing["pack"] == 3 and timing["steps"] == 4
    assert (regime / "pack-steps4" / "pack.ckpt").is_file()
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    seeds = result["regimes"]["px8-c2-n1-subset"]["budgets"]["4"]["seeds"]
    assert {q["global_step"] for q in seeds.values()} == {4} and len(seeds) == 3


def test_a_listed_sample_replaces_the_stratified_one(tmp_path, fake_macro_benchmark):
    """``--archs``: the first ``--sample`` archs of the file, in its order, with their
    benchmark accuracies (here NAS-Bench-Macro's, another space than the default)."""
    from fewshot.experiments.ranking_budget import RankingBudgetConfig, connected_sample
    from fewshot.spaces.macro import MacroBenchmark

    listed = ["22212220", "00000000", "01201201", "11111111"]
    (tmp_path / "archs.txt").write_text("\n".join(listed) + "\n")
    config = RankingBudgetConfig(
        space="nas-bench-macro", benchmark=fake_macro_benchmark, benchmark_dataset="cifar10",
        sample=3, archs=tmp_path / "archs.txt",
    )  # fmt: skip
    archs, true, indices = connected_sample(config)
    bench = MacroBenchmark(fake_macro_benchmark)
    assert [a.to_string() for a in archs] == listed[:3]
    assert indices == [bench.index(a) for a in listed[:3]]
    assert list(true) == [bench.accuracy(a) for a in listed[:3]]
    config.sample = 5
    with pytest.raises(UsageError, match="lists 4 archs, fewer than --sample 5"):
        connected_sample(config)
