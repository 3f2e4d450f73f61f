"""One command vocabulary: every command accepts the common flags, lists valid values in
``--help``, reads its example configs, and ``fewshot <unknown>`` says what was wrong."""

from __future__ import annotations

import importlib.util
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from fewshot.__main__ import COMMANDS
from fewshot.__main__ import main as fewshot_main
from fewshot.config import CommonOptions, config_parser, values_from_mapping
from fewshot.distance import DistanceConfig
from fewshot.refine.evaluate import EvaluateConfig
from fewshot.score import ScoreConfig
from fewshot.train import TrainConfig
from tests.conftest import REPO_ROOT

COMMON = ["--device", "cpu", "--threads", "1", "--no-progress", "--data-option", "k=1", "-v"]


def _sweep_config() -> type:
    from fewshot.experiments.consistency import SweepConfig

    return SweepConfig


CONFIGS = {"score": ScoreConfig, "train": TrainConfig, "distance": DistanceConfig}


OTHER_CONFIGS = {  # commands of other issues on the same configuration layer
    "search": ("fewshot.search.__main__", "SearchConfig"),
    "refine": ("fewshot.refine.cli", "RefineConfig"),
    "refine.analyse": ("fewshot.refine.analyse", "AnalyseConfig"),
    "refine.evaluate": ("fewshot.refine.evaluate", "EvaluateConfig"),
}


def _command_configs() -> dict[str, type]:
    configs = dict(CONFIGS, sweep=_sweep_config())
    for name, (module, cls) in OTHER_CONFIGS.items():
        configs[name] = getattr(importlib.import_module(module), cls)
    configs["split"] = importlib.import_module("fewshot.split").SplitConfig  # issue 13
    return configs


@pytest.mark.parametrize("name", ["score", "train", "distance", "sweep", "split", *OTHER_CONFIGS])
def test_every_command_accepts_the_common_flags(name):
    cls = _command_configs()[name]  # every command has one (a missing one fails)
    assert issubclass(cls, CommonOptions)
    ns = vars(config_parser(cls).parse_args([*COMMON, "--config", "c.yaml", "--print-config"]))
    assert ns["device"] == "cpu" and ns["threads"] == 1 and ns["no_progress"] and ns["verbose"]
    assert ns["data_option"] == [{"k": 1}] and ns["print_config"] and ns["config"] == Path("c.yaml")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_help_lists_valid_values(name):
    help_text = " ".join(config_parser(CONFIGS[name]).format_help().split())
    assert "--device DEVICE" in help_text and "cuda:N" in help_text
    if name in ("score", "train"):
        assert "choices: cifar10," in help_text  # data sets from the data registry
    if name == "score":
        assert "choices: all, " in help_text and "synflow" in help_text  # metric registry


def test_defaults_live_in_the_dataclasses_only():
    """Each command's flags are its dataclass's fields: nothing is defined twice."""
    for cls in CONFIGS.values():
        parser = config_parser(cls)
        dests = {a.dest for a in parser._actions} - {"help", "config", "print_config"}
        assert dests == {f.name for f in fields(cls)}
        assert all(a.default == "==SUPPRESS==" for a in parser._actions if a.dest in dests)


@pytest.mark.parametrize(
    "path", sorted(p.name for p in (REPO_ROOT / "configs").glob("*.yaml") if "split" not in p.name)
)
def test_example_configs_are_valid(path):
    data = yaml.safe_load((REPO_ROOT / "configs" / path).read_text())
    classes = {"train": TrainConfig, "score": ScoreConfig, "refine": EvaluateConfig}
    cls = classes[path.split("-")[0].split(".")[0]]
    values_from_mapping(cls, data, path)  # unknown keys or bad values raise


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_has_a_main(name):
    assert callable(importlib.import_module(f"fewshot.{name}").main)


def test_unknown_command_says_what_was_wrong(capsys):
    assert fewshot_main(["foo"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'foo'" in err and all(c in err for c in COMMANDS)
    assert fewshot_main([]) == 0 and "commands:" in capsys.readouterr().out
