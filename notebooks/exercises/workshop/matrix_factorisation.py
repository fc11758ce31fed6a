"""Checks and reference answers for the exercises of notebook 02 (matrix factorisation):

    02 · 1: confidence and preference
    02 · 2: one ALS half-step

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

from workshop.checking import (NotAnswered, as_array, call_learner, diagnose, fail, first_difference,
                               is_close, not_answered, ok, to_numpy)


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
        return not_answered("C should be the dense confidence matrix, 1 + alpha * r on every cell; P the "
                             "0/1 preference matrix.")
    answer = as_array(C, "C", R.shape, "one confidence per user and item")
    C_ref, P_ref = reference_confidence(R, alpha)
    if not is_close(answer, C_ref):
        observed = R > 0
        diagnosis = diagnose(answer, [
            (np.where(observed, alpha * R, 1.0),
             "That is the implicit library's convention (c = alpha r on observed cells). The paper uses "
             "c = 1 + alpha r: a viewed cell always weighs more than an empty one, whatever alpha."),
            (alpha * R, "That is implicit's alpha * r, and empty cells got confidence 0. Use 1 + alpha * r."),
            (np.where(observed, 1 + alpha * R, 0.0),
             "Empty cells must keep confidence 1 (weak evidence of no interest), not 0: 1 + alpha * 0 = 1."),
            (1 + alpha * observed, "You used the preference (0/1) instead of the count r: c = 1 + alpha * r."),
        ])
        fail(f"C differs from 1 + alpha * R with alpha = {alpha:g} ({first_difference(answer, C_ref)})."
              f"{diagnosis or ' Every cell: 1 + alpha times the count.'}")
    if P is None:
        return not_answered("C is right. Now P: 1.0 where R > 0, else 0.0.")
    preference = as_array(P, "P", R.shape, "one preference per user and item")
    if not is_close(preference, P_ref):
        diagnosis = diagnose(preference, [
            (R, "P is binary: a user who viewed an item twice still *prefers* it with p = 1; the count goes into "
                "the confidence, not the preference."),
            (1 - P_ref, "P is upside down: 1 on the viewed cells, 0 on the empty ones."),
        ])
        fail(f"P differs from [R > 0] ({first_difference(preference, P_ref)}).{diagnosis}")
    return ok(f"C = 1 + {alpha:g} r and P = [r > 0] match lineage.models.als.confidence_matrix (the paper's "
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
        return not_answered(hint)
    for seed, lam in [(0, 0.5), (1, 3.0)]:
        Y, C, P = als_problem(seed)
        try:
            got = call_learner(als_half_step, "als_half_step", Y.copy(), C.copy(), P.copy(), lam)
        except NotAnswered:
            return not_answered(hint)
        n_users, f = C.shape[0], Y.shape[1]
        if to_numpy(got).shape == (f, n_users):
            fail(f"als_half_step returned shape ({f}, {n_users}); return one row per user: X has shape "
                  f"(n_users, f) = ({n_users}, {f}).")
        answer = as_array(got, "als_half_step(...)", (n_users, f), "the user factors X")
        expected = reference_als_half_step(Y, C, P, lam)
        if is_close(answer, expected, atol=1e-8):
            continue
        eye = np.eye(f)
        unweighted = np.stack([np.linalg.solve(Y.T @ Y + lam * eye, Y.T @ p) for p in P])
        no_reg = np.stack([np.linalg.solve(Y.T @ (c[:, None] * Y), Y.T @ (c * p)) for c, p in zip(C, P)])
        b_unweighted = np.stack([np.linalg.solve(Y.T @ (c[:, None] * Y) + lam * eye, Y.T @ p) for c, p in zip(C, P)])
        a_unweighted = np.stack([np.linalg.solve(Y.T @ Y + lam * eye, Y.T @ (c * p)) for c, p in zip(C, P)])
        diagnosis = diagnose(answer, [
            (unweighted, "You ignored the confidences: that is plain ridge regression. Weight both sides by C_u: "
                         "A = Y^T diag(c_u) Y + lam I, b = Y^T diag(c_u) p_u."),
            (no_reg, "The regularisation is missing: add lam * np.eye(f) to Y^T C_u Y."),
            (b_unweighted, "The right-hand side needs the confidences too: b = Y^T (c_u * p_u), not Y^T p_u."),
            (a_unweighted, "The left-hand side needs the confidences too: A = Y^T (c_u[:, None] * Y) + lam I."),
        ])
        fail(f"als_half_step differs from the exact half-step on a {n_users}-user problem with lam = {lam:g} "
              f"({first_difference(answer, expected)}).{diagnosis or ' For each user u: A = Y.T @ (C[u][:, None] * Y) + lam * I, b = Y.T @ (C[u] * P[u]), x_u = solve(A, b).'}")
    return ok("als_half_step matches lineage.models.als.solve_users (the Gram-matrix trick) on two random problems.")
