"""Check functions for the workshop exercises (notebooks/exercises/), and the reference answers they use.

Every exercise notebook ends its answer cell with a check:

    passed = workshop.check_item_cosine(item_sim, R, SHRINKAGE)

A check has three outcomes:

- right answer: prints ``[ OK ] ...`` and returns True;
- wrong answer: raises ``AssertionError`` whose message says what was expected, what came back and
  where to look (it recognises the usual mistakes: a forgotten diagonal, the other confidence
  convention, a feature that counts the event itself ...);
- not answered yet (the stub is still ``None``, or a stub function returns ``None``): prints
  ``[ .. ] not answered yet: <hint>`` and returns False, so an untouched exercise notebook still
  runs top to bottom (CI runs every exercise notebook with its stubs in place).

Cells after a check use the learner's answer when it passed, else the reference answer:
``scores = answer if passed else workshop.reference_...(...)``.

Reference answers are computed independently of the learner's code path, mostly by the library
(`lineage`, `twotower_mini`), whose own tests check it against hand computations. This module is
the top of the dependency chain: it may import anything, nothing imports it.

The exercises (notebook · exercise: check function):

    00 · 1  nDCG@k by hand                             check_ndcg
    01 · 1  item-item cosine with shrinkage             check_item_cosine
    01 · 2  user-kNN scores with top-k neighbours       check_user_knn_scores
    02 · 1  confidence and preference matrices          check_confidence
    02 · 2  one weighted-ALS half-step                   check_als_half_step
    03 · 1  one step of a weighted random walk          check_walk_step
    04 · 1  the in-batch softmax loss                   check_in_batch_loss
    04 · 2  logQ correction and accidental hits         check_logq_logits
    05 · 1  negatives from skipped impressions          check_impression_negatives
    06 · 1  a point-in-time count feature               check_point_in_time_counts
    06 · 2  a genre profile that embeds new items       check_genre_profile
    07 · 1  recall of approximate search vs exact       check_search_recall
    07 · 2  where the wanted items are lost             check_two_losses
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

DAY = 86400.0


# ---- the three outcomes --------------------------------------------------------------------------
def _ok(message: str) -> bool:
    print(f"[ OK ] {message}")
    return True


def _not_answered(hint: str) -> bool:
    print(f"[ .. ] not answered yet: {hint}")
    return False


def _fail(message: str):
    raise AssertionError(f"[FAIL] {message}")


class _NotAnswered(Exception):
    """A stub function returned None."""


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if sp.issparse(value):
        value = value.toarray()
    return np.asarray(value)


def _array(answer, name: str, shape: tuple, what: str) -> np.ndarray:
    """The answer as a float array of the expected shape, or a helpful failure."""
    try:
        array = _to_numpy(answer).astype(np.float64)
    except (TypeError, ValueError) as error:
        _fail(f"{name} should be {what}, a numeric array of shape {shape}; got {type(answer).__name__} ({error}).")
    if array.shape != tuple(shape):
        _fail(f"{name} should be {what}, shape {tuple(shape)}; got shape {array.shape}.")
    return array


def _call(function, name: str, *args):
    """Call the learner's function; None back means the stub is still there."""
    if not callable(function):
        _fail(f"{name} should be a function (def {name}(...): ...); got {type(function).__name__}.")
    try:
        result = function(*args)
    except Exception as error:  # the learner's bug, reported with the inputs that triggered it
        raise AssertionError(f"[FAIL] {name} raised {type(error).__name__}: {error}") from error
    if result is None:
        raise _NotAnswered
    return result


def _close(a, b, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=False))


def _diagnose(answer: np.ndarray, mistakes: list[tuple[np.ndarray | None, str]]) -> str:
    """The hint of the first known mistake the answer matches, else ''."""
    for candidate, hint in mistakes:
        if candidate is not None and _close(answer, candidate):
            return " " + hint
    return ""


def _first_difference(answer: np.ndarray, expected: np.ndarray) -> str:
    where = np.unravel_index(np.argmax(np.abs(answer - expected)), expected.shape)
    index = ", ".join(str(int(i)) for i in where)
    return f"e.g. at [{index}] expected {expected[where]:.6g}, got {answer[where]:.6g}"


# ---- 00 · 1: nDCG@k -----------------------------------------------------------------------------
def reference_ndcg(ranked, relevant, k: int) -> float:
    """nDCG@k with binary gains (lineage.metrics.ndcg_at_k)."""
    from lineage.metrics import ndcg_at_k

    return ndcg_at_k(ranked, relevant, k)


NDCG_CASES = [  # (ranked, relevant, k): each case catches a different mistake
    (["a", "b", "c", "d", "e"], {"b", "e", "z"}, 5),  # notebook 00's example: hits at ranks 2 and 5
    (["a", "b", "c"], {"a"}, 3),  # a hit at rank 1: the discount of rank 1 is 1 / log2(2) = 1
    (list("abcdefghij"), set("acxyzuvwst"), 5),  # 10 relevant items, k = 5: the ideal has 5 hits, not 10
    (list("abcdefgh"), {"g", "q"}, 5),  # the only hit is below the cut-off: nDCG@5 = 0
    (["x", "y"], {"p"}, 5),  # no hit at all
    (["p", "q", "r"], {"p", "q", "r"}, 10),  # a short, perfect list: 1.0
]


def _ndcg_variant(ranked, relevant, k, ideal_over_all=False, no_cutoff=False, ideal_over_k=False) -> float:
    relevant = set(relevant)
    shown = list(ranked) if no_cutoff else list(ranked)[:k]
    dcg = sum(1.0 / np.log2(j + 2) for j, item in enumerate(shown) if item in relevant)
    n_ideal = len(relevant) if ideal_over_all else (k if ideal_over_k else min(len(relevant), k))
    idcg = sum(1.0 / np.log2(j + 2) for j in range(n_ideal))
    return dcg / idcg if idcg > 0 else 0.0


