"""``python -m fewshot.score --space``: archs of any registered space are selected, parsed,
built and scored; the space is recorded; another space's arch or run is refused."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from fewshot.errors import UsageError
from fewshot.metrics import compute_metrics
from fewshot.score import main
from fewshot.scoring import ScoringSpec, parse_archs, sample_archs, score_arch, select_archs
from fewshot.scoring.data import load_scoring_data
from fewshot.spaces import get_space
from tests import tiny_space

TINY = ["--dataset", "synthetic", "--dataset-option", "image_size=8", "--batch-size", "8",
        "--no-progress", "--seed", "0", "--metrics", "snip,params"]  # fmt: skip
NB201_ARCH = "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def run(out, *extra):
    return main(["--out", str(out), *TINY, *extra])


def rows(out):
    with (out / "scores.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_another_space_is_scored_and_recorded(tmp_path):
    out = tmp_path / "tiny"
    assert run(out, "--space", tiny_space.NAME, "--all") == 0
    got = rows(out)
    assert [r["arch"] for r in got] == [a.to_string() for a in tiny_space.SPACE.all_archs()]
    assert all(r["snip"] and r["params"] and not r["error"] for r in got)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["space"] == tiny_space.NAME and (config["C"], config["N"]) == (4, 1)
    record = json.loads((out / "scores.spec.json").read_text())
    assert record["spec"]["space"] == tiny_space.NAME and record["spec"]["C"] == 4
    # the values are those of the space's standalone network, scored directly
    spec = ScoringSpec.from_dict(record["spec"])
    _, data = load_scoring_data(spec, metrics=["snip", "params"])
    arch = tiny_space.SPACE.Arch.from_string(got[5]["arch"])
    net = tiny_space.SPACE.build_network(arch, C=4, N=1, num_classes=data.num_classes)
    assert float(got[5]["params"]) == compute_metrics(net, data, ["params"])["params"].value


def test_nb201_records_its_space_and_size(tmp_path):
    out = tmp_path / "nb201"
    assert run(out, "--archs", NB201_ARCH, "--C", "4", "--N", "1") == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["space"] == "nb201"
    assert json.loads((out / "scores.spec.json").read_text())["spec"]["space"] == "nb201"


def test_continuing_a_csv_with_another_space_is_refused(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert run(out, "--space", tiny_space.NAME, "--num", "2") == 0
    capsys.readouterr()
    assert run(out, "--archs", NB201_ARCH, "--C", "4", "--N", "1") == 2
    err = capsys.readouterr().err
    assert f"space: {tiny_space.NAME!r} -> 'nb201'" in err and "Traceback" not in err


def test_an_arch_of_another_space_is_a_user_error(tmp_path, capsys):
    assert run(tmp_path / "x", "--space", tiny_space.NAME, "--archs", NB201_ARCH) == 2
    err = capsys.readouterr().err
    assert f"is not an arch string of search space {tiny_space.NAME}" in err
    with pytest.raises(UsageError, match="search space nb201"):
        parse_archs("|skip_connect~0|+|nor_conv_1x1~0|avg_pool_3x3~1|")


def test_unknown_space_is_a_user_error(tmp_path, capsys):
    assert run(tmp_path / "x", "--space", "darts", "--num", "1") == 2
    assert "--space 'darts' is not valid" in capsys.readouterr().err


def test_selection_follows_the_space():
    assert len(select_archs(num=None, seed=0, every=True, space=tiny_space.NAME)) == 27
    sample = sample_archs(5, 3, space=tiny_space.SPACE)
    assert len(set(sample)) == 5 and sample == sample_archs(7, 3, space=tiny_space.SPACE)[:5]
    assert all(type(a).space is tiny_space.SPACE for a in sample)
    with pytest.raises(UsageError, match="between 1 and 27"):
        sample_archs(28, 0, space=tiny_space.SPACE)


def test_a_spec_takes_its_network_size_from_its_space():
    assert (ScoringSpec().C, ScoringSpec().N, ScoringSpec().space) == (16, 5, "nb201")
    tiny = ScoringSpec(space=tiny_space.NAME)
    assert (tiny.C, tiny.N) == (4, 1) and tiny.search_space is tiny_space.SPACE
    assert ScoringSpec(space=tiny_space.NAME, C=8).C == 8
    assert ScoringSpec.from_dict(ScoringSpec(C=4, N=1).to_dict() | {"space": "nb201"}).C == 4
    old = ScoringSpec().to_dict()
    del old["space"]  # a record written before spaces were plug-ins is NB201's
    assert ScoringSpec.from_dict(old) == ScoringSpec()
    with pytest.raises(KeyError, match="nb201"):
        ScoringSpec(space="darts")


def test_score_arch_refuses_an_arch_of_another_space():
    spec = ScoringSpec(C=4, N=1, dataset="synthetic", batch_size=4, batches=1)
    _, data = load_scoring_data(spec, metrics=["params"])
    arch = next(tiny_space.SPACE.all_archs())
    with pytest.raises(ValueError, match="scoring spec's is 'nb201'"):
        score_arch(arch, data, ["params"], spec)
    row = score_arch(get_space().Arch.from_string(NB201_ARCH), data, ["params"], spec)
    assert row.values["params"] > 0 and not row.error


def test_a_network_size_the_space_refuses_is_a_user_error(tmp_path, capsys, monkeypatch):
    def no_depth(self, C=None, N=None):
        if N is not None:
            raise ValueError(f"N={N}: this space has no depth knob")
        return {"C": C or 4}

    monkeypatch.setattr(type(tiny_space.SPACE), "model_options", no_depth)
    assert run(tmp_path / "x", "--space", tiny_space.NAME, "--N", "2", "--num", "1") == 2
    assert "N=2: this space has no depth knob" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
