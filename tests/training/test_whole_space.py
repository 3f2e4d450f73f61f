"""Whole-space evaluation (issue 30): the grouped recalibration equals the per-batch loop to
float tolerance, live-op deduplication is exact, and a killed run continues from its CSV."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from fewshot.spaces import get_space
from fewshot.training import whole_space
from fewshot.training.module import path_generator
from fewshot.training.search import recalibrate_bn
from fewshot.training.whole_space import (
    live_ops,
    read_scores,
    recalibrate_grouped,
    score_arch,
    score_space,
    space_tau,
    stack_calibration,
)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    space = get_space()
    net = space.build_supernet(C=4, N=1, num_classes=10, candidates=space.full_mask())
    net.mode = "single_path"
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.5, generator=g)
    calib = [(torch.randn(16, 3, 8, 8, generator=g), torch.zeros(16)) for _ in range(4)]
    x, y = torch.randn(300, 3, 8, 8, generator=g), torch.randint(0, 10, (300,), generator=g)
    archs = [net.sample_arch(path_generator(5, i)) for i in range(6)]
    return net, calib, x, y, archs


def _bn_state(model):
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "tracked" in k}


def _per_batch(model, arch, calib, x, y) -> float:
    """Today's per-arch evaluation (the ranking study's): BN loop, then eval-mode accuracy."""
    recalibrate_bn(model, arch, calib)
    model.eval()
    with torch.no_grad():
        right = torch.cat([model(xb, arch).argmax(1) == yb for xb, yb in
                           zip(x.split(1000), y.split(1000), strict=True)]).numpy()  # fmt: skip
    return 100.0 * float(right.mean())


def test_grouped_recalibration_matches_the_per_batch_loop(setup) -> None:
    net, calib, x, y, archs = setup
    loop, grouped = copy.deepcopy(net), copy.deepcopy(net)
    stacked, group = stack_calibration(calib)
    for arch in archs:
        expected = _per_batch(loop, arch, calib, x, y)
        recalibrate_grouped(grouped, arch, stacked, group)
        a, b = _bn_state(loop), _bn_state(grouped)
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=key)
        assert score_arch(grouped, arch, stacked, group, x, y) == expected


def test_live_ops_drop_only_ops_that_cannot_reach_the_output() -> None:
    space = get_space()
    # node 3 reads only node 2 via the last edge; node 1 feeds nothing live: edge 0 is dead
    arch = space.Arch(("nor_conv_3x3", "skip_connect", "none", "none", "none", "nor_conv_1x1"))
    assert live_ops(arch) == ("none", "skip_connect", "none", "none", "none", "nor_conv_1x1")
    assert len({live_ops(a) for a in space.all_archs()}) == 12_205


def test_archs_with_the_same_live_ops_score_the_same(setup) -> None:
    net, calib, x, y, _ = setup
    space = get_space()
    stacked, group = stack_calibration(calib)
    a = space.Arch(("nor_conv_3x3", "skip_connect", "none", "none", "none", "nor_conv_1x1"))
    b = space.Arch(("avg_pool_3x3", "skip_connect", "none", "none", "none", "nor_conv_1x1"))
    work = copy.deepcopy(net)
    assert score_arch(work, a, stacked, group, x, y) == score_arch(work, b, stacked, group, x, y)


def test_score_space_resumes_from_its_csv_and_leaves_the_model(
    setup, tmp_path, monkeypatch
) -> None:
    net, calib, x, y, archs = setup
    before = copy.deepcopy(net.state_dict())
    out = tmp_path / "whole_space.csv"
    full = score_space(net, archs, calib, x, y, out, chunk=2, progress=False)
    for key, value in before.items():
        assert torch.equal(net.state_dict()[key], value), key
    expected = [_per_batch(copy.deepcopy(net), a, calib, x, y) for a in archs]
    assert full == expected
    rows = read_scores(out)
    assert [rows[i] for i in range(len(archs))] == [
        (a.to_string(), p) for a, p in zip(archs, full, strict=True)
    ]
    # a run killed after its first chunk: only the rest is scored again
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:3]) + "\n")
    calls = []
    real = whole_space.score_arch
    monkeypatch.setattr(whole_space, "score_arch", lambda *a: calls.append(a[1]) or real(*a))
    assert score_space(net, archs, calib, x, y, out, chunk=2, progress=False) == full
    assert len(calls) == len({live_ops(a) for a in archs[2:]})
    with pytest.raises(ValueError, match="not an arch of this list"):
        score_space(net, archs[::-1], calib, x, y, out, progress=False)


def test_space_tau_counts_only_valid_archs() -> None:
    tau = space_tau([1.0, 2.0, 3.0, 0.0], [1.0, 2.0, 3.0, 9.0], [True, True, True, False])
    assert tau == pytest.approx(1.0)
    assert np.isfinite(space_tau([1, 2, 3, 0], [1, 2, 3, 9], [True] * 4))
