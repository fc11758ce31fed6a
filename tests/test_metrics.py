"""Metrics against hand-computed lists, and the vectorised versions against the readable ones."""
import math

import numpy as np
import pytest
import scipy.sparse as sp

from lineage import metrics
from lineage.data import Interactions


def test_hand_computed_example():
    ranked = [7, 3, 9, 1, 5]
    relevant = {3, 5, 8}
    # hits at ranks 2 and 5
    assert metrics.precision_at_k(ranked, relevant, 5) == pytest.approx(2 / 5)
    assert metrics.recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(ranked, relevant, 5) == pytest.approx(dcg / idcg)
    assert metrics.average_precision_at_k(ranked, relevant, 5) == pytest.approx((1 / 2 + 2 / 5) / 3)
    # ideal DCG is over min(|R|, k) items: with k=2 only two ideal slots
    assert metrics.ndcg_at_k(ranked, relevant, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_perfect_and_empty_lists():
    assert metrics.ndcg_at_k([1, 2], {1, 2}, 2) == pytest.approx(1.0)
    assert metrics.average_precision_at_k([1, 2], {1, 2}, 2) == pytest.approx(1.0)
    assert metrics.recall_at_k([4, 5], {1, 2}, 2) == 0.0
    assert metrics.precision_at_k([4, 1], {1}, 2) == pytest.approx(0.5)


def test_vectorised_matches_readable_versions():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 40, 30, 7
    recommended = np.array([rng.permutation(n_items)[:k] for _ in range(n_users)])
    recommended[3, 5:] = -1  # a short list
    rows, cols = [], []
    relevant_sets = []
    for u in range(n_users):
        rel = set(rng.choice(n_items, size=rng.integers(0, 6), replace=False).tolist())
        relevant_sets.append(rel)
        rows += [u] * len(rel)
        cols += sorted(rel)
    relevant = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))
    fast = metrics.per_user_metrics(recommended, relevant, k)
    for u in range(n_users):
        ranked = [i for i in recommended[u] if i >= 0]
        if not relevant_sets[u]:
            assert np.isnan(fast["recall"][u])
            continue
        assert fast["precision"][u] == pytest.approx(metrics.precision_at_k(ranked, relevant_sets[u], k))
        assert fast["recall"][u] == pytest.approx(metrics.recall_at_k(ranked, relevant_sets[u], k))
        assert fast["ndcg"][u] == pytest.approx(metrics.ndcg_at_k(ranked, relevant_sets[u], k))
        assert fast["map"][u] == pytest.approx(metrics.average_precision_at_k(ranked, relevant_sets[u], k))


def _log(pairs, n_users=3, n_items=5):
    users, items = zip(*pairs)
    return Interactions(users=users, items=items, times=np.arange(len(pairs)), values=np.ones(len(pairs)),
                        user_ids=np.array([f"u{i}" for i in range(n_users)]),
                        item_ids=np.array([f"i{i}" for i in range(n_items)]))


def test_hit_rate_is_per_test_interaction():
    test = _log([(0, 1), (0, 2), (0, 3), (1, 4)])
    users = np.array([0, 1])
    recommended = np.array([[1, 2], [0, 3]])
    # user 0: 2 of 3 events hit, user 1: 0 of 1 -> 2/4 over interactions (a per-user mean would give 1/3)
    assert metrics.hit_rate_at_k(recommended, users, test, 2) == pytest.approx(0.5)


def test_hit_rate_per_user_averages_to_the_per_interaction_rate():
    train = _log([(0, 4)])
    test = _log([(0, 1), (0, 2), (0, 3), (0, 4), (1, 4), (2, 0)])
    users = np.array([0, 1, 2])
    recommended = np.array([[1, 2], [0, 3], [0, 1]])
    for seen in (None, train):  # with train, user 0's event on item 4 is not counted
        per_user = metrics.hit_rate_per_user(recommended, users, test, 2, seen)
        assert per_user.shape == (3,)
        assert per_user.mean() == pytest.approx(metrics.hit_rate_at_k(recommended, users, test, 2, seen))
    # user 0: 2 hits; user 2: 1 hit; 5 counted events (item 4 of user 0 removed) -> 3/5
    assert metrics.hit_rate_at_k(recommended, users, test, 2, train) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="no test interaction"):
        metrics.hit_rate_per_user(recommended[:1], np.array([0]), _log([(1, 4)]), 2)


def test_exclude_seen_removes_train_items_from_relevant_set():
    train = _log([(0, 1)])
    test = _log([(0, 1), (0, 2)])
    recommended = np.array([[2, 3]])
    with_switch = metrics.evaluate_lists(recommended, np.array([0]), train, test, k=2, exclude_seen=True)
    without = metrics.evaluate_lists(recommended, np.array([0]), train, test, k=2, exclude_seen=False)
    assert with_switch["recall@2"] == pytest.approx(1.0)
    assert without["recall@2"] == pytest.approx(0.5)


def test_coverage_popularity_and_true_recall():
    recommended = np.array([[0, 1], [1, 2], [1, -1]])
    assert metrics.coverage_at_k(recommended, 10, 2) == pytest.approx(3 / 10)
    train = _log([(0, 1), (1, 1), (2, 1), (0, 0)])
    assert metrics.mean_popularity_at_k(recommended, train, 2) == pytest.approx((1 + 3 + 3 + 0 + 3) / 5)
    true_top = np.array([[0, 5], [2, 3], [4, 6]])
    assert metrics.true_recall_at_k(recommended, true_top, 2) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)


def test_lists_with_nothing_recommended_score_zero():
    from lineage.metrics import hit_matrix
    relevant = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    assert not hit_matrix(np.full((2, 3), -1), relevant).any()
