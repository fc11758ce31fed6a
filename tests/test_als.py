"""The teaching ALS: half-steps against the dense normal equations, the loss against its definition,
the fit against implicit at equal hyperparameters, and recovery of a planted low-rank structure."""
import numpy as np
import pytest
import scipy.sparse as sp

from lineage.metrics import evaluate
from lineage.models.als import (ALS, ALSConfig, confidence_matrix, solve_items, solve_users, solve_users_cg,
                                weighted_loss)
from lineage.models.implicit_models import ImplicitALS, ImplicitALSConfig
from lineage.models.popularity import Popularity
from lineage.splits import split


def small_problem(seed=0, n_users=30, n_items=20, f=4):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < 0.3
    mask[0] = False  # a user with no events: the exact answer is the zero vector
    ratings = sp.csr_matrix(np.where(mask, rng.integers(1, 6, mask.shape), 0).astype(np.float64))
    return ratings, rng.normal(size=(n_items, f)), rng.normal(size=(n_users, f))


def dense_user_solve(Y, C_observed, regularization):
    """x_u = (Y^T C_u Y + reg I)^-1 Y^T C_u p_u with the full (n_items, n_items) diagonal C_u."""
    observed = C_observed.toarray()
    preference = (observed > 0).astype(float)  # (n_users, n_items)
    confidence = np.where(observed > 0, observed, 1.0)  # every unobserved cell has c = 1
    X = np.zeros((observed.shape[0], Y.shape[1]))
    for u in range(observed.shape[0]):
        Cu = np.diag(confidence[u])
        X[u] = np.linalg.solve(Y.T @ Cu @ Y + regularization * np.eye(Y.shape[1]), Y.T @ Cu @ preference[u])
    return X


@pytest.mark.parametrize("convention", ["hkv", "implicit"])
def test_half_step_equals_dense_normal_equations(convention):
    ratings, Y, X = small_problem()
    C = confidence_matrix(ratings, alpha=2.0, convention=convention)
    np.testing.assert_allclose(solve_users(Y, C, 0.5), dense_user_solve(Y, C, 0.5), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(solve_items(X, C, 0.5), dense_user_solve(X, C.T.tocsr(), 0.5), rtol=1e-9, atol=1e-12)
    assert not solve_users(Y, C, 0.5)[0].any()  # the user with no events


def test_half_step_chunks_do_not_change_the_answer():
    ratings, Y, _ = small_problem(seed=1)
    C = confidence_matrix(ratings, 3.0)
    np.testing.assert_allclose(solve_users(Y, C, 0.1, chunk_size=7), solve_users(Y, C, 0.1), rtol=1e-12)


def test_conjugate_gradient_converges_to_the_exact_half_step():
    ratings, Y, X = small_problem(seed=2)
    C = confidence_matrix(ratings, 2.0)
    exact = solve_users(Y, C, 0.5)
    # in exact arithmetic CG solves an f-dimensional system in f steps; a few more absorb rounding
    np.testing.assert_allclose(solve_users_cg(Y, C, 0.5, X, steps=3 * Y.shape[1]), exact, rtol=1e-7, atol=1e-9)


def test_weighted_loss_equals_its_dense_definition():
    ratings, Y, X = small_problem(seed=3)
    C = confidence_matrix(ratings, 2.0)
    observed = C.toarray()
    preference = (observed > 0).astype(float)
    confidence = np.where(observed > 0, observed, 1.0)
    expected = np.sum(confidence * (preference - X @ Y.T) ** 2) + 0.7 * (np.sum(X ** 2) + np.sum(Y ** 2))
    assert weighted_loss(X, Y, C, 0.7) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("solver", ["exact", "cg"])
@pytest.mark.parametrize("convention", ["hkv", "implicit"])
def test_loss_decreases_every_iteration(solver, convention, planted_log):
    log = planted_log(n_users=120, n_items=80, per_user=15)
    model = ALS(ALSConfig(factors=8, regularization=1.0, alpha=2.0, iterations=8, solver=solver,
                          confidence=convention, binary=False)).fit(log)
    losses = np.array(model.loss_history_)
    assert len(losses) == 8
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])


@pytest.mark.parametrize("solver", ["exact", "cg"])
@pytest.mark.parametrize("convention", ["implicit", "hkv"])
def test_matches_implicit_at_equal_hyperparameters(solver, convention, planted_log):
    """Same objective, same initial draws, same solver: the same factors up to implicit's float32
    arithmetic, and recall@10 within 2% (relative) of implicit's."""
    parts = split(planted_log(), "per-user", 0.2, seed=0)
    hyper = dict(factors=16, regularization=5.0, alpha=2.0, iterations=10, seed=3, binary=False, confidence=convention)
    ours = ALS(ALSConfig(**hyper, solver=solver)).fit(parts.train)
    theirs = ImplicitALS(ImplicitALSConfig(**hyper, use_cg=solver == "cg")).fit(parts.train)
    np.testing.assert_allclose(ours.item_factors_, theirs.item_factors_, atol=1e-3)
    ours_recall = evaluate(ours, parts.train, parts.test, k=10)["recall@10"]
    their_recall = evaluate(theirs, parts.train, parts.test, k=10)["recall@10"]
    assert abs(ours_recall - their_recall) <= 0.02 * their_recall


def test_recovers_planted_structure_better_than_popularity(planted_log):
    log = planted_log(seed=1)
    parts = split(log, "per-user", 0.2, seed=0)
    als = ALS(ALSConfig(factors=8, regularization=5.0, alpha=2.0, iterations=10)).fit(parts.train)
    als_recall = evaluate(als, parts.train, parts.test, k=10)["recall@10"]
    pop_recall = evaluate(Popularity().fit(parts.train), parts.train, parts.test, k=10)["recall@10"]
    assert als_recall > 2 * pop_recall
    # the learned item factors separate the hidden groups: items of one group are closer to each other
    item_group = log.item_features["group"]
    Y = als.item_factors_ / np.linalg.norm(als.item_factors_, axis=1, keepdims=True)
    cosine = Y @ Y.T
    same = item_group[:, None] == item_group[None, :]
    np.fill_diagonal(same, False)
    different = item_group[:, None] != item_group[None, :]
    assert cosine[same].mean() > cosine[different].mean() + 0.3


def test_deterministic_and_configurable(planted_log):
    log = planted_log(n_users=60, n_items=40, per_user=10)
    a = ALS(ALSConfig(factors=4, iterations=3, seed=7)).fit(log)
    b = ALS(ALSConfig(factors=4, iterations=3, seed=7)).fit(log)
    assert np.array_equal(a.score(np.arange(5)), b.score(np.arange(5)))
    with pytest.raises(ValueError, match="solver"):
        ALS(ALSConfig(solver="sgd")).fit(log)
    with pytest.raises(ValueError, match="confidence"):
        ALS(ALSConfig(confidence="linear")).fit(log)
