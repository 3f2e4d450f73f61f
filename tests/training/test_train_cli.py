"""``python -m fewshot.train``: every leaf trained, search.json, evaluation, pass-through, config."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from scipy import stats

from fewshot.config import parse_config, to_dict
from fewshot.spaces.nb201 import Arch, Mask
from fewshot.splitting.tree import Split, SplitTree
from fewshot.train import TrainConfig, main
from fewshot.training import pipeline
from fewshot.training.pipeline import FAST_DEV_ARCHS
from fewshot.training.runner import parse_devices
from tests.conftest import REPO_ROOT
from tests.fakes import write_fake_benchmark
from tests.outputs import assert_lists_outputs

# A root of 8 archs (edges 0, 1, 2 have two ops each) split on edge 0 into two 4-arch leaves.
ROOT = Mask.from_op_lists(
    [
        ["skip_connect", "nor_conv_3x3"],
        ["nor_conv_1x1", "avg_pool_3x3"],
        ["skip_connect", "nor_conv_3x3"],
        ["nor_conv_3x3"],
        ["skip_connect"],
        ["nor_conv_1x1"],
    ]
)
SYNTHETIC = ["--dataset", "synthetic", "--data-option", "image_size=8"]
SYNTHETIC += ["--data-option", "num_train=40", "--data-option", "num_test=8"]
FAST = [*SYNTHETIC, "--batch-size", "8", "--C", "4", "--N", "1", "--accelerator", "cpu"]
FAST += ["--devices", "1", "--no-progress-bar", "--calib-batches", "1", "--search-k", "8"]


def _true_accuracy(arch: Arch) -> float:
    """A made-up benchmark: more 3x3 convolutions, higher accuracy (all values distinct)."""
    return (
        50.0
        + sum((i + 1) * (op == "nor_conv_3x3") for i, op in enumerate(arch.ops))
        + (0.5 * (arch.ops[1] == "avg_pool_3x3"))
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path)


def write_run(tmp_path: Path) -> Path:
    """``tmp_path/run/tree.json``: :data:`ROOT` split on edge 0 into two leaves."""
    tree = SplitTree(metric="snip", seed=0, dataset="synthetic", config={"C": 4, "N": 1})
    tree.add_root(ROOT)
    ops = ROOT.ops(0)
    tree.apply_split(0, Split(0, ops, (ops[:1], ops[1:]), ((0.0, 1.0), (1.0, 0.0)), cut=1.0))
    tree.complete = True
    tree.save(tmp_path / "run" / "tree.json")
    return tmp_path / "run"


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    entries = {a.to_string(): {"cifar10": [_true_accuracy(a)]} for a in ROOT.archs()}
    return write_fake_benchmark(tmp_path / "bench", entries)


def test_fast_dev_run_trains_every_leaf_and_one_shot_then_evaluates(run_dir, bench_dir, capsys):
    argv = [str(run_dir), *FAST, "--fast-dev-run", "--one-shot", "--benchmark", str(bench_dir)]
    argv += ["--benchmark-dataset", "cifar10"]  # synthetic data: judging is forced
    assert main(argv) == 0
    out = run_dir / "fast_dev_run"
    for job in ("leaves/1", "leaves/2", "oneshot"):
        done = json.loads((out / job / "done.json").read_text())
        assert done["fast_dev_run"] and done["global_step"] == 1, job
        assert (out / job / "weights.pt").is_file()
    assert not (run_dir / "leaves").exists()  # a smoke test never touches the real run
    assert not list(out.glob("**/*.ckpt"))  # nor leaves a checkpoint to resume from

    result = json.loads((out / "search.json").read_text())
    few, one = result["searches"]["few-shot"], result["searches"]["one-shot"]
    leaves = few["leaves"]
    # a fast dev run's search is a smoke test: FAST_DEV_ARCHS of each leaf's 4 archs
    assert sorted(leaves) == ["1", "2"]
    assert all(v["num_scored"] == FAST_DEV_ARCHS for v in leaves.values())
    for leaf in leaves.values():
        predicted = [s["predicted"] for s in leaf["scored"]]
        assert predicted == sorted(predicted, reverse=True)
        assert leaf["best"] == leaf["scored"][0]
        assert all(
            Arch.from_string(s["arch"]) in Mask.from_op_lists(leaf["mask"]) for s in leaf["scored"]
        )
    best_leaf = max(leaves, key=lambda k: leaves[k]["best"]["predicted"])
    assert few["best"] == {"leaf": best_leaf, **leaves[best_leaf]["best"]}
    # the one-shot baseline is the root (depth 0) and scores the same archs as the leaves
    assert one["leaves"]["oneshot"]["mask"] == ROOT.to_op_lists()
    assert {s["arch"] for s in one["leaves"]["oneshot"]["scored"]} == {
        s["arch"] for leaf in leaves.values() for s in leaf["scored"]
    }

    ev = result["evaluation"]
    space_best = max(ROOT.archs(), key=_true_accuracy)
    for name in ("few-shot", "one-shot"):
        assert ev[name]["space_optimum"]["arch"] == space_best.to_string()
        chosen = ev[name]["overall"]["chosen"]
        true = _true_accuracy(Arch.from_string(chosen["arch"]))
        assert chosen["true"] == pytest.approx(true)
        assert ev[name]["overall"]["regret_space"] == pytest.approx(
            _true_accuracy(space_best) - true
        )
    for leaf_id, leaf in ev["few-shot"]["leaves"].items():
        mask = Mask.from_op_lists(leaves[leaf_id]["mask"])
        leaf_best = max(_true_accuracy(a) for a in mask.archs())
        assert leaf["leaf_optimum"]["true"] == pytest.approx(leaf_best)
        assert leaf["regret_leaf"] == pytest.approx(leaf_best - leaf["chosen"]["true"])
        assert all(
            a["true"] == pytest.approx(_true_accuracy(Arch.from_string(a["arch"])))
            for a in leaf["archs"]
        )
        free = ev[name]["free_baseline"]  # the archs ranked by their convolutions
        scored = sorted(a["arch"] for leaf in ev[name]["leaves"].values() for a in leaf["archs"])
        convs = [Arch.from_string(a).ops.count("nor_conv_3x3") + Arch.from_string(a).ops.count(
            "nor_conv_1x1") for a in scored]  # fmt: skip
        true = [_true_accuracy(Arch.from_string(a)) for a in scored]
        assert free["num_scored"] == len(scored)
        assert free["kendall_tau"] == pytest.approx(stats.kendalltau(convs, true).statistic)
        assert free["chosen"]["arch"] == scored[convs.index(max(convs))]
    printed = capsys.readouterr().out
    assert "few-shot" in result["table"] and "one-shot" in printed
    assert "| free: convs | - |" in result["table"] and "ranked by convs (no training)" in printed
    # which benchmark judged the run, the closing table and the paths of what was written
    assert result["benchmark"] == {"path": str(bench_dir.resolve()), "dataset": "cifar10"}
    assert f"judged by {bench_dir.resolve()}" in printed and "| held-out % |" in printed
    assert "warning: judged against cifar10 accuracy although the data (synthetic)" in printed
    files = [out / "train_config.yaml", out / "search.json", out / "leaves/1", out / "oneshot"]
    assert_lists_outputs(printed, files, [out / "search.png"])


def test_a_folder_of_other_classes_is_not_judged_against_cifar10(tmp_path, bench_dir, capsys):
    """Bring your own data: a folder of cat, dog and frog is not CIFAR-10, so a benchmark at
    hand does not judge it (no true accuracy, tau or regret), and the table says why."""
    from tests.fakes import write_image_folder

    data = write_image_folder(tmp_path / "pets", classes=("cat", "dog", "frog"), size=8)
    run_dir = write_run(tmp_path)
    fast = FAST[len(SYNTHETIC) :]
    argv = [str(run_dir), *fast, "--fast-dev-run", "--benchmark", str(bench_dir)]
    argv += ["--dataset", "folder", "--data-root", str(data), "--image-size", "8"]
    assert main(argv) == 0
    result = json.loads((run_dir / "fast_dev_run" / "search.json").read_text())
    assert result["benchmark"] is None and "evaluation" not in result
    printed = capsys.readouterr().out
    assert "not judged: the data is not the benchmark's" in printed
    assert "judged by" not in printed and "Kendall tau" not in printed


def test_leaf_option_trains_only_that_leaf(run_dir):
    assert main([str(run_dir), *FAST, "--fast-dev-run", "--leaf", "2", "--no-search"]) == 0
    out = run_dir / "fast_dev_run"
    assert (out / "leaves/2/done.json").is_file() and not (out / "leaves/1").exists()
    assert not (out / "search.json").exists()


def test_fast_dev_run_searches_a_few_archs_with_one_batch_each(run_dir, monkeypatch):
    """Lightning's "one batch of everything" includes the search: not --search-k archs with
    --calib-batches calibration batches and every held-out batch (minutes on a busy CPU)."""
    seen: list[tuple[int, int, int]] = []
    real = pipeline.search_leaf

    def spy(model, archs, calib, val, **kwargs):
        seen.append((len(archs), len(calib), len(val)))
        return real(model, archs, calib, val, **kwargs)

    monkeypatch.setattr(pipeline, "search_leaf", spy)
    flags = ["--search-k", "100", "--calib-batches", "10", "--fast-dev-run"]
    assert main([str(run_dir), *FAST, *flags]) == 0
    assert seen == [(FAST_DEV_ARCHS, 1, 1)] * 2  # two leaves
    # without --fast-dev-run the same flags score every arch of a leaf with 10 batches
    seen.clear()
    assert main([str(run_dir), *FAST, "--search-k", "100", "--calib-batches", "10",
                 "--epochs", "1", "--limit-train-batches", "1"]) == 0  # fmt: skip
    assert [s[:2] for s in seen] == [(4, 5), (4, 5)]  # 40 images / batch 8: 5 batches


def test_held_out_batch_regroups_the_search_batches_and_changes_no_score(run_dir, monkeypatch):
    """``--held-out-batch`` scores every arch on the whole held-out set in one forward (what a
    GPU wants); eval mode, so search.json is the same as with the data module's batches."""
    seen: list[list[int]] = []
    real = pipeline.search_leaf

    def spy(model, archs, calib, val, **kwargs):
        seen.append([len(y) for _, y in val])
        return real(model, archs, calib, val, **kwargs)

    monkeypatch.setattr(pipeline, "search_leaf", spy)
    flags = [*FAST, "--epochs", "1", "--limit-train-batches", "1", "--val-fraction", "0.5"]
    assert main([str(run_dir), *flags]) == 0
    first = json.loads((run_dir / "search.json").read_text())["searches"]
    (run_dir / "search.json").unlink()  # else the finished run is reported, not searched again
    assert main([str(run_dir), *flags, "--held-out-batch", "1000"]) == 0  # resumes: speed only
    again = json.loads((run_dir / "search.json").read_text())["searches"]
    assert seen == [[8, 8, 4]] * 2 + [[20]] * 2  # 20 held out: batches of 8, then one forward
    assert again == first


