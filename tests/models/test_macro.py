"""fewshot.models.macro: benchmark-exact standalone nets, the maskable supernet, masks, modes."""

from __future__ import annotations

import json

import pytest
import torch

from fewshot.models.macro import (
    MacroSupernet,
    build_macro_network,
    count_flops,
    count_params,
)
from fewshot.models.supernet import load_shared_weights
from fewshot.spaces import get_space
from fewshot.spaces.macro import Arch, Mask, all_archs

# (arch, params, flops) copied from nas-bench-macro_cifar10.json, so these run without it
BENCHMARK_ROWS = [
    ("00000000", 387_882, 7_713_280),
    ("11111111", 1_588_874, 53_246_464),
    ("22222222", 2_932_586, 105_660_928),
    ("22212220", 1_985_514, 85_164_544),
    ("02012100", 890_666, 47_327_744),
    ("10020001", 1_019_146, 32_342_528),
]
SOME_ARCHS = [Arch.from_string(a) for a, _, _ in BENCHMARK_ROWS] + list(all_archs())[7::1601]


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def randomise(net: torch.nn.Module) -> None:
    """Every float parameter and BN statistic random, so equal outputs are not a coincidence."""
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name == "mask" or not t.is_floating_point():
                continue
            t.copy_(
                torch.rand_like(t) + 0.5 if name.endswith("running_var") else torch.randn_like(t)
            )


def tiny(**kwargs) -> MacroSupernet:
    torch.manual_seed(0)
    net = MacroSupernet(C=4, **kwargs)
    randomise(net)
    return net


def images(n: int = 4, size: int = 16) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(1))


# -- the standalone network is the benchmark's model ---------------------------------------


@pytest.mark.parametrize(("arch", "params", "flops"), BENCHMARK_ROWS)
def test_counts_match_benchmark_rows(arch, params, flops):
    assert n_params(build_macro_network(arch)) == params
    assert count_params(arch) == params
    assert count_flops(arch) == flops


def test_counts_match_benchmark_for_every_arch(shared_data):
    """6,561/6,561 ``params`` (and ``flops``) equal; built modules checked on a sample."""
    path = shared_data / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    entries = json.loads(path.read_text())
    assert len(entries) == 6561
    wrong = [a for a, e in entries.items() if count_params(a) != e["params"]]
    assert not wrong, f"{len(wrong)} params differ, e.g. {wrong[:3]}"
    wrong = [a for a, e in entries.items() if count_flops(a) != e["flops"]]
    assert not wrong, f"{len(wrong)} flops differ, e.g. {wrong[:3]}"
    for arch in sorted(entries)[::547]:
        assert n_params(build_macro_network(arch)) == entries[arch]["params"], arch


@pytest.mark.parametrize("arch", SOME_ARCHS[:4], ids=str)
@pytest.mark.parametrize(("C", "N", "classes", "head"), [(4, 1, 3, None), (8, 2, 100, 64)])
def test_count_params_equals_the_built_net_at_any_size(arch, C, N, classes, head):
    net = build_macro_network(arch, C=C, N=N, num_classes=classes, head_channels=head)
    size = {"C": C, "N": N, "num_classes": classes, "head_channels": head}
    assert n_params(net) == count_params(arch, **size)


def test_copies_of_a_layer_run_its_block():
    net = build_macro_network("01200012", C=4, N=2)
    assert len(net.layers) == 16
    assert [next(iter(layer.ops)) for layer in net.layers][::2] == list(
        Arch.from_string("01200012").ops
    )
    assert isinstance(net.layers[1].ops["id"], torch.nn.Identity)  # the copy keeps the shape
    assert net.layers[5].ops["ir_5x5_t6"].residual  # likewise
    assert net(images()).shape == (4, 10)


def test_standalone_layout():
    net = build_macro_network("01200012", C=4)
    ops = [next(iter(layer.ops)) for layer in net.layers]
    assert ops == ["id", "ir_3x3_t3", "ir_5x5_t6", "id", "id", "id", "ir_3x3_t3", "ir_5x5_t6"]
    assert isinstance(net.layers[0].ops["id"], torch.nn.Sequential)  # stride 2: 1x1 conv + BN
    assert isinstance(net.layers[3].ops["id"], torch.nn.Identity)
    assert isinstance(net.layers[5].ops["id"], torch.nn.Sequential)
    assert net.layers[1].ops["ir_3x3_t3"].residual  # 8 -> 8 channels at stride 1
    assert net.layers[7].ops["ir_5x5_t6"].residual
    assert not net.layers[2].ops["ir_5x5_t6"].residual  # stride 2, 8 -> 16 channels
    assert net(images()).shape == (4, 10)


def test_body_prefix_names_the_searchable_layers():
    names = [n for n, _ in MacroSupernet(C=4).named_parameters()]
    body = [n for n in names if n.startswith(MacroSupernet.body_prefix)]
    assert body and all(
        n.startswith(("stem.", "head.", "classifier.")) for n in names if n not in body
    )


