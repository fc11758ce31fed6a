"""Checks and reference answers for the exercises of notebook 03a (co-visitation graphs):

    03a · 1: from co-visitation counts to relatedness

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

import numpy as np

from lineage.data import Interactions
from workshop.checking import as_array, diagnose, fail, first_difference, is_close, not_answered, ok, to_numpy


# ---- 03a · 1: from co-visitation counts to relatedness ----------------------------------------------
def reference_relatedness(log: Interactions, seed_power: float, candidate_power: float) -> np.ndarray:
    """(n_items, n_items) dense r(i -> j) = c_ij / (c_i^seed_power * c_j^candidate_power), c_ij the users
    who took both i != j, c_i the users who took i; zero diagonal, 0 wherever c_ij = 0
    (lineage.models.covisit.covisitation_counts and relatedness, whose tests check them by hand)."""
    from lineage.models.covisit import covisitation_counts, relatedness

    users_per_item = np.asarray(log.to_csr(binary=True).sum(axis=0)).ravel()  # (n_items,) c_i
    related = relatedness(covisitation_counts(log), users_per_item, seed_power, candidate_power)
    return related.toarray().astype(np.float64)


def _counts_with_diagonal(log: Interactions) -> np.ndarray:
    """(n_items, n_items) X^T X of the 0/1 user x item matrix: c_ij off the diagonal, c_i on it."""
    x = log.to_csr(binary=True).astype(np.float64)
    return (x.T @ x).toarray()


def _normalised(counts: np.ndarray, c: np.ndarray, row_power: float, column_power: float) -> np.ndarray:
    """counts[i, j] / (c_i^row_power * c_j^column_power), 0 where the count is 0 (no 0/0)."""
    c = np.maximum(c, 1.0)
    return counts / (c[:, None] ** row_power * c[None, :] ** column_power)


def check_relatedness(related, train: Interactions, seed_power: float, candidate_power: float,
                      full_log: Interactions | None = None) -> bool:
    """Exercise 03a · 1: related (n_items, n_items), r(i -> j) = c_ij / (c_i^a * c_j^b) from the *training*
    log, zero diagonal, 0 where no user took both. `full_log` (train and test), when given, lets the
    check recognise a graph that saw the test period."""
    n_users, n_items = train.n_users, train.n_items
    a, b = seed_power, candidate_power
    if related is None:
        return not_answered(f"related should be an ({n_items}, {n_items}) array: r(i -> j) = c_ij / (c_i^{a:g} * "
                             f"c_j^{b:g}), counted on the training log, with a zero diagonal.")
    if to_numpy(related).shape == (n_users, n_users) and n_users != n_items:
        fail(f"related has shape ({n_users}, {n_users}): one row per *user*. Items are the columns of the user x "
              "item matrix X: co-visitation counts are X.T @ X (items x items), not X @ X.T.")
    answer = as_array(related, "related", (n_items, n_items), "one relatedness per pair of items")
    if not np.all(np.isfinite(answer)):
        bad = np.argwhere(~np.isfinite(answer))[0]
        fail(f"related has NaN or inf values (e.g. at [{bad[0]}, {bad[1]}]): items without training views have "
              "c_i = 0, and 0 / 0 is NaN. No user took them, so c_ij = 0 too: leave those entries 0 (divide by "
              "np.maximum(c, 1), or only where c_ij > 0).")
    expected = reference_relatedness(train, a, b)
    if is_close(answer, expected):
        return ok(f"relatedness c_ij / (c_i^{a:g} c_j^{b:g}) from the training log matches "
                   "lineage.models.covisit.relatedness.")
    off = ~np.eye(n_items, dtype=bool)
    if full_log is not None and len(full_log) > len(train):
        leaked = reference_relatedness(full_log, a, b)
        full_diagonal = _normalised(_counts_with_diagonal(full_log), np.diag(_counts_with_diagonal(full_log)), a, b)
        if is_close(answer, leaked) or is_close(answer, full_diagonal) or is_close(answer[off], leaked[off]):
            fail("Your graph was counted on the whole log, test period included: a leak. In production the graph "
                  "only knows the past, so count co-visits on the training part only (train, not data); a graph "
                  "that saw the test period inflates every offline metric built on it (notebook 03a, section 1).")
    if np.any(np.abs(np.diag(answer)) > 1e-9):
        right_elsewhere = is_close(answer[off], expected[off])
        fail(f"The diagonal of related is not 0 (r(0 -> 0) = {answer[0, 0]:.4g}): X.T @ X holds c_i on its "
              "diagonal, the item co-visited with itself. An item is not its own neighbour (it would top its own "
              "list): set the diagonal to 0 before or after normalising."
              + (" Every other entry is right." if right_elsewhere else
                 f" Other entries differ too ({first_difference(np.where(off, answer, 0), expected)})."))
    counts = _counts_with_diagonal(train)
    c = np.diag(counts).copy()
    np.fill_diagonal(counts, 0.0)
    diagnosis = diagnose(answer, [
        (expected.T, f"You normalised by the wrong sides: row i is the seed, column j the candidate, so divide by "
                     f"c_i^{a:g} (the row's item) and c_j^{b:g} (the column's item); your powers are swapped (your "
                     f"matrix is the transpose of the right one). Broadcast c[:, None] ** {a:g} over rows and "
                     f"c[None, :] ** {b:g} over columns."),
        (counts, "Those are the raw counts c_ij: divide them by c_i^a * c_j^b, or the bestsellers top every list."),
        (_normalised(counts, c, b, b), f"You used the power {b:g} for the seed too: the seed's count takes the power "
                                       f"{a:g}."),
        (_normalised(counts, c, a, a), f"You used the power {a:g} for the candidate too: the candidate's count takes "
                                       f"the power {b:g}."),
        (_normalised(counts, np.bincount(train.items, minlength=n_items).astype(float), a, b),
         "You normalised by each item's number of events; c_i counts *users* (a user who took an item twice counts "
         "once): the diagonal of X.T @ X with X binary."),
    ])
    fail(f"related differs from c_ij / (c_i^{a:g} c_j^{b:g}) ({first_difference(answer, expected)})."
          f"{diagnosis or ' Count co-visits on the training log (X.T @ X, X the 0/1 user x item matrix), zero the diagonal, then divide each entry by c_i^a (its row) and c_j^b (its column).'}")