def check_ndcg(my_ndcg_at_k: Callable | None) -> bool:
    """Exercise 00 · 1: my_ndcg_at_k(ranked, relevant, k) -> float."""
    hint = "write my_ndcg_at_k(ranked, relevant, k): DCG of the first k items over the ideal DCG."
    if my_ndcg_at_k is None:
        return _not_answered(hint)
    for ranked, relevant, k in NDCG_CASES:
        try:
            got = _call(my_ndcg_at_k, "my_ndcg_at_k", list(ranked), set(relevant), k)
        except _NotAnswered:
            return _not_answered(hint)
        expected = reference_ndcg(ranked, relevant, k)
        try:
            got = float(got)
        except (TypeError, ValueError):
            _fail(f"my_ndcg_at_k should return a number; got {type(got).__name__}.")
        if not np.isfinite(got):
            _fail(f"my_ndcg_at_k{(ranked, sorted(relevant), k)} returned {got}. A rank-1 hit is discounted by "
                  "1 / log2(1 + 1) = 1: with ranks counted from 1 the discount is log2(rank + 1), "
                  "with Python's 0-based positions j it is log2(j + 2).")
        if abs(got - expected) > 1e-9:
            mistakes = [
                (_ndcg_variant(ranked, relevant, k, ideal_over_all=True),
                 "Your ideal DCG sums over all relevant items; the ideal list has only k slots, so sum over "
                 "min(|relevant|, k) of them."),
                (_ndcg_variant(ranked, relevant, k, ideal_over_k=True),
                 "Your ideal DCG always has k hits; a user with fewer relevant items than k can have at most "
                 "|relevant| hits: sum over min(|relevant|, k)."),
                (_ndcg_variant(ranked, relevant, k, no_cutoff=True),
                 "You counted hits below rank k: only the first k items of the list count."),
            ]
            diagnosis = _diagnose(np.array(got), [(np.array(value), text) for value, text in mistakes])
            _fail(f"my_ndcg_at_k(ranked={list(ranked)}, relevant={sorted(relevant)}, k={k}) returned {got:.6f}, "
                  f"expected {expected:.6f}.{diagnosis or ' Check the discount 1 / log2(rank + 1), ranks counted from 1, and the ideal DCG over min(|relevant|, k) hits.'}")
    return _ok(f"my_ndcg_at_k agrees with lineage.metrics.ndcg_at_k on {len(NDCG_CASES)} cases, "
               "including more relevant items than k and hits below the cut-off.")


# ---- 01 · 1: item-item cosine with shrinkage -----------------------------------------------------
def reference_item_cosine(R: np.ndarray, shrinkage: float) -> np.ndarray:
    """(n_items, n_items) cosine of the columns of R with shrinkage, zero diagonal (lineage.models.knn)."""
    from lineage.models.knn import cosine_neighbours

    n_items = R.shape[1]
    return cosine_neighbours(sp.csr_matrix(np.asarray(R, dtype=np.float64).T), k=n_items, shrinkage=shrinkage).toarray()


def check_item_cosine(item_sim, R, shrinkage: float) -> bool:
    """Exercise 01 · 1: item_sim (n_items, n_items), sim(a, b) = x_a.x_b / (|x_a| |x_b| + shrinkage), diagonal 0."""
    R = np.asarray(R, dtype=np.float64)
    n_users, n_items = R.shape
    if item_sim is None:
        return _not_answered(f"item_sim should be a ({n_items}, {n_items}) array: the cosine of every pair of "
                             "columns of R, with the shrinkage added to the denominator.")
    if _to_numpy(item_sim).shape == (n_users, n_users):
        _fail(f"item_sim has shape ({n_users}, {n_users}): one row per *person*. Items are the columns of R: "
              "compare columns (R.T @ R), not rows (R @ R.T).")
    answer = _array(item_sim, "item_sim", (n_items, n_items), "one similarity per pair of items")
    expected = reference_item_cosine(R, shrinkage)
    if _close(answer, expected):
        return _ok(f"item-item cosine with shrinkage {shrinkage:g} matches lineage.models.knn.cosine_neighbours.")
    if not _close(answer, answer.T):
        _fail("item_sim is not symmetric: sim(a, b) must equal sim(b, a). Both the dot product and the product "
              "of the two norms are symmetric.")
    if np.any(np.abs(np.diag(answer)) > 1e-9):
        off = ~np.eye(n_items, dtype=bool)
        hint = (" The off-diagonal values are right." if _close(answer[off], expected[off]) else "")
        _fail(f"The diagonal of item_sim is not 0 ({np.diag(answer)[0]:.3f} for item 0): an item is not its own "
              f"neighbour, so set it to 0 (np.fill_diagonal(item_sim, 0)).{hint}")
    norms = np.linalg.norm(R, axis=0)
    no_shrink = R.T @ R / np.outer(norms, norms)
    np.fill_diagonal(no_shrink, 0.0)
    shrink_each = R.T @ R / np.outer(norms + shrinkage, norms + shrinkage)
    np.fill_diagonal(shrink_each, 0.0)
    diagnosis = _diagnose(answer, [
        (no_shrink, "That is the plain cosine: add the shrinkage to the denominator, "
                    "x_a.x_b / (|x_a| |x_b| + shrinkage)."),
        (shrink_each, "You added the shrinkage to each norm; add it once, to their product."),
    ])
    _fail(f"item_sim differs from the cosine with shrinkage {shrinkage:g} ({_first_difference(answer, expected)})."
          f"{diagnosis or ' Dot products of columns over the product of their lengths plus the shrinkage.'}")


# ---- 01 · 2: user-kNN with top-k neighbours ------------------------------------------------------
def reference_user_knn_scores(H: np.ndarray, k_neighbours: int) -> np.ndarray:
    """(n_users, n_items): each user's k most similar other users (cosine of rows), votes weighted by similarity."""
    from lineage.models.knn import cosine_neighbours

    H = np.asarray(H, dtype=np.float64)
    similarity = cosine_neighbours(sp.csr_matrix(H), k=k_neighbours, shrinkage=0.0)  # (n_users, n_users)
    return np.asarray(similarity @ H)


