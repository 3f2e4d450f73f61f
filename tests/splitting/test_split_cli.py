"""``python -m fewshot.split`` in-process: run folder, tree file, resume, clear errors."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from fewshot.metrics.base import list_metrics
from fewshot.split import main
from fewshot.splitting.tree import load_tree
from tests.outputs import assert_lists_outputs

TINY = ["--C", "4", "--N", "1", "--batch-size", "8"]


def split_args(tmp_path, *extra: str, metric: str = "snip", dataset: str = "synthetic"):
    args = ["--metric", metric, "--depth", "2", "--branch", "2", *TINY, "--out", str(tmp_path)]
    if dataset:
        args += ["--dataset", dataset]
    return args + list(extra)


def nodes(run_dir):
    return [n.to_dict() for n in load_tree(run_dir / "tree.json").nodes]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run (snip, depth 2, seed 0) to compare resumed runs with."""
    out = tmp_path_factory.mktemp("ref")
    assert main(split_args(out)) == 0
    return out / "snip-d2-b2-s0"


def test_a_run_writes_the_tree_picture_and_config(reference, capsys):
    tree_file = reference / "tree.json"
    raw = json.loads(tree_file.read_text())
    for key in ("metric", "seed", "dataset", "config", "versions", "timings", "nodes"):
        assert key in raw
    assert raw["metric"] == "snip" and raw["seed"] == 0 and raw["dataset"] == "synthetic"
    assert raw["complete"] is True and raw["versions"]["torch"]
    assert raw["timings"]["forward_passes"] == raw["timings"]["candidates_scored"] == 15
    assert raw["timings"]["total_seconds"] > 0
    root = raw["nodes"][0]
    assert set(root) >= {"id", "parent", "depth", "mask", "split"}
    assert set(root["split"]) >= {"edge", "groups", "distance", "scores", "cut"}
    assert root["mask"] == [list(_ops())] * 6
    tree = load_tree(reference)
    assert len(tree.leaves()) == 4 and [s.edge for _, s in _splits(tree)] == [0, 1, 1]
    assert (reference / "tree.png").stat().st_size > 1000
    config = yaml.safe_load((reference / "config.yaml").read_text())
    assert config["metric"] == "snip" and config["C"] == 4 and config["edges"] == [0, 1, 2]


def test_the_summary_ends_with_the_run_folders_files(tmp_path, capsys):
    assert main(split_args(tmp_path, "--depth", "1")) == 0
    run = next(tmp_path.iterdir())
    files = [run / "tree.json", run / "config.yaml"]
    assert_lists_outputs(capsys.readouterr().out, files, [run / "tree.png"])


def _ops():
    from fewshot.spaces.nb201 import OPS

    return OPS


def _splits(tree):
    return [(n.id, n.split) for n in tree.nodes if n.split]


def test_max_splits_then_resume_equals_an_uninterrupted_run(tmp_path, reference, capsys):
    assert main(split_args(tmp_path, "--max-splits", "1")) == 0
    run = tmp_path / "snip-d2-b2-s0"
    partial = load_tree(run)
    assert not partial.complete and len(_splits(partial)) == 1
    assert "incomplete" in capsys.readouterr().err
    assert main(split_args(tmp_path, "--resume")) == 0
    assert nodes(run) == nodes(reference)
    resumed = load_tree(run)
    assert resumed.complete and resumed.timings["forward_passes"] == 15


@pytest.mark.parametrize("crash", [KeyboardInterrupt, RuntimeError])
def test_a_crash_leaves_a_resumable_run(tmp_path, reference, monkeypatch, crash, capsys):
    """The third edge evaluation dies (Ctrl-C or a bug): the finished splits survive."""
    import fewshot.splitting.engine as engine

    real, calls = engine.evaluate_edge, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise crash("simulated")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "evaluate_edge", dying)
    if crash is KeyboardInterrupt:
        assert main(split_args(tmp_path)) == 130
        assert "--resume" in capsys.readouterr().err
    else:
        with pytest.raises(RuntimeError, match="simulated"):
            main(split_args(tmp_path))
    run = tmp_path / "snip-d2-b2-s0"
    assert len(_splits(load_tree(run))) == 2 and not load_tree(run).complete
    monkeypatch.setattr(engine, "evaluate_edge", real)
    assert main(split_args(tmp_path, "--resume")) == 0
    assert nodes(run) == nodes(reference)


