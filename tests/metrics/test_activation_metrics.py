"""Activation and TE-NAS metrics: jacob_cov, naswot, ntk, lr, zen, tcet/tcet_log, vote."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fewshot.metrics import MetricError, ProbeCache, ScoringData, compute_metric, compute_metrics
from fewshot.metrics.tcet import snip_snr_per_layer
from fewshot.metrics.tenas import count_linear_regions, supernet_linear_regions
from fewshot.metrics.vote import vote_accuracy
from fewshot.metrics.zen import ZEN_GAMMA, bn_scaling_term, zen_score
from fewshot.models.supernet import Supernet, build_network


def flat_data(x: torch.Tensor, num_classes: int = 3) -> ScoringData:
    """ScoringData for (B, D) vectors, shaped as (B, D, 1, 1) images."""
    y = torch.arange(x.shape[0]) % num_classes
    return ScoringData(((x.reshape(x.shape[0], -1, 1, 1), y),), num_classes)


ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def tiny_supernet(seed: int = 0) -> Supernet:
    """A one-arch supernet (standalone network), C=4, N=1: few modules, fast on CPU."""
    torch.manual_seed(seed)
    return build_network(ARCH, C=4, N=1, num_classes=10)


# -- naswot ----------------------------------------------------------------------------------


class ReluTwice(nn.Module):
    """Linear -> ReLU -> Linear -> the *same* ReLU -> Linear: the second call must not count."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = nn.Linear(2, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(self.relu(self.b(self.relu(self.a(x.flatten(1))))))


def test_naswot_matches_hand_computed_kernel():
    net = ReluTwice()
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(1)) * 3
    c = (net.a(x) > 0).double().numpy()  # codes of the first (and only counted) ReLU call
    K = c @ c.T + (1 - c) @ (1 - c).T
    sign, expected = np.linalg.slogdet(K)
    assert sign != 0
    result = compute_metric(net, flat_data(x), "naswot")
    assert result.value == pytest.approx(expected, abs=1e-9)
    assert set(result.per_layer) == {"relu"}


def test_naswot_identical_inputs_is_singular_and_raises():
    net = tiny_supernet()
    x = torch.randn(1, 3, 8, 8).repeat(4, 1, 1, 1)
    data = ScoringData(((x, torch.zeros(4, dtype=torch.long)),), 10)
    with pytest.raises(MetricError, match="singular"):
        compute_metric(net, data, "naswot")


# -- jacob_cov -------------------------------------------------------------------------------


def jacob_cov_reference(J: np.ndarray, k: float = 1e-5) -> float:
    v, _ = np.linalg.eig(np.corrcoef(J))  # the reference's eig (real parts)
    return float(-np.sum(np.log(v.real + k) + 1.0 / (v.real + k)))


def test_jacob_cov_linear_net_closed_form():
    """Linear net: every Jacobian row is W^T 1, the correlation matrix is all ones."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    B, k = 5, 1e-5
    value = compute_metric(net, flat_data(torch.randn(B, 12)), "jacob_cov").value
    expected = -(math.log(B + k) + 1 / (B + k) + (B - 1) * (math.log(k) + 1 / k))
    assert value == pytest.approx(expected, rel=1e-6)


class Square(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(12, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1) ** 2)


def test_jacob_cov_quadratic_net_by_hand():
    """logits = W (x*x): d sum(logits)/dx = 2 x * (W^T 1), per sample."""
    torch.manual_seed(0)
    net = Square()
    x = torch.randn(6, 12)
    J = (2 * x * net.lin.weight.sum(0)).detach().double().numpy()
    value = compute_metric(net, flat_data(x), "jacob_cov").value
    assert value == pytest.approx(jacob_cov_reference(J), rel=1e-6)


# -- ntk -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
def test_ntk_linear_model_closed_form(bias):
    """f(x) = W x (+ b): G_i = vec(1 x_i^T), so NTK = C X X^T; biases are not in G (TE-NAS)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3, bias=bias))
    x = torch.randn(5, 12, dtype=torch.float64)
    eig = np.linalg.eigvalsh((3 * x @ x.T).numpy())
    result = compute_metric(net.double(), flat_data(x), "ntk")
    assert result.extras["condition_number"] == pytest.approx(eig[-1] / eig[0], rel=1e-6)
    assert result.value == pytest.approx(-eig[-1] / eig[0], rel=1e-6)


