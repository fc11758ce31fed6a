"""The workshop: every check passes the right answer, stays quiet about a missing one, and fails a
plausible wrong one with a message that helps; exercise notebooks are exactly what their solution
sources generate.

The solution notebooks themselves run under nbval with the rest of `make test`: there, each
check cell proves that the solution written in the notebook passes its check.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "notebooks" / "exercises"
sys.path.insert(0, str(EXERCISES))  # the exercise notebooks import their checks from notebooks/exercises/workshop/
from workshop import (cold_start_side_information_leakage, content_app_and_evaluation, deepwalk,  # noqa: E402
                      matrix_factorisation, negatives, neighbours, serving_and_ranking, two_towers)


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def passes(check, *args, capsys=None):
    assert check(*args) is True
    if capsys is not None:
        assert "[ OK ]" in capsys.readouterr().out


def not_answered(check, *args, capsys):
    assert check(*args) is False
    assert "[ .. ] not answered yet:" in capsys.readouterr().out


def fails(check, *args, hint: str):
    """The check raises AssertionError and its message contains the hint (case-insensitive)."""
    with pytest.raises(AssertionError) as error:
        check(*args)
    message = str(error.value)
    assert message.startswith("[FAIL]"), message
    assert hint.lower() in message.lower(), f"expected {hint!r} in: {message}"
    return message


# ---- 00 · 1: nDCG ----------------------------------------------------------------------------------
def test_ndcg(capsys):
    def right(ranked, relevant, k):
        dcg = sum(1 / np.log2(r + 1) for r, item in enumerate(ranked[:k], start=1) if item in relevant)
        ideal = sum(1 / np.log2(r + 1) for r in range(1, min(len(relevant), k) + 1))
        return dcg / ideal if ideal else 0.0

    def ideal_over_all(ranked, relevant, k):
        dcg = sum(1 / np.log2(r + 1) for r, item in enumerate(ranked[:k], start=1) if item in relevant)
        ideal = sum(1 / np.log2(r + 1) for r in range(1, len(relevant) + 1))
        return dcg / ideal if ideal else 0.0

    def zero_based(ranked, relevant, k):
        with np.errstate(divide="ignore"):
            dcg = sum(1 / np.log2(j + 1) for j, item in enumerate(ranked[:k]) if item in relevant)
            ideal = sum(1 / np.log2(j + 1) for j in range(min(len(relevant), k)))
        return dcg / ideal if ideal else 0.0

    def no_cutoff(ranked, relevant, k):
        dcg = sum(1 / np.log2(r + 1) for r, item in enumerate(ranked, start=1) if item in relevant)
        ideal = sum(1 / np.log2(r + 1) for r in range(1, min(len(relevant), k) + 1))
        return dcg / ideal if ideal else 0.0

    passes(content_app_and_evaluation.check_ndcg, right, capsys=capsys)
    passes(content_app_and_evaluation.check_ndcg, content_app_and_evaluation.reference_ndcg)
    not_answered(content_app_and_evaluation.check_ndcg, None, capsys=capsys)
    not_answered(content_app_and_evaluation.check_ndcg, lambda ranked, relevant, k: None, capsys=capsys)
    fails(content_app_and_evaluation.check_ndcg, ideal_over_all, hint="min(|relevant|, k)")
    fails(content_app_and_evaluation.check_ndcg, zero_based, hint="log2(rank + 1)")
    fails(content_app_and_evaluation.check_ndcg, no_cutoff, hint="below rank k")
    fails(content_app_and_evaluation.check_ndcg, lambda ranked, relevant, k: "high", hint="should return a number")
    fails(content_app_and_evaluation.check_ndcg, lambda ranked, relevant, k: 1 / 0, hint="raised ZeroDivisionError")


# ---- 01 · 1: item cosine ----------------------------------------------------------------------------
R_TINY = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 1], [0, 0, 0, 1, 1, 1], [0, 1, 0, 1, 1, 0],
                   [1, 0, 0, 0, 0, 0]], dtype=float)


def test_item_cosine(capsys):
    s = 1.0
    co = R_TINY.T @ R_TINY
    norms = np.sqrt(np.diag(co))
    right = co / (np.outer(norms, norms) + s)
    np.fill_diagonal(right, 0)
    passes(neighbours.check_item_cosine, right, R_TINY, s, capsys=capsys)
    not_answered(neighbours.check_item_cosine, None, R_TINY, s, capsys=capsys)

    plain = co / np.outer(norms, norms)
    np.fill_diagonal(plain, 0)
    fails(neighbours.check_item_cosine, plain, R_TINY, s, hint="add the shrinkage to the denominator")
    with_diagonal = co / (np.outer(norms, norms) + s)
    fails(neighbours.check_item_cosine, with_diagonal, R_TINY, s, hint="diagonal")
    users = R_TINY @ R_TINY.T
    fails(neighbours.check_item_cosine, users, R_TINY, s, hint="columns")
    fails(neighbours.check_item_cosine, right[:, :5], R_TINY, s, hint="shape (6, 6)")


def test_item_cosine_reference_is_the_formula():
    rng = np.random.default_rng(3)
    R = (rng.random((12, 7)) < 0.4).astype(float)
    R[0] = 1  # no empty column
    dots = R.T @ R
    norms = np.sqrt(np.diag(dots))
    expected = dots / (np.outer(norms, norms) + 2.5)
    np.fill_diagonal(expected, 0)
    assert np.allclose(neighbours.reference_item_cosine(R, 2.5), expected)


# ---- 01 · 2: user-kNN ------------------------------------------------------------------------------
H = np.array([[3, 0, 1, 0, 0, 2, 0, 0, 1, 0], [2, 1, 0, 0, 0, 3, 0, 0, 0, 0], [0, 0, 0, 4, 1, 0, 0, 2, 0, 0],
              [0, 0, 1, 3, 2, 0, 0, 1, 0, 1], [1, 0, 2, 0, 0, 1, 0, 0, 3, 0], [0, 2, 0, 0, 0, 0, 3, 0, 0, 2],
              [0, 3, 0, 1, 0, 0, 2, 0, 0, 1], [4, 0, 0, 0, 1, 1, 0, 0, 2, 0]], dtype=float)


def _user_knn(H, K, include_self=False, binary=False):
    X = (H > 0).astype(float) if binary else H
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    sim = unit @ unit.T
    if not include_self:
        np.fill_diagonal(sim, 0)
    kept = np.zeros_like(sim)
    for u in range(len(sim)):
        best = np.argsort(-sim[u], kind="stable")[:K]
        kept[u, best] = sim[u, best]
    return kept @ X


def test_user_knn_notebook_data_has_no_ties_at_the_cut():
    unit = H / np.linalg.norm(H, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, 0)
    ordered = -np.sort(-sim, axis=1)
    assert np.all(ordered[:, 1] - ordered[:, 2] > 1e-6), "top-2 neighbours must be unambiguous"


def test_user_knn_scores(capsys):
    K = 2
    passes(neighbours.check_user_knn_scores, _user_knn(H, K), H, K, capsys=capsys)
    assert np.allclose(neighbours.reference_user_knn_scores(H, K), _user_knn(H, K))
    not_answered(neighbours.check_user_knn_scores, None, H, K, capsys=capsys)
    unit = H / np.linalg.norm(H, axis=1, keepdims=True)
    everyone = unit @ unit.T
    np.fill_diagonal(everyone, 0)
    fails(neighbours.check_user_knn_scores, everyone @ H, H, K, hint="most similar")
    fails(neighbours.check_user_knn_scores, _user_knn(H, K, include_self=True), H, K, hint="own nearest neighbour")
    fails(neighbours.check_user_knn_scores, _user_knn(H, K, binary=True), H, K, hint="counts")


# ---- 02 · 1: confidence ------------------------------------------------------------------------------
R_COUNTS = np.array([[2, 1, 0, 0, 0], [1, 0, 2, 0, 0], [0, 0, 0, 1, 2], [0, 0, 0, 1, 0]], dtype=float)


def test_confidence(capsys):
    alpha = 4.0
    C, P = 1 + alpha * R_COUNTS, (R_COUNTS > 0).astype(float)
    passes(matrix_factorisation.check_confidence, C, P, R_COUNTS, alpha, capsys=capsys)
    not_answered(matrix_factorisation.check_confidence, None, None, R_COUNTS, alpha, capsys=capsys)
    not_answered(matrix_factorisation.check_confidence, C, None, R_COUNTS, alpha, capsys=capsys)  # half done
    fails(matrix_factorisation.check_confidence, np.where(R_COUNTS > 0, alpha * R_COUNTS, 1), P, R_COUNTS, alpha,
          hint="implicit library's convention")
    fails(matrix_factorisation.check_confidence, np.where(R_COUNTS > 0, 1 + alpha * R_COUNTS, 0), P, R_COUNTS, alpha,
          hint="confidence 1")
    fails(matrix_factorisation.check_confidence, C, R_COUNTS, R_COUNTS, alpha, hint="P is binary")
    fails(matrix_factorisation.check_confidence, 1 + alpha * P, P, R_COUNTS, alpha, hint="instead of the count")


# ---- 02 · 2: ALS half-step -----------------------------------------------------------------------------
def _half_step(Y, C, P, lam, weight_a=True, weight_b=True, reg=True):
    f = Y.shape[1]
    X = np.zeros((C.shape[0], f))
    for u in range(C.shape[0]):
        c = C[u] if weight_a else np.ones_like(C[u])
        A = Y.T @ (c[:, None] * Y) + (lam * np.eye(f) if reg else 0)
        b = Y.T @ ((C[u] if weight_b else 1) * P[u])
        X[u] = np.linalg.solve(A, b)
    return X


def test_als_half_step(capsys):
    passes(matrix_factorisation.check_als_half_step, _half_step, capsys=capsys)
    passes(matrix_factorisation.check_als_half_step, matrix_factorisation.reference_als_half_step)
    not_answered(matrix_factorisation.check_als_half_step, None, capsys=capsys)
    not_answered(matrix_factorisation.check_als_half_step, lambda Y, C, P, lam: None, capsys=capsys)
    fails(matrix_factorisation.check_als_half_step, lambda *a: _half_step(*a, weight_a=False, weight_b=False),
          hint="ignored the confidences")
    fails(matrix_factorisation.check_als_half_step, lambda *a: _half_step(*a, reg=False), hint="regularisation is missing")
    fails(matrix_factorisation.check_als_half_step, lambda *a: _half_step(*a, weight_b=False), hint="right-hand side")
    fails(matrix_factorisation.check_als_half_step, lambda *a: _half_step(*a, weight_a=False), hint="left-hand side")
    fails(matrix_factorisation.check_als_half_step, lambda *a: _half_step(*a).T, hint="one row per user")


def test_als_reference_is_the_normal_equations():
    Y, C, P = matrix_factorisation.als_problem(5)
    assert np.allclose(matrix_factorisation.reference_als_half_step(Y, C, P, 0.7), _half_step(Y, C, P, 0.7))


# ---- 03 · 1: walk step ---------------------------------------------------------------------------------
def _walk_step(graph, node, u, side="right", ids=True, uniform=False):
    lo, hi = graph.indptr[node], graph.indptr[node + 1]
    if hi == lo:
        return -1
    weights = np.ones(hi - lo) if uniform else graph.data[lo:hi]
    cumulative = np.cumsum(weights)
    position = min(int(np.searchsorted(cumulative, u * cumulative[-1], side=side)), hi - lo - 1)
    return int(graph.indices[lo + position]) if ids else position


def test_walk_step(capsys):
    passes(deepwalk.check_walk_step, _walk_step, capsys=capsys)
    passes(deepwalk.check_walk_step, deepwalk.reference_walk_step)
    not_answered(deepwalk.check_walk_step, None, capsys=capsys)
    fails(deepwalk.check_walk_step, lambda g, n, u: _walk_step(g, n, u, ids=False), hint="node id")
    fails(deepwalk.check_walk_step, lambda g, n, u: _walk_step(g, n, u, uniform=True), hint="uniform choice")
    fails(deepwalk.check_walk_step, lambda g, n, u: _walk_step(g, n, u, side="left"), hint="half-open")
    fails(deepwalk.check_walk_step, lambda g, n, u: max(_walk_step(g, n, u), 0), hint="return -1")


def test_walk_step_draws_like_lineage():
    """Over many draws, the reference step visits neighbours in proportion to the edge weights,
    as lineage.models.deepwalk.random_walks does."""
    from lineage.models.deepwalk import random_walks

    graph = deepwalk.walk_graph_example()
    rng = np.random.default_rng(0)
    ours = np.bincount([deepwalk.reference_walk_step(graph, 2, u) for u in rng.random(20000)], minlength=5) / 20000
    theirs = np.bincount(random_walks(graph, np.full(20000, 2), 2, np.random.default_rng(1))[:, 1], minlength=5) / 20000
    expected = np.array([1, 1, 0, 1, 5]) / 8
    assert np.allclose(ours, expected, atol=0.015) and np.allclose(theirs, expected, atol=0.015)


# ---- 04 · 1 and 04 · 2: softmax losses -------------------------------------------------------------------
def test_in_batch_loss(capsys):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def right(U, V, temperature=1.0):
        logits = U @ V.T / temperature
        return F.cross_entropy(logits, torch.arange(len(U)))

    passes(two_towers.check_in_batch_loss, right, capsys=capsys)
    not_answered(two_towers.check_in_batch_loss, None, capsys=capsys)
    fails(two_towers.check_in_batch_loss, lambda U, V, t=1.0: F.cross_entropy(U @ V.T / t, torch.arange(len(U)),
                                                                          reduction="sum"), hint="sum")
    fails(two_towers.check_in_batch_loss, lambda U, V, t=1.0: F.cross_entropy((U @ V.T / t).T, torch.arange(len(U))),
          hint="wrong axis")
    fails(two_towers.check_in_batch_loss, lambda U, V, t=1.0: F.cross_entropy(U @ V.T, torch.arange(len(U))),
          hint="temperature")
    fails(two_towers.check_in_batch_loss, lambda U, V, t=1.0: right(U, V, t).item(), hint="torch tensor")
    fails(two_towers.check_in_batch_loss, lambda U, V, t=1.0: F.cross_entropy(U @ V.T / t, torch.arange(len(U)),
                                                                          reduction="none"), hint=".mean()")
    fails(two_towers.check_in_batch_loss, lambda U, V, t=1.0: right(U, V, t).detach(), hint="no gradient")


def test_logq_logits(capsys):
    torch = pytest.importorskip("torch")

    def right(U, V, ids, q):
        logits = U @ V.T - torch.log(q[ids])[None, :]
        same = (ids[:, None] == ids[None, :]) & ~torch.eye(len(ids), dtype=torch.bool)
        return logits.masked_fill(same, float("-inf"))

    def unmasked(U, V, ids, q):
        return U @ V.T - torch.log(q[ids])[None, :]

    def mask_then(correction):
        def logits(U, V, ids, q):
            raw = U @ V.T + correction(U, V, ids, q)
            same = (ids[:, None] == ids[None, :]) & ~torch.eye(len(ids), dtype=torch.bool)
            return raw.masked_fill(same, float("-inf"))
        return logits

    passes(two_towers.check_logq_logits, right, capsys=capsys)
    not_answered(two_towers.check_logq_logits, None, capsys=capsys)
    fails(two_towers.check_logq_logits, unmasked, hint="accidental hit")
    fails(two_towers.check_logq_logits, mask_then(lambda U, V, ids, q: torch.log(q[ids])[None, :]), hint="subtract it")
    fails(two_towers.check_logq_logits, mask_then(lambda U, V, ids, q: 0 * U @ V.T), hint="no correction")
    fails(two_towers.check_logq_logits, mask_then(lambda U, V, ids, q: -torch.log(q[ids])[:, None]), hint="per *row*")
    fails(two_towers.check_logq_logits, mask_then(lambda U, V, ids, q: -q[ids][None, :]), hint="logarithm")
    fails(two_towers.check_logq_logits, lambda U, V, ids, q: right(U, V, ids, q).fill_diagonal_(float("-inf")),
          hint="never mask it")


def test_more_like_this_check_names_three_mistakes(capsys):
    def right(vectors, item, k):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        similarity = unit @ unit[item]
        similarity[item] = -np.inf
        return np.argsort(-similarity, kind="stable")[:k]

    def with_itself(vectors, item, k):
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.argsort(-(unit @ unit[item]), kind="stable")[:k]

    def dot_product(vectors, item, k):
        similarity = vectors @ vectors[item]
        similarity[item] = -np.inf
        return np.argsort(-similarity, kind="stable")[:k]

    passes(two_towers.check_more_like_this, right, capsys=capsys)
    not_answered(two_towers.check_more_like_this, None, capsys=capsys)
    not_answered(two_towers.check_more_like_this, lambda v, i, k: None, capsys=capsys)
    fails(two_towers.check_more_like_this, with_itself, hint="its own list")
    fails(two_towers.check_more_like_this, dot_product, hint="not cosines")
    fails(two_towers.check_more_like_this, lambda v, i, k: right(v, i, k)[::-1], hint="wrong way")
    fails(two_towers.check_more_like_this, lambda v, i, k: right(v, i, k + 1), hint="expected k")
    vectors = two_towers.more_like_this_vectors()
    assert two_towers.reference_more_like_this(vectors, 3, 5).tolist() == right(vectors, 3, 5).tolist()


def test_logq_reference_matches_a_numpy_computation():
    U, V, ids, q = two_towers.logq_batch()
    logits = two_towers.reference_logq_logits(U, V, ids, q).numpy()
    expected = U.numpy() @ V.numpy().T - np.log(q.numpy()[ids.numpy()])[None, :]
    same = (ids.numpy()[:, None] == ids.numpy()[None, :]) & ~np.eye(len(ids), dtype=bool)
    assert same.sum() == 2  # the batch really has an accidental hit to mask
    assert np.all(np.isneginf(logits[same])) and np.allclose(logits[~same], expected[~same])


# ---- 05 · 1: impression negatives -------------------------------------------------------------------------
IMPRESSIONS = dict(  # session, item, chosen
    sessions=np.array([10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 12]),
    items=np.array([5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 9]),
    chosen=np.array([0, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0], dtype=bool),
)
POSITIVES = dict(sessions=np.array([10, 11, 12, 12]), items=np.array([6, 3, 4, 6]))


def test_impression_negatives(capsys):
    args = (POSITIVES["sessions"], POSITIVES["items"], IMPRESSIONS["sessions"], IMPRESSIONS["items"],
            IMPRESSIONS["chosen"], 3)
    right = np.array([[5, 7, 8], [1, 2, -1], [5, 7, 9], [5, 7, 9]])
    assert np.array_equal(negatives.reference_impression_negatives(*args), right)
    passes(negatives.check_impression_negatives, right, *args, capsys=capsys)
    not_answered(negatives.check_impression_negatives, None, *args, capsys=capsys)
    with_chosen = np.array([[5, 7, 8], [1, 2, -1], [5, 6, 7], [4, 5, 7]])
    fails(negatives.check_impression_negatives, with_chosen, *args, hint="chose")
    with_positive = np.array([[5, 6, 7], [1, 2, 3], [4, 5, 6], [4, 5, 6]])
    fails(negatives.check_impression_negatives, with_positive, *args, hint="itself")
    fails(negatives.check_impression_negatives, right[:, :2], *args, hint="shape")
    fails(negatives.check_impression_negatives, np.array([[5, 7, 8], [1, 2, 0], [5, 7, 9], [5, 7, 9]]), *args,
          hint="pad with -1")


# ---- 06 · 1: point-in-time counts -------------------------------------------------------------------------
def test_point_in_time_counts(capsys):
    day = cold_start_side_information_leakage.DAY
    log_items = np.array([0, 0, 1, 0, 1, 0, 2, 0])
    log_times = np.array([0.0, 1, 2, 3, 8, 9, 9.5, 12]) * day
    items, times = log_items[[1, 3, 4, 5, 7]], log_times[[1, 3, 4, 5, 7]]
    window = 7.0
    right = np.array([np.sum((log_items == i) & (log_times >= t - window * day) & (log_times < t))
                      for i, t in zip(items, times)])
    assert right.tolist() == [1, 2, 1, 1, 1]  # by hand: item 0 at day 9 counts only day 3 ([2, 9) days)
    args = (items, times, log_items, log_times, window)
    passes(cold_start_side_information_leakage.check_point_in_time_counts, right, *args, capsys=capsys)
    not_answered(cold_start_side_information_leakage.check_point_in_time_counts, None, *args, capsys=capsys)
    fails(cold_start_side_information_leakage.check_point_in_time_counts, right + 1, *args, hint="event itself")
    fails(cold_start_side_information_leakage.check_point_in_time_counts, np.bincount(log_items)[items], *args, hint="leakage")
    all_before = np.array([np.sum((log_items == i) & (log_times < t)) for i, t in zip(items, times)])
    fails(cold_start_side_information_leakage.check_point_in_time_counts, all_before, *args, hint="last 7 days")


# ---- 06 · 2: genre profile ----------------------------------------------------------------------------------
def test_genre_profile(capsys):
    from lineage.data import Interactions

    users = np.array([0, 0, 0, 1, 2, 2, 0, 1])
    items = np.array([0, 1, 2, 1, 3, 0, 3, 0])
    times = np.arange(8.0)
    ids = dict(user_ids=np.array(["a", "b", "c", "d"]), item_ids=np.array(["w", "x", "y", "z"]))
    full = Interactions(users=users, items=items, times=times, values=np.ones(8), **ids)
    train = full.select(np.arange(6))
    genre = np.array([0, 1, 0, 2])
    right = np.array([[2 / 3, 1 / 3, 0], [0, 1, 0], [0.5, 0, 0.5], [0, 0, 0]])
    args = (train, genre, 3)
    passes(cold_start_side_information_leakage.check_genre_profile, right, *args, capsys=capsys)
    passes(cold_start_side_information_leakage.check_genre_profile, right, *args, full)
    not_answered(cold_start_side_information_leakage.check_genre_profile, None, *args, capsys=capsys)
    leaky = np.array([[0.5, 0.25, 0.25], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0, 0]])
    fails(cold_start_side_information_leakage.check_genre_profile, leaky, *args, full, hint="training events only")
    fails(cold_start_side_information_leakage.check_genre_profile, np.array([[2, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]]), *args,
          hint="divide each row")
    with np.errstate(invalid="ignore"):
        fails(cold_start_side_information_leakage.check_genre_profile, right / right.sum(axis=1, keepdims=True), *args, hint="NaN")


# ---- 07 · 1: search recall -------------------------------------------------------------------------------------
def test_search_recall(capsys):
    def right(approximate, exact):
        k = exact.shape[1]
        return np.mean([len(set(a[a >= 0]) & set(e)) / k for a, e in zip(approximate, exact)])

    passes(serving_and_ranking.check_search_recall, right, capsys=capsys)
    passes(serving_and_ranking.check_search_recall, serving_and_ranking.reference_search_recall)
    not_answered(serving_and_ranking.check_search_recall, None, capsys=capsys)
    fails(serving_and_ranking.check_search_recall, lambda a, e: np.mean(a == e), hint="compared positions")
    fails(serving_and_ranking.check_search_recall,
          lambda a, e: np.mean([len(set(r[r >= 0]) & set(x)) / max((r >= 0).sum(), 1) for r, x in zip(a, e)]),
          hint="divide by k")


# ---- the generator ------------------------------------------------------------------------------------------------
SOURCE = """# %%
import numpy as np