def test_threads_option_sets_torch_and_child_process_threads(run_dir, monkeypatch):
    """``--threads`` pins torch's CPU threads, and OMP_NUM_THREADS for processes Lightning
    launches (its DDP launchers otherwise set one thread per core, oversubscribing)."""
    import torch

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    try:
        flags = ["--fast-dev-run", "--no-search", "--leaf", "1", "--threads", "1"]
        assert main([str(run_dir), *FAST, *flags]) == 0
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


def test_unknown_leaf_is_a_usage_error(run_dir, capsys):
    assert main([str(run_dir), *FAST, "--leaf", "0"]) == 2
    assert "not leaves of the tree" in capsys.readouterr().err


def test_space_is_the_trees_and_another_is_refused(run_dir, capsys):
    """The tree's space is authoritative: recorded when --space is not given, the same name
    accepted, another refused (exit 2, one line naming both)."""
    assert parse_config(TrainConfig, [str(run_dir)]).space == "nb201"
    assert parse_config(TrainConfig, [str(run_dir), "--space", "nb201"]).space == "nb201"
    from fewshot.spaces import base

    class OtherSpace(base.SearchSpace):  # a second space, registered for this test only
        ops = ("a", "b")
        positions = ("p0",)
        arch_type = mask_type = None  # never built

        def parse_arch(self, text):
            raise ValueError(text)

        def format_arch(self, arch):
            return ""

        def build_supernet(self, **kwargs):
            raise NotImplementedError

        def build_network(self, arch, **kwargs):
            raise NotImplementedError

    other = OtherSpace()
    other.name = "other-test-space"
    base.SPACES.register(other.name, other)
    try:
        assert main([str(run_dir), *FAST, "--space", other.name]) == 2
    finally:
        base.SPACES._items.pop(other.name, None)
    err = capsys.readouterr().err
    assert "--space other-test-space" in err and "'nb201'" in err and len(err.splitlines()) == 1


