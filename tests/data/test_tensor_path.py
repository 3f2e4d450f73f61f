"""The decoded-tensor data path: augmentation and normalisation against torchvision, seeded
batches, the on-disk cache, image sizes, and the loader path's seeded order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as TF

from fewshot.data import make_datamodule, scoring_data
from fewshot.data.base import CIFAR10_MEAN, CIFAR10_STD
from fewshot.data.cache import CACHE_FOLDER, cache_path
from fewshot.data.tensor import (
    Augmentation,
    TensorSet,
    TrainBatches,
    augment_batch,
    draw_augmentation,
    normalise,
    seeded_generator,
)
from fewshot.errors import UsageError
from fewshot.models.supernet import Supernet, build_network
from fewshot.spaces.nb201 import Mask
from tests.fakes import write_image_folder


def hand_made(n: int = 3, size: int = 6) -> torch.Tensor:
    """Images whose every pixel is distinct and non-zero: value = 1 + position (mod 255)."""
    x = torch.arange(n * 3 * size * size).reshape(n, 3, size, size) % 254 + 1
    return x.to(torch.uint8)


def test_crop_and_flip_match_torchvision_at_the_same_offsets():
    x, pad = hand_made(), 2
    offsets = torch.tensor([[0, 4], [2, 2], [4, 1]])
    flips = torch.tensor([False, True, True])
    out = augment_batch(x, offsets, flips, pad)
    for i in range(len(x)):
        dy, dx = (int(v) for v in offsets[i])
        ref = TF.crop(TF.pad(x[i], [pad]), dy, dx, 6, 6)
        ref = TF.hflip(ref) if flips[i] else ref
        assert torch.equal(out[i], ref), i
    # offset (pad, pad) without a flip is the image itself; offset 0 shows the zero padding
    same = augment_batch(x, torch.full((3, 2), pad), torch.zeros(3, dtype=torch.bool), pad)
    assert torch.equal(same, x)
    assert int(out[0, :, :2].max()) == 0 and int(out[0, :, 2:, :4].min()) > 0


def test_crop_by_hand_on_a_tiny_image():
    x = torch.tensor([[[1, 2], [3, 4]]], dtype=torch.uint8).expand(3, 2, 2)[None]
    out = augment_batch(x, torch.tensor([[0, 1]]), torch.tensor([True]), 1)
    # padded rows 0..1, cols 1..2 of [[0,0,0,0],[0,1,2,0],[0,3,4,0],...] = [[0,0],[1,2]], mirrored
    assert out[0, 0].tolist() == [[0, 0], [2, 1]]


def test_normalise_is_torchvision_to_tensor_and_normalize_bitwise():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    aug = Augmentation(CIFAR10_MEAN, CIFAR10_STD)
    ref = T.Compose([T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    for i in range(4):
        image = TF.to_pil_image(x[i])
        assert torch.equal(normalise(x[i : i + 1], aug)[0], ref(image))
    # statistics: a constant image of the mean pixel normalises to ~0, mean + std to ~1
    mean_px = torch.tensor([round(m * 255) for m in CIFAR10_MEAN], dtype=torch.uint8)
    z = normalise(mean_px.view(1, 3, 1, 1), aug)
    assert z.abs().max() < 0.01


def test_draws_cover_all_offsets_and_both_flips():
    offsets, flips = draw_augmentation(4000, 4, seeded_generator(0, 0, 0))
    assert set(offsets.flatten().tolist()) == set(range(9))
    assert 0.45 < flips.float().mean() < 0.55


def batches(seed: int, epoch: int, n_batches: int = 3):
    data = TensorSet(hand_made(20, 8), torch.arange(20))
    tb = TrainBatches(data, range(2, 20), 4, seed, Augmentation(pad=2, flip=True))
    return [tb[(epoch, b)] for b in range(n_batches)]


def test_same_seed_and_epoch_same_batches_else_different():
    a, b = batches(0, 1), batches(0, 1)
    assert all(torch.equal(x, y) and torch.equal(u, v) for (x, u), (y, v) in zip(a, b, strict=True))
    assert not torch.equal(a[0][0], batches(0, 2)[0][0])
    assert not torch.equal(a[0][0], batches(1, 1)[0][0])
    # an epoch holds every training example once
    data = TensorSet(hand_made(20, 8), torch.arange(20))
    tb = TrainBatches(data, range(2, 20), 4, 0, Augmentation())
    assert len(tb) == 5 and sorted(torch.cat([tb[(3, b)][1] for b in range(5)]).tolist()) == list(
        range(2, 20)
    )


def test_loader_follows_set_epoch_on_both_paths(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=6, size=8)
    for path in ("tensor", "loader"):
        dm = make_datamodule("folder", data_root=root, image_size=8, batch_size=5, data_path=path)
        loader = dm.train_dataloader()
        first = [y.tolist() for _, y in loader]
        again = [(x, y.tolist()) for x, y in dm.train_dataloader()]
        assert first == [y for _, y in again], path
        loader.sampler.set_epoch(1)
        assert [y.tolist() for _, y in loader] != first, path
        xs = [x for x, _ in loader]
        loader.sampler.set_epoch(1)
        assert all(torch.equal(a, b) for a, b in zip(xs, [x for x, _ in loader], strict=True))


def test_held_out_and_scoring_batches_are_the_same_on_both_paths(tmp_path):
    root = write_image_folder(tmp_path / "imgs", per_class=5, size=12)
    dms = [
        make_datamodule("folder", data_root=root, image_size=8, val_fraction=0.2, data_path=p)
        for p in ("tensor", "loader")
    ]
    assert [dm.resolved_data_path() for dm in dms] == ["tensor", "loader"]
    for split in ("val", "test"):
        a, b = (next(iter(getattr(dm, f"{split}_dataloader")())) for dm in dms)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for augment in (False, True):
        a, b = (scoring_data(dm, num_batches=1, batch_size=6, seed=2, augment=augment)
                for dm in dms)  # fmt: skip
        assert torch.equal(a.inputs, b.inputs), augment


def test_cache_is_one_file_rebuilt_when_the_source_changes(tmp_path, caplog):
    root = write_image_folder(tmp_path / "imgs", per_class=3, size=8)
    dm = make_datamodule("folder", data_root=root, image_size=8)
    dm.setup()
    folder = cache_path(root, "folder-8px.pt").parent
    files = list(folder.iterdir())
    assert [f.name for f in files] == ["folder-8px.pt"]
    first = dm._tensors[0].images.clone()
    stamp = files[0].stat().st_mtime_ns
    make_datamodule("folder", data_root=root, image_size=8).setup()
    assert files[0].stat().st_mtime_ns == stamp  # reused
    # another image replaces one file: the cache is rebuilt and holds the new pixels
    target = sorted((root / "train" / "cat").iterdir())[0]
    Image.new("RGB", (8, 8), (7, 8, 9)).save(tmp_path / "new.png")
    os.replace(tmp_path / "new.png", target)
    dm2 = make_datamodule("folder", data_root=root, image_size=8)
    dm2.setup()
    assert not torch.equal(dm2._tensors[0].images, first)
    # another size is another file
    make_datamodule("folder", data_root=root, image_size=16).setup()
    assert len(list(folder.iterdir())) == 2
    assert sorted(p.name for p in root.iterdir()) == ["test", "train"]  # nothing in the data


def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path, caplog):
    root = write_image_folder(tmp_path / "imgs", per_class=2, size=8)
    make_datamodule("folder", data_root=root, image_size=8).setup()
    cache = cache_path(root, "folder-8px.pt")
    good = make_datamodule("folder", data_root=root, image_size=8)
    good.setup()
    cache.write_bytes(b"not a torch file")
    dm = make_datamodule("folder", data_root=root, image_size=8)
    with caplog.at_level("WARNING", logger="fewshot"):
        dm.setup()
    assert "not a readable data cache" in caplog.text
    assert torch.equal(dm._tensors[0].images, good._tensors[0].images)
    assert torch.load(cache, weights_only=True)["tensors"]["train_images"].dtype == torch.uint8


@pytest.mark.parametrize("read_only", [False, True])
def test_the_cache_lives_in_fewshot_cache_never_in_the_data(tmp_path, monkeypatch, read_only):
    root = write_image_folder(tmp_path / "imgs", per_class=2, size=8)
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    root.chmod(0o555 if read_only else 0o755)
    try:
        path = cache_path(root, "folder-8px.pt")
        assert path.is_relative_to(tmp_path / "cache")
        make_datamodule("folder", data_root=root, image_size=8).setup()
        assert path.is_file() and not (root / CACHE_FOLDER).exists()
    finally:
        root.chmod(0o755)


def test_the_cache_goes_beside_the_data_when_asked(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "imgs", per_class=2, size=8)
    monkeypatch.setenv("FEWSHOT_CACHE", str(root / CACHE_FOLDER))
    make_datamodule("folder", data_root=root, image_size=8).setup()
    assert cache_path(root, "folder-8px.pt").is_relative_to(root / CACHE_FOLDER)
    again = make_datamodule("folder", data_root=root, image_size=8)
    again.setup()  # the cache folder inside the source does not change its fingerprint
    assert len(list((root / CACHE_FOLDER).rglob("*.pt"))) == 1


def test_default_cache_root_is_the_users_cache_folder(monkeypatch):
    from fewshot.data.cache import default_cache_root

    monkeypatch.delenv("FEWSHOT_CACHE")
    assert default_cache_root() == Path.home() / ".cache" / "fewshot"


def test_tests_never_cache_in_the_users_home(tmp_path_factory):
    """tests/conftest.py points FEWSHOT_CACHE into the session's temporary folder, for this
    process and the subprocesses the tests start."""
    from fewshot.data.cache import default_cache_root

    root = default_cache_root()
    assert os.environ["FEWSHOT_CACHE"] == str(root)
    assert root.is_relative_to(tmp_path_factory.getbasetemp())
    assert not root.is_relative_to(Path.home() / ".cache")


def test_data_path_option_is_checked_and_auto_resolves():
    with pytest.raises(UsageError, match="data_path must be one of auto, tensor, loader"):
        make_datamodule("synthetic", data_path="gpu")
    with pytest.raises(UsageError, match="image_size must be an integer >= 4"):
        make_datamodule("digits", image_size=2)
    assert make_datamodule("synthetic").resolved_data_path() == "tensor"
    assert make_datamodule("synthetic", data_path="loader").resolved_data_path() == "loader"


@pytest.mark.parametrize("size", [8, 16, 32])
def test_image_size_for_any_data_set_and_nb201_at_that_size(size):
    dm = make_datamodule("digits", image_size=size, batch_size=4)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, size, size)
    loader_x, _ = next(
        iter(
            make_datamodule(
                "digits", image_size=size, data_path="loader", batch_size=4
            ).val_dataloader()
        )
    )
    assert loader_x.shape == (4, 3, size, size)
    net = Supernet(C=4, N=1, num_classes=10, candidates=Mask.full())
    arch = net.sample_arch(torch.Generator().manual_seed(0))
    out = net(x, arch)
    torch.nn.functional.cross_entropy(out, y).backward()
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    single = build_network(arch, C=4, N=1, num_classes=10)  # one arch's own network
    out = single(x)
    torch.nn.functional.cross_entropy(out, y).backward()
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    assert all(p.grad is not None for p in single.parameters() if p.requires_grad)


def test_device_placement_keeps_batches(tmp_path):
    """The device code path (tensors held on the training device) on CPU tensors."""
    dm = make_datamodule("synthetic", batch_size=8, num_train=40, data_path="tensor")
    a = [x for x, _ in dm.train_dataloader()]
    dm.to_device("cpu")
    assert dm.data_device == torch.device("cpu")
    b = [x for x, _ in dm.train_dataloader()]
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_shared_subset_cache_is_one_file(shared_data, tmp_path, monkeypatch):
    root = shared_data / "cifar10-subset"
    if not (root / "train").is_dir():
        pytest.skip(f"{root} is absent")
    monkeypatch.setenv("FEWSHOT_CACHE", str(tmp_path / "cache"))
    dm = make_datamodule("folder", data_root=root, image_size=16, data_path="tensor")
    dm.setup()
    assert dm._tensors[0].images.shape == (10_000, 3, 16, 16)
    path = cache_path(root, "folder-16px.pt")
    assert path.is_file() and len(list(path.parent.iterdir())) == 1


@pytest.mark.parametrize("data_path", ["tensor", "loader"])
def test_a_tiny_training_run_is_deterministic_for_a_seed(tmp_path, data_path):
    from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet

    def train(seed: int, out: str) -> dict[str, torch.Tensor]:
        dm = make_datamodule("digits", batch_size=32, image_size=8, seed=seed, data_path=data_path)
        hw = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False,
                             limit_train_batches=3, limit_val_batches=1)  # fmt: skip
        module, _ = train_subsupernet(
            Mask.full(), dm, tmp_path / out, TrainSettings(C=4, N=1, epochs=2, seed=seed), hw
        )
        return {k: v.clone() for k, v in module.supernet.state_dict().items()}

    a, b, c = train(0, "a"), train(0, "b"), train(1, "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_augmented_scoring_batches_of_float_data_are_the_same_on_both_paths():
    """digits: float images, crop with padding 4 and no flip (torchvision on tensors)."""
    a, b = (
        scoring_data(make_datamodule("digits", data_path=p), batch_size=16, seed=5, augment=True)
        for p in ("tensor", "loader")
    )
    assert torch.equal(a.inputs, b.inputs)
    plain = scoring_data(make_datamodule("digits"), batch_size=16, seed=5)
    assert not torch.equal(a.inputs, plain.inputs)


def test_a_prefix_of_the_held_out_set_spans_the_classes(tmp_path):
    """An image folder is sorted by class; the held-out set must not be, or its first images
    (a search's first validation batches, the ranking study's first N images) are one class."""
    from fewshot.data import make_datamodule

    root = write_image_folder(tmp_path / "imgs", per_class=20, size=8)
    dm = make_datamodule("folder", data_root=root, batch_size=8, seed=0, val_fraction=0.5,
                         download=False)  # fmt: skip
    dm.setup("fit")
    labels = [int(dm.val_dataset()[i][1]) for i in range(10)]
    assert len(set(labels)) > 1, labels


def test_a_whole_epoch_made_at_once_equals_its_batches_made_one_by_one():
    """The lean data path: the first batch asked of an epoch makes the epoch in one gather;
    every batch (the short last one, and an epoch entered mid-way, as a resume does) is
    bitwise the batch made alone with its own draws."""
    data = TensorSet(hand_made(23, 8), torch.arange(23))
    aug = Augmentation(mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4), pad=2, flip=True)
    whole = TrainBatches(data, range(1, 23), 4, 7, aug)
    alone = TrainBatches(data, range(1, 23), 4, 7, aug, epoch_bytes=0)
    assert whole._whole_epochs() and not alone._whole_epochs()
    for epoch, order in ((0, range(6)), (1, [3, 4, 5, 0, 1, 2])):
        for b in order:
            (x, y), (u, v) = whole[(epoch, b)], alone[(epoch, b)]
            assert torch.equal(x, u) and torch.equal(y, v), (epoch, b)
    assert len(whole[(1, 5)][1]) == 2  # 22 examples: the last batch holds 2