# %% [markdown]
# # Title

# %%
def f(x):
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE
    y = x + 1
    return y
    # END SOLUTION

# %%
# BEGIN SOLUTION
# STUB: answer = None  # YOUR CODE HERE
# STUB: other = None
answer = f(1)
other = 2
# END SOLUTION
check(answer)
"""


def test_split_solution_keeps_or_stubs_each_block():
    solution, exercise = builder.split_solution(SOURCE)
    assert "BEGIN SOLUTION" not in solution + exercise and "STUB" not in solution + exercise
    assert "    y = x + 1\n    return y\n" in solution and "answer = f(1)\nother = 2\ncheck(answer)" in solution
    assert "y = x + 1" not in exercise and "answer = f(1)" not in exercise
    assert "def f(x):\n    return None  # YOUR CODE HERE\n" in exercise  # indented like the marker
    assert "answer = None  # YOUR CODE HERE\nother = None\ncheck(answer)" in exercise


@pytest.mark.parametrize("broken, complaint", [
    (SOURCE.replace("    # END SOLUTION\n", "", 1), "inside the block"),
    (SOURCE.replace("# END SOLUTION\ncheck", "check"), "never closed"),
    (SOURCE.replace("    # BEGIN SOLUTION\n    # STUB: return None  # YOUR CODE HERE\n", ""), "without"),
    (SOURCE.replace("answer = f(1)\n", "answer = f(1)\n# STUB: late = None\n"), "right after"),
    ("# %%\nx = 1\n", "no '# BEGIN SOLUTION'"),
    (SOURCE.replace("check(answer)", "check(answer)\n# STUB: stray = None"), "outside a solution block"),
    (SOURCE.replace("other = 2\n", "other = 2\n# %%\n"), "cell boundary"),
])
def test_split_solution_rejects_broken_markers(broken, complaint):
    with pytest.raises(builder.MarkerError, match=re.escape(complaint)):
        builder.split_solution(broken)


def test_exercise_notebooks_are_exactly_what_their_sources_generate():
    differing = builder.build(check=True, exercises_only=True)
    assert not differing, f"run scripts/build_notebooks.py; these differ from their source: {differing}"


def test_every_exercise_comes_as_a_pair_with_a_check():
    sources = sorted((EXERCISES / "src").glob("*.py"))
    assert len(sources) >= 7
    for source in sources:
        assert builder.EXERCISE_NAME.match(source.stem), source.name
        solution = EXERCISES / f"{source.stem}.ipynb"
        exercise = EXERCISES / f"{source.stem.replace('_sol_', '_ex_')}.ipynb"
        assert solution.exists() and exercise.exists(), source.name
        walkthrough = source.stem.split("_sol_")[0]
        assert (ROOT / "notebooks" / "src" / f"{walkthrough}.py").exists(), f"{source.name}: no walkthrough {walkthrough}"
        for path in (solution, exercise):
            notebook = json.loads(path.read_text())
            code = [("".join(c["source"])) for c in notebook["cells"] if c["cell_type"] == "code"]
            assert "seed" in code[0], f"{path.name}: seeds first"
            assert any(re.search(r"\bcheck_\w+\(", c) for c in code), f"{path.name} calls no check"
            assert "jupytext" not in notebook["metadata"], f"{path.name} must not be paired (it has a marked source)"
        exercise_code = "".join("".join(c["source"]) for c in json.loads(exercise.read_text())["cells"])
        assert "YOUR CODE HERE" in exercise_code, exercise.name


def test_every_walkthrough_from_01_has_an_exercise_and_the_central_ones_two():
    counts = {}
    for source in (EXERCISES / "src").glob("*.py"):
        counts[source.name[:2]] = counts.get(source.name[:2], 0) + 1
    for number in ["01", "02", "03", "04", "05", "06", "07"]:
        assert counts.get(number, 0) >= 1, f"no exercise for notebook {number}"
    for number in ["02", "04"]:  # ALS and the two-tower loss are the lessons the workshop is built around
        assert counts.get(number, 0) >= 2, f"notebook {number} needs two exercises"
    walkthroughs = {path.stem for path in (EXERCISES.parent).glob("*.ipynb")}
    for walkthrough in walkthroughs:
        assert any(source.name.startswith(walkthrough + "_sol_") for source in (EXERCISES / "src").glob("*.py")), \
            f"walkthrough {walkthrough} has no exercise"


def test_impression_reference_agrees_with_the_feature_builder():
    """On the world's feed impressions, the reference is exactly SideLog.skipped_impressions."""
    from lineage.world import WorldConfig, generate_world
    from twotower_mini.features import SideLog

    world = generate_world(WorldConfig.sized("tiny"))
    feed = world.impressions["source"] == "feed"
    ours = negatives.reference_impression_negatives(world.views["session"], world.views["item"],
                                                   world.impressions["session"][feed], world.impressions["item"][feed],
                                                   world.impressions["chosen"][feed], 5)
    library = SideLog.from_world(world).skipped_impressions(world.views["user"], world.views["item"], 5)
    assert np.array_equal(ours, library) and (ours >= 0).any()