def test_the_same_command_twice_reports_the_finished_run(reference, capsys):
    out = reference.parent
    before = (reference / "tree.json").read_bytes()
    for extra in ([], ["--resume"]):
        assert main(split_args(out, *extra)) == 0  # finished: the summary, nothing redone
        assert "already finished" in capsys.readouterr().out
    assert (reference / "tree.json").read_bytes() == before


@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_other_settings_on_a_run_folder_are_refused(reference, capsys, resume):
    args = split_args(reference.parent, *resume, "--seed", "0", "--batches", "2")
    assert main(args) == 2
    assert "batches: 1 -> 2" in capsys.readouterr().err


def test_the_same_command_continues_an_interrupted_run(tmp_path, reference):
    assert main(split_args(tmp_path, "--max-splits", "1")) == 0
    assert main(split_args(tmp_path)) == 0  # no --resume needed
    assert nodes(tmp_path / "snip-d2-b2-s0") == nodes(reference)


def test_a_folder_without_a_tree_is_never_overwritten(tmp_path, capsys):
    run = tmp_path / "snip-d2-b2-s0"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert "holds no tree.json" in user_error(capsys, split_args(tmp_path))
    assert (run / "notes.txt").read_text() == "mine"


def user_error(capsys, args) -> str:
    """Run; expect exit code 2 and a one-line message without a traceback."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_unknown_metric_lists_the_known_ones(tmp_path, capsys):
    err = user_error(capsys, split_args(tmp_path, metric="snipp"))
    assert "--metric 'snipp' is not valid" in err
    assert all(name in err for name in list_metrics())
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--branch", "6"], "branch 6 > 5 ops on edge"),
        (["--depth", "0"], "--depth must be >= 1"),
        (["--branch", "1"], "--branch must be >= 2"),
        (["--edges", "0,7"], "--edges must list edges in 0..5"),
        (["--edge-policy", "random"], "--edge-policy 'random' is not valid; choose from: fixed"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--recipe", "darts"], "--recipe 'darts' is not valid; choose from: gm-nas, ly-manson"),
        (["--objective", "min-similarity"], "needs a similarity (a pairwise metric"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path, capsys, extra, message):
    assert message in user_error(capsys, split_args(tmp_path, *extra))


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    args = split_args(tmp_path, "--data-root", "/nonexistent", dataset="folder")
    err = user_error(capsys, args)
    assert "/nonexistent" in err
    assert not (tmp_path / "snip-d2-b2-s0" / "tree.json").exists()


def test_corrupt_tree_on_resume_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "snip-d2-b2-s0"
    run.mkdir()
    (run / "tree.json").write_text('{"format": "fewshot.split-tree", "version": 1, "nod')
    err = user_error(capsys, split_args(tmp_path, "--resume"))
    assert "tree.json" in err and "corrupt" in err
    (run / "tree.json").write_text('{"some": "other file"}')
    assert "not a fewshot split tree" in user_error(capsys, split_args(tmp_path, "--resume"))


def test_nothing_to_resume_is_a_clear_error(tmp_path, capsys):
    assert "nothing to resume" in user_error(capsys, split_args(tmp_path, "--resume"))


def test_default_data_falls_back_to_digits_offline(tmp_path, offline, caplog, monkeypatch):
    """No --dataset, CIFAR-10 absent, downloads forbidden: digits, said in the tree file."""
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "empty-cache"))
    args = split_args(tmp_path, "--depth", "1", dataset="")
    with caplog.at_level(logging.WARNING, logger="fewshot"):
        assert main(args) == 0
    assert "falling back to the bundled 'digits'" in caplog.text
    tree = load_tree(tmp_path / "snip-d1-b2-s0")
    assert tree.dataset == "digits" and tree.config["dataset"] == "digits"  # resolved
    assert main([*args, "--resume"]) == 0  # a resumed run keeps its data set
    assert main(args) == 0  # so does the same command run again


def test_print_config_resolves_the_data_set(offline, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FEWSHOT_DATA", str(tmp_path / "empty-cache"))
    with pytest.raises(SystemExit):
        main(["--metric", "snip", "--print-config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["dataset"] == "digits" and printed["batch_size"] == 16
    assert None not in (printed["C"], printed["N"], printed["edges"], printed["batches"])


def test_yaml_config_values_are_saved_into_the_run_folder(tmp_path, capsys):
    cfg = tmp_path / "split.yaml"
    cfg.write_text("metric: grad_norm\ndepth: 1\nbranch: 3\nseed: 5\nbalanced: true\nC: 4\nN: 1\n")
    args = ["--config", str(cfg), "--batch-size", "8", "--dataset", "synthetic"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    run = tmp_path / "grad_norm-d1-b3-s5"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert {k: saved[k] for k in ("metric", "depth", "branch", "seed", "balanced", "C", "N")} == {
        "metric": "grad_norm", "depth": 1, "branch": 3, "seed": 5, "balanced": True, "C": 4,
        "N": 1,
    }  # fmt: skip
    tree = load_tree(run)
    assert tree.seed == 5 and tree.config == saved
    assert sorted(len(g) for g in tree.nodes[0].split.groups) == [1, 2, 2]  # balanced, b=3


def test_print_config_shows_resolved_defaults(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--metric", "gm", "--print-config"])
    assert exc.value.code == 0
    assert "metric: gm" in capsys.readouterr().out


@pytest.mark.parametrize(
    "name",
    [
        "split.yaml",
        "split-gmnas.yaml",
        "split-quick.yaml",
        "split-ly-manson.yaml",
        "split-zero-cost-nas.yaml",
    ],
)
def test_bundled_configs_resolve(name, capsys):
    from tests.conftest import REPO_ROOT

    with pytest.raises(SystemExit) as exc:
        main(["--config", str(REPO_ROOT / "configs" / name), "--print-config"])
    assert exc.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["metric"] in list_metrics() and printed["depth"] >= 1


def test_config_records_image_size_and_the_resolved_data_path(tmp_path, monkeypatch):
    """The split's config.yaml records ``--image-size`` and the data path ``auto`` chose."""
    from fewshot.data import base
    from tests.fakes import write_image_folder

    root = write_image_folder(tmp_path / "imgs", per_class=4, size=8)
    folder = ["--dataset", "folder", "--data-root", str(root), "--depth", "1"]
    argv = [*split_args(tmp_path / "a", dataset=""), *folder, "--image-size", "16"]
    assert main(argv) == 0
    (config,) = (tmp_path / "a").glob("*/config.yaml")
    saved = yaml.safe_load(config.read_text())
    assert saved["image_size"] == 16 and saved["data_option"] == {"image_size": 16}
    assert saved["resolved_data_path"] == "tensor"
    monkeypatch.setattr(base, "TENSOR_PATH_MAX_BYTES", 0)  # the decoded set no longer fits
    assert main([*split_args(tmp_path / "b", dataset=""), *folder]) == 0
    (config,) = (tmp_path / "b").glob("*/config.yaml")
    assert yaml.safe_load(config.read_text())["resolved_data_path"] == "loader"