def test_ntk_uses_the_first_16_samples():
    net = nn.Sequential(nn.Flatten(), nn.Linear(30, 2, bias=False)).double()
    x = torch.randn(20, 30, dtype=torch.float64)
    eig = np.linalg.eigvalsh((x[:16] @ x[:16].T).numpy())
    result = compute_metric(net, flat_data(x), "ntk")
    assert result.extras["condition_number"] == pytest.approx(eig[-1] / eig[0], rel=1e-6)


# -- lr --------------------------------------------------------------------------------------


def quadrant_net() -> nn.Module:
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(2))
        lin.bias.zero_()
    return nn.Sequential(nn.Flatten(), lin, nn.ReLU(), nn.Linear(2, 2))


def test_count_linear_regions_by_quadrant():
    net = quadrant_net()
    q1 = torch.tensor([[1.0, 2.0], [3.0, 0.5]])
    q2 = torch.tensor([[-1.0, 2.0], [-0.2, 0.1]])
    q3 = torch.tensor([[-1.0, -2.0]])
    assert count_linear_regions(net, [q1]) == 1
    assert count_linear_regions(net, [q1, q2]) == 2
    assert count_linear_regions(net, [torch.cat([q1, q2]), torch.cat([q2, q3])]) == 3


def test_lr_metric_counts_over_all_batches_of_a_plain_net():
    net = quadrant_net()
    b1 = torch.tensor([[1.0, 2.0], [-1.0, 2.0]]).reshape(2, 2, 1, 1)
    b2 = torch.tensor([[-1.0, 2.0], [-1.0, -2.0], [1.0, -2.0]]).reshape(3, 2, 1, 1)
    data = ScoringData(
        ((b1, torch.zeros(2, dtype=torch.long)), (b2, torch.zeros(3, dtype=torch.long))), 2
    )
    assert compute_metric(net, data, "lr").value == 4.0


def test_lr_on_supernet_uses_seeded_thin_copy():
    net = tiny_supernet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    images = torch.randn(4, 3, 8, 8)

    def count(seed: int) -> int:
        gen = torch.Generator().manual_seed(seed)
        return supernet_linear_regions(net, images, gen, samples=50, batches=2)

    a = count(3)
    assert a == count(3)
    assert 1 <= a <= 100
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# -- zen -------------------------------------------------------------------------------------


class PoolOnly(nn.Module):
    """Pre-GAP features are the input itself: Zen = log(gamma * mean_b sum |eps_b|)."""

    def __init__(self) -> None:
        super().__init__()
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(x).flatten(1))


def test_zen_of_identity_features_is_log_gamma_times_gaussian_l1():
    data = ScoringData.random(batch_size=64, num_batches=1, image_size=8)
    value = compute_metric(PoolOnly(), data, "zen").value
    expected = math.log(ZEN_GAMMA * 3 * 8 * 8 * math.sqrt(2 / math.pi))  # E|eps| = sqrt(2/pi)
    assert value == pytest.approx(expected, abs=0.03)


def test_zen_bn_term():
    bn = nn.BatchNorm2d(2)
    bn.running_var.fill_(4.0)
    assert bn_scaling_term(nn.Sequential(bn)) == pytest.approx(math.log(2.0))


def test_zen_deterministic_under_seed_and_does_not_mutate():
    net = tiny_supernet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    data = ScoringData.random(batch_size=8, num_batches=1, image_size=8)
    a = compute_metric(net, data, "zen", seed=1).value
    assert a == compute_metric(net, data, "zen", seed=1).value
    assert a != compute_metric(net, data, "zen", seed=2).value
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_zen_needs_global_pooling():
    net = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with pytest.raises(MetricError, match="global_pooling"):
        compute_metric(net, flat_data(torch.randn(4, 2)), "zen")


