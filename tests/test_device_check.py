"""tools/device_check.py: budgets, data fallback, reading partial runs, ratios, the JSON.

The whole script at ``--quick`` size takes about a minute here (six fewshot commands); it was
run by hand (docs/metrics/README.md). These tests check its parts quickly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import load_tool


@pytest.fixture(scope="module")
def dc():
    return load_tool("device_check")


def test_shares_cover_every_phase_on_both_sides_gpu_first(dc):
    assert sum(dc.SHARES.values()) == pytest.approx(1.0)
    assert list(dc.SHARES)[:3] == [("gpu", p) for p in ("split", "score", "train")]
    assert {p for _, p in dc.SHARES} == set(dc.PHASES)


def test_a_phase_gets_its_share_of_what_is_left(dc):
    assert dc.phase_budget(100.0, [1.0, 1.0, 2.0]) == pytest.approx(25.0)
    assert dc.phase_budget(100.0, [0.5]) == pytest.approx(100.0)  # the last takes the rest
    assert dc.phase_budget(-5.0, [1.0, 1.0]) == 0.0


def test_missing_data_root_falls_back_to_synthetic_with_a_note(dc, tmp_path):
    config = dc.parse_config(dc.DeviceCheckConfig, ["--data-root", str(tmp_path / "nope")])
    flags, data = dc.data_flags(config)
    assert flags[:2] == ["--dataset", "synthetic"] and "num_train=10000" in flags
    assert data["dataset"] == "synthetic" and "synthetic" in data["note"]
    for split in ("train", "test"):
        (tmp_path / "tree" / split).mkdir(parents=True)
    config = dc.parse_config(dc.DeviceCheckConfig, ["--data-root", str(tmp_path / "tree")])
    flags, data = dc.data_flags(config)
    assert flags[:2] == ["--dataset", "folder"] and data == {
        "dataset": "folder", "root": str(tmp_path / "tree")}  # fmt: skip


def test_quick_shrinks_every_size(dc):
    config = dc.parse_config(dc.DeviceCheckConfig, ["--quick"])
    assert (config.score_archs, config.cpu_score_archs, config.cpu_train_batches) == (4, 2, 2)
    assert dc.Size.of(True).C == 4 and dc.Size.of(False) == dc.Size(16, 5, 3, 64, None)


def test_score_rows_of_a_cut_short_run_report_the_archs_done(dc, tmp_path):
    path = tmp_path / "scores.csv"
    assert dc.score_rows(path) == {"archs_done": 0}
    path.write_text(
        "arch,index,snip,seconds,error\n"
        "a,,1.0,5.0,\n"  # the first arch carries CUDA's set-up
        "b,,2.0,0.2,\n"
        "c,,,0.4,snip: undefined\n"
    )
    rows = dc.score_rows(path)
    assert rows["archs_done"] == 3 and rows["archs_with_error"] == 1
    assert rows["first_arch_s"] == 5.0 and rows["s_per_arch"] == pytest.approx(0.3)


def test_epoch_rows_give_images_per_second(dc, tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"epoch": 1, "step": 10, "seconds": 2.0}) + "\n")
    assert dc.epoch_rows(path, 64) == {"train_epoch_s": 2.0, "train_steps": 10,
                                       "images_per_s": 320.0}  # fmt: skip


def test_ratios_are_cpu_over_gpu_where_both_sides_finished(dc):
    phases = {
        "gpu": {"split": {"split_s": 2.0}, "score": {"s_per_arch": 0.1},
                "train": {"images_per_s": 1000.0}},
        "cpu": {"split": {"split_s": 10.0}, "score": {"skipped": "no time"},
                "train": {"images_per_s": 100.0}},
    }  # fmt: skip
    assert dc.ratios(phases) == {"split_cpu_over_gpu": 5.0, "train_cpu_over_gpu": 10.0}


def test_run_command_kills_a_phase_past_its_budget(dc):
    start = time.monotonic()
    result = dc.run_command(["http.server", "0"], timeout=2.0, threads=1)
    assert result["timed_out"] and time.monotonic() - start < 30
    assert result["command"] == "python -m http.server 0"


def test_phases_run_in_order_within_the_budget_and_the_json_is_kept(dc, tmp_path, monkeypatch):
    """Every phase's result lands in the JSON as it finishes; a phase with too little of the
    budget left is skipped, not started."""
    calls = []

    def fake(name):
        def phase(ctx, side, timeout):
            calls.append((side, name, timeout))
            if (side, name) == ("gpu", "score"):
                ctx.start -= 10_000  # as if this phase used up the budget
            return {"ok": True}

        return phase

    monkeypatch.setattr(dc, "PHASES", {p: fake(p) for p in dc.PHASES})
    out = tmp_path / "check.json"
    config = dc.parse_config(dc.DeviceCheckConfig, ["--out", str(out), "--budget", "300"])
    ctx = dc.Context(config, dc.Size.of(False), [], tmp_path, "cpu", 1, time.monotonic())
    report = {"phases": {}, "ratios": {}}
    dc.run_phases(ctx, report)
    assert [(s, p) for s, p, _ in calls] == [("gpu", "split"), ("gpu", "score")]
    score, split = dc.SHARES["gpu", "score"], dc.SHARES["gpu", "split"]
    assert calls[1][2] == pytest.approx(score / (1 - split) * 300, abs=1.0)  # unused time passed on
    assert calls[0][2] == pytest.approx(24.0, abs=0.5)  # 0.08 of 300 s
    saved = json.loads(Path(out).read_text())
    assert saved["phases"]["gpu"]["split"]["ok"]
    assert "skipped" in saved["phases"]["cpu"]["train"]


def test_leaf_ids_are_the_nodes_no_node_points_to(dc, tmp_path):
    """A depth-2 tree's leaves are 3-6, not 1: training asks for the first of them."""
    nodes = [{"id": 0, "parent": None}, {"id": 1, "parent": 0}, {"id": 2, "parent": 0}]
    nodes += [{"id": i, "parent": 1 + (i - 3) // 2} for i in range(3, 7)]
    path = tmp_path / "tree.json"
    path.write_text(json.dumps({"nodes": nodes}))
    assert sorted(dc.leaf_ids(path)) == [3, 4, 5, 6]


def test_a_missing_dependency_is_named_before_any_phase(dc, monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "torchvision":
            raise ImportError("No module named 'torchvision'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    assert dc.missing_modules() == ["torchvision: ImportError: No module named 'torchvision'"]


def test_pack_phase_reports_packs_of_supernets_beside_one_alone(dc, tmp_path):
    """The ``pack`` phase (``benchmark_training.py --pack-throughput``) at ``--quick`` size on
    the CPU: the code path a lent GPU runs."""
    config = dc.parse_config(dc.DeviceCheckConfig, ["--quick"])
    ctx = dc.Context(config, dc.Size.of(True), [], tmp_path, "cpu", 1, time.monotonic())
    result = dc.phase_pack(ctx, "gpu", 600.0)
    assert result["returncode"] == 0, result["output_tail"]
    (point,) = result["points"]
    assert (point["C"], point["N"], point["image_size"]) == (4, 1, 8)
    assert point["bare_alone_images_per_s"] > 0
    for K in ("1", "2"):
        rate = point["packs"][K]
        assert rate["images_per_s"] > 0
        assert rate["over_alone"] == round(
            rate["images_per_s"] / point["bare_alone_images_per_s"], 3
        )


def test_pack_rate_counts_every_network_and_only_the_timed_steps(monkeypatch):
    import argparse
    import itertools

    from fewshot.training.pack import PackTrainer

    bench = load_tool("benchmark_training")
    steps = []
    monkeypatch.setattr(PackTrainer, "train_step", lambda self: steps.append(self.pack.K))
    clock = itertools.chain([10.0], itertools.repeat(12.5))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    args = argparse.Namespace(batch_size=8, device="cpu", warmup=2, steps=5)
    rate = bench._pack_rate(args, 4, 1, 8, 3)
    assert steps == [3] * (2 + 5)  # the warm-up steps run, untimed
    assert rate == pytest.approx(3 * 8 * 5 / 2.5)  # images of all 3 networks over the timed 2.5 s
