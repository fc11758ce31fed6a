"""EASE (Steck 2019) against a slow reference: the constrained ridge regression solved column by column."""
import numpy as np
import pytest
import scipy.sparse as sp

from lineage.data import Interactions
from lineage.models.ease import EASE, EASEConfig, bytes_needed, ease_weights
from lineage.models.registry import make_model


def slow_ease(X: np.ndarray, regularization: float) -> np.ndarray:
    """min ||X - XB||^2 + lambda ||B||^2 with B_jj = 0: the columns decouple, and column j is a
    ridge regression of item j on every other item."""
    n_items = X.shape[1]
    B = np.zeros((n_items, n_items))
    for j in range(n_items):
        others = [i for i in range(n_items) if i != j]
        A = X[:, others]
        B[others, j] = np.linalg.solve(A.T @ A + regularization * np.eye(n_items - 1), A.T @ X[:, j])
    return B


def random_binary(n_users, n_items, density, seed):
    rng = np.random.default_rng(seed)
    return (rng.random((n_users, n_items)) < density).astype(np.float64)


@pytest.mark.parametrize("regularization", [0.5, 5.0, 200.0])
def test_closed_form_matches_column_by_column_ridge(regularization):
    X = random_binary(6, 8, 0.5, seed=1)
    B = ease_weights(sp.csr_matrix(X), regularization)
    assert np.allclose(B, slow_ease(X, regularization), atol=1e-10)
    assert np.all(np.diag(B) == 0.0)


def test_closed_form_with_the_explicit_inverse():
    X = random_binary(6, 8, 0.4, seed=2)
    P = np.linalg.inv(X.T @ X + 3.0 * np.eye(8))
    expected = np.eye(8) - P @ np.diag(1.0 / np.diag(P))
    assert np.allclose(ease_weights(sp.csr_matrix(X), 3.0), expected, atol=1e-12)


def small_train():
    X = random_binary(30, 12, 0.3, seed=3)
    X[29] = 0.0  # a user without history
    users, items = np.nonzero(X)
    return Interactions(users=users, items=items, times=np.arange(len(users), dtype=float), values=np.ones(len(users)),
                        user_ids=np.arange(30).astype(str), item_ids=np.arange(12).astype(str)), X


def test_scores_are_history_times_b_and_recommend_follows_them():
    train, X = small_train()
    model = EASE(EASEConfig(regularization=2.0)).fit(train)
    expected = X @ slow_ease(X, 2.0)  # (30, 12)
    assert np.allclose(model.score(np.arange(30)), expected, atol=1e-4)
    top = model.recommend(np.arange(29), k=3)
    for u in range(29):  # best unseen items, ties by index
        unseen = np.flatnonzero(X[u] == 0)
        order = unseen[np.argsort(-model.score(np.array([u]))[0][unseen], kind="stable")][:3]
        assert top[u].tolist() == order.tolist()
    assert model.recommend(np.array([29]), k=3).tolist() == [[-1, -1, -1]]  # no history: an empty list


def test_default_lambda_is_relative_to_the_mean_item_count():
    train, X = small_train()
    model = EASE(EASEConfig(regularization_scale=2.0)).fit(train)
    assert model.regularization_ == pytest.approx(2.0 * X.sum() / (X.sum(axis=0) > 0).sum())
    # doubling every count doubles lambda: the same data seen twice gives the same B
    doubled = Interactions(users=np.r_[train.users, train.users + 30], items=np.r_[train.items, train.items],
                           times=np.r_[train.times, train.times], values=np.ones(2 * len(train)),
                           user_ids=np.arange(60).astype(str), item_ids=train.item_ids)
    assert np.allclose(EASE(EASEConfig(regularization_scale=2.0)).fit(doubled).B_, model.B_, atol=1e-5)


def test_a_catalogue_above_max_items_is_a_one_line_error_naming_the_size():
    train, _ = small_train()
    with pytest.raises(ValueError) as error:
        EASE(EASEConfig(max_items=10)).fit(train)
    message = str(error.value)
    assert "12 x 12" in message and "max_items=10" in message and "\n" not in message
    assert bytes_needed(1000) == 3 * 8 * 1000 ** 2


def test_registered_with_tuned_defaults_per_protocol():
    model = make_model("ease", "ml-100k", "temporal")
    assert isinstance(model, EASE)
    for key, overrides in EASE.TUNED.items():
        dataset, _, protocol = key.partition("/")
        tuned = make_model("ease", dataset, protocol or None)
        for field, value in overrides.items():
            assert getattr(tuned.config, field) == value
    # the protocol's own entry wins; a protocol never tuned falls back to the dataset's entry
    assert make_model("ease", "ml-100k", "temporal").config.regularization_scale == EASE.TUNED["ml-100k/temporal"]["regularization_scale"]
    assert make_model("ease", "ml-100k", "random").config.regularization_scale == EASE.TUNED["ml-100k"]["regularization_scale"]
    assert make_model("ease", "my-csv", "temporal").config == EASEConfig()
    with pytest.raises(ValueError):
        EASEConfig(regularization=0.0)