def check_user_knn_scores(scores, H, k_neighbours: int) -> bool:
    """Exercise 01 · 2: scores[u] = sum over u's k most similar users v of sim(u, v) * H[v]."""
    H = np.asarray(H, dtype=np.float64)
    n_users, n_items = H.shape
    if scores is None:
        return _not_answered(f"scores should be a ({n_users}, {n_items}) array: for each user, the rows of their "
                             f"{k_neighbours} most similar users, weighted by similarity and summed.")
    answer = _array(scores, "scores", (n_users, n_items), "one score per user and item")
    expected = reference_user_knn_scores(H, k_neighbours)
    if _close(answer, expected):
        return _ok(f"user-kNN scores with {k_neighbours} neighbours match lineage.models.UserKNN.")
    unit = H / np.linalg.norm(H, axis=1, keepdims=True)
    similarity = unit @ unit.T
    with_self = similarity.copy()
    all_neighbours = similarity.copy()
    np.fill_diagonal(all_neighbours, 0.0)
    keep_self = np.zeros_like(similarity)
    for u in range(n_users):
        best = np.argsort(-with_self[u], kind="stable")[:k_neighbours]
        keep_self[u, best] = with_self[u, best]
    binary = reference_user_knn_scores((H > 0).astype(float), k_neighbours)
    diagnosis = _diagnose(answer, [
        (all_neighbours @ H, f"Those are the votes of *all* other users: keep only the {k_neighbours} most similar "
                             "ones (np.argsort(-sim[u])[:K]) and set the other similarities to 0."),
        (keep_self @ H, "Each user counted themselves as their own nearest neighbour (cosine 1): set the diagonal "
                        "of the similarity matrix to 0 before picking the top k."),
        (binary, "You used 0/1 data; this exercise uses the counts in H for both the cosine and the votes."),
        (keep_self.T @ H, "Check the orientation: row u of the neighbour matrix must hold u's neighbours."),
    ])
    _fail(f"scores differ from the user-kNN scores ({_first_difference(answer, expected)}).{diagnosis or ' Cosine of the rows of H, diagonal 0, keep the top k per row, then (kept similarities) @ H.'}")


