"""``python -m fewshot.refine``: a tiny run end to end; bad input exits 2 with one line."""

from __future__ import annotations

import json

import pytest

from fewshot.refine.cli import main
from tests.outputs import assert_lists_outputs

TINY = ["--dataset", "synthetic", "--batch-size", "4", "--draws", "300", "--no-progress",
        "--threads", "1"]  # fmt: skip


def test_tiny_run_writes_record_samples_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--predictor", "synflow", "--samples", "6", "--initial-samples", "8",
            "--iterations", "2", "--out", str(out), *TINY]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "refinement.json").read_text())
    assert record["predictor"] == "synflow" and len(record["iterations"]) >= 1
    it = record["iterations"][0]
    assert set(it["intervals"]) == {f"{h}{i}" for h in "dwgb" for i in (1, 2, 3)}
    assert it["subspace_size"] == 6_560_206_848 and it["scored"] == 8
    assert (out / "config.yaml").is_file() and (out / "samples" / "iter0.jsonl").is_file()
    assert {p.name for p in (out / "figures").iterdir()} >= {
        "score_edf.png", "subspace_size.png", "intervals_d.png", "complexities.png"
    }  # fmt: skip
    printed = capsys.readouterr().out
    assert "final intervals:" in printed and "| d1 " in printed
    figures = [out / "figures" / n for n in ("score_edf.png", "subspace_size.png")]
    assert_lists_outputs(printed, [out / "refinement.json", out / "config.yaml"], figures)
    written = (out / "refinement.json").stat().st_mtime_ns
    assert main(argv) == 0  # the same settings again: finished, nothing redone
    assert "already finished (same settings" in capsys.readouterr().out
    assert (out / "refinement.json").stat().st_mtime_ns == written
    assert main([*argv, "--no-plots"]) == 0  # other outputs asked: not finished
    assert "already finished" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--predictor", "nope"], "--predictor"),
        (["--flops-range", "50e6,10e6"], "flops-range"),
        (["--iterations", "0"], "iterations"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exc:
        rc = main([*flags, "--out", str(tmp_path / "x"), *TINY])
        raise SystemExit(rc)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


def test_initial_from_an_analysis_run_is_reused_and_checked(tmp_path, capsys):
    from fewshot.refine.analyse import main as analyse_main

    common = ["--samples", "6", "--seed", "1", *TINY[:4], "--threads", "1", "--no-progress"]
    assert (
        analyse_main(["--predictors", "synflow,snip", *common, "--out", str(tmp_path / "a")]) == 0
    )
    argv = ["--predictor", "snip", "--initial-samples", "6", "--iterations", "1", "--draws", "50",
            "--initial-from", str(tmp_path / "a"), *common, "--out", str(tmp_path / "r")]  # fmt: skip
    assert main(argv) == 0
    ours = (tmp_path / "r" / "samples" / "iter0.jsonl").read_text().splitlines()
    theirs = (tmp_path / "a" / "samples" / "iter0.jsonl").read_text().splitlines()
    assert [json.loads(r)["scores"]["snip"] for r in ours] == [
        json.loads(r)["scores"]["snip"] for r in theirs
    ]
    bad = [*argv[:-1], str(tmp_path / "r2")]
    bad[bad.index("--seed") + 1] = "2"
    assert main(bad) == 2
    assert "--initial-from" in capsys.readouterr().err


def test_nb201_refuses_a_benchmark_given_for_other_data(tmp_path, capsys):
    """Synthetic images are not NATS-Bench's data: a --benchmark given is refused (exit 2)."""
    from fewshot.spaces.nb201 import all_archs
    from tests.fakes import write_fake_benchmark

    archs = list(all_archs())[:3]
    entries = {a.to_string(): {"cifar10": [50.0], "cifar100": [1.0], "ImageNet16-120": [1.0],
                               "cifar10-valid": [1.0]} for a in archs}  # fmt: skip
    bench = write_fake_benchmark(tmp_path / "bench", entries)
    argv = ["--space", "nb201", "--predictor", "synflow", "--samples", "5", "--iterations", "1",
            "--C", "4", "--N", "1", "--out", str(tmp_path / "nb"), "--benchmark", str(bench),
            *TINY]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the data is not the benchmark's" in err and "--benchmark-dataset" in err


def test_nb201_space_computes_predictors_on_tiny_networks(tmp_path):
    out = tmp_path / "nb"
    argv = ["--space", "nb201", "--predictor", "synflow", "--samples", "5", "--iterations", "1",
            "--C", "4", "--N", "1", "--out", str(out), *TINY]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "refinement.json").read_text())
    it = record["iterations"][0]
    assert record["space"] == "nb201" and it["subspace_size"] == 15625 and it["sampled"] == 5
    assert len(it["next_mask"]) == 6 and it["scored"] + it["failed"] == 5
    assert (out / "figures" / "subspace_size.png").is_file()


def test_final_table_shows_the_refined_space():
    from fewshot.refine.cli import final_table

    anynet = {"iterations": [{"intervals": {"d1": {"low": 1, "high": 4, "median": 2.0}}}]}
    text = final_table(anynet, "anynet")
    assert "final intervals:" in text and "| d1 " in text and "| 4 " in text
    nb201 = {
        "final_mask": [["nor_conv_3x3"], ["skip_connect", "nor_conv_1x1"]],
        "iterations": [{"accuracy": {"mean": 90.123, "max": 94.0}}],
    }
    text = final_table(nb201, "nb201")
    assert "| 1    | skip_connect, nor_conv_1x1 |" in text
    assert "mean 90.12, max 94.00" in text
    assert final_table({"iterations": []}, "nb201") == ""
