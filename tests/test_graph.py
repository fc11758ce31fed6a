"""The graph models against obvious slow versions: co-visitation counts, relatedness, candidate
expansion, weighted random walks, the skip-gram corpus, negative sampling and subsampling, and a
sanity check of the learned embeddings against raw co-occurrence on a planted graph."""
import itertools
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp

from lineage.data import Interactions
from lineage.models.covisit import (CoVisitation, CoVisitConfig, covisitation_counts, covisitation_graph,
                                    expand, relatedness, top_n_per_row)
from lineage.models.deepwalk import (DeepWalk, DeepWalkConfig, keep_probability, negative_distribution,
                                     node_counts, random_walks, sample_negatives, skipgram_pairs, subsample)


def make_log(users, items, times, n_users=None, n_items=None) -> Interactions:
    n_users = n_users or max(users) + 1
    n_items = n_items or max(items) + 1
    return Interactions(users=users, items=items, times=times, values=np.ones(len(users)),
                        user_ids=np.arange(n_users).astype(str), item_ids=np.arange(n_items).astype(str))


def random_log(seed=0, n_users=12, n_items=9, n_events=80) -> Interactions:
    rng = np.random.default_rng(seed)
    return make_log(rng.integers(0, n_users, n_events), rng.integers(0, n_items, n_events),
                    rng.integers(0, 20, n_events).astype(float), n_users, n_items)  # repeats and time ties


def brute_force_counts(log: Interactions, window) -> np.ndarray:
    """c_ij = number of users with an event of i and an event of j (i != j) at most `window` apart."""
    pairs_of_user = {}
    for a, b in itertools.combinations(range(len(log)), 2):
        if log.users[a] != log.users[b] or log.items[a] == log.items[b]:
            continue
        if window is not None and abs(log.times[a] - log.times[b]) > window:
            continue
        pairs_of_user.setdefault(log.users[a], set()).add(frozenset((log.items[a], log.items[b])))
    counts = np.zeros((log.n_items, log.n_items), dtype=np.int64)
    for pairs in pairs_of_user.values():
        for pair in pairs:
            i, j = tuple(pair)
            counts[i, j] += 1
            counts[j, i] += 1
    return counts


# ---- co-visitation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("window", [None, 0.0, 3.0, 10.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_covisitation_counts_match_double_loop(window, seed):
    log = random_log(seed)
    counts = covisitation_counts(log, window)
    np.testing.assert_array_equal(counts.toarray(), brute_force_counts(log, window))


def test_covisitation_counts_without_repeats_use_fast_path():
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(6), 5)
    items = np.concatenate([rng.choice(10, 5, replace=False) for _ in range(6)])  # no user repeats an item
    log = make_log(users, items, rng.integers(0, 30, 30).astype(float), 6, 10)
    for window in (None, 5.0):
        np.testing.assert_array_equal(covisitation_counts(log, window).toarray(), brute_force_counts(log, window))


def test_relatedness_hand_example():
    # items 0, 1, 2: c_01 = 2, c_02 = 1, c_12 = 1; c_0 = 4, c_1 = 2, c_2 = 1
    counts = sp.csr_matrix(np.array([[0, 2, 1], [2, 0, 1], [1, 1, 0]]))
    item_counts = np.array([4, 2, 1])
    youtube = relatedness(counts, item_counts, 1.0, 1.0).toarray()  # c_ij / (c_i c_j)
    assert youtube[0, 1] == pytest.approx(2 / (4 * 2))
    assert youtube[0, 2] == pytest.approx(1 / (4 * 1))
    assert youtube[1, 2] == pytest.approx(1 / (2 * 1))
    np.testing.assert_allclose(youtube, youtube.T)
    soft = relatedness(counts, item_counts, 1.0, 0.25).toarray()  # c_ij / (c_i c_j^0.25)
    assert soft[0, 1] == pytest.approx(2 / (4 * 2 ** 0.25))
    assert soft[1, 0] == pytest.approx(2 / (2 * 4 ** 0.25))
    cosine = relatedness(counts, item_counts, 0.5, 0.5).toarray()
    assert cosine[0, 1] == pytest.approx(2 / np.sqrt(4 * 2))
    assert relatedness(counts, item_counts, 1.0, 1.0, min_count=2).nnz == 2  # only the (0, 1) pair survives


def test_top_n_per_row_matches_sorting_each_row():
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 6, (15, 12)) * (rng.random((15, 12)) < 0.6)
    kept = top_n_per_row(sp.csr_matrix(dense.astype(float)), 3).toarray()
    for row, out in zip(dense, kept):
        order = sorted((v for v in range(12) if row[v] > 0), key=lambda v: (-row[v], v))[:3]
        expected = np.zeros(12)
        expected[order] = row[order]
        np.testing.assert_array_equal(out, expected)


