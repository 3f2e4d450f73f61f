"""The dataclass configuration layer (fewshot.config) and the error module (fewshot.errors)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import yaml

from fewshot.config import (
    CommonOptions,
    ImageOptions,
    build_parser,
    config_difference,
    config_from_dict,
    lightning_hardware,
    option,
    parse_config,
    refuse_changed,
    save_config,
    to_dict,
)
from fewshot.errors import USER_ERRORS, UsageError, is_user_error

CALLS = {"choices": 0}


def _colours() -> list[str]:
    CALLS["choices"] += 1
    return ["red", "green"]


@dataclass(kw_only=True)
class ToyConfig(CommonOptions):
    """A toy command.

    More text that is not the description."""

    run_dir: Path | None = option(None, positional=True, help="a folder")
    colour: str | None = option(None, help="a colour", choices=_colours)
    depth: int = option(3, help="levels", minimum=1, group="shape")
    edges: list[int] | None = option(None, help="edge order, e.g. 0,1,2")
    leaf: list[int] = option([], help="leaf ids", repeat=True)
    mode: Literal["batch", "running"] = option("batch", help="BN mode")
    lr: float = option(0.025, help="learning rate")
    fast: bool = option(False, help="go fast", aliases=("--quick",))
    plots: bool = option(True, help="draw plots")
    name: str | None = option(None, help="run name (default: <colour>-d<depth>)")

    def resolve(self) -> ToyConfig:
        if self.colour is None:
            raise UsageError("--colour is required")
        self.edges = self.edges if self.edges is not None else list(range(self.depth))
        self.name = self.name or f"{self.colour}-d{self.depth}"
        return self


def test_defaults_flags_and_derived_values():
    cfg = parse_config(ToyConfig, ["--colour", "red", "--depth", "2", "out"])
    assert cfg.run_dir == Path("out") and cfg.depth == 2 and cfg.lr == 0.025
    assert cfg.edges == [0, 1] and cfg.name == "red-d2" and cfg.mode == "batch"
    assert cfg.device == "auto" and cfg.threads is None and cfg.data_option == {}


def test_yaml_then_flags_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("colour: green\ndepth: 4\nedges: 0,2\nrun-dir: there\n")
    cfg = parse_config(ToyConfig, ["--config", str(path), "--depth", "5"])
    assert (cfg.colour, cfg.depth, cfg.edges, cfg.run_dir) == ("green", 5, [0, 2], Path("there"))


def test_common_vocabulary_parses():
    cfg = parse_config(
        ToyConfig,
        shlex.split(
            "--colour red --device cuda:1 --threads 2 --no-progress -v "
            "--data-option image_size=16 --data-option name=x --leaf 1 --leaf 3 --quick"
        ),
    )
    assert cfg.device == "cuda:1" and cfg.threads == 2 and cfg.no_progress and cfg.verbose
    assert cfg.data_option == {"image_size": 16, "name": "x"}
    assert cfg.leaf == [1, 3] and cfg.fast and cfg.plots
    assert not parse_config(ToyConfig, ["--colour", "red", "--no-plots"]).plots


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--colour", "blue"], "--colour 'blue' is not valid; choose from: red, green"),
        (["--colour", "red", "--depth", "0"], "--depth must be >= 1, got 0"),
        (["--colour", "red", "--device", "tpu"], "--device 'tpu'"),
        ([], "--colour is required"),
    ],
)
def test_bad_values_are_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse_config(ToyConfig, argv)


def test_bad_flag_types_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        parse_config(ToyConfig, ["--depth", "two"])
    assert exc.value.code == 2 and "expected int" in capsys.readouterr().err
    with pytest.raises(UsageError, match="--mode 'whatever' is not valid; choose from: batch"):
        parse_config(ToyConfig, ["--mode", "whatever", "--colour", "red"])


def test_unknown_yaml_keys_are_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("colour: red\ncolor: red\n")
    with pytest.raises(
        UsageError,
        match=r"unknown keys \['color'\] \(did you mean 'color' -> 'colour'\?\); valid keys: .*colour",
    ):
        parse_config(ToyConfig, ["--config", str(path)])


def test_yaml_accepts_alias_keys_and_typed_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("colour: red\nquick: true\ndata_option: {size: 8}\nedges: [1, 2]\n")
    cfg = parse_config(ToyConfig, ["--config", str(path)])
    assert cfg.fast and cfg.data_option == {"size": 8} and cfg.edges == [1, 2]
    path.write_text("colour: red\ndepth: deep\n")
    with pytest.raises(UsageError, match="depth: expected int, got 'deep'"):
        parse_config(ToyConfig, ["--config", str(path)])


def test_print_config_is_resolved_and_round_trips(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_config(ToyConfig, ["--colour", "red", "--depth", "2", "--print-config", "dir"])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    data = yaml.safe_load(printed)
    assert data["name"] == "red-d2" and data["edges"] == [0, 1] and data["run_dir"] == "dir"
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    again = parse_config(ToyConfig, ["--config", str(path)])
    assert to_dict(again) == data
    assert to_dict(config_from_dict(ToyConfig, data)) == data


def test_help_lists_choices_lazily(capsys):
    CALLS["choices"] = 0
    parser = build_parser(ToyConfig, prog="toy")
    assert CALLS["choices"] == 0  # building the parser evaluates no registry
    help_text = parser.format_help()
    assert CALLS["choices"] == 1
    assert "choices: red, green" in help_text and "choices: batch, running" in help_text
    assert "default: 3" in help_text and "A toy command." in help_text
    assert "--data-option KEY=VALUE" in help_text and "--print-config" in help_text
    assert "More text" not in help_text


def test_config_difference_ignores_run_only_fields(tmp_path):
    old = to_dict(parse_config(ToyConfig, ["--colour", "red"]))
    new = parse_config(ToyConfig, ["--colour", "red", "--device", "cpu", "--threads", "1"])
    assert config_difference(old, new) == []
    changed = parse_config(ToyConfig, ["--colour", "red", "--lr", "0.1"])
    assert config_difference(old, changed) == ["lr: 0.025 -> 0.1"]
    del old["mode"]  # saved before the field existed: counts as its default
    assert config_difference(old, new) == []
    with pytest.raises(UsageError, match=r"cannot resume here .*lr: 0.025 -> 0.1 \(use --force"):
        refuse_changed(old, changed, where="here", hint="use --force")
    save_config(tmp_path, changed)
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved == to_dict(changed)


def test_lightning_hardware_mapping():
    assert lightning_hardware("auto") == ("auto", "auto")
    assert lightning_hardware("cpu") == ("cpu", "auto")
    assert lightning_hardware("cuda") == ("gpu", "auto")
    assert lightning_hardware("cuda:1") == ("gpu", "[1]")


def test_user_errors_by_name_without_imports():
    assert is_user_error(UsageError("x")) and is_user_error(FileNotFoundError("x"))
    assert not is_user_error(ZeroDivisionError())
    for name in USER_ERRORS:  # every listed class exists and is recognised (also subclasses)
        import fewshot.errors

        cls = getattr(fewshot.errors, name)
        assert issubclass(cls, Exception)
        sub = type("Sub", (cls,), {})
        assert is_user_error(sub("message"))


def test_errors_and_config_import_no_library():
    code = (
        "import sys, fewshot.errors, fewshot.config, fewshot.cli; "
        "heavy = [m for m in ('torch', 'fewshot.splitting.tree', 'fewshot.metrics') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_reexports_usage_error():
    from fewshot.cli import UsageError as CliUsageError

    assert CliUsageError is UsageError


# -- --image-size (issue 20 item 4) ---------------------------------------------------------------

IMAGE_COMMANDS = [
    ("fewshot.splitting.run", "SplitConfig"),
    ("fewshot.score", "ScoreConfig"),
    ("fewshot.train", "TrainConfig"),
    ("fewshot.search.__main__", "SearchConfig"),
    ("fewshot.refine.evaluate", "EvaluateConfig"),
    ("fewshot.refine.cli", "RefineConfig"),
    ("fewshot.experiments.few_vs_one_shot", "FewVsOneShotConfig"),
    ("fewshot.experiments.consistency", "SweepConfig"),
]


def _command_config(module: str, name: str) -> type:
    import importlib

    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("module", "name"), IMAGE_COMMANDS)
def test_every_image_command_takes_image_size_into_its_data_options(module, name):
    cls = _command_config(module, name)
    assert issubclass(cls, ImageOptions)
    cfg = parse_config(cls, ["--image-size", "16"], resolve=False)
    assert cfg.image_size == 16 and cfg.data_option["image_size"] == 16
    saved = to_dict(cfg)
    assert saved["image_size"] == 16 and saved["data_option"]["image_size"] == 16
    other = parse_config(cls, ["--image-size", "8"], resolve=False)
    assert "data_option: {'image_size': 16} -> {'image_size': 8}" in config_difference(saved, other)


@dataclass(kw_only=True)
class ImageToy(ImageOptions, CommonOptions):
    """A toy command on images."""

    steps: int = option(1, help="steps")


def test_image_size_and_the_data_option_are_one_setting(tmp_path):
    toy = ImageToy
    by_option = parse_config(toy, ["--data-option", "image_size=16", "--data-option", "k=1"])
    assert by_option.image_size == 16 and by_option.data_option == {"image_size": 16, "k": 1}
    both = parse_config(toy, ["--image-size", "16", "--data-option", "image_size=16"])
    assert both.data_option == {"image_size": 16}
    none = parse_config(toy, [])
    assert none.image_size is None and none.data_option == {}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(to_dict(parse_config(toy, ["--image-size", "12"]))))
    assert to_dict(parse_config(toy, ["--config", str(path)]))["image_size"] == 12  # round trip
    # a configuration saved before --image-size existed resumes: the size is compared once
    old = {k: v for k, v in to_dict(by_option).items() if k != "image_size"}
    assert (
        config_difference(old, parse_config(toy, ["--image-size", "16", "--data-option", "k=1"]))
        == []
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--image-size", "16", "--data-option", "image_size=32"], "disagree; give one of them"),
        (["--image-size", "2"], "--image-size must be >= 4"),
        (["--data-option", "image_size=big"], "image_size must be an integer >= 4"),
        (["--data-option", "image_size=3"], "image_size must be an integer >= 4"),
    ],
)
def test_image_size_errors_are_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        parse_config(ImageToy, argv)