# ---- 02 · 1: confidence and preference ------------------------------------------------------------
def reference_confidence(R: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense (C, P) of Hu, Koren and Volinsky (2008): c = 1 + alpha r on every cell, p = [r > 0]."""
    from lineage.models.als import confidence_matrix

    R = np.asarray(R, dtype=np.float64)
    observed = confidence_matrix(sp.csr_matrix(R), alpha, "hkv")
    C = np.ones_like(R)
    C[R > 0] = observed.toarray()[R > 0]
    return C, (R > 0).astype(np.float64)


def check_confidence(C, P, R, alpha: float) -> bool:
    """Exercise 02 · 1: C = 1 + alpha R (every cell), P = 1 where R > 0 else 0."""
    R = np.asarray(R, dtype=np.float64)
    if C is None:
        return _not_answered("C should be the dense confidence matrix, 1 + alpha * r on every cell; P the "
                             "0/1 preference matrix.")
    answer = _array(C, "C", R.shape, "one confidence per user and item")
    C_ref, P_ref = reference_confidence(R, alpha)
    if not _close(answer, C_ref):
        observed = R > 0
        diagnosis = _diagnose(answer, [
            (np.where(observed, alpha * R, 1.0),
             "That is the implicit library's convention (c = alpha r on observed cells). The paper uses "
             "c = 1 + alpha r: a viewed cell always weighs more than an empty one, whatever alpha."),
            (alpha * R, "That is implicit's alpha * r, and empty cells got confidence 0. Use 1 + alpha * r."),
            (np.where(observed, 1 + alpha * R, 0.0),
             "Empty cells must keep confidence 1 (weak evidence of no interest), not 0: 1 + alpha * 0 = 1."),
            (1 + alpha * observed, "You used the preference (0/1) instead of the count r: c = 1 + alpha * r."),
        ])
        _fail(f"C differs from 1 + alpha * R with alpha = {alpha:g} ({_first_difference(answer, C_ref)})."
              f"{diagnosis or ' Every cell: 1 + alpha times the count.'}")
    if P is None:
        return _not_answered("C is right. Now P: 1.0 where R > 0, else 0.0.")
    preference = _array(P, "P", R.shape, "one preference per user and item")
    if not _close(preference, P_ref):
        diagnosis = _diagnose(preference, [
            (R, "P is binary: a user who viewed an item twice still *prefers* it with p = 1; the count goes into "
                "the confidence, not the preference."),
            (1 - P_ref, "P is upside down: 1 on the viewed cells, 0 on the empty ones."),
        ])
        _fail(f"P differs from [R > 0] ({_first_difference(preference, P_ref)}).{diagnosis}")
    return _ok(f"C = 1 + {alpha:g} r and P = [r > 0] match lineage.models.als.confidence_matrix (the paper's "
               "convention).")


# ---- 02 · 2: one ALS half-step ---------------------------------------------------------------------
def reference_als_half_step(Y: np.ndarray, C: np.ndarray, P: np.ndarray, lam: float) -> np.ndarray:
    """X (n_users, f): every user's exact weighted least squares given Y, via lineage.models.als.solve_users.

    C, P: dense (n_users, n_items). solve_users takes only the observed confidences (p = 1 there,
    c = 1 and p = 0 elsewhere), so cells with p = 0 must have c = 1, as in the paper."""
    from lineage.models.als import solve_users

    C, P = np.asarray(C, dtype=np.float64), np.asarray(P, dtype=np.float64)
    if np.any((P == 0) & (C != 1)):
        raise ValueError("reference_als_half_step expects c = 1 on every cell with p = 0")
    return solve_users(np.asarray(Y, dtype=np.float64), sp.csr_matrix(C * (P > 0)), lam)


def als_problem(seed: int = 0, n_users: int = 6, n_items: int = 9, f: int = 3, alpha: float = 4.0):
    """A small random half-step problem: (Y, C, P) with c = 1 + alpha r and p = [r > 0]."""
    rng = np.random.default_rng(seed)
    R = rng.poisson(0.6, size=(n_users, n_items)).astype(np.float64)
    R[np.arange(n_users), rng.integers(0, n_items, n_users)] += 1  # every user has something
    Y = rng.normal(0.0, 0.5, size=(n_items, f))
    return Y, 1.0 + alpha * R, (R > 0).astype(np.float64)


def check_als_half_step(als_half_step: Callable | None) -> bool:
    """Exercise 02 · 2: als_half_step(Y, C, P, lam) -> X, x_u = (Y^T C_u Y + lam I)^-1 Y^T C_u p_u."""
    hint = ("write als_half_step(Y, C, P, lam) returning X (n_users, f): for each user, solve "
            "(Y^T C_u Y + lam I) x_u = Y^T C_u p_u.")
    if als_half_step is None:
        return _not_answered(hint)
    for seed, lam in [(0, 0.5), (1, 3.0)]:
        Y, C, P = als_problem(seed)
        try:
            got = _call(als_half_step, "als_half_step", Y.copy(), C.copy(), P.copy(), lam)
        except _NotAnswered:
            return _not_answered(hint)
        n_users, f = C.shape[0], Y.shape[1]
        if _to_numpy(got).shape == (f, n_users):
            _fail(f"als_half_step returned shape ({f}, {n_users}); return one row per user: X has shape "
                  f"(n_users, f) = ({n_users}, {f}).")
        answer = _array(got, "als_half_step(...)", (n_users, f), "the user factors X")
        expected = reference_als_half_step(Y, C, P, lam)
        if _close(answer, expected, atol=1e-8):
            continue
        eye = np.eye(f)
        unweighted = np.stack([np.linalg.solve(Y.T @ Y + lam * eye, Y.T @ p) for p in P])
        no_reg = np.stack([np.linalg.solve(Y.T @ (c[:, None] * Y), Y.T @ (c * p)) for c, p in zip(C, P)])
        b_unweighted = np.stack([np.linalg.solve(Y.T @ (c[:, None] * Y) + lam * eye, Y.T @ p) for c, p in zip(C, P)])
        a_unweighted = np.stack([np.linalg.solve(Y.T @ Y + lam * eye, Y.T @ (c * p)) for c, p in zip(C, P)])
        diagnosis = _diagnose(answer, [
            (unweighted, "You ignored the confidences: that is plain ridge regression. Weight both sides by C_u: "
                         "A = Y^T diag(c_u) Y + lam I, b = Y^T diag(c_u) p_u."),
            (no_reg, "The regularisation is missing: add lam * np.eye(f) to Y^T C_u Y."),
            (b_unweighted, "The right-hand side needs the confidences too: b = Y^T (c_u * p_u), not Y^T p_u."),
            (a_unweighted, "The left-hand side needs the confidences too: A = Y^T (c_u[:, None] * Y) + lam I."),
        ])
        _fail(f"als_half_step differs from the exact half-step on a {n_users}-user problem with lam = {lam:g} "
              f"({_first_difference(answer, expected)}).{diagnosis or ' For each user u: A = Y.T @ (C[u][:, None] * Y) + lam * I, b = Y.T @ (C[u] * P[u]), x_u = solve(A, b).'}")
    return _ok("als_half_step matches lineage.models.als.solve_users (the Gram-matrix trick) on two random problems.")


# ---- 03 · 1: one step of a weighted random walk -----------------------------------------------------
def reference_walk_step(graph: sp.csr_matrix, node: int, u: float) -> int:
    """The neighbour of `node` whose slice of [0, 1) contains u, slices proportional to edge weights
    in CSR order (lineage.models.deepwalk.random_walks draws the same way); -1 without out-edges."""
    graph = sp.csr_matrix(graph)
    lo, hi = graph.indptr[node], graph.indptr[node + 1]
    weights = graph.data[lo:hi].astype(np.float64)
    if hi == lo or weights.sum() <= 0:
        return -1
    cumulative = np.cumsum(weights)
    position = min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), hi - lo - 1)
    return int(graph.indices[lo + position])


def walk_graph_example() -> sp.csr_matrix:
    """A 5-node weighted graph with integer weights and one dead end (node 4)."""
    rows = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    cols = [1, 2, 3, 0, 4, 0, 1, 3, 4, 2]
    weights = [1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0, 5.0, 2.0]
    return sp.csr_matrix((weights, (rows, cols)), shape=(5, 5))


def _walk_variant(graph: sp.csr_matrix, node: int, u: float, mistake: str) -> int:
    """The classic wrong versions of a walk step, to recognise them."""
    lo, hi = graph.indptr[node], graph.indptr[node + 1]
    if hi == lo:
        return -1
    neighbours, weights = graph.indices[lo:hi], graph.data[lo:hi]
    if mistake == "uniform":
        return int(neighbours[min(int(u * len(neighbours)), len(neighbours) - 1)])
    cumulative = np.cumsum(weights)
    side = "left" if mistake == "boundary" else "right"
    position = min(int(np.searchsorted(cumulative, u * cumulative[-1], side=side)), len(neighbours) - 1)
    return position if mistake == "position" else int(neighbours[position])


def check_walk_step(walk_step: Callable | None) -> bool:
    """Exercise 03 · 1: walk_step(graph, node, u) -> the next node (an id), -1 at a dead end."""
    hint = ("write walk_step(graph, node, u): the neighbour whose share of [0, 1) contains u, shares "
            "proportional to the edge weights; -1 if the node has no out-edges.")
    if walk_step is None:
        return _not_answered(hint)
    graph = walk_graph_example()
    draws = [0.0, 0.1, 0.24, 0.25, 0.49, 0.5, 0.74, 0.75, 0.9, 0.999]  # 0.25, 0.5, 0.75 fall on boundaries
    cases = [(node, u) for node in range(graph.shape[0]) for u in draws]
    got = []
    for node, u in cases:
        try:
            answer = _call(walk_step, "walk_step", graph, node, u)
        except _NotAnswered:
            return _not_answered(hint)
        try:
            got.append(int(answer))
        except (TypeError, ValueError):
            _fail(f"walk_step should return a node id (an int); got {type(answer).__name__}.")
    expected = [reference_walk_step(graph, node, u) for node, u in cases]
    if got == expected:
        return _ok(f"walk_step picks the right neighbour for {len(cases)} (node, u) pairs, boundaries and the "
                   "dead end included.")
    wrong = [index for index in range(len(cases)) if got[index] != expected[index]]
    node, u = cases[wrong[0]]
    lo, hi = graph.indptr[node], graph.indptr[node + 1]
    neighbours, weights = graph.indices[lo:hi].tolist(), graph.data[lo:hi].tolist()
    where = f"walk_step(graph, node={node}, u={u:g}) returned {got[wrong[0]]}, expected {expected[wrong[0]]}"
    if all(expected[index] == -1 for index in wrong):
        _fail(f"{where}: node {node} has no out-edges (an empty CSR row), so the walk stops there: return -1.")
    for mistake, explanation in [
        ("position", "you returned the *position* in the row; return the node id, "
                     "graph.indices[graph.indptr[node] + position]."),
        ("uniform", f"that is a uniform choice among the neighbours. Draw in proportion to the weights "
                    f"{weights} of {neighbours}: cumulative sums, then the first one above u * total."),
        ("boundary", "u * total lies exactly on a boundary of the cumulative weights "
                     f"{np.cumsum(weights).tolist()}. Each neighbour owns a half-open slice [start, end), so a value "
                     "equal to an end belongs to the *next* neighbour: take the first cumulative weight strictly "
                     "greater than u * total (np.searchsorted(..., side='right'))."),
    ]:
        if got == [_walk_variant(graph, n, v, mistake) for n, v in cases]:
            _fail(f"{where}: {explanation}")
    _fail(f"{where}. Neighbours {neighbours} with weights {weights}: take the first neighbour whose cumulative "
          "weight is strictly greater than u * total weight.")


# ---- 04 · 1: the in-batch softmax loss ------------------------------------------------------------
def reference_in_batch_loss(user_vectors, item_vectors, temperature: float = 1.0) -> float:
    """Mean over rows b of  log sum_j exp(s_bj) - s_bb,  s = U V^T / temperature (numpy, float64)."""
    U, V = _to_numpy(user_vectors).astype(np.float64), _to_numpy(item_vectors).astype(np.float64)
    s = U @ V.T / temperature
    top = s.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(s - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_sum - np.diag(s)))


def _batch(seed: int, B: int = 6, D: int = 4):
    import torch

    generator = torch.Generator().manual_seed(seed)
    U = torch.randn(B, D, generator=generator, dtype=torch.float64)
    V = torch.randn(B, D, generator=generator, dtype=torch.float64) * 1.5
    return U, V


def check_in_batch_loss(in_batch_softmax_loss: Callable | None) -> bool:
    """Exercise 04 · 1: in_batch_softmax_loss(U, V, temperature) -> scalar tensor, row b's positive is column b."""
    import torch

    hint = ("write in_batch_softmax_loss(user_vectors, item_vectors, temperature): logits U V^T / temperature, "
            "cross-entropy where row b's right answer is column b, averaged over the batch.")
    if in_batch_softmax_loss is None:
        return _not_answered(hint)
    for seed, temperature in [(0, 1.0), (1, 0.2)]:
        U, V = _batch(seed)
        U.requires_grad_(True)
        try:
            got = _call(in_batch_softmax_loss, "in_batch_softmax_loss", U, V, temperature)
        except _NotAnswered:
            return _not_answered(hint)
        expected = reference_in_batch_loss(U, V, temperature)
        if not isinstance(got, torch.Tensor):
            _fail(f"in_batch_softmax_loss returned a {type(got).__name__}; return the torch tensor itself (no "
                  ".item(), no numpy) so that loss.backward() can train the towers.")
        if got.numel() != 1:
            _fail(f"in_batch_softmax_loss returned a tensor of shape {tuple(got.shape)}; the loss is one number: "
                  "average the per-row losses (.mean()).")
        value = float(got.detach())
        if abs(value - expected) > 1e-6 * max(1.0, abs(expected)):
            B = U.shape[0]
            s = (U.detach() @ V.T).numpy()
            diagnosis = _diagnose(np.array(value), [
                (np.array(expected * B), "That is the sum over the batch; take the mean, so the loss does not grow "
                                         "with the batch size."),
                (np.array(reference_in_batch_loss(V, U, temperature)),
                 "You normalised over the wrong axis: each *user* (row) picks among the batch's items (columns); "
                 "use cross_entropy(logits, labels) with logits = U @ V.T, not its transpose."),
                (np.array(reference_in_batch_loss(U, V, 1.0)), "Divide the logits by the temperature."),
                (np.array(reference_in_batch_loss(U, V, 1.0 / temperature)),
                 "Divide the logits by the temperature (you multiplied)."),
                (np.array(float(np.mean(np.log1p(np.exp(-np.diag(s) / temperature))))),
                 "That is a binary (sigmoid) loss on the positives only; the softmax compares each positive with "
                 "the other items of the batch."),
            ])
            _fail(f"in_batch_softmax_loss gave {value:.6f} on a batch of {B} (temperature {temperature:g}), expected "
                  f"{expected:.6f}.{diagnosis or ' logits = U @ V.T / temperature; labels = torch.arange(B); F.cross_entropy(logits, labels).'}")
        if got.grad_fn is None:
            _fail("the loss has no gradient: it was computed outside autograd (numpy, .detach() or torch.no_grad()); "
                  "compute it with torch operations on the input tensors.")
    return _ok("in_batch_softmax_loss matches log-sum-exp minus the positive's logit, averaged, and it backpropagates.")


# ---- 04 · 2: logQ correction and accidental hits ----------------------------------------------------
def reference_logq_logits(user_vectors, item_vectors, item_ids, item_probability):
    """(B, B) corrected logits: U V^T - log q[item_ids] per column, repeated items masked off the diagonal
    (twotower_mini.losses.in_batch_logits)."""
    import torch

    from twotower_mini.losses import in_batch_logits

    def tensor(value, dtype):  # tensors pass through untouched, so gradients flow when training with it
        return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value), dtype=dtype)

    U, V = tensor(user_vectors, torch.float64), tensor(item_vectors, torch.float64)
    ids, q = tensor(item_ids, torch.int64), tensor(item_probability, torch.float64)
    return in_batch_logits(U @ V.T, ids, torch.log(q[ids]).to(U.dtype), mask_accidental_hits=True)


