"""Split distance: hand-computed values, metric properties, and internal/external over trees."""

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fewshot.analysis.split_distance import (
    DistanceReport,
    MixedConfigError,
    analyse_paths,
    analyse_trees,
    format_table,
    partition_distance,
    split_distance,
)
from fewshot.errors import UsageError
from fewshot.splitting.tree import Split, SplitTree, TreeFileError

# short names for the five NB201 ops, in NATS-Bench order
N, S, C1, C3, P = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


# -- reference implementation, written independently of the module: count differing pairs ---
def _pairs_apart_in_one(a, b):
    ops = sorted({o for g in a for o in g})
    ga = {o: i for i, g in enumerate(a) for o in g}
    gb = {o: i for i, g in enumerate(b) for o in g}
    return sum((ga[x] == ga[y]) != (gb[x] == gb[y]) for x, y in itertools.combinations(ops, 2))


# -- hand-computed values ----------------------------------------------------------------------
def test_spec_example_is_one_and_a_half():
    a = [["a", "b"], ["c", "d", "e"]]
    b = [["a", "c"], ["b", "d", "e"]]
    # pairs together in one, apart in the other: ab, cd, ce (A only), ac, bd, be (B only)
    assert _pairs_apart_in_one(a, b) == 6
    # the formula's numerator: sum over ops of |G_oA ^ G_oB| counts each such pair twice
    # a: {b}^{c}=2, b: {a}^{d,e}=3, c: {d,e}^{a}=3, d: {c,e}^{b,e}=2, e: {c,d}^{b,d}=2 -> 12
    assert partition_distance(a, b) == pytest.approx(12 / (2 * 4)) == 1.5


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([["a"], ["b", "c", "d", "e"]], [["a", "b"], ["c", "d", "e"]], 1.0),  # bc bd be ab
        ([["a", "b", "c", "d", "e"]], [["a"], ["b"], ["c"], ["d"], ["e"]], 2.5),  # max n/2
        ([["a", "b"], ["c"]], [["c"], ["b", "a"]], 0.0),
        ([["a"], ["b"]], [["a", "b"]], 1.0),
        ([["a", "b"], ["c", "d"]], [["a", "c"], ["b", "d"]], 4 / 3),  # ab cd ac bd over 3
    ],
)
def test_hand_values(a, b, expected):
    assert partition_distance(a, b) == pytest.approx(expected)


def test_common_op_restriction():
    # A restricted to {a,b,c} is {a,b}{c}; B = {a,c}{b}: pairs ab and ac differ, over n-1 = 2
    assert split_distance([["a", "b"], ["c", "d", "e"]], [["a", "c"], ["b"]]) == 1.0
    # on {c,d,e}: {c,d}{e} vs {c,d,e}: pairs ce and de differ, over n-1 = 2
    assert split_distance([["a", "b"], ["c", "d"], ["e"]], [["c", "d", "e"]]) == 1.0
    assert split_distance([["a", "b"], ["c"]], [["c", "d"], ["e"]]) is None  # one common op
    assert split_distance([["a"], ["b"]], [["c", "d"]]) is None
    with pytest.raises(ValueError, match="different ops"):
        partition_distance([["a", "b"]], [["a", "c"]])
    with pytest.raises(ValueError, match="not a partition"):
        partition_distance([["a", "b"], ["b", "c"]], [["a", "b", "c"]])


# -- properties (hypothesis) -------------------------------------------------------------------
OP_NAMES = list("abcdefg")


@st.composite
def partitions(draw, ops=None):
    """A partition of ``ops`` (or of a random subset of at least 2 op names)."""
    if ops is None:
        ops = draw(st.lists(st.sampled_from(OP_NAMES), min_size=2, max_size=7, unique=True))
    labels = draw(st.lists(st.integers(0, 3), min_size=len(ops), max_size=len(ops)))
    groups = {}
    for op, lab in zip(ops, labels, strict=True):
        groups.setdefault(lab, []).append(op)
    return [groups[k] for k in sorted(groups)]


@st.composite
def partition_triples(draw):
    ops = draw(st.lists(st.sampled_from(OP_NAMES), min_size=2, max_size=7, unique=True))
    return tuple(draw(partitions(ops)) for _ in range(3))


def _canon(p):
    return {frozenset(g) for g in p}


@settings(max_examples=200, deadline=None)
@given(partition_triples())
def test_metric_properties(abc):
    a, b, c = abc
    n = len({o for g in a for o in g})
    assert partition_distance(a, a) == 0.0
    dab = partition_distance(a, b)
    assert dab == partition_distance(b, a)
    assert (dab == 0.0) == (_canon(a) == _canon(b))
    assert dab <= partition_distance(a, c) + partition_distance(c, b) + 1e-12
    assert 0.0 <= dab <= n / 2
    assert dab == pytest.approx(_pairs_apart_in_one(a, b) / (n - 1))