@pytest.mark.parametrize("N", [1, 2])
def test_standalone_keys_are_a_subset_of_the_supernet(N):
    full = set(MacroSupernet(C=4, N=N).state_dict())
    for arch in SOME_ARCHS:
        assert set(build_macro_network(arch, C=4, N=N).state_dict()) <= full


# -- forward modes -------------------------------------------------------------------------


@pytest.mark.parametrize("N", [1, 2])
@pytest.mark.parametrize("arch", SOME_ARCHS[::3], ids=str)
def test_single_path_equals_standalone(arch, N):
    supernet = tiny(N=N).eval()
    standalone = build_macro_network(arch, C=4, N=N).eval()
    load_shared_weights(standalone, supernet)
    x = images()
    with torch.no_grad():
        expected = standalone(x)
        assert torch.allclose(supernet(x, arch), expected, atol=1e-5)
        supernet.mode = "single_path"
        assert torch.allclose(supernet(x, arch), expected, atol=1e-5)
        supernet.set_mask(Mask.from_arch(arch))
        supernet.mode = "mixture"
        assert torch.allclose(supernet(x), expected, atol=1e-5)


def test_mixture_is_the_mean_of_the_enabled_blocks():
    """A mixed layer outputs the mean of its enabled blocks (here at a stride-2 layer)."""
    supernet = tiny().eval()
    x = supernet.stem(images())
    layer = supernet.layers[0]
    with torch.no_grad():
        mean = sum(layer.ops[name](x) for name in ("id", "ir_5x5_t6")) / 2
        assert torch.allclose(layer(x, ("id", "ir_5x5_t6")), mean, atol=1e-6)
        assert torch.equal(layer(x, ("ir_3x3_t3",)), layer.ops["ir_3x3_t3"](x))


def test_single_path_draws_inside_the_mask():
    mask = Mask.full().restrict(0, ["ir_3x3_t3"]).restrict(4, ["id", "ir_5x5_t6"])
    supernet = tiny(candidates=mask, mode="single_path")
    drawn = {supernet.sample_arch(torch.Generator().manual_seed(s)) for s in range(40)}
    assert all(a in mask for a in drawn)
    assert len(drawn) > 20
    torch.manual_seed(3)
    a = supernet(images())
    torch.manual_seed(3)
    assert torch.equal(a, supernet(images()))  # the draw uses torch's global generator


def test_mixture_forward_and_backward():
    supernet = tiny()
    supernet(images()).sum().backward()
    grads = [p.grad for p in supernet.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


# -- masks, weights, options ---------------------------------------------------------------


def test_mask_is_a_buffer_saved_with_the_weights():
    supernet = tiny()
    mask = Mask.full().restrict(2, ["id"])
    supernet.set_mask(mask)
    assert supernet.state_dict()["mask"].shape == (8, 3)
    other = MacroSupernet(C=4)
    other.load_state_dict(supernet.state_dict())
    assert other.search_mask == mask


def test_set_mask_refuses_blocks_not_instantiated():
    arch = Arch.from_string("11111111")
    net = build_macro_network(arch, C=4)
    with pytest.raises(ValueError, match="did not instantiate"):
        net.set_mask(Mask.full())
    with pytest.raises(ValueError, match="outside the supernet's mask"):
        net(images(), Arch.from_string("21111111"))


def test_candidates_instantiate_only_enabled_blocks():
    mask = Mask.full().restrict(5, ["ir_5x5_t6"])
    net = MacroSupernet(C=4, candidates=mask)
    assert list(net.layers[5].ops) == ["ir_5x5_t6"]
    assert list(net.layers[4].ops) == ["id", "ir_3x3_t3", "ir_5x5_t6"]


def test_weight_transfer_into_a_standalone_net():
    supernet = tiny()
    net = build_macro_network("22212220", C=4)
    load_shared_weights(net, supernet)
    source = supernet.state_dict()
    for key, value in net.state_dict().items():
        if key != "mask":
            assert torch.equal(value, source[key]), key


@pytest.mark.parametrize("options", [{"affine": False}, {"track_running_stats": False}])
def test_bn_options_reach_the_searchable_layers(options):
    net = MacroSupernet(C=4, **options)
    bns = [m for m in net.layers.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    key = next(iter(options))
    assert bns and all(getattr(bn, key) is False for bn in bns)
    assert net(images()).shape == (4, 10)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        MacroSupernet(C=4, mode="darts")
    with pytest.raises(ValueError, match="positive"):
        MacroSupernet(C=0)
    with pytest.raises(ValueError, match="positive"):
        MacroSupernet(C=4, N=0)
    with pytest.raises(ValueError, match="NAS-Bench-Macro arch string"):
        build_macro_network("|nor_conv_3x3~0|")
    with pytest.raises(ValueError, match="NAS-Bench-Macro masks"):
        MacroSupernet(C=4, candidates=get_space("nb201").full_mask())
    nb201_arch = get_space("nb201").Arch.from_string(
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    )
    with pytest.raises(ValueError, match="outside the supernet's mask"):
        tiny()(images(), nb201_arch)