def logq_batch(seed: int = 0, B: int = 6, D: int = 4, n_items: int = 10):
    """(U, V, item_ids, item_probability): a batch whose items repeat (item 3 twice), skewed popularity."""
    import torch

    U, V = _batch(seed, B, D)
    ids = torch.tensor([3, 0, 7, 3, 1, 9][:B], dtype=torch.int64)
    popularity = torch.tensor([0.30, 0.20, 0.12, 0.10, 0.08, 0.07, 0.05, 0.04, 0.03, 0.01], dtype=torch.float64)
    return U, V, ids, popularity[:n_items] / popularity[:n_items].sum()


def check_logq_logits(logq_logits: Callable | None) -> bool:
    """Exercise 04 · 2: logq_logits(U, V, item_ids, item_probability) -> corrected, masked (B, B) logits."""
    import torch

    hint = ("write logq_logits(user_vectors, item_vectors, item_ids, item_probability): U V^T, minus "
            "log q of each column's item, with repeats of a row's own item masked to -inf.")
    if logq_logits is None:
        return _not_answered(hint)
    U, V, ids, q = logq_batch()
    try:
        got = _call(logq_logits, "logq_logits", U.clone(), V.clone(), ids.clone(), q.clone())
    except _NotAnswered:
        return _not_answered(hint)
    B = len(ids)
    answer = _to_numpy(got).astype(np.float64)
    if answer.shape != (B, B):
        _fail(f"logq_logits returned shape {answer.shape}; expected ({B}, {B}): one logit per user (row) and "
              "in-batch item (column).")
    expected = reference_logq_logits(U, V, ids, q).numpy()
    masked = np.isinf(expected)
    scores = (U @ V.T).numpy()
    log_q = np.log(q.numpy()[ids.numpy()])
    if not np.array_equal(np.isneginf(answer), masked):
        wrong = np.argwhere(np.isneginf(answer) != masked)[0]
        r, c = int(wrong[0]), int(wrong[1])
        if masked[r, c]:
            _fail(f"logit [{r}, {c}] should be -inf: column {c} holds item {int(ids[c])}, the same item as row {r}'s "
                  "positive. Leaving it in tells the model that the right item is also a wrong one (an accidental "
                  "hit): mask cells where item_ids[row] == item_ids[col], except the diagonal.")
        if r == c:
            _fail(f"logit [{r}, {r}] is -inf, but the diagonal holds each row's positive: never mask it.")
        _fail(f"logit [{r}, {c}] is -inf, but items {int(ids[r])} and {int(ids[c])} differ: mask only repeats of "
              "the row's own item.")
    finite = ~masked
    if _close(answer[finite], expected[finite]):
        return _ok("logq_logits subtracts log q per column and masks the accidental hit, as "
                   "twotower_mini.losses.in_batch_logits does.")
    diagnosis = _diagnose(answer[finite], [
        ((scores + log_q[None, :])[finite], "You added log q; subtract it: popular items (large q) appear as "
                                           "negatives more often than they should, so their logits go *down*."),
        (scores[finite], "No correction was applied: subtract np.log(q[item_ids]) from every column."),
        ((scores - log_q[:, None])[finite], "You subtracted log q per *row*. A row-wise constant does not change the "
                                           "softmax at all; the correction belongs to each column's item: "
                                           "log_q[None, :]."),
        ((scores - q.numpy()[ids.numpy()][None, :])[finite], "Subtract the *logarithm* of the probability, log q."),
        ((scores - np.log(q.numpy())[None, :B])[finite],
         "Index the probabilities by each column's item id: q[item_ids], not the first B entries of q."),
    ])
    _fail(f"logq_logits differs from U V^T - log q[item_ids] ({_first_difference(np.where(finite, answer, 0), np.where(finite, expected, 0))})."
          f"{diagnosis}")


