"""Split-tree model: building, atomic save/load round trip, and validation of bad files."""

import json

import pytest

from fewshot.spaces.nb201 import Mask
from fewshot.splitting.tree import Split, SplitTree, TreeFileError, load_tree

EDGE0_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def _split(edge, ops, groups):
    n = len(ops)
    dist = tuple(tuple(float(abs(i - j)) for j in range(n)) for i in range(n))
    return Split(
        edge, tuple(ops), tuple(tuple(g) for g in groups), dist, 1.5, {o: 1.0 for o in ops}
    )


def _two_level_tree() -> SplitTree:
    tree = SplitTree("snip", 3, "digits", config={"depth": 2})
    tree.add_root()
    a, b = tree.apply_split(
        0, _split(0, EDGE0_OPS, [("nor_conv_3x3",), EDGE0_OPS[:3] + EDGE0_OPS[4:]])
    )
    tree.apply_split(a.id, _split(1, EDGE0_OPS, [EDGE0_OPS[:2], EDGE0_OPS[2:]]))
    tree.apply_split(b.id, _split(1, EDGE0_OPS, [EDGE0_OPS[:1], EDGE0_OPS[1:]]))
    tree.complete = True
    return tree


def test_leaves_partition_the_space():
    tree = _two_level_tree()
    leaves = tree.leaves()
    assert len(leaves) == 4 and tree.depth == 2
    archs = [arch for leaf in leaves for arch in leaf.mask.archs()]
    assert len(archs) == len(set(archs)) == Mask.full().num_archs


def test_save_load_round_trip(tmp_path):
    tree = _two_level_tree()
    path = tree.save(tmp_path / "run" / "tree.json")
    loaded = load_tree(path.parent)  # a run folder is accepted
    assert loaded.to_dict() == tree.to_dict()
    assert not list(path.parent.glob(".*tmp"))  # no temp file left behind


def test_missing_and_corrupt_files_name_the_file(tmp_path):
    with pytest.raises(TreeFileError, match="no such tree file"):
        load_tree(tmp_path / "nope.json")
    bad = tmp_path / "tree.json"
    bad.write_text('{"format": "fewshot.split-tree", "vers')
    with pytest.raises(TreeFileError, match=r"tree\.json: not valid JSON"):
        load_tree(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(TreeFileError, match="not a fewshot split tree"):
        load_tree(bad)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d["nodes"][1]["mask"][0].append("nor_conv_1x1"), "restricted"),
        (lambda d: d["nodes"][0]["split"]["groups"].append(["none"]), "partition"),
        (lambda d: d["nodes"].pop(2), "children"),
        (lambda d: d["nodes"][0]["split"]["distance"].pop(), "distance matrix"),
        (lambda d: d["nodes"][3].update(parent=5), "parent"),
        (lambda d: d["nodes"][2]["mask"].__setitem__(1, []), "malformed node"),
    ],
)
def test_inconsistent_trees_rejected(tmp_path, corrupt, message):
    data = _two_level_tree().to_dict()
    corrupt(data)
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TreeFileError, match=message):
        load_tree(path)