def test_expansion_sums_relatedness_over_hops():
    graph = sp.csr_matrix(np.array([[0, 0.5, 0], [0, 0, 0.2], [0.1, 0, 0]], dtype=np.float32))
    seeds = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0]], dtype=np.float32))
    one = expand(seeds, graph, hops=1).toarray()
    np.testing.assert_allclose(one, [[0, 0.5, 0], [0, 0.5, 0.2]])
    two = expand(seeds, graph, hops=2, hop_decay=0.5).toarray()
    # hop 2 from item 0 reaches item 2 with 0.5 * 0.2, from item 1 reaches item 0 with 0.2 * 0.1
    np.testing.assert_allclose(two, [[0, 0.5, 0.5 * 0.1], [0.5 * 0.02, 0.5, 0.2 + 0.5 * 0.1]], rtol=1e-6)


def test_covisitation_recommender_uses_the_graph_and_skips_seen_items():
    # user 0 took 0 and 1; users 1-3 show that 2 goes with 0 and 3 with nothing user 0 has
    log = make_log([0, 0, 1, 1, 2, 2, 3, 3, 3], [0, 1, 0, 2, 0, 2, 3, 4, 5], np.zeros(9), 4, 7)
    model = CoVisitation(CoVisitConfig(seed_power=1.0, candidate_power=0.5)).fit(log)
    top = model.recommend(np.array([0]), k=3)[0]
    assert top[0] == 2  # the only item co-visited with user 0's items
    assert 0 not in top and 1 not in top
    assert 6 not in top[:2]  # an item nobody took comes last
    assert model.graph_.shape == (7, 7)
    np.testing.assert_array_equal(covisitation_graph(log, CoVisitConfig(n_neighbours=1)).getnnz(axis=1),
                                  [1, 1, 1, 1, 1, 1, 0])


# ---- random walks ------------------------------------------------------------------------------------
TINY_GRAPH = sp.csr_matrix(np.array([
    [0, 1, 3, 0],
    [1, 0, 1, 2],
    [3, 1, 0, 0],
    [0, 0, 0, 0],  # a dead end
], dtype=np.float32))


def test_walks_follow_edges_and_stop_at_dead_ends():
    rng = np.random.default_rng(0)
    walks = random_walks(TINY_GRAPH, np.repeat(np.arange(4), 50), 12, rng)
    assert walks.shape == (200, 12)
    dense = TINY_GRAPH.toarray()
    for walk in walks:
        steps = walk[walk >= 0]
        assert (walk[len(steps):] == -1).all()  # padding only after the end
        for a, b in zip(steps[:-1], steps[1:]):
            assert dense[a, b] > 0
        if len(steps) < 12:
            assert steps[-1] == 3  # only the dead end stops a walk early
    assert (walks[150:, 1] == -1).all()  # walks started at the dead end never move


def test_transition_frequencies_match_edge_weights():
    rng = np.random.default_rng(1)
    walks = random_walks(TINY_GRAPH, np.repeat(np.arange(3), 4000), 6, rng)
    transitions = Counter()
    for a, b in zip(walks[:, :-1].ravel(), walks[:, 1:].ravel()):
        if a >= 0 and b >= 0:
            transitions[a, b] += 1
    dense = TINY_GRAPH.toarray()
    for node in range(3):
        n_out = sum(transitions[node, j] for j in range(4))
        expected = dense[node] / dense[node].sum() * n_out
        observed = np.array([transitions[node, j] for j in range(4)])
        assert observed[expected == 0].sum() == 0
        mask = expected > 0
        chi2 = (((observed - expected) ** 2)[mask] / expected[mask]).sum()
        assert chi2 < 16.3  # the 0.999 quantile of chi-square with 3 degrees of freedom (we have <= 2)


