"""Packs (issue 30): K networks trained in one pass equal each trained alone, deterministic,
and a killed pack resumes to the same bits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from fewshot import faults
from fewshot.data import SyntheticDataModule
from fewshot.errors import UsageError
from fewshot.spaces import get_space
from fewshot.training.pack import (
    PACK_CHECKPOINT,
    PackMember,
    PackSettings,
    PackTrainer,
    auto_pack_size,
    chunks,
    datamodule_batches,
    network_bytes,
)
from fewshot.training.runner import TrainSettings, train_subsupernet
from fewshot.training.trainer import CPU

SPACE = get_space("nb201")
SETTINGS = PackSettings(C=4, N=1, epochs=2, max_steps=6)


def _masks():
    full = SPACE.full_mask()
    table = full.to_array().copy()
    table[0, :] = False
    table[0, SPACE.ops.index(SPACE.ops[3])] = True  # edge 0 restricted to one op
    leaf = SPACE.mask_type(table)
    table = full.to_array().copy()
    table[:, SPACE.ops.index(SPACE.zero_op)] = False  # no zero op anywhere
    return [full, leaf, SPACE.mask_type(table)]


def _datamodule(seed: int) -> SyntheticDataModule:
    return SyntheticDataModule(image_size=8, num_train=160, num_test=16, batch_size=32,
                               seed=seed, val_fraction=0.2, data_path="tensor")  # fmt: skip


def _members(tmp: Path, seeds=(0, 1, 2)) -> list[PackMember]:
    members = []
    for i, (mask, seed) in enumerate(zip(_masks(), seeds, strict=True)):
        batches, per_epoch = datamodule_batches(_datamodule(seed))
        members.append(PackMember(f"m{i}", mask, seed, batches, per_epoch, tmp / f"m{i}"))
    return members


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)


@pytest.mark.parametrize("sampling", ["uniform", "balanced"])
def test_each_packed_network_equals_its_lightning_training_alone(tmp_path: Path, sampling: str):
    torch.set_num_threads(1)
    members = _members(tmp_path / "pack")
    PackTrainer(members, replace(SETTINGS, sampling=sampling), tmp_path / "pack").fit()
    for member in members:
        alone = tmp_path / "alone" / member.name
        settings = TrainSettings(C=4, N=1, epochs=2, max_steps=6, seed=member.seed,
                                 sampling=sampling)  # fmt: skip
        train_subsupernet(member.mask, _datamodule(member.seed), alone, settings, CPU)
        packed, reference = _weights(member.out_dir), _weights(alone)
        assert packed.keys() == reference.keys()
        for key, value in reference.items():
            if value.is_floating_point():
                torch.testing.assert_close(packed[key], value, atol=2e-5, rtol=1e-4, msg=key)
            else:
                assert torch.equal(packed[key], value), key


def test_networks_of_a_pack_do_not_interact(tmp_path: Path) -> None:
    """Network 1 trained in a pack of 3 equals network 1 trained in a pack of 1."""
    torch.set_num_threads(1)
    members = _members(tmp_path / "three")
    PackTrainer(members, SETTINGS, tmp_path / "three").fit()
    alone = _members(tmp_path / "one")[1:2]
    PackTrainer(alone, SETTINGS, tmp_path / "one").fit()
    for key, value in _weights(alone[0].out_dir).items():
        torch.testing.assert_close(_weights(members[1].out_dir)[key], value, atol=1e-5,
                                   rtol=1e-4)  # fmt: skip


def _run_interrupted(tmp: Path, stop_at: int, how: str) -> list[PackMember]:
    members = _members(tmp)
    trainer = PackTrainer(members, SETTINGS, tmp)
    original = trainer.train_step

    def step() -> None:
        original()
        if trainer.step == stop_at:
            if how == "signal":
                faults.request_preemption()
            else:
                raise KeyboardInterrupt  # a kill: nothing saved at this step

    trainer.train_step = step  # type: ignore[method-assign]
    with pytest.raises((faults.Preempted, KeyboardInterrupt)):
        trainer.fit()
    assert (tmp / PACK_CHECKPOINT).is_file()
    assert not (members[0].out_dir / "weights.pt").exists()
    PackTrainer(_members(tmp), SETTINGS, tmp).fit()
    return members


@pytest.mark.parametrize("how, stop_at", [("signal", 3), ("kill", 7 - 2)])
def test_an_interrupted_pack_resumes_to_the_same_bits(tmp_path: Path, how: str, stop_at: int):
    torch.set_num_threads(1)
    whole = _members(tmp_path / "whole")
    PackTrainer(whole, SETTINGS, tmp_path / "whole").fit()
    resumed = _run_interrupted(tmp_path / "cut", stop_at, how)
    for a, b in zip(whole, resumed, strict=True):
        wa, wb = _weights(a.out_dir), _weights(b.out_dir)
        assert all(torch.equal(wa[k], wb[k]) for k in wa), a.name
        assert (a.out_dir / "metrics.jsonl").read_text().count("\n") == 2
        rows_a = (a.out_dir / "metrics.jsonl").read_text().splitlines()
        rows_b = (b.out_dir / "metrics.jsonl").read_text().splitlines()
        assert [r.split('"lr"')[0] for r in rows_a] == [r.split('"lr"')[0] for r in rows_b]


def test_a_checkpoint_of_another_pack_is_refused(tmp_path: Path) -> None:
    members = _members(tmp_path)
    trainer = PackTrainer(members, PackSettings(C=4, N=1, epochs=1, max_steps=1), tmp_path)
    trainer.fit()
    other = _members(tmp_path, seeds=(5, 6, 7))
    with pytest.raises(ValueError, match="another pack"):
        PackTrainer(other, PackSettings(C=4, N=1, epochs=1, max_steps=1), tmp_path).fit()


def test_a_rule_that_trains_several_archs_per_step_is_refused(tmp_path: Path) -> None:
    trainer = PackTrainer(_members(tmp_path), replace(SETTINGS, sampling="fairnas"), tmp_path)
    with pytest.raises(ValueError, match="a pack trains one per network"):
        trainer.fit()


def test_pack_size_comes_from_memory_and_splits_the_networks() -> None:
    settings = PackSettings(C=4, N=1)
    per_network = network_bytes(settings, SPACE, 32, 8)
    assert 1e5 < per_network < 1e8  # activations of a tiny supernet: well under 100 MB
    assert auto_pack_size(settings, SPACE, 32, 8, "cpu") >= 1
    assert [len(c) for c in chunks(list(range(7)), 3)] == [3, 3, 1]
    assert chunks([1, 2], None) == [[1, 2]]


def test_a_pack_resumed_under_another_thread_count_is_refused(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    settings = PackSettings(C=4, N=1, epochs=2, max_steps=6)
    trainer = PackTrainer(_members(tmp_path), settings, tmp_path)
    trainer._save()  # a checkpoint at step 0, one thread
    torch.set_num_threads(2)
    try:
        with pytest.raises(UsageError, match="threads: 1 -> 2"):
            PackTrainer(_members(tmp_path), settings, tmp_path).fit()
    finally:
        torch.set_num_threads(1)


def test_an_inheriting_network_equals_its_inheriting_training_alone(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    parent = _members(tmp_path / "parent")[:1]
    PackTrainer(parent, SETTINGS, tmp_path / "parent").fit()
    weights = parent[0].out_dir / "weights.pt"
    batches, per_epoch = datamodule_batches(_datamodule(4))
    leaf = _masks()[1]
    child = PackMember("child", leaf, 4, batches, per_epoch, tmp_path / "child", weights)
    PackTrainer([child], SETTINGS, tmp_path / "child-pack").fit()
    alone = tmp_path / "alone"
    settings = TrainSettings(C=4, N=1, epochs=2, max_steps=6, seed=4)
    train_subsupernet(leaf, _datamodule(4), alone, settings, CPU, inherit_from=weights)
    for key, value in _weights(alone).items():
        torch.testing.assert_close(_weights(child.out_dir)[key], value, atol=2e-5, rtol=1e-4)
    done = (child.out_dir / "done.json").read_text()
    assert '"protocol": "inherited"' in done


def test_an_unreadable_pack_checkpoint_is_set_aside_and_the_pack_trains_again(tmp_path: Path):
    torch.set_num_threads(1)
    settings = PackSettings(C=4, N=1, epochs=1, max_steps=2)
    (tmp_path / PACK_CHECKPOINT).write_bytes(b"not a checkpoint")
    members = _members(tmp_path)
    PackTrainer(members, settings, tmp_path).fit()
    assert (tmp_path / (PACK_CHECKPOINT + ".corrupt")).read_bytes() == b"not a checkpoint"
    assert all((m.out_dir / "weights.pt").is_file() for m in members)


def _group_member(tmp: Path, group, seed: int = 3) -> PackMember:
    batches, per_epoch = datamodule_batches(_datamodule(seed))
    return PackMember("g", group.mask, seed, batches, per_epoch, tmp / "g", group=group)


@pytest.mark.parametrize("sampling", ["uniform", "balanced"])
def test_a_group_member_draws_only_its_groups_archs_and_updates_only_their_ops(
    tmp_path: Path, sampling: str
) -> None:
    """A pack member of an arch group (EFS-NAS): every step's path lies in the group, and the
    step changes no weight its path did not touch (the rest of the mask stays as it was)."""
    torch.set_num_threads(1)
    group = SPACE.arch_groups()[2]
    members = [_group_member(tmp_path, group), *_members(tmp_path)[:1]]
    settings = replace(SETTINGS, sampling=sampling, epochs=3, max_steps=None)
    trainer = PackTrainer(members, settings, tmp_path / "pack")
    drawn = []
    while trainer.step < 12:
        archs = trainer._archs(trainer.step)
        before = trainer.pack.flat.detach().clone()
        trainer.train_step()
        changed = trainer.pack.flat.detach() != before
        assert not (changed & ~trainer.pack.touched(archs)).any()
        drawn.append(archs[0])
    assert all(arch in group for arch in drawn) and len(set(drawn)) > 6


def test_a_group_member_equals_its_lightning_training_alone(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    group = SPACE.arch_groups()[0]
    member = _group_member(tmp_path / "pack", group)
    PackTrainer([member], SETTINGS, tmp_path / "pack").fit()
    alone = tmp_path / "alone"
    settings = TrainSettings(C=4, N=1, epochs=2, max_steps=6, seed=member.seed)
    train_subsupernet(group.mask, _datamodule(member.seed), alone, settings, CPU, group=group)
    for key, value in _weights(alone).items():
        torch.testing.assert_close(_weights(member.out_dir)[key], value, atol=2e-5, rtol=1e-4)
    done = json.loads((member.out_dir / "done.json").read_text())
    assert done["group"] == group.to_dict()
    with pytest.raises(ValueError, match="cannot keep to an arch group"):
        PackTrainer([member], replace(SETTINGS, sampling="fairnas"), tmp_path / "other")
    with pytest.raises(ValueError, match="is not of its mask"):
        replace(member, mask=_masks()[1])


def test_pack_settings_take_the_pack_fields_a_training_has_and_overrides():
    from fewshot.training.standalone import StandaloneSettings

    alone = TrainSettings(C=3, N=2, num_classes=7, epochs=9, max_steps=11, sampling="balanced",
                          lr=0.05, seed=4)  # fmt: skip
    packed = PackSettings.of(alone, max_steps=5)
    assert (packed.C, packed.N, packed.num_classes, packed.epochs) == (3, 2, 7, 9)
    assert (packed.max_steps, packed.sampling, packed.lr) == (5, "balanced", 0.05)
    standalone = PackSettings.of(StandaloneSettings(C=6, epochs=3), num_classes=4)
    assert (standalone.C, standalone.N, standalone.epochs, standalone.lr) == (6, 1, 3, 0.1)
    assert (standalone.max_steps, standalone.sampling, standalone.num_classes) == (
        None, "uniform", 4)  # fmt: skip