# ---- 05 · 1: negatives from skipped impressions -------------------------------------------------
def reference_impression_negatives(positive_sessions, positive_items, impression_sessions, impression_items,
                                   impression_chosen, max_negatives: int) -> np.ndarray:
    """(n_positives, max_negatives): items shown in the positive's session and not chosen, in impression
    order, at most max_negatives, padded with -1."""
    positive_sessions = np.asarray(positive_sessions)
    out = np.full((len(positive_sessions), max_negatives), -1, dtype=np.int64)
    skipped = ~np.asarray(impression_chosen, dtype=bool)
    by_session: dict[int, list[int]] = {}
    for session, item in zip(np.asarray(impression_sessions)[skipped].tolist(),
                             np.asarray(impression_items)[skipped].tolist()):
        by_session.setdefault(session, []).append(item)
    for row, (session, item) in enumerate(zip(positive_sessions.tolist(), np.asarray(positive_items).tolist())):
        shown = [i for i in by_session.get(session, []) if i != item][:max_negatives]
        out[row, :len(shown)] = shown
    return out


def check_impression_negatives(negatives, positive_sessions, positive_items, impression_sessions,
                               impression_items, impression_chosen, max_negatives: int) -> bool:
    """Exercise 05 · 1: each positive's skipped impressions (same session, not chosen), padded with -1."""
    n = len(positive_sessions)
    if negatives is None:
        return _not_answered(f"negatives should be an ({n}, {max_negatives}) int array: for each positive view, the "
                             "items shown in the same session and not chosen, padded with -1.")
    answer = _to_numpy(negatives)
    expected = reference_impression_negatives(positive_sessions, positive_items, impression_sessions,
                                              impression_items, impression_chosen, max_negatives)
    if answer.shape != expected.shape:
        _fail(f"negatives should have shape {expected.shape} (one row per positive, {max_negatives} slots); got "
              f"{answer.shape}.")
    if np.array_equal(answer.astype(np.int64), expected):
        return _ok(f"negatives hold each positive's skipped impressions, {int((expected >= 0).sum())} in all.")
    positive_items = np.asarray(positive_items)
    if np.any(answer == positive_items[:, None]):
        row = int(np.argwhere(answer == positive_items[:, None])[0][0])
        _fail(f"row {row} lists the positive item {int(positive_items[row])} itself as a negative: skip the items "
              "the user chose.")
    chosen_items = set(zip(np.asarray(impression_sessions)[np.asarray(impression_chosen, dtype=bool)].tolist(),
                           np.asarray(impression_items)[np.asarray(impression_chosen, dtype=bool)].tolist()))
    for row in range(n):
        for item in answer[row][answer[row] >= 0].tolist():
            if (int(np.asarray(positive_sessions)[row]), item) in chosen_items:
                _fail(f"row {row} lists item {item}, which the user *chose* in that session (a second choice): "
                      "only skipped impressions (chosen == False) are negatives.")
    row = int(np.argwhere(np.any(answer != expected, axis=1))[0][0])
    _fail(f"row {row}: expected {expected[row].tolist()}, got {answer[row].tolist()}. Take the impressions of the "
          f"positive's own session (session {int(np.asarray(positive_sessions)[row])}), not chosen, in the order "
          f"they were shown, keep the first {max_negatives} and pad with -1.")