def test_walks_are_deterministic_for_a_seed():
    starts = np.arange(3).repeat(5)
    a = random_walks(TINY_GRAPH, starts, 8, np.random.default_rng(7))
    b = random_walks(TINY_GRAPH, starts, 8, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


# ---- the skip-gram corpus ----------------------------------------------------------------------------
def slow_skipgram_pairs(walks, spans):
    pairs = []
    for walk, span in zip(walks, spans):
        for p, centre in enumerate(walk):
            if centre < 0:
                continue
            for q in range(max(0, p - span[p]), min(len(walk), p + span[p] + 1)):
                if q != p and walk[q] >= 0:
                    pairs.append((centre, walk[q]))
    return Counter(pairs)


def test_skipgram_pairs_match_slow_generator():
    rng = np.random.default_rng(0)
    walks = rng.integers(0, 6, (7, 9))
    walks[2, 5:] = -1  # a walk that ended early
    walks[4, 1:] = -1
    spans = rng.integers(1, 4, walks.shape)  # dynamic window: 1..3 per centre
    centres, contexts = skipgram_pairs(walks, spans)
    assert Counter(zip(centres.tolist(), contexts.tolist())) == slow_skipgram_pairs(walks, spans)
    assert len(skipgram_pairs(walks, np.ones_like(walks))[0]) == 2 * ((walks[:, 1:] >= 0) & (walks[:, :-1] >= 0)).sum()


def test_negative_sampling_follows_count_to_the_075():
    counts = np.array([1000, 100, 10, 0, 1])
    probs = negative_distribution(counts, 0.75)
    np.testing.assert_allclose(probs, np.r_[1000, 100, 10, 0, 1] ** 0.75 / (1000 ** 0.75 + 100 ** 0.75 + 10 ** 0.75 + 1))
    draws = sample_negatives(np.cumsum(probs), (200_000,), np.random.default_rng(0))
    empirical = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(empirical, probs, atol=0.004)
    assert empirical[3] == 0  # a node that never occurs is never a negative


def test_subsampling_formula_and_order():
    counts = np.array([900, 90, 10])  # frequencies 0.9, 0.09, 0.01
    keep = keep_probability(counts, 0.01)
    np.testing.assert_allclose(keep, [np.sqrt(0.01 / 0.9), np.sqrt(0.01 / 0.09), 1.0])
    np.testing.assert_array_equal(keep_probability(counts, 0.0), [1, 1, 1])
    rng = np.random.default_rng(0)
    walks = np.tile(np.array([0, 1, 2, 0, 1, 2, -1]), (20_000, 1))
    kept = subsample(walks, keep, rng)
    rates = node_counts(kept, 3) / node_counts(walks, 3)
    np.testing.assert_allclose(rates, keep, atol=0.01)
    # survivors keep their order and are packed to the left
    row = kept[np.argmax((kept >= 0).sum(axis=1) == 6)]
    np.testing.assert_array_equal(row, [0, 1, 2, 0, 1, 2, -1])
    valid = kept >= 0
    assert not (~valid[:, :-1] & valid[:, 1:]).any()


# ---- DeepWalk end to end -----------------------------------------------------------------------------
def community_log(n_communities=3, items_per=8, users_per=40, seed=0):
    """A planted graph: each community's items sit on a ring, and a user takes three consecutive
    items of one ring (every start equally often). So the co-visitation graph has one component
    per community, and inside one, ring neighbours are co-visited twice as often as distance 2."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for community in range(n_communities):
        for u in range(users_per):
            start = (u + rng.integers(items_per)) % items_per if seed else u % items_per
            users += [community * users_per + u] * 3
            items += [community * items_per + (start + d) % items_per for d in range(3)]
    return make_log(users, items, np.arange(len(users), dtype=float)), items_per


SMALL = dict(dim=16, walks_per_node=10, walk_length=20, window=3, epochs=3, batch_size=256,
             lr=0.02, subsample=0.0, n_neighbours=20)


def test_skipgram_loss_decreases():
    log, _ = community_log()
    model = DeepWalk(DeepWalkConfig(**SMALL)).fit(log)
    history = model.loss_history_
    assert len(history) == 3
    assert history[-1] < history[0]
    assert history[0] < 6 * np.log(2)  # the loss of the untrained model (output vectors start at 0)


def test_embedding_neighbours_stay_in_their_community_and_agree_with_cooccurrence():
    log, items_per = community_log()
    model = DeepWalk(DeepWalkConfig(**SMALL, seed=1)).fit(log)
    vectors = model.item_vectors_
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    community = np.arange(log.n_items) // items_per
    k = 2
    embedding_neighbours = np.argsort(-similarity, axis=1)[:, :k]
    assert (community[embedding_neighbours] == community[:, None]).mean() == 1.0
    # brute-force baseline: neighbours by raw co-occurrence counts, from a Python loop
    cooccurrence = np.zeros((log.n_items, log.n_items))
    for u in range(log.n_users):
        for i, j in itertools.permutations(log.items[log.users == u], 2):
            cooccurrence[i, j] += 1
    np.fill_diagonal(cooccurrence, -np.inf)
    count_neighbours = np.argsort(-cooccurrence, axis=1)[:, :k]
    assert (community[count_neighbours] == community[:, None]).all()
    ring = np.arange(log.n_items) % items_per
    assert (np.sort((ring[count_neighbours] - ring[:, None]) % items_per, axis=1) == [1, items_per - 1]).all()
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(embedding_neighbours, count_neighbours)])
    assert overlap >= 0.9  # two random picks inside the community would overlap 2 / 7


def test_deepwalk_is_deterministic_and_recommends_inside_the_community():
    log, items_per = community_log(seed=2)
    a = DeepWalk(DeepWalkConfig(**{**SMALL, "epochs": 1})).fit(log)
    b = DeepWalk(DeepWalkConfig(**{**SMALL, "epochs": 1})).fit(log)
    np.testing.assert_array_equal(a.item_vectors_, b.item_vectors_)
    assert a.loss_history_ == b.loss_history_
    users = np.arange(log.n_users)
    top = a.recommend(users, k=2)
    user_community = users // 40
    assert (top // items_per == user_community[:, None]).mean() > 0.95
    seen = log.to_csr()
    assert not any(seen[u, i] for u, row in zip(users, top) for i in row)
