"""The first backward serves grasp's ``H g`` and the activation pass: values are unchanged.

A cache made for grasp (or for jacob_cov/naswot/tcet) takes them from the first cross-entropy
pass instead of running its own (:func:`fewshot.metrics.probes.first_batch_backward`). These
tests check the shared pass gives exactly the values of the separate passes (a cache made for
any metric, ``metrics=None``, still runs them) and of direct computations written here.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.metrics import MetricError, ScoringData, get_metric
from fewshot.metrics.base import ProbeCache
from fewshot.metrics.jacob_cov import jacob_cov_score
from fewshot.metrics.probes import shares_activation_pass, wants_second_order
from fewshot.models.supernet import Supernet, build_network
from fewshot.spaces.nb201 import Mask
from fewshot.splitting.recipes import get_recipe

SIX = ["grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov"]
ARCHS = [  # every one with a path from input to output (jacob_cov is undefined otherwise)
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
]


@pytest.fixture(scope="module")
def data() -> ScoringData:
    return ScoringData.random(batch_size=8, num_batches=2, num_classes=10, image_size=8)


def network(arch: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_network(arch, C=4, N=1, num_classes=10)


def single_path_supernet() -> Supernet:
    """A masked supernet that draws its path inside the forward (the draw must repeat)."""
    torch.manual_seed(0)
    ops = ("nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_1x1")
    net = Supernet(C=4, N=1, num_classes=10, candidates=Mask.from_op_lists([ops] * 6))
    net.mode = "single_path"
    return net


def values(net: nn.Module, data: ScoringData, metrics: list[str], serve, settings=None):
    """``{metric: (value, per_layer)}`` from one cache made for ``serve`` (None: any metric)."""
    kwargs = {} if settings is None else {"settings": settings}
    cache = ProbeCache(net, data, seed=2, metrics=serve, **kwargs)
    out = {}
    for m in metrics:
        result = get_metric(m).fn(cache)
        out[m] = (result.value, dict(result.per_layer or {}))
    return out, cache


@pytest.mark.parametrize("arch", ARCHS)
def test_six_proxies_from_the_shared_pass_equal_the_separate_passes(arch, data):
    shared, cache = values(network(arch), data, SIX, serve=SIX)
    assert wants_second_order(cache) and cache.get("first_backward").hessian_grad is not None
    assert cache.get("first_backward").activations is cache.get("activations")
    separate, cache = values(network(arch), data, SIX, serve=None)
    assert cache.get("first_backward").hessian_grad is None  # grasp ran its own pass
    assert cache.get("first_backward").activations is None
    assert shared == separate  # bitwise, per layer too


def test_single_path_draws_and_eval_bn_give_the_same_values(data):
    """The ly-manson recipe (eval BN, logit-sum G) and a path drawn inside the forward."""
    settings = get_recipe("ly-manson").metric_settings
    metrics = [*SIX, "naswot", "tcet"]
    shared, _ = values(single_path_supernet(), data, metrics, metrics, settings)
    separate, _ = values(single_path_supernet(), data, metrics, None, settings)
    assert shared == separate


def test_grasp_equals_a_direct_two_pass_computation(data):
    """zero-cost-nas's GraSP written out: ``g`` from one pass, ``H g`` from a second
    forward with ``create_graph``; score ``sum(-w * H g)`` over Conv/Linear weights."""
    net = network(ARCHS[0])
    work = copy.deepcopy(net).train()
    x, y = data.batches[0]
    layers = {n: m for n, m in work.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    torch.manual_seed(2)
    F.cross_entropy(work(x), y).backward()
    names = sorted(n for n, m in layers.items() if m.weight.grad is not None)
    g = {n: layers[n].weight.grad.clone() for n in names}
    work.zero_grad(set_to_none=True)
    torch.manual_seed(2)
    weights = [layers[n].weight for n in names]
    grad_f = torch.autograd.grad(F.cross_entropy(work(x), y), weights, create_graph=True)
    z = sum((g[n] * gf).sum() for n, gf in zip(names, grad_f, strict=True))
    hg = torch.autograd.grad(z, weights)
    per_layer = {
        n: float((-w.detach() * h).sum()) for n, w, h in zip(names, weights, hg, strict=True)
    }
    expected = float(sum(per_layer[n] for n in sorted(per_layer)))
    shared, _ = values(net, data, SIX, serve=SIX)
    assert shared["grasp"] == (expected, per_layer)


def test_jacob_cov_equals_a_direct_input_jacobian(data):
    net = network(ARCHS[1])
    work = copy.deepcopy(net).train()
    x = data.batches[0][0].clone().requires_grad_(True)
    torch.manual_seed(2)
    (jac,) = torch.autograd.grad(work(x).sum(), x)
    expected = jacob_cov_score(jac.reshape(len(jac), -1).double().numpy())
    shared, _ = values(net, data, SIX, serve=SIX)
    assert shared["jacob_cov"][0] == expected


def test_fisher_is_not_changed_by_the_second_derivative(data):
    """The Fisher hooks see the loss gradient only, not grasp's double backward."""
    net = network(ARCHS[2])
    with_grasp, _ = values(net, data, ["fisher", "grasp"], serve=["fisher", "grasp"])
    alone, _ = values(net, data, ["fisher"], serve=["fisher"])
    assert with_grasp["fisher"] == alone["fisher"]


def test_kernels_are_recorded_only_for_the_metrics_that_read_them(data):
    """jacob_cov does not pay for NASWOT kernels; asking for them then is a clear error."""
    cache = ProbeCache(network(ARCHS[0]), data, metrics=["snip", "jacob_cov"])
    assert shares_activation_pass(cache)
    get_metric("jacob_cov").fn(cache)
    passed = cache.get("activations")
    assert passed.relu_kernels is None and passed.layer_kernels is None
    with pytest.raises(MetricError, match="naswot"):
        get_metric("naswot").fn(cache)
    cache = ProbeCache(network(ARCHS[0]), data, metrics=["naswot"])
    recorded = cache.get("activations")
    assert recorded.relu_kernels and recorded.layer_kernels is None
    assert np.isfinite(get_metric("naswot").fn(cache).value)


def test_activation_pass_run_first_is_not_repeated(data):
    """jacob_cov asked before the gradient metrics: its own pass, not a second one."""
    order = ["jacob_cov", *SIX[:-1]]
    first, cache = values(network(ARCHS[0]), data, order, serve=order)
    assert cache.get("first_backward").activations is None
    separate, _ = values(network(ARCHS[0]), data, order, serve=None)
    assert first == separate
