"""User- and item-kNN: against a slow, obvious dense implementation, and against implicit."""
import numpy as np
import pytest
from implicit.nearest_neighbours import CosineRecommender, bm25_weight as implicit_bm25, tfidf_weight as implicit_tfidf
from threadpoolctl import threadpool_limits

from lineage.data import Interactions
from lineage.models.knn import (ItemKNN, ItemKNNConfig, UserKNN, UserKNNConfig, bm25_weight, cosine_neighbours,
                                tfidf_weight)


def random_log(n_users=40, n_items=25, density=0.3, ratings=True, seed=0) -> Interactions:
    """A small random log; ratings are integers 1..5 so every dot product is exact in float64."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    users, items = np.nonzero(mask)
    values = rng.integers(1, 6, len(users)) if ratings else np.ones(len(users))
    return Interactions(users, items, np.zeros(len(users)), values,
                        np.arange(n_users).astype(str), np.arange(n_items).astype(str))


def brute_force_neighbours(vectors: np.ndarray, k: int, shrinkage: float) -> np.ndarray:
    """Dense (n, n): for each row, its k best other rows by cosine with shrinkage, ties to the
    smaller index, only positive similarities; everything else 0. Written to be obviously right."""
    n = len(vectors)
    norms = np.sqrt((vectors ** 2).sum(axis=1))
    out = np.zeros((n, n))
    for a in range(n):
        candidates = []
        for b in range(n):
            if a == b:
                continue
            sim = float(vectors[a] @ vectors[b]) / (norms[a] * norms[b] + shrinkage)
            if sim > 0:
                candidates.append((-sim, b))
        for neg_sim, b in sorted(candidates)[:k]:
            out[a, b] = -neg_sim
    return out


@pytest.mark.parametrize("ratings", [False, True])  # binary data has many exact ties
@pytest.mark.parametrize("k, shrinkage", [(3, 0.0), (5, 7.5), (100, 2.0)])
def test_cosine_neighbours_equal_brute_force(ratings, k, shrinkage):
    matrix = random_log(ratings=ratings).to_csr(binary=False).astype(np.float64)  # (users, items)
    for vectors in (matrix.T.tocsr(), matrix):  # items over users (item-kNN), users over items (user-kNN)
        expected = brute_force_neighbours(vectors.toarray(), k, shrinkage)
        got = cosine_neighbours(vectors, k, shrinkage, chunk_size=7).toarray()  # small chunks: exercise the loop
        assert np.array_equal(got != 0, expected != 0)  # the same neighbour sets
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_item_and_user_knn_scores_equal_dense_formulas():
    log = random_log(seed=1)
    history = log.to_csr(binary=True).toarray()  # (users, items)
    users = np.arange(log.n_users)

    item_model = ItemKNN(ItemKNNConfig(k_neighbours=6, shrinkage=3.0)).fit(log)
    item_sim = brute_force_neighbours(history.T, 6, 3.0)  # (items, items), row j = neighbours of j
    np.testing.assert_allclose(item_model.score(users), history @ item_sim, rtol=1e-6)

    user_model = UserKNN(UserKNNConfig(k_neighbours=6, shrinkage=3.0)).fit(log)
    user_sim = brute_force_neighbours(history, 6, 3.0)  # (users, users)
    np.testing.assert_allclose(user_model.score(users), user_sim @ history, rtol=1e-6)


def test_power_and_row_normalisation():
    log = random_log(seed=2)
    plain = ItemKNN(ItemKNNConfig(k_neighbours=5, shrinkage=1.0)).fit(log).similarity_.toarray()
    tuned = ItemKNN(ItemKNNConfig(k_neighbours=5, shrinkage=1.0, power=2.0, normalize=True)).fit(log).similarity_.toarray()
    expected = plain ** 2
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(tuned, expected, rtol=1e-12)


def test_weightings_match_implicit():
    matrix = random_log(n_users=60, n_items=30, density=0.2, seed=3).to_csr(binary=False).astype(np.float64)
    documents = matrix.T.tocsr()  # items over users, as item-kNN weights them
    np.testing.assert_allclose(tfidf_weight(documents).toarray(), implicit_tfidf(documents).toarray(), rtol=1e-12)
    np.testing.assert_allclose(bm25_weight(documents, 1.2, 0.75).toarray(),
                               implicit_bm25(documents, 1.2, 0.75).toarray(), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:Method expects CSR input")  # implicit's own CosineRecommender.fit passes a COO
def test_item_knn_matches_implicit_cosine_recommender():
    """implicit keeps each item itself among its K neighbours and uses no shrinkage, so our
    k_neighbours = K - 1 with shrinkage 0 must give the same neighbours and the same top-10."""
    rng = np.random.default_rng(4)
    n_users, n_items = 80, 50
    mask = rng.random((n_users, n_items)) < 0.15
    users, items = np.nonzero(mask)
    log = Interactions(users, items, np.zeros(len(users)), rng.uniform(0.5, 5.0, len(users)),  # no ties
                       np.arange(n_users).astype(str), np.arange(n_items).astype(str))
    K = 8
    ours = ItemKNN(ItemKNNConfig(k_neighbours=K - 1, shrinkage=0.0, binary=False)).fit(log)
    matrix = log.to_csr(binary=False)
    with threadpool_limits(1, "blas"):
        theirs = CosineRecommender(K=K, num_threads=1)
        theirs.fit(matrix, show_progress=False)
        their_ids, _ = theirs.recommend(np.arange(n_users), matrix, N=10, filter_already_liked_items=True)
    their_sim = theirs.similarity.toarray()
    np.fill_diagonal(their_sim, 0.0)  # implicit's self-similarity
    np.testing.assert_allclose(ours.similarity_.toarray(), their_sim, rtol=1e-5, atol=1e-7)

    our_ids = ours.recommend(np.arange(n_users), k=10)
    assert np.array_equal(our_ids, their_ids)


def test_never_recommends_a_seen_item():
    log = random_log(seed=5)
    for model in (ItemKNN(), UserKNN(), ItemKNN(ItemKNNConfig(weighting="bm25", normalize=True, power=3.0)),
                  UserKNN(UserKNNConfig(weighting="tfidf", binary=False))):
        model.fit(log)
        lists = model.recommend(np.arange(log.n_users), k=5)
        seen = log.to_csr(binary=True).toarray()
        assert not any(seen[u, i] for u in range(log.n_users) for i in lists[u] if i >= 0)


def test_unknown_weighting_is_a_clear_error():
    with pytest.raises(ValueError, match="weighting"):
        ItemKNN(ItemKNNConfig(weighting="idf")).fit(random_log())
