"""The algorithms of SPEC 7: one-edge mutation, warmup, move proposal, BP, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from fewshot.errors import UsageError
from fewshot.search.algorithms import AgingEvolution, AlgoSettings, Reinforce, make_searcher
from fewshot.search.bp import PairTrainer
from fewshot.search.oracle import Oracle
from fewshot.search.proxy import ProxyTable, check_proxy
from fewshot.search.run import run_repeats, search
from fewshot.search.searchable import Searchable
from fewshot.spaces import get_space
from fewshot.spaces.nb201 import Arch, all_archs
from tests.search.search_fakes import known_quality


def hamming(oracle: Oracle, a: int, b: int) -> int:
    return int((oracle.ops[a] != oracle.ops[b]).sum())


def test_neighbour_table_is_edit_distance_one(full_oracle):
    nb = full_oracle.neighbours
    assert nb.shape == (len(full_oracle), 24) and (nb >= 0).all()
    for i in (0, 17, 9000):
        assert sorted(hamming(full_oracle, i, j) for j in nb[i]) == [1] * 24
        assert len(set(nb[i].tolist())) == 24


@pytest.mark.parametrize("move", [0, 24, 5])
def test_ae_children_differ_from_a_population_member_on_one_edge(full_oracle, full_proxy, move):
    space = Searchable(full_oracle, None, full_proxy)
    ae = AgingEvolution(space, np.random.default_rng(0), AlgoSettings(move=move))
    for step in range(300):
        population = [i for i, _ in ae.population]
        child = ae.propose()
        if step >= 64:  # after the first population, every child is a one-edge mutation
            assert any(hamming(full_oracle, child, p) == 1 for p in population)
        ae.observe(child, float(full_oracle.select_acc[child]))


def test_mutation_changes_exactly_one_edge(full_oracle):
    space, rng = Searchable(full_oracle), np.random.default_rng(1)
    for i in rng.integers(len(full_oracle), size=200):
        assert hamming(full_oracle, i, space.mutate(int(i), rng)) == 1


def test_ae_warmup_seeds_population_with_proxy_top(full_oracle, full_proxy):
    space = Searchable(full_oracle, None, full_proxy)
    ae = AgingEvolution(space, np.random.default_rng(0), AlgoSettings(warmup=len(space)))
    first = [ae.propose() for _ in range(64)]
    top = np.argsort(-full_proxy.values, kind="stable")[:64]
    assert first == top.tolist()


def test_ae_warmup_subset_picks_top_of_its_sample(full_oracle, full_proxy):
    """With N < space, the population is the top 64 of N random archs: all 64 beat the
    sample's 65th best, and the proxy order is kept."""
    space = Searchable(full_oracle, None, full_proxy)
    ae = AgingEvolution(space, np.random.default_rng(3), AlgoSettings(warmup=1000))
    first = np.array([ae.propose() for _ in range(64)])
    values = full_proxy.values[first]
    assert (np.diff(values) <= 0).all()
    assert values.min() > np.quantile(full_proxy.values, 0.9)  # top 64 of 1000 ~ top 6.4%


def test_rand_warmup_trains_in_proxy_order(full_oracle, full_proxy):
    space = Searchable(full_oracle, None, full_proxy)
    searcher = make_searcher("rand", space, np.random.default_rng(0), AlgoSettings(warmup=500))
    order = [searcher.propose() for _ in range(600)]
    head = full_proxy.values[order[:500]]
    assert (np.diff(head) <= 0).all()
    assert len(set(order)) == 600  # no arch trained twice


def test_move_proposal_picks_proxy_best_neighbour(full_oracle, full_proxy):
    space, rng = Searchable(full_oracle, None, full_proxy), np.random.default_rng(0)
    all_ops = full_oracle.ops
    for parent in (5, 123, 4321):
        dist = (all_ops != all_ops[parent]).sum(axis=1)
        brute = np.flatnonzero(dist == 1)
        best = brute[np.argmax(full_proxy.values[brute])]
        assert space.propose_move(parent, rng, ratio=24) == best


def test_move_proposal_with_ratio_scores_a_subset(full_oracle, full_proxy):
    space, rng = Searchable(full_oracle, None, full_proxy), np.random.default_rng(0)
    picks = {space.propose_move(7, rng, ratio=3) for _ in range(50)}
    assert len(picks) > 1  # different random subsets of 3 neighbours
    assert all(hamming(full_oracle, 7, p) == 1 for p in picks)


def test_rl_warmup_moves_policy_towards_proxy_best_ops(full_oracle, full_proxy):
    space = Searchable(full_oracle, None, full_proxy)
    rl = Reinforce(space, np.random.default_rng(0), AlgoSettings(warmup=3000))
    probs = rl.probs()
    conv3 = 3  # fewshot.spaces.nb201.OPS index of nor_conv_3x3, the best op of the known order
    assert (probs.argmax(axis=1) == conv3).all()
    assert np.allclose(probs.sum(axis=1), 1.0)


def test_bp_learns_a_known_order():
    archs = list(all_archs())
    rng = np.random.default_rng(0)
    pick = rng.choice(len(archs), size=600, replace=False)
    ops = np.array([archs[i].op_indices for i in pick])
    quality = np.array([known_quality(archs[i]) for i in pick])
    trainer = PairTrainer(seed=0, space=get_space())
    trainer.fit(ops[:400], quality[:400], steps=200, rng=rng)
    rho = spearmanr(trainer.scores(ops[400:]), quality[400:]).statistic
    assert rho > 0.9