# ---- 06 · 1: a point-in-time count feature ------------------------------------------------------
def reference_point_in_time_counts(items, times, log_items, log_times, window_days: float) -> np.ndarray:
    """(n,) views of items[e] in the log with times[e] - window <= time < times[e]
    (twotower_mini.features.EventIndex.count_between)."""
    from twotower_mini.features import EventIndex

    log_items = np.asarray(log_items, dtype=np.int64)
    log_times = np.asarray(log_times, dtype=np.float64)
    n_items = int(max(log_items.max(initial=0), np.max(items, initial=0))) + 1
    index = EventIndex(log_items, log_times, np.zeros(len(log_items)), n_items)
    times = np.asarray(times, dtype=np.float64)
    return index.count_between(np.asarray(items, dtype=np.int64), times - window_days * DAY, times)


def check_point_in_time_counts(counts, items, times, log_items, log_times, window_days: float) -> bool:
    """Exercise 06 · 1: counts[e] = views of items[e] in [times[e] - window, times[e])."""
    items, times = np.asarray(items), np.asarray(times, dtype=np.float64)
    log_items, log_times = np.asarray(log_items), np.asarray(log_times, dtype=np.float64)
    if counts is None:
        return _not_answered(f"counts should be a ({len(items)},) array: for each event, the views of its item in "
                             f"the {window_days:g} days *before* the event's time.")
    answer = _array(counts, "counts", (len(items),), "one count per event")
    expected = reference_point_in_time_counts(items, times, log_items, log_times, window_days)
    if _close(answer, expected):
        return _ok(f"point-in-time {window_days:g}-day view counts match twotower_mini.features for {len(items)} events.")
    window = window_days * DAY

    def count(keep) -> np.ndarray:
        return np.array([np.sum((log_items == i) & keep(t)) for i, t in zip(items, times)], dtype=np.float64)

    diagnosis = _diagnose(answer, [
        (count(lambda t: (log_times <= t) & (log_times >= t - window)),
         "You counted the event itself (time <= t). A feature must be known *before* the event: use time < t, "
         "otherwise every example carries its own answer."),
        (count(lambda t: np.ones_like(log_times, dtype=bool)),
         "You counted every view of the item in the whole log, the future included: that is leakage. Count only "
         "views before t."),
        (count(lambda t: (log_times >= t - window) & (log_times < t + window)),
         "Your window reaches into the future (after t): count only views before t."),
        (count(lambda t: log_times < t),
         f"Those are all views before t; keep only the last {window_days:g} days: t - window <= time < t, with "
         f"the window in seconds ({window_days:g} * 86400)."),
        (count(lambda t: (log_times >= t - window_days) & (log_times < t)),
         "Times are in seconds: the window is window_days * 86400 seconds."),
    ])
    _fail(f"counts differ from the point-in-time counts ({_first_difference(answer, expected)}).{diagnosis}")


