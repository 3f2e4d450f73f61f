"""``tools/sweep.py --executor ray``: the same trees as the default (forking) executor; a run
that fails is named while the others finish; finished runs are skipped when run again."""

from __future__ import annotations

import json

import pytest

from fewshot.config import parse_config
from fewshot.experiments import consistency as sweep

TINY = ["--seeds", "2", "--C", "4", "--N", "1", "--depth", "1", "--dataset", "synthetic"]
TINY += ["--data-option", "image_size=8", "--batch-size", "8", "--no-analysis"]


def _tree(path) -> dict:
    """A tree file without its timings and output folder (the parts that may differ)."""
    tree = json.loads(path.read_text())
    tree.pop("timings", None)
    tree["config"].pop("out")  # the runs folder
    return tree


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory):
    """The reference: snip x 2 seeds split by the commands the default executor runs (each
    fork calls ``fewshot.split``'s ``main`` with them); here in-process, so that no fork is
    made beside the test session's Ray threads."""
    from fewshot.split import main as split_main

    runs = tmp_path_factory.mktemp("local") / "runs"
    args = parse_config(sweep.SweepConfig, ["--metrics", "snip", *TINY, "--runs", str(runs)])
    for run in sweep.plan(args):
        assert split_main(sweep.split_command(args, run)[3:]) == 0
    return runs


def test_ray_sweep_writes_the_same_trees_and_names_a_failed_run(
    tmp_path, ray_session, local_runs, capsys
):
    runs = tmp_path / "runs"
    argv = ["--metrics", "snip,nope", *TINY, "--runs", str(runs), "--executor", "ray"]
    assert sweep.main([*argv, "--workers", "2"]) == 1  # metric 'nope' does not exist
    err = capsys.readouterr().err
    assert "nope_s0: CommandFailed: exit code 2" in err and "2 runs failed: nope_s0, nope_s1" in err
    assert "'nope'" in (runs / "logs" / "nope_s1.log").read_text()  # the split's own error
    for seed in (0, 1):
        name = f"snip_s{seed}/tree.json"
        assert _tree(runs / name) == _tree(local_runs / name)
    assert "2 leaves, 1 splits" in (runs / "logs" / "snip_s0.log").read_text()
    assert sweep.main(argv) == 1  # run again: the finished splits are skipped
    assert "4 runs: 2 finished, 2 to run" in capsys.readouterr().out


def test_a_run_is_configured_by_values_as_its_command_line_would_be(tmp_path):
    """The sweep builds each run's SplitConfig from values (no argv); it equals what the
    split command parses from the run's command line, --split-args included."""
    from fewshot.splitting.run import SplitConfig

    extra = "--init kaiming_fan_out --data-option size=3 --recipe-option bn_mode=train"
    argv = ["--metrics", "snip", *TINY, "--runs", str(tmp_path), "--split-args", extra]
    args = parse_config(sweep.SweepConfig, [*argv, "--device", "cpu"])
    for run in sweep.plan(args):
        job = sweep._task(args, run).item
        assert isinstance(job, sweep.SplitJob)
        expected = parse_config(SplitConfig, sweep.split_command(args, run)[3:])
        assert job.config() == expected
        assert expected.data_option == {"image_size": 8, "size": 3}


def test_the_default_sweep_writes_the_commands_trees(tmp_path, local_runs, capsys):
    """Runs in fresh processes (--no-fork: spawn, safe beside the session's threads) calling
    run_split with values: the same trees as the split command; a bad metric is exit 2."""
    runs = tmp_path / "runs"
    argv = ["--metrics", "snip,nope", *TINY, "--runs", str(runs), "--no-fork", "--jobs", "2"]
    assert sweep.main(argv) == 1
    out = capsys.readouterr()
    assert "nope_s1 FAILED (exit 2, see" in out.out and "2 runs failed: nope_s0, nope_s1" in out.err
    for seed in (0, 1):
        name = f"snip_s{seed}/tree.json"
        assert _tree(runs / name) == _tree(local_runs / name)
        assert (runs / f"snip_s{seed}" / "tree.png").is_file()
    log = (runs / "logs" / "snip_s0.log").read_text()
    assert log.startswith("$ ") and "2 leaves, 1 splits" in log


def test_a_finished_sweep_says_so_and_does_nothing(tmp_path, local_runs, capsys):
    """The same sweep again over complete trees: finished, exit 0, nothing written."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(local_runs, runs)
    argv = ["--metrics", "snip", *TINY, "--runs", str(runs)]
    assert sweep.main(argv) == 0  # every tree complete: records the sweep's settings
    assert "already finished" not in capsys.readouterr().out
    saved = (runs / "sweep_config.yaml").stat().st_mtime_ns
    assert sweep.main(argv) == 0
    assert "already finished (same settings)" in capsys.readouterr().out
    assert (runs / "sweep_config.yaml").stat().st_mtime_ns == saved
    assert sweep.main([*argv, "--batch-size", "4"]) == 0  # other settings: not finished
    assert "already finished" not in capsys.readouterr().out