def test_bp_search_beats_random_on_a_learnable_space(full_oracle):
    space = Searchable(full_oracle)
    cfg = AlgoSettings(bp_round_steps=50)
    bp = search("bp", space, cfg, budget=50, repeats=2, seed=0)
    rand = search("rand", space, cfg, budget=50, repeats=2, seed=0)
    assert np.median(bp.curves[:, -1]) > np.median(rand.curves[:, -1])


@pytest.mark.parametrize("algo", ["rand", "ae", "rl", "bp"])
def test_results_identical_for_a_seed(full_oracle, full_proxy, algo):
    space = Searchable(full_oracle, None, full_proxy)
    cfg = AlgoSettings(
        warmup=200, move=2 if algo in ("ae", "rl") else 0, bp_pretrain_steps=30, bp_round_steps=20
    )
    budget = 20 if algo == "bp" else 120
    a = search(algo, space, cfg, budget=budget, repeats=2, seed=5)
    b = search(algo, space, cfg, budget=budget, repeats=2, seed=5)
    c = search(algo, space, cfg, budget=budget, repeats=2, seed=6)
    np.testing.assert_array_equal(a.trained, b.trained)
    np.testing.assert_array_equal(a.curves, b.curves)
    assert not np.array_equal(a.trained, c.trained)
    assert not np.array_equal(a.trained[0], a.trained[1])  # repeats differ


def test_errors(full_oracle, full_proxy):
    space = Searchable(full_oracle, None, full_proxy)
    rng = np.random.default_rng(0)
    with pytest.raises(UsageError, match="unknown algorithm 'nope'"):
        make_searcher("nope", space, rng, AlgoSettings())
    with pytest.raises(UsageError, match="unknown proxy 'nope'"):
        check_proxy("nope")
    with pytest.raises(UsageError, match="warmup 20000 is larger than the search space"):
        make_searcher("ae", space, rng, AlgoSettings(warmup=20000))
    with pytest.raises(UsageError, match="budget"):
        run_repeats(lambda r: make_searcher("rand", space, r, AlgoSettings()), full_oracle, 0, 1, 0)
    with pytest.raises(UsageError, match="needs a proxy"):
        make_searcher("ae", Searchable(full_oracle), rng, AlgoSettings(warmup=10))


def test_partial_table_without_scorer_says_what_is_missing(full_oracle):
    table = ProxyTable("synflow", full_oracle)
    space = Searchable(full_oracle, None, table)
    with pytest.raises(UsageError, match="lacks 100 of the archs"):
        make_searcher("rand", space, np.random.default_rng(0), AlgoSettings(warmup=100))


def test_arch_round_trip(full_oracle):
    arch = Arch.from_string(
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    )
    assert full_oracle.arch(full_oracle.index(arch)) == arch


def test_rl_samples_stay_inside_a_mask(full_oracle):
    from fewshot.spaces.nb201 import Mask

    mask = Mask.full().restrict(0, ["none", "skip_connect"]).restrict(5, ["nor_conv_3x3"])
    rl = Reinforce(Searchable(full_oracle, mask), np.random.default_rng(0), AlgoSettings())
    for _ in range(300):
        i = rl.propose()
        assert full_oracle.arch(i) in mask
        rl.observe(i, float(full_oracle.select_acc[i]))


def test_bp_graph_is_the_spaces_op_graph():
    """NB201's BP graph read from ``space.op_graph()`` equals the cell's hand-built one (node
    0 input, 1..6 the edges' ops, 7 output): the op on edge (to, from) feeds the ops on edges
    leaving ``to``, or the output when ``to`` is the cell's last node."""
    from fewshot.search.bp import base_adjacency, graph_tensors

    space = get_space()
    edges = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    want = np.zeros((8, 8), dtype=np.float32)
    for k, (to, frm) in enumerate(edges):
        want[0, k + 1] = frm == 0
        want[k + 1, 7] = to == 3
        for m, (_, frm2) in enumerate(edges):
            want[k + 1, m + 1] = frm2 == to
    assert np.array_equal(base_adjacency(space), want)
    x, adj = graph_tensors(np.zeros((1, 6), dtype=int), space)  # zero ops send nothing
    a = adj[0].numpy()
    assert x.shape == (1, 8, 7) and (a[1:7, 7] == 0).all()
    assert (a[1:7, 1:7] == np.diag(np.diag(a[1:7, 1:7]))).all() and (a[0, 1:7] > 0).tolist() == [
        f == 0 for _, f in edges
    ]


@pytest.mark.parametrize("algo", ["rand", "ae", "rl", "bp"])
def test_every_algorithm_searches_another_space(algo):
    """A chain space of 3 layers x 2 ops (no zero op, BP's graph a chain): the oracle keys,
    neighbours, RL's policy shape and BP's graph all come from the space."""
    from tests.toy_space import toy_space

    space = get_space(toy_space())
    archs = list(space.all_archs())
    ops = np.array([a.op_indices for a in archs])
    acc = np.array([10.0 * space.num_parametric(a) + i for i, a in enumerate(archs)])
    oracle = Oracle(ops, acc, acc, "toy", "test", space)
    assert oracle.neighbours.shape == (8, 3) and oracle.index(archs[5]) == 5
    assert oracle.arch(3) == archs[3] and archs[3].code == 3
    with pytest.raises(ValueError, match="not an arch of 'toy-chain'"):
        oracle.index(next(iter(all_archs())))  # an NB201 arch
    cfg = AlgoSettings(population=4, tournament=2, bp_batch=2, bp_round_steps=5)
    result = search(algo, Searchable(oracle), cfg, budget=8, repeats=2, seed=0)
    assert result.curves.shape == (2, 8) and np.isin(result.curves, acc).all()
    assert (np.diff(result.curves, axis=1) >= 0).all()  # best so far
    assert np.isin(result.trained, np.arange(8)).all()
