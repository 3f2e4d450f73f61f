"""``fewshot.score --recipe``: networks initialised and metrics computed as the recipe says."""

from __future__ import annotations

import csv

import pytest
import torch

from fewshot.metrics import ScoringData, compute_metric
from fewshot.models.init import initialize
from fewshot.models.supernet import build_network
from fewshot.scoring import ScoringSpec, score_arch
from fewshot.spaces.nb201 import Arch
from fewshot.splitting.recipes import get_recipe

ARCH = Arch.from_string(
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
)


@pytest.mark.parametrize("recipe", ["ly-manson", "zero-cost-nas"])
def test_score_arch_follows_the_recipe(recipe):
    r = get_recipe(recipe)
    data = ScoringData.random(batch_size=8, num_batches=1, image_size=8)
    spec = ScoringSpec(C=4, N=1, seed=5, settings=r.metric_settings, init=r.init)
    row = score_arch(ARCH, data, ["snip", "grad_norm"], spec)
    torch.manual_seed(5)
    net = initialize(build_network(ARCH, C=4, N=1), r.init)
    for name in ("snip", "grad_norm"):
        expected = compute_metric(net, data, name, seed=5, settings=r.metric_settings).value
        assert row.values[name] == pytest.approx(expected, rel=1e-9)


def test_score_cli_recipe_changes_values(tmp_path):
    from fewshot.score import main

    common = ["--num", "2", "--metrics", "grad_norm", "--C", "4", "--N", "1",
              "--dataset", "synthetic", "--batch-size", "8", "--no-progress", "--no-plots"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "a")]) == 0
    assert main([*common, "--out", str(tmp_path / "b"), "--recipe", "ly-manson"]) == 0

    def values(folder):
        with open(folder / "scores.csv") as f:
            return [float(r["grad_norm"]) for r in csv.DictReader(f)]

    assert values(tmp_path / "a") != values(tmp_path / "b")