def test_a_data_free_split_reads_no_image_and_says_so(tmp_path, reference, monkeypatch):
    """synflow (data-free) splits CIFAR-100 from a folder that does not exist: only the class
    count and image size are used; the tree says data_free. A split that reads images (snip)
    writes no data_free key, and an older tree without it loads as not data-free."""
    import fewshot.data

    def no_images(*args, **kwargs):
        raise AssertionError("a data-free split drew scoring batches")

    monkeypatch.setattr(fewshot.data, "scoring_data", no_images)
    args = split_args(tmp_path, "--data-root", str(tmp_path / "absent"), metric="synflow",
                      dataset="cifar100")  # fmt: skip
    assert main([*args, "--depth", "1"]) == 0
    tree = load_tree(tmp_path / "synflow-d1-b2-s0")
    assert tree.data_free and tree.dataset == "cifar100" and tree.complete
    raw = json.loads((tmp_path / "synflow-d1-b2-s0" / "tree.json").read_text())
    assert raw["data_free"] is True
    snip = json.loads((reference / "tree.json").read_text())
    assert "data_free" not in snip and not load_tree(reference).data_free


def test_a_data_free_split_gives_the_tree_of_real_images(tmp_path):
    """The placeholder batch changes no value: synflow with the synthetic images read (the
    data-free path turned off) and without them give the same splits."""
    import fewshot.splitting.run as split_run

    assert main(split_args(tmp_path / "free", metric="synflow")) == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(split_run, "reads_no_images", lambda settings: False)
        assert main(split_args(tmp_path / "images", metric="synflow")) == 0
    free = load_tree(tmp_path / "free" / "synflow-d2-b2-s0")
    images = load_tree(tmp_path / "images" / "synflow-d2-b2-s0")
    assert free.data_free and not images.data_free
    assert [n.to_dict() for n in free.nodes] == [n.to_dict() for n in images.nodes]


def test_print_config_of_an_existing_run_names_its_data_set(reference, capsys, offline):
    args = split_args(reference.parent, dataset="")  # no --dataset: the run folder's
    with pytest.raises(SystemExit):
        main([*args, "--print-config"])
    assert yaml.safe_load(capsys.readouterr().out)["dataset"] == "synthetic"
