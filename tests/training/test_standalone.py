"""Standalone training of single archs (the search pipeline's 'train the top-k' step)."""

from __future__ import annotations

import torch

from fewshot.data import make_datamodule
from fewshot.spaces.nb201 import Arch
from fewshot.training.standalone import StandaloneSettings, train_arch, train_archs

ARCH = Arch.from_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|")


def _data():
    return make_datamodule("synthetic", batch_size=16, num_train=64, num_test=16, image_size=8)


def test_training_leaves_torch_deterministic_setting_as_it_found_it(tmp_path):
    # Lightning's deterministic=True used to switch deterministic algorithms on for the whole
    # process: every later run recorded another environment (a test compared two trees)
    assert not torch.are_deterministic_algorithms_enabled()
    settings = StandaloneSettings(C=4, N=1, epochs=1, limit_train_batches=2)
    result = train_arch(ARCH, _data(), settings)
    assert not torch.are_deterministic_algorithms_enabled()
    assert 0 <= result["val_acc"] <= 100 and 0 <= result["test_acc"] <= 100
    again = train_archs([ARCH], _data(), settings, tmp_path)
    assert again[0]["arch"] == ARCH.to_string() and (tmp_path / "results.json").is_file()


def test_packed_archs_score_as_each_trained_alone(tmp_path):
    """``train_archs(pack=True)``: the archs trained as one pack reach the accuracies of each
    trained alone (equal up to float rounding: the same predictions on these few images)."""
    torch.set_num_threads(1)
    archs = [ARCH, Arch.from_string("|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
                                    "+|skip_connect~0|none~1|nor_conv_3x3~2|")]  # fmt: skip
    settings = StandaloneSettings(C=4, N=1, epochs=2)
    alone = train_archs(archs, _data(), settings, tmp_path / "alone")
    packed = train_archs(archs, _data(), settings, tmp_path / "packed", pack=True)
    for a, p in zip(alone, packed, strict=True):
        assert (a["arch"], a["val_acc"], a["test_acc"]) == (p["arch"], p["val_acc"], p["test_acc"])
    saved = (tmp_path / "packed" / "results.json").read_text()
    assert '"pack": true' in saved
    assert train_archs(archs, _data(), settings, tmp_path / "packed", pack=True) == packed