class _Stop(Exception):
    pass


def test_hardware_flags_reach_the_trainer(run_dir, monkeypatch):
    import pytorch_lightning as pl

    seen = {}

    def fake_trainer(**kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(pl, "Trainer", fake_trainer)
    hw = ["--accelerator", "gpu", "--devices", "0,1", "--strategy", "ddp", "--num-nodes", "3"]
    with pytest.raises(_Stop):
        main([str(run_dir), *SYNTHETIC, "--precision", "bf16-mixed", *hw, "--epochs", "7"])
    assert seen["accelerator"] == "gpu" and seen["devices"] == [0, 1] and seen["num_nodes"] == 3
    # a single path leaves most ops unused in a step: DDP must be told
    assert seen["strategy"] == "ddp_find_unused_parameters_true"
    assert seen["precision"] == "bf16-mixed" and seen["max_epochs"] == 7
    assert seen["gradient_clip_val"] == 5.0


def test_configs_train_yaml_states_the_parser_defaults():
    """configs/train.yaml documents the real defaults (the spec's) and is a valid --config."""
    path = REPO_ROOT / "configs" / "train.yaml"
    config = yaml.safe_load(path.read_text())
    defaults = to_dict(TrainConfig())
    assert set(config) <= set(defaults)
    assert {k: defaults[k] for k in config} == config
    spec = {"lr": 0.025, "lr_min": 0.001, "momentum": 0.9, "weight_decay": 5e-4}
    assert (
        {k: config[k] for k in spec} == spec
        and config["grad_clip"] == 5
        and config["batch_size"] == 64
    )


def test_yaml_overrides_defaults_and_flags_override_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\nlr: 0.1\nstrategy: ddp\n")
    argv = ["run", "--config", str(path), "--epochs", "9"]
    args = parse_config(TrainConfig, argv, resolve=False)
    assert (args.epochs, args.lr, args.strategy, args.momentum) == (9, 0.1, "ddp", 0.9)


def test_rerun_resumes_same_config_refuses_a_changed_one_and_force_starts_over(run_dir, capsys):
    base = [str(run_dir), *FAST, "--leaf", "1", "--no-search", "--limit-train-batches", "2"]
    assert main([*base, "--epochs", "1"]) == 0
    leaf = run_dir / "leaves" / "1"
    first = (leaf / "done.json").read_text()
    assert json.loads(first)["metrics"]  # the final training metrics
    assert main([*base, "--epochs", "1", "--threads", "1"]) == 0  # run-only flags may change
    assert (leaf / "done.json").read_text() == first  # a finished leaf is not trained again
    capsys.readouterr()

    assert main([*base, "--epochs", "2", "--lr", "0.05"]) == 2
    err = capsys.readouterr().err
    assert "epochs: 1 -> 2" in err and "lr: 0.025 -> 0.05" in err and "--force" in err
    saved = yaml.safe_load((run_dir / "train_config.yaml").read_text())
    assert saved["epochs"] == 1  # not overwritten by the refused run

    assert main([*base, "--epochs", "2", "--force"]) == 0
    done = json.loads((leaf / "done.json").read_text())
    assert done["epochs"] == 2 and done["global_step"] == 4 and done["resumed_from"] is None
    assert [json.loads(x)["epoch"] for x in (leaf / "metrics.jsonl").open()] == [1, 2]
    saved = yaml.safe_load((run_dir / "train_config.yaml").read_text())
    assert saved["epochs"] == 2 and saved["jobs"] == ["1"]


def test_threads_are_recorded_and_a_leaf_resumed_under_others_is_refused(run_dir, capsys):
    """The thread count changes results (issue 31): the run's configuration records the count
    in effect, each leaf its own; a killed leaf resumed under another count exits 2, one line."""
    import torch

    before = torch.get_num_threads()
    base = [str(run_dir), *FAST, "--leaf", "1", "--no-search", "--epochs", "1"]
    try:
        assert main([*base, "--threads", "1"]) == 0
        saved = yaml.safe_load((run_dir / "train_config.yaml").read_text())
        assert (saved["compute"]["device"], saved["compute"]["threads"]) == ("cpu", 1)
        assert saved["threads"] == 1
        leaf = run_dir / "leaves" / "1"
        assert json.loads((leaf / "compute.json").read_text())["threads"] == 1
        (leaf / "done.json").unlink()  # as if killed after its last checkpoint
        capsys.readouterr()
        assert main([*base, "--threads", "2"]) == 2
        err = capsys.readouterr().err.strip()
        assert "threads: 1 -> 2" in err and "--threads" in err and len(err.splitlines()) == 1
        assert main([*base, "--threads", "1"]) == 0  # the recorded count finishes it
        assert json.loads((leaf / "done.json").read_text())["compute"]["threads"] == 1
    finally:
        torch.set_num_threads(before)


def test_print_config_resolves_from_the_tree_and_round_trips(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main([str(run_dir), "--device", "cpu", "--one-shot", "--epochs", "3", "--print-config"])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    data = yaml.safe_load(printed)
    assert (data["C"], data["N"], data["dataset"]) == (4, 1, "synthetic")  # from the tree
    assert (data["accelerator"], data["devices"]) == ("cpu", "auto")  # from --device
    assert data["one_shot_epochs"] == 6 and data["tree"] == str(run_dir / "tree.json")
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    assert to_dict(parse_config(TrainConfig, ["--config", str(path)])) == data


def test_device_maps_to_lightning_and_explicit_flags_win(run_dir):
    def resolved(*flags):
        return parse_config(TrainConfig, [str(run_dir), *flags])

    gpu1 = resolved("--device", "cuda:1")
    assert (gpu1.accelerator, parse_devices(gpu1.devices)) == ("gpu", [1])  # GPU 1, not 1 GPU
    cfg = resolved("--device", "cuda", "--accelerator", "cpu", "--devices", "2")
    assert (cfg.accelerator, cfg.devices) == ("cpu", "2")


def test_gpu_options_are_flags_recorded_and_change_nothing_by_default(run_dir):
    from fewshot.config import config_difference
    from fewshot.train import _hardware, _train_settings

    default = parse_config(TrainConfig, [str(run_dir), "--batch-size", "128"])
    hw, settings = _hardware(default), _train_settings(default, 10)
    assert (hw.precision, hw.channels_last, hw.compile) == (None, False, False)
    assert (settings.lr, settings.lr_min) == (0.025, 0.001)  # no scaling unless asked
    saved_before = {k: v for k, v in to_dict(default).items()
                    if k not in ("channels_last", "compile", "lr_scaling")}  # fmt: skip
    assert config_difference(saved_before, default) == []  # older run folders still resume

    flags = ["--precision", "bf16-mixed", "--channels-last", "--compile", "--threads", "2",
             "--lr-scaling", "linear", "--batch-size", "128"]  # fmt: skip
    fast = parse_config(TrainConfig, [str(run_dir), *flags])
    hw, settings = _hardware(fast), _train_settings(fast, 10)
    assert (hw.precision, hw.channels_last, hw.compile, hw.threads) == ("bf16-mixed", True, True, 2)
    assert (settings.lr, settings.lr_min) == (pytest.approx(0.05), pytest.approx(0.002))
    saved = to_dict(fast)
    assert saved["precision"] == "bf16-mixed" and saved["channels_last"] and saved["compile"]
    assert saved["lr_scaling"] == "linear" and saved["lr"] == 0.025  # the rule and the base lr
    assert "lr_scaling: 'none' -> 'linear'" in "; ".join(config_difference(to_dict(default), fast))


def test_image_size_and_the_resolved_data_path_are_recorded(run_dir, capsys):
    """``--image-size`` reaches the data and train_config.yaml, changing it refuses a resume
    (the same size given as a data option resumes), and the data path ``auto`` chose is saved."""
    from fewshot.train import _make_datamodule

    data = [
        "--dataset",
        "synthetic",
        "--data-option",
        "num_train=40",
        "--data-option",
        "num_test=8",
    ]
    base = [str(run_dir), *data, *FAST[len(SYNTHETIC) :], "--leaf", "1", "--no-search",
            "--limit-train-batches", "1", "--epochs", "1"]  # fmt: skip
    assert main([*base, "--image-size", "16"]) == 0
    saved = yaml.safe_load((run_dir / "train_config.yaml").read_text())
    assert saved["image_size"] == 16 and saved["data_option"]["image_size"] == 16
    assert saved["resolved_data_path"] == "tensor"
    dm = _make_datamodule(parse_config(TrainConfig, [*base, "--image-size", "16"]))
    assert next(iter(dm.train_dataloader()))[0].shape[-2:] == (16, 16)
    capsys.readouterr()

    assert main([*base, "--image-size", "8"]) == 2
    assert "'image_size': 16" in capsys.readouterr().err
    assert main([*base, "--data-option", "image_size=16"]) == 0  # one setting, two spellings
    assert main([*base, "--image-size", "16", "--data-option", "image_size=8"]) == 2
    assert "disagree" in capsys.readouterr().err

    loader = [*base, "--image-size", "16", "--data-option", "data_path=loader", "--force"]
    assert main(loader) == 0
    saved = yaml.safe_load((run_dir / "train_config.yaml").read_text())
    assert saved["resolved_data_path"] == "loader"


def test_the_same_command_twice_reports_the_finished_run(run_dir, capsys):
    """Every leaf trained and searched with these settings: the second run trains and searches
    nothing and prints the same closing table; another search setting searches again."""
    argv = [str(run_dir), *FAST, "--epochs", "1", "--limit-train-batches", "2"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    search = run_dir / "search.json"
    stamp = search.stat().st_mtime_ns
    assert (run_dir / "curves.png").stat().st_size > 5000  # the leaves' training curves
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "already finished (same settings)" in again and search.stat().st_mtime_ns == stamp
    table = first[first.index("| search") :]
    assert table in again  # the same closing table and files
    assert main([*argv, "--search-k", "2"]) == 0  # a new search of the trained leaves
    assert "already finished" not in capsys.readouterr().out
    assert search.stat().st_mtime_ns != stamp


def test_pack_trains_every_leaf_and_one_shot_then_searches(run_dir, bench_dir, capsys):
    """``--pack``: the leaves and the one-shot baseline (same epochs) in one pack; every job
    folder has the files a training alone writes, and the search reads them."""
    flags = [*FAST, "--epochs", "2", "--one-shot", "--one-shot-epochs", "2", "--pack",
             "--benchmark", str(bench_dir), "--threads", "1"]  # fmt: skip
    assert main([str(run_dir), *flags]) == 0
    for job in ("leaves/1", "leaves/2", "oneshot"):
        done = json.loads((run_dir / job / "done.json").read_text())
        assert done["epochs"] == 2 and done["pack"]["size"] == 3
        assert (run_dir / job / "weights.pt").is_file()
        assert len((run_dir / job / "metrics.jsonl").read_text().splitlines()) == 2
    assert (run_dir / "pack" / "epochs2" / "pack.ckpt").is_file()
    search = json.loads((run_dir / "search.json").read_text())
    assert set(search["searches"]) == {"few-shot", "one-shot"}
    assert main([str(run_dir), *flags]) == 0  # finished: nothing trained again


def test_pack_refuses_options_of_lightnings_loop(run_dir, capsys):
    assert main([str(run_dir), *FAST, "--pack", "--fast-dev-run"]) == 2
    assert "--pack trains the jobs together" in capsys.readouterr().err


def test_sampling_rule_is_recorded_and_a_resume_with_another_is_refused(run_dir, capsys):
    base = [str(run_dir), *FAST, "--leaf", "1", "--no-search", "--limit-train-batches", "2"]
    assert main([*base, "--epochs", "1", "--sampling", "fairnas"]) == 0
    saved = yaml.safe_load((run_dir / "train_config.yaml").read_text())
    assert saved["sampling"] == "fairnas"
    capsys.readouterr()
    assert main([*base, "--epochs", "1", "--sampling", "sandwich"]) == 2
    assert "sampling: 'fairnas' -> 'sandwich'" in capsys.readouterr().err
    assert main([*base, "--epochs", "1", "--sampling", "fair"]) == 2
    assert "fair" in capsys.readouterr().err


def test_a_config_saved_before_sampling_resumes_as_uniform(run_dir):
    base = [str(run_dir), *FAST, "--leaf", "1", "--no-search", "--limit-train-batches", "2"]
    assert main([*base, "--epochs", "1"]) == 0
    path = run_dir / "train_config.yaml"
    saved = yaml.safe_load(path.read_text())
    assert saved.pop("sampling") == "uniform"
    path.write_text(yaml.safe_dump(saved))  # as written before --sampling existed
    assert main([*base, "--epochs", "1"]) == 0


def test_steps_per_call_is_recorded_changes_no_result_and_may_change_on_resume(tmp_path, capsys):
    """``--steps-per-call`` (fused steps) is not a result setting: another value trains the same
    weights, is recorded in the leaf's ``done.json``, and a resume may change it."""
    import torch

    def train(name: str, steps: int, epochs: int = 2) -> Path:
        run = write_run(tmp_path / name)
        args = [str(run), *FAST, "--leaf", "1", "--no-search", "--epochs", str(epochs)]
        assert main([*args, "--steps-per-call", str(steps)]) == 0
        return run / "leaves" / "1"

    one, three = train("one", 1), train("three", 3)  # 5 batches an epoch: chunks of 3 and 2
    assert json.loads((three / "done.json").read_text())["steps_per_call"] == 3
    wa = torch.load(one / "weights.pt", weights_only=True)
    wb = torch.load(three / "weights.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    run = tmp_path / "three" / "run"
    again = [str(run), *FAST, "--leaf", "1", "--no-search", "--epochs", "2"]
    assert main([*again, "--steps-per-call", "5"]) == 0  # finished: not refused, not retrained
    capsys.readouterr()
    assert main([*again, "--steps-per-call", "0"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