# -- tcet ------------------------------------------------------------------------------------


def test_tcet_and_tcet_log_differ_as_defined():
    net = tiny_supernet()
    data = ScoringData.random(batch_size=8, num_batches=1, image_size=8)
    res = compute_metrics(net, data, ["tcet", "tcet_log", "snip"])
    cache = ProbeCache(net, data)
    snr = snip_snr_per_layer(cache.get("grads"))
    plain, logged = res["tcet"].per_layer, res["tcet_log"].per_layer
    assert set(plain) == set(logged) == set(res["snip"].per_layer)
    for name, lg in cache.get("grads").items():  # SSNR by hand: sum / std (ddof=1)
        s = (lg.weight * lg.grad).abs().double().numpy().ravel()
        assert snr[name] == pytest.approx(s.sum() / s.std(ddof=1), rel=1e-9)
        # same log|K_l| factor: plain / snr == logged / log(snr)
        assert plain[name] * math.log(snr[name]) == pytest.approx(
            logged[name] * snr[name], rel=1e-9
        )
    assert res["tcet"].value == pytest.approx(sum(plain.values()))
    assert res["tcet_log"].value == pytest.approx(sum(logged.values()))
    assert res["tcet"].value != pytest.approx(res["tcet_log"].value)


# -- vote ------------------------------------------------------------------------------------


def test_vote_accuracy_hand_example():
    acc = [1.0, 2.0, 3.0]
    scores = {"a": [1, 2, 3], "b": [3, 2, 1], "c": [1, 3, 2]}
    # pairs (0,1) and (0,2): 2 of 3 votes right; pair (1,2): a right, b and c wrong
    assert vote_accuracy(scores, acc) == pytest.approx(2 / 3)
    assert vote_accuracy({"a": [1, 2, 3], "b": [3, 2, 1]}, acc) == pytest.approx(0.5)  # ties
    assert vote_accuracy({"a": [1, 2, 3]}, [1.0, 1.0, 2.0]) == 1.0  # tied accuracies skipped
    with pytest.raises(ValueError, match="scores per metric"):
        vote_accuracy({"a": [1, 2]}, acc)


def test_finite_vote_drops_archs_where_a_voter_failed():
    from fewshot.metrics.vote import finite_vote

    nan = float("nan")
    scores = {"a": [1, 2, nan, 3], "b": [3, 2, 1, 1], "c": [1, 3, 5, 2]}
    kept = {"a": [1, 2, 3], "b": [3, 2, 1], "c": [1, 3, 2]}  # the hand example above
    assert finite_vote(scores, [1.0, 2.0, 9.0, 3.0]) == (3, pytest.approx(2 / 3))
    assert finite_vote(kept, [1.0, 2.0, 3.0])[1] == vote_accuracy(kept, [1.0, 2.0, 3.0])
    assert finite_vote({"a": [nan, 1.0]}, [1.0, 2.0]) == (1, None)


# -- dead networks ---------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["jacob_cov", "naswot", "zen"])
def test_network_ignoring_its_input_raises_metric_error(metric):
    """All-'none' cells: the output does not depend on the input; a clear MetricError."""
    torch.manual_seed(0)
    net = build_network("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", C=4, N=1)
    data = ScoringData.random(batch_size=8, num_batches=1, image_size=8)
    with pytest.raises(MetricError):
        compute_metric(net, data, metric)


def test_lr_thin_copy_is_a_mixture_whatever_the_supernet_mode():
    """One network's regions: a single-path supernet is counted as its mixture thin copy."""
    data = ScoringData.random(batch_size=4, num_batches=2, image_size=8)
    torch.manual_seed(0)
    net = Supernet(C=4, N=1, num_classes=10)  # every op on every edge
    mixture = compute_metric(net, data, "lr", seed=2).value
    net.mode = "single_path"
    assert compute_metric(net, data, "lr", seed=2).value == mixture


