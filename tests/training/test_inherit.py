"""Weight inheritance: a leaf starts from exactly the one-shot supernet's weights."""

from __future__ import annotations

import json

import pytest
import torch

from fewshot.data import make_datamodule
from fewshot.models.supernet import Supernet
from fewshot.spaces.nb201 import Mask
from fewshot.training.inherit import inherit_weights
from fewshot.training.runner import TrainerSettings, TrainSettings, train_subsupernet


def _leaf_mask() -> Mask:
    return Mask.full().restrict(0, ["nor_conv_3x3"]).restrict(3, ["none", "avg_pool_3x3"])


def test_leaf_gets_every_parent_tensor_and_lacks_the_ops_outside_its_mask():
    torch.manual_seed(0)
    parent = Supernet(C=4, N=1, num_classes=10)
    leaf = Supernet(C=4, N=1, num_classes=10, candidates=_leaf_mask())
    copied = inherit_weights(leaf, parent.state_dict())
    own, source = leaf.state_dict(), parent.state_dict()
    assert copied == len(own) - 1  # all but the leaf's own mask buffer
    for key, value in own.items():
        if key != "mask":
            assert torch.equal(value, source[key]), key
    assert torch.equal(own["mask"], torch.as_tensor(_leaf_mask().to_array()))
    absent = [k for k in source if k not in own]
    assert absent and all(".edges.0.ops." in k or ".edges.3.ops." in k for k in absent)
    assert not any("edges.0.ops.skip_connect" in k or "edges.3.ops.nor_conv_1x1" in k
                   for k in own)  # fmt: skip


def test_parent_of_another_width_or_without_the_leafs_ops_is_refused():
    leaf = Supernet(C=4, N=1, num_classes=10, candidates=_leaf_mask())
    with pytest.raises(ValueError, match="shape"):
        inherit_weights(leaf, Supernet(C=8, N=1, num_classes=10).state_dict())
    narrow = Supernet(C=4, N=1, num_classes=10, candidates=Mask.full().restrict(0, ["none"]))
    with pytest.raises(ValueError, match="lacks"):
        inherit_weights(leaf, narrow.state_dict())


def test_inherited_training_starts_from_the_parent_and_records_it(tmp_path):
    dm = make_datamodule("synthetic", batch_size=16, seed=0, num_train=64, num_test=8,
                         val_fraction=0.25)  # fmt: skip
    hw = TrainerSettings(limit_val_batches=0, progress_bar=False, threads=1)
    parent_dir, leaf_dir = tmp_path / "parent", tmp_path / "leaf"
    train_subsupernet(Mask.full(), dm, parent_dir, TrainSettings(C=4, N=1, epochs=1), hw)
    steps = TrainSettings(C=4, N=1, epochs=5, max_steps=3)
    module, _ = train_subsupernet(_leaf_mask(), dm, leaf_dir, steps, hw,
                                  inherit_from=parent_dir / "weights.pt")  # fmt: skip
    done = json.loads((leaf_dir / "done.json").read_text())
    assert done["protocol"] == "inherited" and done["global_step"] == 3  # max_steps is the budget
    # Zero steps of training would leave exactly the parent's weights; here the stem moved
    # from the parent's values by a few SGD steps, not from a fresh init (much further away).
    parent = torch.load(parent_dir / "weights.pt", weights_only=True)
    stem = module.supernet.state_dict()["stem.0.weight"]
    assert (stem - parent["stem.0.weight"]).abs().max() < 0.05
    fresh = Supernet(C=4, N=1, num_classes=10).state_dict()["stem.0.weight"]
    assert (fresh - parent["stem.0.weight"]).abs().max() > 0.1
