"""``python -m fewshot.split --space``: recorded, checked on resume, and any registered space
splits (a test-only 3-edge, 3-op cell space, :mod:`tests.tiny_space`)."""

from __future__ import annotations

import json

import pytest
import yaml

from fewshot.spaces import get_space
from fewshot.split import main
from fewshot.splitting.edges import default_edges
from fewshot.splitting.tree import load_tree
from tests import tiny_space

SMALL = ["--batch-size", "8", "--dataset", "synthetic"]


def args(tmp_path, *extra: str, space: str | None = tiny_space.NAME, depth: int = 2):
    given = ["--space", space] if space is not None else []
    return ["--metric", "snip", "--depth", str(depth), "--branch", "2", *SMALL, *given,
            "--out", str(tmp_path), *extra]  # fmt: skip


def user_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("\n") == 1
    return err


def test_a_split_of_another_space_runs_end_to_end_and_records_it(tmp_path, capsys):
    assert main(args(tmp_path)) == 0
    run = tmp_path / "snip-d2-b2-s0"
    raw = json.loads((run / "tree.json").read_text())
    assert raw["space"] == tiny_space.NAME and raw["config"]["space"] == tiny_space.NAME
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["space"] == tiny_space.NAME
    assert (config["C"], config["N"]) == (4, 1)  # the space's network, not NB201's 16 and 5
    assert raw["recipe"]["settings"]["C"] == 4 and raw["recipe"]["settings"]["N"] == 1
    tree = load_tree(run)
    assert tree.space is tiny_space.SPACE
    assert [len(ops) for ops in raw["nodes"][0]["mask"]] == [3, 3, 3]
    assert [n.split.edge for n in tree.nodes if n.split] == [0, 1, 1]
    leaves = tree.leaves()
    assert len(leaves) == 4 and sum(n.mask.num_archs for n in leaves) == 27
    archs = [a for n in leaves for a in n.mask.archs()]
    assert len(set(archs)) == 27 and all(type(a).space is tiny_space.SPACE for a in archs)
    out = capsys.readouterr().out
    assert f"space {tiny_space.NAME}" in out and "conv" in out  # the space's op labels


def test_the_default_space_is_nb201_and_is_recorded(tmp_path):
    assert main(args(tmp_path, "--C", "4", "--N", "1", space=None, depth=1)) == 0
    run = tmp_path / "snip-d1-b2-s0"
    assert json.loads((run / "tree.json").read_text())["space"] == "nb201"
    assert yaml.safe_load((run / "config.yaml").read_text())["space"] == "nb201"


def test_resume_with_another_space_is_refused(tmp_path, capsys):
    assert main(args(tmp_path, "--max-splits", "1")) == 0
    capsys.readouterr()
    err = user_error(capsys, args(tmp_path, "--resume", space="nb201"))
    assert f"splits search space {tiny_space.NAME!r}, not 'nb201'" in err
    assert not load_tree(tmp_path / "snip-d2-b2-s0").complete  # untouched
    assert main(args(tmp_path, "--resume")) == 0  # the same space resumes
    assert load_tree(tmp_path / "snip-d2-b2-s0").complete


def test_an_unknown_space_lists_the_known_ones(tmp_path, capsys):
    err = user_error(capsys, args(tmp_path, space="darts"))
    assert "--space 'darts' is not valid" in err and "nb201" in err and tiny_space.NAME in err
    assert not any(tmp_path.iterdir())


def test_a_branch_wider_than_the_spaces_ops_is_a_clear_error(tmp_path, capsys):
    err = user_error(capsys, args(tmp_path, "--branch", "4"))
    assert "branch 4 > 3 ops on edge 0" in err and f"search space {tiny_space.NAME}" in err
    assert "--branch 2..3" in err and not any(tmp_path.iterdir())


def test_edges_outside_the_space_are_a_clear_error(tmp_path, capsys):
    err = user_error(capsys, args(tmp_path, "--edges", "0,3"))
    assert "--edges must list edges in 0..2" in err


@pytest.mark.parametrize(
    "policy,depth,expected",
    [("fixed", 3, (0, 1, 2)), ("fixed", 5, (0, 1, 2, 0, 1)), ("score", 2, (0, 1, 2))],
)
def test_default_edges_follow_the_space(policy, depth, expected):
    assert default_edges(policy, depth, space=tiny_space.SPACE) == expected
    nb201 = get_space("nb201")
    assert default_edges("fixed", 3, space=nb201) == (0, 1, 2)
    assert default_edges("fixed", 7, space=nb201) == (0, 1, 2, 3, 4, 5, 0)
    assert default_edges("score", 1, space=nb201) == tuple(range(6))


def test_a_network_size_the_space_refuses_is_a_clear_error(tmp_path, capsys, monkeypatch):
    def no_depth(self, C=None, N=None):
        if N is not None:
            raise ValueError(f"N={N}: this space has no depth knob")
        return {"C": C or 4}

    monkeypatch.setattr(type(tiny_space.SPACE), "model_options", no_depth)
    monkeypatch.setattr(type(tiny_space.SPACE), "model_defaults", {"C": 4})
    err = user_error(capsys, args(tmp_path, "--N", "2"))
    assert f"search space {tiny_space.NAME}: N=2: this space has no depth knob" in err
    assert not any(tmp_path.iterdir())  # refused before the run folder is made
