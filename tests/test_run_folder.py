"""The run-folder contract (fewshot.run_folder): result-affecting fields derived from the
configuration dataclasses (paths never count), old keys migrated, paths saved relative to the
run folder, and moved run folders that resume (issue 23)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from fewshot.config import make_config, result_fields
from fewshot.experiments.few_vs_one_shot import FewVsOneShotConfig
from fewshot.run_folder import (
    keep_run_config,
    load_run_config,
    migrate,
    relative_paths,
    run_name,
    save_run_config,
    tree_path,
)
from fewshot.splitting.run import SplitConfig
from fewshot.splitting.tree import load_tree
from fewshot.train import TrainConfig
from fewshot.train import main as train_main
from tests.splitting.test_split_cli import main as split_main
from tests.splitting.test_split_cli import split_args
from tests.training.test_train_cli import FAST, write_run

RUN_ONLY = {"device", "threads", "no_progress", "verbose"}


def test_split_result_fields_exclude_paths_and_run_bookkeeping():
    fields = set(result_fields(SplitConfig))
    assert {"metric", "seed", "C", "N", "depth", "branch", "recipe", "dataset"} <= fields
    assert not {"out", "name", "data_root", "resume", "max_splits"} & fields
    assert not RUN_ONLY & fields


def test_train_result_fields_exclude_paths_executor_and_progress():
    fields = set(result_fields(TrainConfig))
    assert {"epochs", "seed", "C", "N", "lr", "batch_size", "dataset"} <= fields
    assert not {"run_dir", "tree", "data_root", "benchmark"} & fields
    assert not {"executor", "workers", "ray_address", "gpus_per_task", "num_workers"} & fields
    assert not RUN_ONLY & fields


def test_experiment_result_fields_exclude_its_folders():
    fields = set(result_fields(FewVsOneShotConfig))
    assert {"epochs", "metrics", "depths", "C", "N", "sample"} <= fields
    assert not {"out", "trees", "results", "data_root", "benchmark"} & fields


def test_sweep_layout_and_old_keys():
    assert run_name("snip", 3) == "snip_s3"
    assert tree_path(Path("runs"), "gm", 0) == Path("runs/gm_s0/tree.json")
    assert migrate({"dataset_option": {"k": 1}, "seed": 0}) == {"data_option": {"k": 1}, "seed": 0}
    assert migrate({"data_option": None}) == {"data_option": {}}


def test_paths_inside_the_run_folder_are_saved_relative(tmp_path):
    run = tmp_path / "run"
    inside = relative_paths(
        {"run_dir": str(run), "tree": str(run / "tree.json"), "data_root": "/data/cifar"}, run
    )
    assert inside == {"run_dir": ".", "tree": "tree.json", "data_root": "/data/cifar"}
    config = make_config(TrainConfig, {"run_dir": run, "tree": run / "t.json"}, resolve=False)
    save_run_config(run, config, "c.yaml", extra={"jobs": ["1"]})
    saved = yaml.safe_load((run / "c.yaml").read_text())
    assert saved["run_dir"] == "." and saved["tree"] == "t.json" and saved["jobs"] == ["1"]


def test_keep_run_config_refuses_changed_results_but_not_moved_paths(tmp_path):
    old, new = tmp_path / "a", tmp_path / "b"
    values = {"run_dir": old, "epochs": 2}
    keep_run_config(old, make_config(TrainConfig, values, resolve=False), "c.yaml")
    shutil.copytree(old, new)
    moved = make_config(TrainConfig, {"run_dir": new, "epochs": 2, "threads": 3}, resolve=False)
    assert keep_run_config(new, moved, "c.yaml")["epochs"] == 2
    changed = make_config(TrainConfig, {"run_dir": new, "epochs": 3}, resolve=False)
    try:
        keep_run_config(new, changed, "c.yaml")
    except Exception as exc:
        assert "epochs: 2 -> 3" in str(exc) and "run_dir" not in str(exc)
    else:
        raise AssertionError("a changed epoch count was accepted")


def test_a_moved_split_run_folder_resumes_to_the_same_tree(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert split_main(split_args(first, "--max-splits", "1")) == 0
    shutil.copytree(first, second)
    assert split_main(split_args(second, "--resume")) == 0
    assert split_main(split_args(first, "--resume")) == 0
    moved, stayed = load_tree(second / "snip-d2-b2-s0"), load_tree(first / "snip-d2-b2-s0")
    assert moved.complete
    assert [n.to_dict() for n in moved.nodes] == [n.to_dict() for n in stayed.nodes]


def test_train_on_a_copied_run_folder_is_accepted_and_changes_are_refused(tmp_path, capsys):
    original = write_run(tmp_path)
    limits = ["--limit-train-batches", "2", "--no-search"]
    flags = [*FAST, "--epochs", "1", *limits]
    assert train_main([str(original), *flags]) == 0
    copy = tmp_path / "elsewhere" / "run"
    shutil.copytree(original, copy)
    saved = load_run_config(copy, "train_config.yaml")
    assert saved["run_dir"] == "." and saved["tree"] == "tree.json"
    stamps = sorted(p.stat().st_mtime_ns for p in copy.rglob("weights.pt"))
    assert train_main([str(copy), *flags]) == 0  # moved: resumes (nothing left to train)
    assert sorted(p.stat().st_mtime_ns for p in copy.rglob("weights.pt")) == stamps
    capsys.readouterr()
    assert train_main([str(copy), *FAST, "--epochs", "2", *limits]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "epochs: 1 -> 2" in err and "run_dir" not in err


def test_a_result_written_before_an_option_existed_is_finished_at_its_default(tmp_path, capsys):
    """``finished``: a results file whose recorded configuration lacks an option added since
    counts it at its default (finished when the run asks for the default, not otherwise)."""
    import json

    from fewshot.config import to_dict
    from fewshot.run_folder import finished

    config = make_config(FewVsOneShotConfig, {"benchmark": tmp_path / "acc.csv",
                                              "benchmark_dataset": "cifar10"})  # fmt: skip
    recorded = json.loads(json.dumps(to_dict(config), default=str))
    del recorded["efs_nas"]
    result = tmp_path / "results.json"
    result.write_text(json.dumps({"config": recorded}))
    assert finished(tmp_path, result, config)
    assert "already finished" in capsys.readouterr().out
    config.efs_nas = True
    assert not finished(tmp_path, result, config)
    recorded["sample"] = 99  # a recorded value that differs still counts
    config.efs_nas = False
    result.write_text(json.dumps({"config": recorded}))
    assert not finished(tmp_path, result, config)