@settings(max_examples=100, deadline=None)
@given(partition_triples(), st.randoms(use_true_random=False))
def test_invariant_to_group_and_op_order(abc, rnd):
    a, b, _ = abc
    shuffled = [rnd.sample(g, len(g)) for g in a]
    rnd.shuffle(shuffled)
    assert partition_distance(shuffled, b) == partition_distance(a, b)


@settings(max_examples=100, deadline=None)
@given(partitions(), partitions())
def test_split_distance_is_distance_on_common_ops(a, b):
    common = {o for g in a for o in g} & {o for g in b for o in g}
    d = split_distance(a, b)
    if len(common) < 2:
        assert d is None
    else:
        ra = [[o for o in g if o in common] for g in a]
        rb = [[o for o in g if o in common] for g in b]
        assert d == pytest.approx(_pairs_apart_in_one(ra, rb) / (len(common) - 1))


# -- trees -------------------------------------------------------------------------------------
def _split(tree, node_id, edge, groups):
    ops = tree.node(node_id).mask.ops(edge)
    zero = tuple(tuple(0.0 for _ in ops) for _ in ops)
    return tree.apply_split(node_id, Split(edge, ops, tuple(map(tuple, groups)), zero, 0.0))


def _tree(seed, root, left, right, *, metric="snip", config=None, edges=(0, 1)):
    """Depth-2 branch-2 tree: ``root`` on edge ``edges[0]``, children on ``edges[1]``."""
    tree = SplitTree(metric, seed, "digits", config=dict(config or {"C": 8, "seed": seed}))
    tree.add_root()
    a, b = _split(tree, 0, edges[0], root)
    _split(tree, a.id, edges[1], left)
    _split(tree, b.id, edges[1], right)
    tree.complete = True
    return tree


R = [[N, S], [C1, C3, P]]  # together: ns 13 1p 3p
A = [[N], [S, C1, C3, P]]  # d(R, A) = 1 (ns; s1 s3 sp)


def _sourced(*trees):
    from fewshot.analysis.split_distance import SourcedTree

    return [SourcedTree(f"t{i}.json", t) for i, t in enumerate(trees)]


def test_internal_and_external_on_hand_built_trees():
    t1 = _tree(0, R, A, R)  # internal pairs: (R,A)=1, (R,R)=0, (A,R)=1
    t2 = _tree(1, A, R, R)  # internal pairs: 1, 1, 0
    m = analyse_trees(_sourced(t2, t1)).metrics["snip"]
    assert m.seeds == (0, 1)
    assert m.internal.mean == pytest.approx(4 / 6) and m.internal.n_pairs == 6
    assert m.internal.std == pytest.approx(0.5163977, abs=1e-6)  # sample std of 1,0,1,1,1,0
    assert m.internal_per_seed == {0: pytest.approx(2 / 3), 1: pytest.approx(2 / 3)}
    assert m.internal_by_level[1].n_pairs == 0 and m.internal_by_level[1].mean is None
    assert m.internal_by_level[2].mean == 0.5 and m.internal_by_level[2].n_pairs == 2
    # external: 3 x 3 pairs; R-A 1, R-R 0, R-R 0 / A-A 0, A-R 1, A-R 1 / R-A 1, R-R 0, R-R 0
    assert m.external.mean == pytest.approx(4 / 9) and m.external.n_pairs == 9
    assert m.external_by_level[1].mean == 1.0 and m.external_by_level[1].n_pairs == 1
    assert m.external_by_level[2].mean == 0.5 and m.external_by_level[2].n_pairs == 4
    assert m.external_per_pair == ((0, 1, pytest.approx(4 / 9)),)


def test_identical_trees_have_zero_distance_and_levels_split_by_depth():
    trees = [_tree(s, R, R, R) for s in range(3)]
    m = analyse_trees(_sourced(*trees)).metrics["snip"]
    assert m.internal.mean == 0.0 and m.external.mean == 0.0
    assert m.external.n_pairs == 3 * 9 and m.external_by_level[2].n_pairs == 3 * 4


def test_same_edge_only_and_skips_on_disjoint_op_sets():
    t1 = _tree(0, R, A, R)
    m = analyse_trees(_sourced(t1), same_edge_only=True).metrics["snip"]
    assert (m.internal.mean, m.internal.n_pairs) == (1.0, 1)  # only the two edge-1 splits
    # score-style tree splitting edge 0 again: children see {n,s} and {1,3,p}: no common ops
    t2 = _tree(0, R, [[N], [S]], [[C1], [C3, P]], edges=(0, 0))
    m = analyse_trees(_sourced(t2)).metrics["snip"]
    assert (m.internal.mean, m.internal.n_pairs, m.internal.n_skipped) == (1.0, 2, 1)
    assert m.internal_by_level[2].n_skipped == 1 and m.internal_by_level[2].n_pairs == 0


