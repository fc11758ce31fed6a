"""Checks and reference answers for the exercises of notebook 01 (neighbours):

    01 · 1: item-item cosine with shrinkage
    01 · 2: user-kNN with top-k neighbours

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from workshop.checking import as_array, diagnose, fail, first_difference, is_close, not_answered, ok, to_numpy


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
        return not_answered(f"item_sim should be a ({n_items}, {n_items}) array: the cosine of every pair of "
                             "columns of R, with the shrinkage added to the denominator.")
    if to_numpy(item_sim).shape == (n_users, n_users):
        fail(f"item_sim has shape ({n_users}, {n_users}): one row per *person*. Items are the columns of R: "
              "compare columns (R.T @ R), not rows (R @ R.T).")
    answer = as_array(item_sim, "item_sim", (n_items, n_items), "one similarity per pair of items")
    expected = reference_item_cosine(R, shrinkage)
    if is_close(answer, expected):
        return ok(f"item-item cosine with shrinkage {shrinkage:g} matches lineage.models.knn.cosine_neighbours.")
    if not is_close(answer, answer.T):
        fail("item_sim is not symmetric: sim(a, b) must equal sim(b, a). Both the dot product and the product "
              "of the two norms are symmetric.")
    if np.any(np.abs(np.diag(answer)) > 1e-9):
        off = ~np.eye(n_items, dtype=bool)
        hint = (" The off-diagonal values are right." if is_close(answer[off], expected[off]) else "")
        fail(f"The diagonal of item_sim is not 0 ({np.diag(answer)[0]:.3f} for item 0): an item is not its own "
              f"neighbour, so set it to 0 (np.fill_diagonal(item_sim, 0)).{hint}")
    norms = np.linalg.norm(R, axis=0)
    no_shrink = R.T @ R / np.outer(norms, norms)
    np.fill_diagonal(no_shrink, 0.0)
    shrink_each = R.T @ R / np.outer(norms + shrinkage, norms + shrinkage)
    np.fill_diagonal(shrink_each, 0.0)
    diagnosis = diagnose(answer, [
        (no_shrink, "That is the plain cosine: add the shrinkage to the denominator, "
                    "x_a.x_b / (|x_a| |x_b| + shrinkage)."),
        (shrink_each, "You added the shrinkage to each norm; add it once, to their product."),
    ])
    fail(f"item_sim differs from the cosine with shrinkage {shrinkage:g} ({first_difference(answer, expected)})."
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
        return not_answered(f"scores should be a ({n_users}, {n_items}) array: for each user, the rows of their "
                             f"{k_neighbours} most similar users, weighted by similarity and summed.")
    answer = as_array(scores, "scores", (n_users, n_items), "one score per user and item")
    expected = reference_user_knn_scores(H, k_neighbours)
    if is_close(answer, expected):
        return ok(f"user-kNN scores with {k_neighbours} neighbours match lineage.models.UserKNN.")
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
    diagnosis = diagnose(answer, [
        (all_neighbours @ H, f"Those are the votes of *all* other users: keep only the {k_neighbours} most similar "
                             "ones (np.argsort(-sim[u])[:K]) and set the other similarities to 0."),
        (keep_self @ H, "Each user counted themselves as their own nearest neighbour (cosine 1): set the diagonal "
                        "of the similarity matrix to 0 before picking the top k."),
        (binary, "You used 0/1 data; this exercise uses the counts in H for both the cosine and the votes."),
        (keep_self.T @ H, "Check the orientation: row u of the neighbour matrix must hold u's neighbours."),
    ])
    fail(f"scores differ from the user-kNN scores ({first_difference(answer, expected)}).{diagnosis or ' Cosine of the rows of H, diagonal 0, keep the top k per row, then (kept similarities) @ H.'}")
