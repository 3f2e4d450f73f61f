"""Today's defaults train bit for bit as before the one trainer (issue 30, item 1).

The hashes below are sha256 digests of the final weights (every ``state_dict`` tensor: name,
dtype, shape, bytes, keys sorted) of five tiny trainings, recorded on main at c41ef3c (before
the optimiser settings were unified and the sampling rules added) with one torch thread: a
leaf, a one-shot supernet stopped at a step budget, a split warm-up, a standalone arch and
refine's AnyNet evaluation. Float results depend on the CPU's kernels, so they are compared only
on the platform they were recorded on (torch version, CPU capability, machine); elsewhere the
test skips and says why.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from fewshot.data import make_datamodule
from fewshot.spaces import get_space
from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet

RECORDED_ON = ("2.14", "AVX512", "x86_64")
"""(torch major.minor, ``torch.backends.cpu.get_cpu_capability()``, machine) of the hashes."""

HASHES = {
    "leaf": "913f7888d5eb4ec45d177d76b1ba500168308f124be5804669e21f8f7e5f43a7",
    "oneshot": "12a06db32279216f445b8b526d5599257704aab2176c7b8d635856312b3d628f",
    "warmup": "f6b7dad8b879660b2c2d14fe8e121078ea4e84d62e6722ef7bd08935157bdf27",
    "standalone": "eb0ca6f347c247e7cee104c53d77d0cc7030a34f7a626115e7f3f32e2e974e60",
    "anynet": "5c7d09e2d05d85c8660e3da06bf97b3578f85dfaa5c1a230bc1a99d760515942",
}
HW = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False)
SPACE = get_space("nb201")
LEAF = SPACE.full_mask().restrict(0, SPACE.ops[1:3]).restrict(3, SPACE.ops[2:])


def _platform() -> tuple[str, str, str]:
    version = ".".join(torch.__version__.split(".")[:2])
    return version, torch.backends.cpu.get_cpu_capability(), platform.machine()


@pytest.fixture(autouse=True)
def _recording_platform() -> None:
    if torch.get_num_threads() != 1:
        pytest.skip("the hashes are of one-thread training (FEWSHOT_TEST_THREADS=1)")
    if _platform() != RECORDED_ON:
        pytest.skip(f"hashes recorded on {RECORDED_ON}, this is {_platform()}")


def digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state_dict: each tensor's name, dtype, shape and bytes, keys sorted."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _data():
    return make_datamodule("synthetic", batch_size=16, num_train=96, num_test=32, image_size=8)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "weights.pt", weights_only=True)


def test_a_leaf_trains_as_before(tmp_path):
    train_subsupernet(LEAF, _data(), tmp_path, TrainSettings(C=4, N=1, epochs=2, seed=3), HW)
    assert digest(_weights(tmp_path)) == HASHES["leaf"]


def test_a_one_shot_supernet_trains_as_before(tmp_path):
    settings = TrainSettings(C=4, N=1, epochs=2, seed=5, max_steps=9)
    train_subsupernet(SPACE.full_mask(), _data(), tmp_path, settings, HW)
    assert digest(_weights(tmp_path)) == HASHES["oneshot"]


def test_the_uniform_rule_named_trains_as_the_default(tmp_path):
    settings = TrainSettings(C=4, N=1, epochs=2, seed=3, sampling="uniform")
    train_subsupernet(LEAF, _data(), tmp_path, settings, HW)
    assert digest(_weights(tmp_path)) == HASHES["leaf"]


def test_a_split_warm_up_trains_as_before():
    from fewshot.splitting.engine import initial_supernet
    from fewshot.splitting.warmup import WarmupSettings, warm_up

    net = initial_supernet(C=4, N=1, num_classes=10, seed=7, space=SPACE)
    g = torch.Generator().manual_seed(11)
    data = TensorDataset(
        torch.randn(40, 3, 8, 8, generator=g), torch.randint(10, (40,), generator=g)
    )

    def epoch(gen: torch.Generator) -> DataLoader:
        return DataLoader(data, batch_size=8, shuffle=True, generator=gen)

    assert warm_up(net, LEAF, epoch, WarmupSettings(epochs=2), seed=13) == 10
    assert digest(net.state_dict()) == HASHES["warmup"]


def test_a_standalone_arch_trains_as_before(tmp_path):
    from fewshot.training.standalone import StandaloneSettings, train_arch

    arch = list(LEAF.archs())[5]
    train_arch(arch, _data(), StandaloneSettings(C=4, N=1, epochs=1, seed=2), out_dir=tmp_path)
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert digest(checkpoint["state_dict"]) == HASHES["standalone"]


def test_refines_anynet_evaluation_trains_as_before(tmp_path):
    from fewshot.refine import evaluation
    from fewshot.spaces.anynet import AnyNetConfig

    config = AnyNetConfig((1, 1, 1), (8, 16, 16), (1, 2, 1), (2, 4, 4))
    recipe = evaluation.TrainingRecipe(epochs=2, batch_size=16, lr=0.05, milestones=(1,))
    evaluation.train_and_test(config, _data(), recipe, seed=0, out_dir=tmp_path, hardware=HW)
    assert digest(_weights(tmp_path)) == HASHES["anynet"]
