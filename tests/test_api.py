"""The Python API (``fewshot.split(...)``, ...) and its DataFrame loaders: the commands' files,
the commands' defaults, the command modules intact."""

from __future__ import annotations

import json
import pydoc
import subprocess
import sys

import pytest

import fewshot
from fewshot.errors import UsageError
from tests.conftest import REPO_ROOT
from tests.fakes import FAKE_ENTRIES, mean_accuracy

TINY = {"C": 4, "N": 1, "batch_size": 8, "dataset": "synthetic", "no_progress": True}


def test_help_lists_the_api():
    text = pydoc.render_doc(fewshot, renderer=pydoc.plaintext)
    for name in ("fewshot.split(", "fewshot.score(", "fewshot.train(", "fewshot.distance(",
                 "fewshot.search(", "load_scores", "load_leaves", "load_curves"):  # fmt: skip
        assert name in text, name


def test_the_command_modules_still_work_as_modules():
    from fewshot.split import SplitConfig, main

    assert callable(main) and SplitConfig().depth == 3
    assert callable(fewshot.split) and callable(fewshot.search) and callable(fewshot.distance)
    assert fewshot.split.__name__ == "fewshot.split" and fewshot.search.Oracle
    import inspect

    assert (
        str(inspect.signature(fewshot.split))
        == "(config: 'SplitConfig | None' = None, /, **options: 'Any') -> 'SplitResult'"
    )
    done = subprocess.run(
        [sys.executable, "-m", "fewshot.split", "--help"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "--metric" in done.stdout


def test_split_writes_the_commands_files_and_loads_as_frames(tmp_path, capsys):
    from fewshot.split import main

    run = fewshot.split(metric="snip", depth=2, out=tmp_path / "api", **TINY)
    argv = ["--metric", "snip", "--depth", "2", "--C", "4", "--N", "1", "--batch-size", "8",
            "--dataset", "synthetic", "--out", str(tmp_path / "cli")]  # fmt: skip
    assert main(argv) == 0
    cli_tree = json.loads((tmp_path / "cli" / "snip-d2-b2-s0" / "tree.json").read_text())
    api_tree = json.loads((run.run_dir / "tree.json").read_text())
    assert api_tree["nodes"] == cli_tree["nodes"]
    assert run.figure.is_file() and (run.run_dir / "config.yaml").is_file()
    leaves, splits = run.leaves(), run.splits()
    assert list(leaves["leaf"]) == [n.id for n in run.tree.leaves()]
    assert leaves["archs"].sum() == 15625
    assert len(splits) == 3 and set(splits["decided_by"]) <= {"value", "tie", "nonfinite"}
    assert (splits["edge"] == [0, 1, 1]).all()
    capsys.readouterr()
    again = fewshot.split(metric="snip", depth=2, out=tmp_path / "api", **TINY)
    assert again.run_dir == run.run_dir and "already finished" in capsys.readouterr().out


def test_a_config_object_with_overrides_and_clear_errors(tmp_path):
    base = fewshot.SplitConfig(metric="snip", depth=1, out=tmp_path)
    run = fewshot.split(base, **TINY, seed=3)
    assert run.config.seed == 3 and run.config.depth == 1 and run.run_dir.name == "snip-d1-b2-s3"
    with pytest.raises(UsageError, match="unknown keys \\['dpeth'\\].*'depth'"):
        fewshot.split(metric="snip", dpeth=2)
    with pytest.raises(UsageError, match="--metric 'snipp' is not valid"):
        fewshot.split(metric="snipp", **TINY)


def test_scores_with_the_benchmarks_accuracy_in_one_call(tmp_path, fake_benchmark):
    archs = list(FAKE_ENTRIES)
    result = fewshot.score(
        archs=archs, metrics=["snip", "synflow"], out=tmp_path / "score",
        benchmark=fake_benchmark.path, benchmark_dataset="cifar10",
        data_option={"image_size": 8}, **TINY,
    )  # fmt: skip
    frame = fewshot.load_scores(tmp_path / "score")
    assert list(frame["arch"]) == archs
    expected = [mean_accuracy(FAKE_ENTRIES, a, "cifar10") for a in archs]
    assert frame["accuracy"].tolist() == pytest.approx(expected)
    assert {"snip", "synflow", "index", "seconds", "error"} <= set(frame.columns)
    assert result.scores()["accuracy"].tolist() == pytest.approx(expected)
    assert set(result.correlations()["metric"]) == {"snip", "synflow"}


def test_scores_of_another_space_join_that_spaces_benchmark(tmp_path, fake_macro_benchmark):
    """A NAS-Bench-Macro score table keeps its 8-digit strings (leading zeros) and joins the
    macro benchmark's accuracy, read through the space's adapter."""
    from fewshot.spaces.macro import MacroBenchmark

    archs = ["01222211", "00000000", "22212220"]
    fewshot.score(
        space="nas-bench-macro", archs=archs, metrics="params", out=tmp_path / "m",
        benchmark=fake_macro_benchmark, benchmark_dataset="cifar10", C=4,
        data_option={"image_size": 8}, dataset="synthetic", threads=1, no_progress=True,
    )  # fmt: skip
    frame = fewshot.load_scores(tmp_path / "m")
    assert list(frame["arch"]) == archs
    bench = MacroBenchmark(fake_macro_benchmark)
    assert frame["accuracy"].tolist() == pytest.approx([bench.accuracy(a) for a in archs])


def test_scores_of_data_that_is_not_the_benchmarks_have_no_accuracy(tmp_path, fake_benchmark):
    fewshot.score(archs=list(FAKE_ENTRIES)[:2], metrics="snip", out=tmp_path / "s",
                  benchmark=fake_benchmark.path, data_option={"image_size": 8}, **TINY)  # fmt: skip
    frame = fewshot.load_scores(tmp_path / "s")
    assert "accuracy" not in frame.columns
    forced = fewshot.load_scores(tmp_path / "s", benchmark_dataset="cifar10")
    assert forced["accuracy"].notna().all()


def test_distance_table_has_a_row_per_metric_kind_and_level(tmp_path):
    runs = [fewshot.split(metric="snip", depth=2, seed=s, out=tmp_path, **TINY) for s in (0, 1)]
    result = fewshot.distance(*runs, out=tmp_path / "d", no_plots=True)
    table = result.table()
    assert set(table["kind"]) == {"internal", "external"} and set(table["level"]) == {0, 1, 2}
    overall = table[(table.kind == "external") & (table.level == 0)].iloc[0]
    assert overall["mean"] == pytest.approx(result.report.metrics["snip"].external.mean)
    assert overall["pairs"] == 9
    assert table[(table.kind == "internal") & (table.level == 1)]["mean"].isna().all()  # "-"


def test_train_returns_the_search_per_arch_and_the_curves(tmp_path):
    run = fewshot.split(metric="snip", depth=1, out=tmp_path, **TINY)
    trained = fewshot.train(
        run, epochs=1, limit_train_batches=2, search_k=3, calib_batches=1,
        data_option={"image_size": 8, "num_train": 40, "num_test": 8}, C=4, N=1,
        batch_size=8, accelerator="cpu", devices="1", no_progress=True,
    )  # fmt: skip
    search = trained.search()
    assert set(search["leaf"]) == {"1", "2"} and set(search["search"]) == {"few-shot"}
    assert (search.groupby("leaf")["rank"].min() == 1).all()
    assert search["overall_pick"].sum() == 1 and "true" not in search.columns  # unjudged
    curves = trained.curves()
    assert set(curves["job"]) == {"1", "2"} and (curves["epoch"] == 1).all()
    assert {"train_loss", "lr"} <= set(curves.columns)
    assert trained.curves_figure.stat().st_size > 5000  # curves.png, one line per leaf
