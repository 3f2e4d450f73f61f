"""Tests run on every registered metric: new metrics are covered when they register.

(Named ``test_metric_registry.py``: ``tests/test_registry.py`` already exists, and pytest's
default import mode rejects two test modules with the same basename.)
"""

from __future__ import annotations

import math
import pkgutil

import numpy as np
import pytest
import torch
from torch import nn

import fewshot.metrics as metrics_pkg
from fewshot.metrics import (
    METRICS,
    ScoringData,
    compute_metric,
    compute_metrics,
    compute_pairwise,
    list_metrics,
)
from fewshot.metrics.base import PROBES
from fewshot.models.supernet import Supernet, build_network
from fewshot.spaces.nb201 import Mask

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
SCALAR = list_metrics(kind="scalar")
REQUIRED_SCALAR = [
    "grad_norm",
    "snip",
    "grasp",
    "fisher",
    "synflow",
    "synflow_log",
    "zico",
    "ssnr",
    "params",
    "flops",
]
# Modules that register nothing, on purpose.
NOT_REGISTERING = {
    "base": "the registry and API itself",
    "vote": "ranks arch pairs from other metrics' scores, not a network metric",
    "settings": "the options metrics are computed with (MetricSettings), no metric",
}


def tiny_network(seed: int = 0) -> Supernet:
    torch.manual_seed(seed)
    return build_network(ARCH, C=4, N=1, num_classes=10)


def masked_supernet(seed: int = 0) -> tuple[Supernet, Mask]:
    """A tiny supernet with 2-3 ops per edge, masked further (disabled ops exist, never run)."""
    torch.manual_seed(seed)
    candidates = Mask.from_op_lists(
        [("nor_conv_3x3", "avg_pool_3x3", "skip_connect"), ("skip_connect", "none", "nor_conv_3x3")]
        + [("nor_conv_1x1", "skip_connect", "avg_pool_3x3")] * 4
    )
    net = Supernet(C=4, N=1, num_classes=10, candidates=candidates)
    mask = (
        candidates.restrict(0, ["nor_conv_3x3", "avg_pool_3x3"])
        .restrict(1, ["skip_connect", "none"])
        .restrict(5, ["nor_conv_1x1"])
    )
    net.set_mask(mask)
    return net, mask


@pytest.fixture(scope="module")
def data() -> ScoringData:
    return ScoringData.random(batch_size=8, num_batches=2, num_classes=10, image_size=8)


def test_required_metrics_are_registered():
    assert set(REQUIRED_SCALAR) <= set(SCALAR)
    assert "gm" in list_metrics(kind="pairwise")
    assert "gm" not in SCALAR


def test_every_metrics_module_registers_something():
    registered = {spec.fn.__module__ for spec in (METRICS.get(n) for n in METRICS)}
    registered |= {PROBES.get(n).__module__ for n in PROBES}
    names = [m.name for m in pkgutil.iter_modules(metrics_pkg.__path__)]
    missing = [
        n for n in names if n not in NOT_REGISTERING and f"fewshot.metrics.{n}" not in registered
    ]
    assert not missing, f"modules that registered no metric/probe (import line missing?): {missing}"


@pytest.mark.parametrize("name", SCALAR)
def test_finite_on_tiny_network(name: str, data: ScoringData):
    result = compute_metric(tiny_network(), data, name)
    assert result.name == name
    assert math.isfinite(result.value)


@pytest.mark.parametrize("name", SCALAR)
def test_deterministic_under_seed(name: str, data: ScoringData):
    """Same seed, fresh networks (mixture mode, the split engine's default): same value."""
    values = [compute_metric(masked_supernet()[0], data, name, seed=3).value for _ in range(2)]
    assert values[0] == values[1]


@pytest.mark.parametrize("name", SCALAR)
def test_deterministic_with_single_path_sampling(name: str, data: ScoringData):
    """Random paths drawn inside a metric's passes come from the seed: same value twice."""
    values = []
    for _ in range(2):
        net, _mask = masked_supernet()
        net.mode = "single_path"
        values.append(compute_metric(net, data, name, seed=3).value)
    assert values[0] == values[1]


@pytest.mark.parametrize("name", SCALAR)
def test_does_not_mutate_network_nor_depend_on_its_flags(name: str, data: ScoringData):
    """Train/eval and requires_grad flags are the caller's: untouched, and not read."""
    reference = compute_metric(tiny_network(), data, name).value
    net = tiny_network()
    net.eval()
    net.cells[0].train()  # mixed flags must survive as they are
    net.classifier.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = {n: m.training for n, m in net.named_modules()}
    grads = {n: p.requires_grad for n, p in net.named_parameters()}
    assert compute_metric(net, data, name).value == reference
    after = net.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert torch.equal(v, after[k]), f"{name} changed {k}"
    assert flags == {n: m.training for n, m in net.named_modules()}
    assert grads == {n: p.requires_grad for n, p in net.named_parameters()}
    assert all(p.grad is None for p in net.parameters())


@pytest.mark.parametrize("name", SCALAR)
def test_masked_sub_supernet_skips_disabled_ops(name: str, data: ScoringData):
    net, mask = masked_supernet()
    result = compute_metric(net, data, name)
    assert math.isfinite(result.value)
    disabled = [
        f"cells.{c}.edges.{e}.ops.{op}."
        for c in range(len(net.cells))
        for e in range(6)
        for op in net.candidates.ops(e)
        if op not in mask.ops(e)
    ]
    for layer in result.per_layer or {}:
        assert not any(f"{layer}.".startswith(d) for d in disabled), f"{name} scored {layer}"