# -- by hand on networks with BatchNorm (issue 29: mutants the tests above let through) -------


def bn_mlp(seed: int = 0) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU -> Linear: a BatchNorm network small enough to do by hand."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)
    ).double()


def test_tcet_on_a_batchnorm_net_is_ssnr_times_layer_logdet_by_hand():
    """tcet = sum_l (S_l / sigma_l) * log|K_l|, every factor computed here from one train-mode
    forward/backward; a log|K| factor replaced by 1 (or by the ReLU kernel) fails."""
    net = bn_mlp()
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    data = flat_data(x, num_classes=4)
    work = copy.deepcopy(net).train()
    outputs: dict[str, torch.Tensor] = {}
    for name in ("1", "4"):
        work.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: outputs.__setitem__(name, o.detach())
        )
    F.cross_entropy(work(data.batches[0][0]), data.batches[0][1]).backward()
    expected = {}
    for name in ("1", "4"):
        layer = work.get_submodule(name)
        s = (layer.weight * layer.weight.grad).abs().detach().numpy().ravel()
        c = (outputs[name] > 0).double().numpy()
        sign, logdet = np.linalg.slogdet(c @ c.T + (1 - c) @ (1 - c).T)
        assert sign != 0 and abs(logdet) > 0.1  # a factor that tells log|K| from 1 or 0
        expected[name] = s.sum() / s.std(ddof=1) * logdet
    result = compute_metric(net, data, "tcet")
    assert result.per_layer == pytest.approx(expected, rel=1e-9)
    assert result.value == pytest.approx(sum(expected.values()), rel=1e-9)


