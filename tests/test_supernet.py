"""fewshot.models.supernet: benchmark-faithful standalone nets, masks, forward modes."""

from __future__ import annotations

import csv

import pytest
import torch

from fewshot.models import Supernet, build_network, load_shared_weights
from fewshot.spaces.nb201 import Arch, Mask, all_archs

ARCH = Arch.from_string(
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
)
SOME_ARCHS = [ARCH, *list(all_archs())[1::3907]]  # a few spread over the space


def tiny(**kwargs) -> Supernet:
    """A small supernet (C=4, N=1) with every parameter and BN statistic randomised."""
    torch.manual_seed(0)
    net = Supernet(C=4, N=1, **kwargs)
    randomise(net)
    return net


def randomise(net: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name == "mask" or not t.is_floating_point():
                continue
            t.copy_(
                torch.rand_like(t) + 0.5 if name.endswith("running_var") else torch.randn_like(t)
            )


def images(n: int = 8, size: int = 16) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


# -- the standalone network is the benchmark's model ---------------------------------------


def test_param_count_matches_benchmark(reference_csv):
    """One arch per distinct ``params_M_c10`` value of the reference table (28 values)."""
    by_params: dict[str, str] = {}
    with open(reference_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["params_M_c10"]:
                by_params.setdefault(row["params_M_c10"], row["arch_str"])
    assert len(by_params) >= 20
    for params, arch_str in by_params.items():
        net = build_network(arch_str)  # C=16, N=5, 10 classes: the benchmark's CIFAR-10 model
        count = sum(p.numel() for p in net.parameters())
        assert count == round(float(params) * 1e6), arch_str


def test_standalone_keys_are_a_subset_of_the_supernet():
    full = set(Supernet(C=4, N=1).state_dict())
    for arch in SOME_ARCHS:
        assert set(build_network(arch, C=4, N=1).state_dict()) <= full


# -- forward modes -------------------------------------------------------------------------


@pytest.mark.parametrize("arch", SOME_ARCHS, ids=str)
def test_single_path_equals_standalone(arch):
    supernet = tiny().eval()
    standalone = build_network(arch, C=4, N=1).eval()
    load_shared_weights(standalone, supernet)
    x = images()
    supernet.set_mask(Mask.from_arch(arch))
    with torch.no_grad():
        expected = standalone(x)
        assert torch.allclose(supernet(x), expected, atol=1e-5)
        supernet.set_mask(Mask.full())
        assert torch.allclose(supernet(x, arch), expected, atol=1e-5)
        supernet.mode = "single_path"
        assert torch.allclose(supernet(x, arch), expected, atol=1e-5)


@pytest.mark.parametrize("train", [False, True])
def test_forward_arch_equals_one_arch_mask(train):
    net = tiny().train(train)
    x = images()
    with torch.no_grad():
        forced = net(x, ARCH)
        net.set_mask(Mask.from_arch(ARCH))
        masked = net(x)
    assert torch.allclose(forced, masked, atol=1e-6)
    assert not torch.allclose(forced, tiny().train(train)(x), atol=1e-3)  # the mask matters


def test_mixture_is_the_mean_of_the_enabled_ops():
    net = tiny().eval()
    mask = Mask.full().restrict(2, ["none", "skip_connect", "nor_conv_3x3"])
    net.set_mask(mask)
    edge = net.cells[0].edges[2]
    seen = {}
    edge.register_forward_hook(lambda m, args, out: seen.update(x=args[0], out=out))
    with torch.no_grad():
        net(images())
        x = seen["x"]
        ops = [edge.ops["skip_connect"](x), edge.ops["nor_conv_3x3"](x), torch.zeros_like(x)]
        expected = torch.stack(ops).mean(0)  # 'none' counts in the mean as a zero output
    assert torch.allclose(seen["out"], expected, atol=1e-6)
    assert not torch.allclose(seen["out"], edge.ops["skip_connect"](x))


def test_all_none_edge_outputs_zero():
    net = tiny().eval()
    arch = Arch(("none",) * 6)
    with torch.no_grad():
        out = net(images(), arch)
    # Every cell outputs zeros, so the logits are the classifier's response to a constant
    # feature map: identical for every image.
    assert torch.allclose(out, out[:1].expand_as(out), atol=1e-6)


# -- masks ---------------------------------------------------------------------------------


def test_sampling_stays_inside_the_mask_and_covers_it():
    net = tiny()
    mask = Mask.full().restrict(0, ["none", "avg_pool_3x3"]).restrict(5, ["nor_conv_1x1"])
    net.set_mask(mask)
    g = torch.Generator().manual_seed(0)
    drawn = [net.sample_arch(g) for _ in range(300)]
    assert all(arch in mask for arch in drawn)
    for e in range(6):
        assert {a.ops[e] for a in drawn} == set(mask.ops(e))
    net.mode = "single_path"
    for _ in range(20):
        edge_ops = net.position_ops()
        assert all(len(ops) == 1 for ops in edge_ops)
        assert Arch(tuple(ops[0] for ops in edge_ops)) in mask


def test_arch_outside_the_mask_raises():
    net = tiny()
    net.set_mask(Mask.full().restrict(1, ["skip_connect"]))
    with pytest.raises(ValueError, match="outside the supernet's mask"):
        net(images(), ARCH)  # ARCH has 'none' on edge 1


def test_set_mask_beyond_candidates_raises():
    candidates = Mask.full().restrict(3, ["skip_connect", "nor_conv_1x1"])
    net = Supernet(C=4, N=1, candidates=candidates)
    assert set(net.cells[0].edges[3].ops) == {"skip_connect", "nor_conv_1x1"}
    with pytest.raises(ValueError, match="did not instantiate"):
        net.set_mask(Mask.full())
    net.set_mask(candidates.restrict(3, ["nor_conv_1x1"]))  # a sub-mask is fine


def test_mask_is_saved_and_restored():
    mask = Mask.full().restrict(0, ["nor_conv_3x3"]).restrict(4, ["none", "skip_connect"])
    source = tiny()
    source.set_mask(mask)
    state = source.state_dict()
    assert torch.equal(state["mask"], torch.as_tensor(mask.to_array()))
    target = Supernet(C=4, N=1)
    assert target.search_mask == Mask.full()
    target.load_state_dict(state)
    assert target.search_mask == mask
    x = images()
    with torch.no_grad():
        assert torch.allclose(target.eval()(x), source.eval()(x), atol=1e-6)


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown supernet mode"):
        Supernet(C=4, N=1, mode="darts")