# ---- 06 · 2: a genre profile that embeds new items --------------------------------------------------
def reference_genre_profile(train_users, train_items, item_genre, n_users: int, n_genres: int) -> np.ndarray:
    """(n_users, n_genres) share of each user's training views in each genre; 0 rows without views."""
    genre = np.asarray(item_genre)[np.asarray(train_items)]
    counts = np.zeros((n_users, n_genres))
    np.add.at(counts, (np.asarray(train_users), genre), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def check_genre_profile(profile, train, item_genre, n_genres: int, full_log=None) -> bool:
    """Exercise 06 · 2: profile[u, g] = share of u's *training* views in genre g (rows sum to 1, or 0)."""
    n_users = train.n_users
    if profile is None:
        return _not_answered(f"profile should be an ({n_users}, {n_genres}) array: for each user, the share of their "
                             "training views in each genre.")
    answer = _array(profile, "profile", (n_users, n_genres), "one share per user and genre")
    expected = reference_genre_profile(train.users, train.items, item_genre, n_users, n_genres)
    if _close(answer, expected):
        return _ok("the genre profile matches: shares of training views, 0 for users without training views.")
    if np.any(~np.isfinite(answer)):
        _fail("profile has NaN or inf values: users with no training views divide 0 by 0. Give them a row of "
              "zeros (np.divide(..., where=totals > 0), or np.maximum(totals, 1)).")
    counts = np.zeros((n_users, n_genres))
    np.add.at(counts, (train.users, np.asarray(item_genre)[train.items]), 1.0)
    mistakes = [
        (counts, "Those are counts; divide each row by the user's number of training views so rows sum to 1."),
        (counts / np.maximum(counts.sum(axis=0, keepdims=True), 1), "You normalised each genre (column); normalise "
                                                                     "each user (row)."),
    ]
    if full_log is not None:
        mistakes.insert(0, (reference_genre_profile(full_log.users, full_log.items, item_genre, n_users, n_genres),
                            "You used the whole log, test period included: the profile must be built from training "
                            "events only, or it leaks the answers into the features."))
    _fail(f"profile differs from the training genre shares ({_first_difference(answer, expected)})."
          f"{_diagnose(answer, mistakes)}")


# ---- 07 · 1: recall of approximate search vs exact --------------------------------------------------
def reference_search_recall(approximate, exact) -> float:
    """Share of the exact top-k ids that the approximate search also returned, over all queries
    (twotower_mini.retrieval.recall_vs_exact; with full exact lists, the mean over queries of
    |approximate_q ∩ exact_q| / k). -1 slots never count."""
    from twotower_mini.retrieval import recall_vs_exact

    return recall_vs_exact(approximate, exact)


SEARCH_RECALL_CASES = [  # (approximate, exact, note)
    (np.array([[1, 2, 3], [4, 5, 6]]), np.array([[1, 2, 3], [4, 5, 6]]), "identical lists"),
    (np.array([[3, 1, 2], [6, 4, 5]]), np.array([[1, 2, 3], [4, 5, 6]]), "same items, another order"),
    (np.array([[1, 9, 8], [7, 4, 0]]), np.array([[1, 2, 3], [4, 5, 6]]), "partial overlap"),
    (np.array([[1, 2, -1], [-1, -1, -1]]), np.array([[1, 2, 3], [4, 5, 6]]), "padding (-1): fewer results"),
    (np.array([[2, 3, 1, 7, 8], [9, 9, 4, 5, 6]]), np.array([[1, 2, 3, 4, 5], [4, 5, 6, 0, 1]]), "k = 5"),
]


def check_search_recall(recall_vs_exact: Callable | None) -> bool:
    """Exercise 07 · 1: recall_vs_exact(approximate, exact) -> mean share of the exact top-k found."""
    hint = ("write recall_vs_exact(approximate, exact): for each query, the share of the exact top-k items that "
            "the approximate search also returned (order does not matter, -1 is an empty slot), averaged.")
    if recall_vs_exact is None:
        return _not_answered(hint)
    for approximate, exact, note in SEARCH_RECALL_CASES:
        try:
            got = _call(recall_vs_exact, "recall_vs_exact", approximate.copy(), exact.copy())
        except _NotAnswered:
            return _not_answered(hint)
        try:
            got = float(got)
        except (TypeError, ValueError):
            _fail(f"recall_vs_exact should return one number (the mean over queries); got {type(got).__name__}.")
        expected = reference_search_recall(approximate, exact)
        if abs(got - expected) < 1e-9:
            continue
        positional = float(np.mean(approximate == exact))
        valid = approximate >= 0
        per_returned = float(np.mean([len(set(a[v].tolist()) & set(e.tolist())) / max(v.sum(), 1)
                                      for a, e, v in zip(approximate, exact, valid)]))
        diagnosis = _diagnose(np.array(got), [
            (np.array(positional), "You compared positions (approximate == exact); recall compares *sets*: an item "
                                   "of the exact top-k found anywhere in the approximate list counts."),
            (np.array(per_returned), "You divided by the number of results returned; divide by k: a search that "
                                     "returns fewer items has missed the others."),
        ])
        _fail(f"recall_vs_exact on {note} returned {got:.4f}, expected {expected:.4f} "
              f"(approximate={approximate.tolist()}, exact={exact.tolist()}).{diagnosis}")
    return _ok(f"recall_vs_exact is right on {len(SEARCH_RECALL_CASES)} cases (order ignored, padding never a hit).")


# ---- 07 · 2: where the wanted items are lost ----------------------------------------------------------
def reference_two_losses(candidates, final, wanted) -> tuple[float, float, float]:
    """(missed by retrieval, missed by ranking, found): shares of all wanted (user, item) pairs, each pair
    counted once (as twotower_mini.pipeline.two_losses). candidates: (U, N) retrieved ids; final: (U, k)
    the ranker's top k among them; wanted: one set of item ids per user."""
    total = retrieved = found = 0
    for retrieved_row, final_row, items in zip(np.asarray(candidates), np.asarray(final), wanted):
        items = set(int(i) for i in items)
        total += len(items)
        retrieved += len(items & set(retrieved_row[retrieved_row >= 0].tolist()))
        found += len(items & set(final_row[final_row >= 0].tolist()))
    if total == 0:
        raise ValueError("nobody wants anything: no wanted items to lose")
    return (total - retrieved) / total, (retrieved - found) / total, found / total


TWO_LOSSES_CASES = [  # (candidates, final, wanted): users want different numbers of items
    (np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 1, 2, 3]]), np.array([[2, 1], [7, 5], [3, 9]]),
     [{1, 4, 10}, {8}, {2, 3, 11, 12, 13}]),
    (np.array([[4, 3, 2, 1, 0]]), np.array([[0, 1]]), [{0, 2, 9}]),
]


def check_two_losses(two_losses: Callable | None) -> bool:
    """Exercise 07 · 2: two_losses(candidates, final, wanted) -> (missed by retrieval, missed by ranking, found)."""
    hint = ("write two_losses(candidates, final, wanted) returning three shares of all wanted (user, item) "
            "pairs: not among the candidates, among them but not in the final list, in the final list.")
    if two_losses is None:
        return _not_answered(hint)
    for candidates, final, wanted in TWO_LOSSES_CASES:
        try:
            got = _call(two_losses, "two_losses", candidates.copy(), final.copy(), [set(w) for w in wanted])
        except _NotAnswered:
            return _not_answered(hint)
        try:
            got = tuple(float(value) for value in got)
        except (TypeError, ValueError):
            _fail(f"two_losses should return three numbers (missed by retrieval, missed by ranking, found); got "
                  f"{got!r}.")
        if len(got) != 3:
            _fail(f"two_losses should return three numbers (missed by retrieval, missed by ranking, found); got {len(got)}.")
        expected = reference_two_losses(candidates, final, wanted)
        if _close(got, expected, atol=1e-9):
            continue
        where = (f"on candidates={candidates.tolist()}, final={final.tolist()}, wanted={[sorted(w) for w in wanted]} "
                 f"two_losses returned {tuple(round(v, 4) for v in got)}, expected {tuple(round(v, 4) for v in expected)}")
        if abs(sum(got) - 1) > 1e-9:
            _fail(f"{where}. The three shares must add up to 1: every wanted pair lands in exactly one bucket. "
                  "'Missed by ranking' counts only pairs that *were* retrieved but did not make the final list.")
        per_user = np.mean([reference_two_losses([c], [f], [w]) for c, f, w in zip(candidates, final, wanted)], axis=0)
        if _close(got, per_user, atol=1e-9):
            _fail(f"{where}. You averaged per-user shares; count every wanted (user, item) pair once instead "
                  "(sum the counts over users, then divide by the total number of wanted pairs), so that a user "
                  "who wants five items weighs five times as much as a user who wants one.")
        _fail(f"{where}. Count, over all users: wanted pairs, those among the candidates, those in the final list.")
    return _ok("two_losses splits every wanted (user, item) pair into exactly one of the three buckets.")
