"""tools/benchmark_metrics.py proxies: the worker's rows, the summary and the before/after ratio."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fewshot.metrics import ScoringData
from tests.conftest import REPO_ROOT, load_tool


@pytest.fixture(scope="module")
def bm():
    return load_tool("benchmark_metrics")


def row(arch: str, build: float, metrics: dict[str, float], values: dict[str, float]) -> dict:
    """A worker row with wall = 2 x cpu."""
    return {"arch": arch, "build": [2 * build, build],
            "metrics": {m: [2 * t, t] for m, t in metrics.items()},
            "probes": {"grads": 0.5}, "values": values, "errors": {}}  # fmt: skip


def test_summary_gives_per_arch_means_the_ratio_and_identical_values(bm):
    rows = {
        "current": [row("a", 0.1, {"snip": 0.9}, {"snip": 1.0}),
                    row("b", 0.1, {"snip": 1.9}, {"snip": 2.0})],
        "old": [row("a", 0.1, {"snip": 1.9}, {"snip": 1.0}),
                row("b", 0.1, {"snip": 3.9}, {"snip": 2.5})],
    }  # fmt: skip
    summary = bm.proxy_summary(rows, ["current", "old"])
    current = summary["versions"]["current"]
    assert current["seconds_per_arch"] == pytest.approx([3.0, 1.5])
    assert current["by_metric"]["snip"] == pytest.approx([2.8, 1.4])
    assert summary["ratio_old_over_new"] == pytest.approx([2.0, 2.0])
    assert summary["time_saved"] == pytest.approx([0.5, 0.5])
    assert summary["identical_values"] == "1/2 archs"  # arch b differs
    table = bm.proxy_table(summary)
    assert "| snip | 1.400 | 2.900 |" in table and "old/current: 2.00x CPU" in table


def test_worker_times_each_metric_of_this_tree(tmp_path):
    """The worker imports fewshot from the folder it is given and answers one line per arch."""
    data = ScoringData.random(batch_size=4, num_batches=1, image_size=8)
    path = tmp_path / "batch.pt"
    torch.save({"batches": list(data.batches), "num_classes": data.num_classes}, path)
    arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    cmd = [sys.executable, str(REPO_ROOT / "tools" / "benchmark_worker.py"), str(REPO_ROOT),
           "proxies", str(path), "--metrics", "snip,grasp", "--C", "4", "--N", "1"]  # fmt: skip
    out = subprocess.run(cmd, input=arch + "\n", capture_output=True, text=True, check=True)
    first, answer = (json.loads(line) for line in out.stdout.splitlines())
    assert first["fewshot"] == str(REPO_ROOT / "fewshot" / "__init__.py")
    assert answer["arch"] == arch and set(answer["values"]) == {"snip", "grasp"}
    assert set(answer["metrics"]) == {"snip", "grasp"} and "first_backward" in answer["probes"]