def test_one_pass_equals_one_at_a_time(data: ScoringData):
    together = compute_metrics(tiny_network(), data, SCALAR, seed=1)
    for name in SCALAR:
        alone = compute_metric(tiny_network(), data, name, seed=1)
        assert together[name].value == pytest.approx(alone.value, rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("name", list_metrics(kind="pairwise"))
def test_pairwise_metrics_give_a_distance_matrix(name: str, data: ScoringData):
    nets = []
    for op in ("nor_conv_1x1", "skip_connect", "avg_pool_3x3"):  # the ops of edge 2
        net, mask = masked_supernet()
        net.set_mask(mask.restrict(2, [op]))
        nets.append(net)
    dist = compute_pairwise(nets, data, name).distance
    assert dist.shape == (3, 3)
    assert np.isfinite(dist).all()
    np.testing.assert_array_equal(dist, dist.T)
    np.testing.assert_array_equal(np.diag(dist), 0.0)
    assert (dist[~np.eye(3, dtype=bool)] > 0).all()


# -- registration, pairwise checks and the placeholder batch (mutation-run survivors) --------


def test_a_metric_is_described_by_its_docstring_first_line(monkeypatch):
    from fewshot.metrics.base import get_metric, register_metric

    monkeypatch.setattr(METRICS, "_items", dict(METRICS._items))  # registrations undone after
    assert get_metric("snip").description == METRICS.get("snip").fn.__doc__.splitlines()[0]

    @register_metric("undocumented_test_metric")
    def undocumented(cache):
        return 1.0

    @register_metric("documented_test_metric")
    def documented(cache):
        """First line.

        More."""
        return 1.0

    assert get_metric("undocumented_test_metric").description == ""
    assert get_metric("documented_test_metric").description == "First line."


def fake_pairwise(monkeypatch, name: str, matrix: list[list[float]], **options) -> None:
    from fewshot.metrics.base import register_metric

    monkeypatch.setattr(METRICS, "_items", dict(METRICS._items))
    register_metric(name, kind="pairwise", **options)(lambda caches: matrix)


def test_compute_pairwise_gives_a_float_matrix_and_checks_finiteness(monkeypatch):
    from fewshot.metrics import MetricError
    from fewshot.metrics.settings import MetricSettings

    nets = [nn.Sequential(nn.Flatten(), nn.Linear(2, 2)) for _ in range(2)]
    data = ScoringData(((torch.randn(2, 2, 1, 1), torch.tensor([0, 1])),), 2)
    fake_pairwise(monkeypatch, "int_test_metric", [[0, 1], [1, 0]])
    dist = compute_pairwise(nets, data, "int_test_metric").distance
    assert dist.dtype == np.float64 and dist.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    fake_pairwise(monkeypatch, "nan_test_metric", [[0.0, math.nan], [math.nan, 0.0]])
    with pytest.raises(MetricError, match="^pairwise metric 'nan_test_metric' produced non-fin"):
        compute_pairwise(nets, data, "nan_test_metric")
    kept = compute_pairwise(
        nets, data, "nan_test_metric", settings=MetricSettings(keep_nonfinite=True)
    )
    assert np.isnan(kept.distance[0, 1])


def test_placeholder_is_one_batch_of_zero_images_labelled_0():
    data = ScoringData.placeholder(num_classes=7, image_size=5, batch_size=2)
    ((x, y),) = data.batches
    assert x.shape == (2, 3, 5, 5) and not x.any() and y.tolist() == [0, 0]
    assert data.num_classes == 7


def test_scoring_data_checks_and_default_seed():
    with pytest.raises(
        ValueError, match="^ScoringData needs at least one \\(inputs, targets\\) batch"
    ):
        ScoringData((), 10)
    a, b = ScoringData.random(), ScoringData.random(seed=0)
    assert all(
        torch.equal(x, u) and torch.equal(y, v)
        for (x, y), (u, v) in zip(a.batches, b.batches, strict=True)
    )


def test_a_metric_returning_a_plain_float_gives_a_result(monkeypatch):
    from fewshot.metrics.base import register_metric

    monkeypatch.setattr(METRICS, "_items", dict(METRICS._items))
    register_metric("float_test_metric")(lambda cache: 2.5)
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    data = ScoringData(((torch.randn(2, 2, 1, 1), torch.tensor([0, 1])),), 2)
    result = compute_metric(net, data, "float_test_metric")
    assert (result.name, result.value) == ("float_test_metric", 2.5)


def test_probe_cache_seed_defaults_to_0():
    from fewshot.metrics import ProbeCache

    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    data = ScoringData(((torch.randn(2, 2, 1, 1), torch.tensor([0, 1])),), 2)
    assert ProbeCache(net, data).seed == 0


def test_phase_clock_adds_up_the_wall_time_of_each_phase(monkeypatch):
    from types import SimpleNamespace

    from fewshot.metrics import ProbeCache, probes

    ticks = iter([1.0, 3.0, 4.5, 10.0])
    monkeypatch.setattr(probes, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    cache = ProbeCache(net, ScoringData(((torch.randn(2, 2, 1, 1), torch.tensor([0, 1])),), 2))
    clock = probes.PhaseClock(cache, "grads")
    clock("forward")
    clock("backward")
    clock("forward")
    assert cache.probe_seconds == {"grads.forward": 7.5, "grads.backward": 1.5}
