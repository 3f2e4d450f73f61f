"""Which benchmark a data set is (:mod:`fewshot.data.identity`): by name or by class folders."""

from __future__ import annotations

import pytest

from fewshot.data.identity import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    NOT_JUDGED,
    benchmark_of,
    judging,
    required_column,
)


def _folder(root, classes):
    for name in classes:
        (root / "train" / name).mkdir(parents=True)
    return root


@pytest.mark.parametrize(
    "name, bench",
    [("cifar10", "cifar10"), ("cifar100", "cifar100"), ("imagenet16-120", "ImageNet16-120"),
     ("digits", None), ("synthetic", None), (None, None)],
)  # fmt: skip
def test_named_data_sets(name, bench):
    assert benchmark_of(name) == bench


def test_folders_are_the_benchmark_when_their_classes_match(tmp_path):
    assert benchmark_of("folder", _folder(tmp_path / "a", CIFAR10_CLASSES)) == "cifar10"
    assert benchmark_of("folder", _folder(tmp_path / "b", CIFAR100_CLASSES)) == "cifar100"
    upper = [c.upper().replace("_", " ") for c in CIFAR100_CLASSES]
    assert benchmark_of("folder", _folder(tmp_path / "c", upper)) == "cifar100"
    assert benchmark_of("folder", _folder(tmp_path / "d", ("cat", "dog", "frog"))) is None
    nine = _folder(tmp_path / "e", CIFAR10_CLASSES[:9])
    assert benchmark_of("folder", nine) is None
    assert benchmark_of("folder", tmp_path / "missing") is None


def test_judging_by_default_forced_and_compatible_columns(tmp_path):
    pets = _folder(tmp_path / "pets", ("cat", "dog", "frog"))
    j = judging("folder", pets, None)
    assert j.column is None and not j.forced and j.why.startswith(NOT_JUDGED)
    forced = judging("folder", pets, "cifar10")
    assert forced.column == "cifar10" and forced.forced and "forces it" in forced.why
    assert judging("cifar10", None, None).column == "cifar10"
    valid = judging("cifar10", None, "cifar10-valid")
    assert valid.column == "cifar10-valid" and not valid.forced
    assert judging("cifar100", None, "cifar10").forced


def test_the_shared_subset_is_cifar10(shared_data):
    root = shared_data / "cifar10-subset"
    if not (root / "train").is_dir():
        pytest.skip(f"{root} is absent")
    assert benchmark_of("folder", root) == "cifar10"


def test_a_command_that_must_compare_refuses_other_data_unless_forced(tmp_path, caplog):
    from fewshot.errors import UsageError

    pets = _folder(tmp_path / "pets", ["cat", "dog", "frog"])
    with pytest.raises(UsageError, match="the data is not the benchmark's.*--benchmark-dataset"):
        required_column("folder", pets, None, what="the study")
    with pytest.raises(UsageError, match="not the benchmark's"):
        required_column("synthetic", None, None, what="the study")
    with caplog.at_level("WARNING"):
        assert required_column("folder", pets, "cifar10", what="the study") == "cifar10"
    assert "forces it" in caplog.text
    cifar = _folder(tmp_path / "cifar", CIFAR10_CLASSES)
    assert required_column("folder", cifar, None, what="the study") == "cifar10"
    assert required_column("cifar100", None, None, what="the study") == "cifar100"
    # a folder not there (a GPU node's configuration read elsewhere): left to the data's check
    assert required_column("folder", tmp_path / "absent", None, what="the study") == "cifar10"
