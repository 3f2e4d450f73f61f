"""gm: 1 - cosine of the shared-weight gradients of candidate sub-supernets, batch-averaged."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.metrics import MetricError, ScoringData, compute_pairwise
from fewshot.models.supernet import Supernet
from fewshot.spaces.nb201 import Mask

OPS = ("nor_conv_3x3", "avg_pool_3x3", "skip_connect")


def candidates(edge: int = 0, ops: tuple[str, ...] = OPS) -> list[Supernet]:
    """Copies of one tiny supernet (same weights), each with one op enabled on ``edge``.

    The supernet instantiates ``ops`` on ``edge`` and two ops on the other edges (fast).
    """
    small = Mask.from_op_lists(
        [ops if e == edge else ("nor_conv_1x1", "skip_connect") for e in range(6)]
    )
    torch.manual_seed(0)
    base = Supernet(C=4, N=1, candidates=small)
    nets = []
    for op in ops:
        net = copy.deepcopy(base)
        net.set_mask(small.restrict(edge, [op]))
        nets.append(net)
    return nets


@pytest.fixture(scope="module")
def data() -> ScoringData:
    return ScoringData.random(batch_size=8, num_batches=2, image_size=8)


def grads_by_hand(net: nn.Module, data: ScoringData) -> list[dict[str, torch.Tensor]]:
    net = copy.deepcopy(net).train()
    out = []
    for x, y in data.batches:
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        out.append({n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None})
    return out


def gm_by_hand(nets: list[nn.Module], data: ScoringData, prefix: str = "") -> np.ndarray:
    grads = [grads_by_hand(n, data) for n in nets]
    shared = set.intersection(*(set(g) for per_net in grads for g in per_net))
    names = sorted(n for n in shared if n.startswith(prefix))
    dist = np.zeros((len(nets), len(nets)))
    for i in range(len(nets)):
        for j in range(len(nets)):
            cos = [
                F.cosine_similarity(
                    torch.cat([grads[i][b][n].flatten() for n in names]).double(),
                    torch.cat([grads[j][b][n].flatten() for n in names]).double(),
                    dim=0,
                    eps=0.0,
                ).item()
                for b in range(len(data.batches))
            ]
            dist[i, j] = 1.0 - float(np.mean(cos))
    return dist


def test_gm_by_hand(data: ScoringData):
    nets = candidates()
    dist = compute_pairwise(nets, data, "gm").distance
    np.testing.assert_allclose(dist, gm_by_hand(nets, data), atol=1e-9)
    assert (dist[~np.eye(3, dtype=bool)] > 1e-3).all()


def test_gm_cells_uses_only_cell_weights(data: ScoringData):
    nets = candidates()
    cells = compute_pairwise(nets, data, "gm_cells").distance
    np.testing.assert_allclose(cells, gm_by_hand(nets, data, prefix="cells."), atol=1e-9)
    assert not np.allclose(cells, compute_pairwise(nets, data, "gm").distance)


class Chain(nn.Module):
    """A non-cell network: stem, a body under ``layers.``, head; ``body_prefix`` optional."""

    def __init__(self, width: int, prefix: str | None) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.layers = nn.Sequential(nn.Conv2d(4, width, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(width, 10)
        if prefix is not None:
            self.body_prefix = prefix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(self.stem(x)).mean((2, 3)))


def test_gm_cells_compares_the_body_the_network_declares(data: ScoringData):
    torch.manual_seed(0)
    base = Chain(4, "layers.")
    nets = [copy.deepcopy(base) for _ in range(2)]
    with torch.no_grad():
        nets[1].layers[0].weight.mul_(-1.0)  # a different body, the same stem and head
    body = compute_pairwise(nets, data, "gm_cells").distance
    np.testing.assert_allclose(body, gm_by_hand(nets, data, prefix="layers."), atol=1e-9)
    assert not np.allclose(body, gm_by_hand(nets, data))


def test_gm_cells_of_a_network_without_a_body_prefix_is_a_metric_error(data: ScoringData):
    nets = [Chain(4, None), Chain(4, None)]
    with pytest.raises(MetricError, match="declares no body_prefix"):
        compute_pairwise(nets, data, "gm_cells")


def test_gm_of_a_network_with_itself_is_zero_and_symmetric(data: ScoringData):
    net = candidates()[0]
    dist = compute_pairwise([net, copy.deepcopy(net), net], data, "gm").distance
    np.testing.assert_allclose(dist, np.zeros((3, 3)), atol=1e-12)
    np.testing.assert_array_equal(dist, dist.T)


def test_gm_is_symmetric_with_zero_diagonal_and_bounded(data: ScoringData):
    dist = compute_pairwise(candidates(edge=3), data, "gm").distance
    np.testing.assert_array_equal(dist, dist.T)
    np.testing.assert_array_equal(np.diag(dist), 0.0)
    assert ((dist >= 0) & (dist <= 2)).all()


def test_gm_averages_over_every_batch(data: ScoringData):
    nets = candidates()
    one = ScoringData(data.batches[:1], data.num_classes)
    assert not np.allclose(
        compute_pairwise(nets, one, "gm").distance, compute_pairwise(nets, data, "gm").distance
    )


def test_gm_does_not_mutate_candidates(data: ScoringData):
    nets = candidates()
    before = [{k: v.clone() for k, v in n.state_dict().items()} for n in nets]
    compute_pairwise(nets, data, "gm")
    for net, state in zip(nets, before, strict=True):
        assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())
        assert all(p.grad is None for p in net.parameters())


def test_gm_needs_two_candidates(data: ScoringData):
    with pytest.raises(MetricError, match="at least 2"):
        compute_pairwise(candidates()[:1], data, "gm")


def test_gm_needs_shared_weights():
    a = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
    b = nn.Sequential(nn.Flatten(), nn.Identity(), nn.Linear(3 * 4 * 4, 10))  # names differ
    data = ScoringData.random(batch_size=4, num_batches=1, image_size=4)
    with pytest.raises(MetricError, match="share no parameter"):
        compute_pairwise([a, b], data, "gm")


def test_gm_with_an_all_zero_gradient_raises():
    """Zero images, bias-free linear model: dL/dW = (p - y) x^T = 0, no direction."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10, bias=False))
    x = torch.zeros(4, 3, 4, 4)
    data = ScoringData(((x, torch.arange(4)),), 10)
    with pytest.raises(MetricError, match="all-zero gradient"):
        compute_pairwise([net, copy.deepcopy(net)], data, "gm")


# -- edges (survivors of the mutation run, docs/metrics/mutation.md) -------------------------


def test_cosines_of_opposite_vectors_are_clamped_to_minus_one():
    from fewshot.metrics.gradient_matching import batch_cosines

    g = torch.Generator().manual_seed(0)
    for _ in range(4):  # the 4th draw: its raw cosines reach 1 + 2e-16
        v = torch.randn(7, generator=g, dtype=torch.float64)
    unit = torch.stack([v, -v]) / v.norm()
    assert float((unit @ unit.T).min()) < -1.0  # without the clamp, 1 - cos would exceed 2
    cos = batch_cosines(torch.stack([v, -v]))
    assert cos.min() == -1.0 and cos.max() == 1.0


def test_gm_refuses_matrices_of_different_sizes():
    from fewshot.metrics.gradient_matching import matrix_matching_distance

    with pytest.raises(MetricError, match="^gm: the candidates' gradient matrices differ in size$"):
        matrix_matching_distance([torch.ones(2, 3), torch.ones(2, 4)])