def test_metrics_keep_their_order_of_first_appearance():
    trees = [_tree(0, R, A, R, metric="synflow"), _tree(0, R, R, R), _tree(1, A, R, R)]
    assert list(analyse_trees(_sourced(*trees)).metrics) == ["synflow", "snip"]
    trees = [_tree(1, A, R, R), _tree(0, R, A, R, metric="synflow"), _tree(0, R, R, R)]
    rep = analyse_trees(_sourced(*trees))
    assert list(rep.metrics) == ["snip", "synflow"] and rep.metrics["snip"].seeds == (0, 1)


def test_report_round_trips_through_json_and_formats_a_table():
    rep = analyse_trees(_sourced(_tree(0, R, A, R), _tree(1, A, R, R)))
    again = DistanceReport.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert again == rep
    table = format_table(rep)
    assert "| snip" in table and "0.67 ± 0.52" in table and "ext L2" in table


# -- files -------------------------------------------------------------------------------------
def test_loading_groups_by_metric_and_checks_configs(tmp_path):
    _tree(0, R, A, R).save(tmp_path / "snip_s0" / "tree.json")
    _tree(1, A, R, R, config={"C": 8, "out": "elsewhere"}).save(tmp_path / "snip_s1" / "tree.json")
    _tree(0, R, R, R, metric="synflow", config={"C": 4}).save(tmp_path / "x" / "y" / "tree.json")
    rep = analyse_paths([tmp_path])
    assert list(rep.metrics) == ["snip", "synflow"] and len(rep.sources) == 3
    _tree(2, R, R, R, config={"C": 16}).save(tmp_path / "snip_s2" / "tree.json")
    with pytest.raises(MixedConfigError, match=r"snip_s2/tree\.json.*C: 8 vs 16"):
        analyse_paths([tmp_path])


def test_bad_inputs_name_the_file(tmp_path):
    _tree(0, R, A, R).save(tmp_path / "a" / "tree.json")
    _tree(0, R, R, R).save(tmp_path / "b" / "tree.json")
    with pytest.raises(UsageError, match=r"a/tree\.json and .*b/tree\.json both have seed 0"):
        analyse_paths([tmp_path])
    (tmp_path / "b" / "tree.json").write_text('{"format": "fewshot.split-tree", "ver')
    with pytest.raises(TreeFileError, match=r"b/tree\.json: not valid JSON"):
        analyse_paths([tmp_path])
    partial = _tree(1, R, R, R)
    partial.complete = False
    partial.save(tmp_path / "b" / "tree.json")
    with pytest.raises(UsageError, match=r"b/tree\.json: the tree is incomplete"):
        analyse_paths([tmp_path])
    assert analyse_paths([tmp_path], allow_incomplete=True).metrics["snip"].seeds == (0, 1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="empty: no tree.json found"):
        analyse_paths([tmp_path / "a", tmp_path / "empty"])
    with pytest.raises(UsageError, match="no such file or folder"):
        analyse_paths([tmp_path / "missing"])


# -- recipes: trees of different recipes are never pooled -----------------------------------


def _with_recipe(tree, recipe):
    if recipe is not None:
        tree.config = {**tree.config, "recipe": recipe}
        if hasattr(tree, "recipe"):
            tree.recipe = {"name": recipe}
    return tree


def test_trees_of_different_recipes_are_refused_naming_both():
    from fewshot.analysis.tree_groups import MixedRecipeError

    a = _with_recipe(_tree(0, R, A, R), "ly-manson")
    b = _with_recipe(_tree(1, R, A, R), "zero-cost-nas")
    with pytest.raises(MixedRecipeError, match=r"t0.json .*'ly-manson' .*t1.json .*'zero-cost"):
        analyse_trees(_sourced(a, b))
    old = _tree(1, R, A, R)  # made before recipes existed: no recipe at all
    with pytest.raises(UsageError, match=r"recipe none \(made before recipes\)"):
        analyse_trees(_sourced(a, old))
    same = _with_recipe(_tree(1, R, A, R), "ly-manson")
    assert analyse_trees(_sourced(a, same)).metrics["snip"].seeds == (0, 1)


def test_same_recipe_with_other_settings_is_refused():
    from fewshot.analysis.tree_groups import MixedRecipeError, recipe_of

    a, b = _tree(0, R, A, R), _tree(1, R, A, R)
    assert hasattr(a, "recipe")  # SplitTree records its recipe (losing it fails, not skips)
    a.recipe = {"name": "ly-manson", "balanced": False}
    b.recipe = {"name": "ly-manson", "balanced": True}
    assert recipe_of(a)[0] == "ly-manson"
    with pytest.raises(MixedRecipeError, match="different settings \\(balanced\\)"):
        analyse_trees(_sourced(a, b))