# ---- 07 · 2: two losses -------------------------------------------------------------------------------------------
def test_two_losses(capsys):
    def right(candidates, final, wanted):
        total = sum(len(w) for w in wanted)
        retrieved = sum(len(w & set(c.tolist())) for c, w in zip(candidates, wanted))
        found = sum(len(w & set(f.tolist())) for f, w in zip(final, wanted))
        return (total - retrieved) / total, (retrieved - found) / total, found / total

    def per_user(candidates, final, wanted):
        return tuple(np.mean([right([c], [f], [w]) for c, f, w in zip(candidates, final, wanted)], axis=0))

    def ranking_counts_everything_missing(candidates, final, wanted):
        missed_retrieval, _, found = right(candidates, final, wanted)
        return missed_retrieval, 1 - found, found

    passes(serving_and_ranking.check_two_losses, right, capsys=capsys)
    passes(serving_and_ranking.check_two_losses, serving_and_ranking.reference_two_losses)
    not_answered(serving_and_ranking.check_two_losses, None, capsys=capsys)
    fails(serving_and_ranking.check_two_losses, per_user, hint="count every wanted (user, item) pair once")
    fails(serving_and_ranking.check_two_losses, ranking_counts_everything_missing, hint="add up to 1")
    fails(serving_and_ranking.check_two_losses, lambda c, f, w: right(c, f, w)[:2], hint="three numbers")


def test_two_losses_reference_agrees_with_the_pipeline():
    """Against twotower_mini.pipeline.two_losses (no reranking: the final list is the first k candidates)."""
    from lineage.metrics import relevance_matrix, users_with_test_events
    from lineage.splits import split
    from lineage.world import WorldConfig, generate_world
    from twotower_mini.pipeline import two_losses

    world = generate_world(WorldConfig.sized("tiny"))
    parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
    users = users_with_test_events(parts.test)
    counts = parts.train.item_counts().astype(float)
    seen = parts.train.to_csr()[users]
    scores = np.broadcast_to(counts, (len(users), len(counts))).copy()
    scores[seen.nonzero()] = -np.inf
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :50]
    row = two_losses(ids, np.take_along_axis(scores, ids, axis=1), users, parts.train, parts.test, None,
                     counts=[50], k=10)[0]
    relevant = relevance_matrix(parts.test, users, parts.train)
    wanted = [set(relevant[r].indices.tolist()) for r in range(len(users))]
    ours = serving_and_ranking.reference_two_losses(ids, ids[:, :10], wanted)
    assert np.allclose(ours, (row["missed by retrieval"], row["missed by ranking"], row["found"]))