class ConvBnNet(nn.Module):
    """3x3 conv -> BatchNorm2d -> ReLU -> global pooling -> Linear (NB201's stem pattern)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(torch.relu(self.bn(self.conv(x)))).flatten(1))


def test_zen_on_a_batchnorm_net_by_hand():
    """zen = log(mean_b sum |f(x) - f(x + gamma eps)|) + log sqrt(mean running_var), on the
    Gaussian re-init (conv, then classifier weights ~ N(0,1), then x, then eps from one
    generator); BN statistics after the two train-mode forwards (momentum 0.1). Dropping the
    BN term, or not resetting BN scale, shift and running statistics, fails."""
    net = ConvBnNet()
    with torch.no_grad():  # state the re-init must discard
        net.bn.weight.fill_(3.0)
        net.bn.bias.fill_(-1.0)
        net.bn.running_var.fill_(50.0)
        net.bn.running_mean.fill_(2.0)
    shape = (6, 3, 5, 5)
    g = torch.Generator().manual_seed(7)
    w = torch.randn((4, 3, 3, 3), generator=g).double()
    torch.randn((5, 4), generator=g)  # the classifier's re-init draw
    x = torch.randn(shape, generator=g).double()
    eps = torch.randn(shape, generator=g).double()
    running_var = np.ones(4)

    def features(images: torch.Tensor) -> np.ndarray:
        nonlocal running_var
        h = F.conv2d(images, w, padding=1).numpy()
        mean, var = h.mean(axis=(0, 2, 3)), h.var(axis=(0, 2, 3))
        n = h.size / h.shape[1]
        running_var = 0.9 * running_var + 0.1 * var * n / (n - 1)  # unbiased, momentum 0.1
        z = (h - mean[None, :, None, None]) / np.sqrt(var + 1e-5)[None, :, None, None]
        return np.maximum(z, 0.0)

    f0, f1 = features(x), features(x + ZEN_GAMMA * eps)
    delta = np.abs(f0 - f1).sum(axis=(1, 2, 3)).mean()
    bn_term = 0.5 * math.log(running_var.mean())
    assert bn_term > 0.5  # the term the mutant drops is far above the tolerance
    value = zen_score(net, shape, torch.Generator().manual_seed(7))
    assert value == pytest.approx(math.log(delta) + bn_term, rel=1e-5)


def test_zen_metric_scores_the_first_batch_shape_with_the_cache_generator():
    net = ConvBnNet()
    data = ScoringData.random(batch_size=6, num_batches=1, image_size=5)
    expected = zen_score(net, (6, 3, 5, 5), ProbeCache(net, data, seed=3).generator(offset=202))
    assert compute_metric(net, data, "zen", seed=3).value == expected


def test_ntk_on_a_batchnorm_net_includes_the_bn_scales_by_hand():
    """BatchNorm1d(d) -> ReLU -> Linear(d, k) in train mode, gamma = 1, beta = 0: with
    r_i = relu(xhat_i) and u = W^T 1, d(sum logits_i)/dW = 1 r_i^T and d(sum logits_i)/dgamma =
    u * r_i, so NTK = R diag(k + u^2) R^T (TE-NAS differentiates every parameter named
    'weight', BN scales included). Without the BN scales it would be k R R^T."""
    torch.manual_seed(0)
    d, k = 10, 3
    net = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(d), nn.ReLU(), nn.Linear(d, k, bias=False))
    net = net.double()
    x = torch.randn(6, d, dtype=torch.float64).numpy()
    xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    R = np.maximum(xhat, 0.0)
    u = net[3].weight.detach().numpy().sum(0)
    with_bn = np.linalg.eigvalsh(R @ np.diag(k + u**2) @ R.T)
    without_bn = np.linalg.eigvalsh(k * R @ R.T)
    assert with_bn[-1] / with_bn[0] != pytest.approx(without_bn[-1] / without_bn[0], rel=1e-3)
    result = compute_metric(net, flat_data(torch.from_numpy(x), num_classes=k), "ntk")
    assert result.extras["condition_number"] == pytest.approx(with_bn[-1] / with_bn[0], rel=1e-6)
    assert result.extras["lambda_max"] == pytest.approx(with_bn[-1], rel=1e-6)


def thin_copy_regions_by_hand(
    net: Supernet, images: torch.Tensor, seed: int, samples: int, batches: int, crop: int
) -> int:
    """TE-NAS's count rebuilt here: a C=1, N=1 mixture copy with the same mask, Kaiming-uniform
    fan-out weights from the generator, then per batch ``samples`` crops (image, top, left
    index draws), one train-mode forward each; distinct ReLU sign patterns over all batches."""
    g = torch.Generator().manual_seed(seed)
    thin = Supernet(C=1, N=1, num_classes=net.num_classes, candidates=net.candidates)
    thin.mode = "mixture"
    thin.set_mask(net.search_mask)
    for m in thin.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
            bound = math.sqrt(2.0) * math.sqrt(3.0 / fan_out)
            with torch.no_grad():
                m.weight.uniform_(-bound, bound, generator=g)
                if m.bias is not None:
                    m.bias.zero_()
    thin.train()
    B, _, H, W = images.shape
    codes: list[np.ndarray] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: codes.append(o.reshape(len(o), -1).numpy() > 0))
        for m in thin.modules()
        if isinstance(m, nn.ReLU)
    ]
    rows = []
    for _ in range(batches):
        i = torch.randint(B, (samples,), generator=g)
        t = torch.randint(H - crop + 1, (samples,), generator=g)
        s = torch.randint(W - crop + 1, (samples,), generator=g)
        corners = zip(i, t, s, strict=True)
        x = torch.stack([images[a, :, b : b + crop, c : c + crop] for a, b, c in corners])
        codes.clear()
        with torch.no_grad():
            thin(x)
        rows.append(np.concatenate(codes, axis=1))
    for h in hooks:
        h.remove()
    return len(np.unique(np.concatenate(rows), axis=0))


def test_lr_on_a_supernet_counts_the_regions_of_its_thin_copy():
    """The value, not just its range: the count equals the thin copy's distinct patterns
    computed independently here, strictly between 1 and the number of crops."""
    torch.manual_seed(0)
    net = Supernet(C=4, N=1, num_classes=10)
    images = torch.randn(5, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(3)
    count = supernet_linear_regions(net, images, gen, samples=40, batches=2, crop=3)
    expected = thin_copy_regions_by_hand(net, images, 3, samples=40, batches=2, crop=3)
    assert count == expected
    assert 1 < count < 80


# -- edges and error texts (survivors of the mutation run, docs/metrics/mutation.md) ----------


def test_tcet_snr_of_two_one_and_constant_weight_layers():
    """sigma needs two saliencies: a 2-weight layer has one; 1 weight or sigma = 0 give S."""
    from fewshot.metrics.probes import LayerGrad

    two = LayerGrad(torch.tensor([1.0, -3.0]), torch.tensor([2.0, 1.0]))  # |w g| = 2, 3
    one = LayerGrad(torch.tensor([2.0]), torch.tensor([-4.0]))
    flat = LayerGrad(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0]))
    snr = snip_snr_per_layer({"two": two, "one": one, "flat": flat})
    assert snr == pytest.approx({"two": 5 / math.sqrt(0.5), "one": 8.0, "flat": 4.0})


def test_ntk_singular_kernel_error_names_its_extreme_eigenvalues():
    from fewshot.metrics.settings import MetricSettings
    from fewshot.metrics.tenas import _matrix_condition

    G = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])  # eigenvalues 0, 1, 4
    with pytest.raises(MetricError, match=r"singular \(eigenvalues 0 \.\. 4\), so its cond"):
        _matrix_condition(G, MetricSettings())


def test_ntk_of_one_sample_raises_a_clear_error():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(MetricError, match="^ntk needs a batch of at least 2 samples$"):
        compute_metric(net, flat_data(torch.randn(1, 3)), "ntk")


def test_lr_without_relu_raises_a_clear_error():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(MetricError, match="^lr counts ReLU activation patterns; the network has"):
        count_linear_regions(net, [torch.randn(4, 3)])


def test_jacob_cov_of_a_dead_network_says_why():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3, 2))
    with torch.no_grad():
        net[1].weight.zero_()  # the output ignores the input: constant Jacobian rows
    with pytest.raises(MetricError, match=r"undefined \(the network ignores its input: e\.g\."):
        compute_metric(net, flat_data(torch.randn(4, 3)), "jacob_cov")


def test_vote_accuracy_refuses_missing_or_nonfinite_values():
    with pytest.raises(ValueError, match="^vote_accuracy needs the scores of at least one metric"):
        vote_accuracy({}, [1.0, 2.0])
    with pytest.raises(ValueError, match="^vote_accuracy needs finite scores and accuracies"):
        vote_accuracy({"a": [1.0, float("nan")]}, [1.0, 2.0])
    with pytest.raises(ValueError, match="^vote_accuracy needs finite scores and accuracies"):
        vote_accuracy({"a": [1.0, 2.0]}, [1.0, float("inf")])


@pytest.mark.parametrize("which", ["supernet", "one-arch network"])
def test_lr_thin_copy_keeps_the_candidates_of_the_network(which):
    """A one-arch network instantiates fewer ops: its thin copy must too (the seeded init
    draws per instantiated layer), so its count is the hand count with its own candidates."""
    torch.manual_seed(0)
    net = Supernet(C=4, N=1, num_classes=10) if which == "supernet" else tiny_supernet()
    images = torch.randn(5, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    count = supernet_linear_regions(
        net, images, torch.Generator().manual_seed(5), samples=40, batches=2, crop=3
    )
    assert count == thin_copy_regions_by_hand(net, images, 5, samples=40, batches=2, crop=3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_zen_on_the_gpu_equals_zen_on_the_cpu():
    """The Gaussian inputs follow the network to its device (drawn on the CPU generator)."""
    net, shape = ConvBnNet(), (6, 3, 5, 5)
    cpu = zen_score(net, shape, torch.Generator().manual_seed(7))
    gpu = zen_score(net.cuda(), shape, torch.Generator().manual_seed(7))
    assert gpu == pytest.approx(cpu, rel=1e-4)
