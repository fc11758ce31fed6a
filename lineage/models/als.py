"""Weighted alternating least squares for implicit feedback, from scratch in numpy (lessons L9, L10).

Hu, Koren and Volinsky 2008, "Collaborative Filtering for Implicit Feedback Datasets" (ICDM).

Every (user, item) cell of the matrix counts, not only the observed ones. A cell has
- a preference  p_ui = 1 if the user interacted with the item (r_ui > 0), else 0;
- a confidence  c_ui = 1 + alpha * r_ui  (1 for the unobserved cells: "probably not interested").

With user factors X (n_users, f) and item factors Y (n_items, f) the objective is

    L(X, Y) = sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + regularization * (||X||^2 + ||Y||^2)

Fixing Y, each user's row is an ordinary weighted ridge regression with the closed form

    x_u = (Y^T C_u Y + regularization * I)^-1  Y^T C_u p_u,

and the trick that makes it fast: Y^T C_u Y = Y^T Y + Y^T (C_u - I) Y. The Gram matrix Y^T Y is
computed once per half-step, and C_u - I is zero outside the user's n_u observed items, so each
solve costs O(n_u f^2 + f^3) instead of O(n_items f^2). Users are independent given Y (and items
given X), which is why ALS parallelises so well. A full iteration is a user half-step
(`solve_users`) then an item half-step (`solve_items`); each exactly minimises L over one block,
so the loss never goes up (recorded in `loss_history_`).

Two solvers, same objective: `solver="exact"` builds and solves every f x f system (the formula
above, O(f^3) per row); `solver="cg"` (the default, as in implicit) takes 3 warm-started
conjugate-gradient steps per row instead (Takacs, Pilaszy and Tikk 2011), O(f^2) per row, for
all rows at once with a few sparse products (`solve_users_cg`). CG steps also never raise the loss.

The `implicit` library (checked against its 0.7.3 source, `implicit/cpu/als.py` and
`implicit/cpu/_als.pyx`) uses a different confidence convention, selectable here with
`confidence="implicit"`:
- it multiplies the matrix you pass by alpha and uses that value *as* the confidence on the
  observed cells: c_ui = alpha * r_ui (not 1 + alpha * r_ui); unobserved cells keep c = 1, and
  p_ui = 1 wherever the passed value is positive (negative values mean "disliked", p = 0, c = |value|);
- regularization is the plain lambda * I above (no scaling by the user's number of items);
- the default solver is conjugate gradient with 3 steps per half-step, warm-started from the
  previous factors (`use_cg=True`); `use_cg=False` solves each system exactly (Cholesky), as `solver="exact"` does here;
- factors start uniform in [0, 0.01), and the user half-step comes first;
- its reported loss is L divided by (sum of observed confidences + n_users * n_items - nnz).
So `ALSConfig(confidence="implicit", alpha=a)` fits the same objective as
`implicit.cpu.als.AlternatingLeastSquares(alpha=a)` on the same matrix, and since the initial
draws are the same too, the same factors (tests/test_als.py checks both solvers to ~1e-5).
`lineage.models.implicit_models.ImplicitALS` takes the same `confidence` switch the other way round.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from lineage.data import Interactions
from lineage.models.base import Recommender

CONFIDENCES = ("hkv", "implicit")
SOLVERS = ("exact", "cg")


def confidence_matrix(ratings: sp.csr_matrix, alpha: float, convention: str = "hkv") -> sp.csr_matrix:
    """Observed confidences c_ui on the nonzeros of `ratings` (n_users, n_items); unobserved cells
    are implicitly c = 1, p = 0.

    "hkv" (the paper): c = 1 + alpha * r.   "implicit" (the library, >= 0.5): c = alpha * r."""
    if convention not in CONFIDENCES:
        raise ValueError(f"unknown confidence convention {convention!r}; expected one of {', '.join(CONFIDENCES)}")
    confidence = sp.csr_matrix(ratings, dtype=np.float64, copy=True)
    confidence.data = (1.0 + alpha * confidence.data) if convention == "hkv" else alpha * confidence.data
    return confidence


def solve_users(Y: np.ndarray, C: sp.csr_matrix, regularization: float, chunk_size: int | None = None) -> np.ndarray:
    """One half-step: the exact least-squares user factors given item factors.

    Y: (n_items, f) item factors. C: (n_users, n_items) CSR of observed confidences c_ui
    (preference p_ui = 1 there; every other cell has c = 1, p = 0). Returns X: (n_users, f) with

        x_u = (Y^T Y + Y^T (C_u - I) Y + regularization I)^-1  Y^T C_u p_u.

    Pass the transposed matrix and the user factors to get the item half-step (`solve_items`).
    Rows are solved in chunks of `chunk_size` so the stacked (chunk, f, f) systems stay small."""
    n_rows = C.shape[0]
    f = Y.shape[1]
    gram = Y.T @ Y + regularization * np.eye(f)  # (f, f), shared by every row
    X = np.zeros((n_rows, f), dtype=Y.dtype)
    chunk_size = chunk_size or max(1, 2 ** 22 // (f * f))
    for start in range(0, n_rows, chunk_size):
        stop = min(start + chunk_size, n_rows)
        block = C[start:stop]  # (c, n_items) observed confidences of these rows
        A = np.broadcast_to(gram, (stop - start, f, f)).copy()  # (c, f, f) left-hand sides
        b = block @ Y  # (c, f) = Y^T C_u p_u for every row, since p_u = 1 on the observed items
        Y_obs = Y[block.indices]  # (nnz_c, f) factors of every observed item, row after row
        weighted = (block.data - 1.0)[:, None] * Y_obs  # (nnz_c, f) rows of (C_u - I) Y_u
        for row in range(stop - start):
            lo, hi = block.indptr[row], block.indptr[row + 1]
            A[row] += Y_obs[lo:hi].T @ weighted[lo:hi]  # the sparse correction Y^T (C_u - I) Y
        X[start:stop] = np.linalg.solve(A, b[:, :, None])[:, :, 0]  # rows with nothing observed: b = 0, x = 0
    return X


def solve_users_cg(Y: np.ndarray, C: sp.csr_matrix, regularization: float, X0: np.ndarray,
                   steps: int = 3) -> np.ndarray:
    """The same half-step done approximately: a few conjugate-gradient steps on every row's
    system at once, warm-started from the previous factors X0 (n_users, f).

    Takacs, Pilaszy and Tikk 2011, "Applications of the conjugate gradient method for implicit
    feedback collaborative filtering" (implicit's default solver, with 3 steps). No f x f system is
    ever built: A_u p = (Y^T Y + reg I) p + sum_i (c_ui - 1) (y_i . p) y_i costs O(n_u f + f^2), and
    all rows move together with a few sparse products. Each step can only lower every row's
    quadratic objective, so the loss still never goes up."""
    f = Y.shape[1]
    gram = Y.T @ Y + regularization * np.eye(f)  # (f, f)
    counts = np.diff(C.indptr)  # (n_rows,) observed cells per row
    rows = np.repeat(np.arange(C.shape[0]), counts)  # (nnz,) row of each observed cell
    Y_obs = np.take(Y, C.indices, axis=0)  # (nnz, f)
    extra = C.data - 1.0  # (nnz,) c_ui - 1 on the observed cells
    weights = sp.csr_matrix((extra, C.indices, C.indptr), shape=C.shape)  # reused, its data overwritten

    def times_A(P):  # P: (n_rows, f) -> (n_rows, f), every row multiplied by its own A_u
        along = np.einsum("nf,nf->n", Y_obs, np.take(P, rows, axis=0))  # (nnz,) y_i . p_u
        weights.data = extra * along
        return P @ gram + weights @ Y  # (Y^T Y + reg I) p_u + Y^T (C_u - I) Y p_u

    X = np.array(X0, dtype=Y.dtype, copy=True)  # (n_rows, f)
    residual = C @ Y - times_A(X)  # b - A x, with b_u = Y^T C_u p_u
    direction = residual.copy()
    rs_old = np.einsum("nf,nf->n", residual, residual)  # (n_rows,)
    for _ in range(steps):
        A_direction = times_A(direction)
        curvature = np.einsum("nf,nf->n", direction, A_direction)
        step = np.divide(rs_old, curvature, out=np.zeros_like(rs_old), where=curvature > 1e-20)
        X += step[:, None] * direction
        residual -= step[:, None] * A_direction
        rs_new = np.einsum("nf,nf->n", residual, residual)
        beta = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 1e-20)
        direction = residual + beta[:, None] * direction
        rs_old = rs_new
    X[counts == 0] = 0.0  # nothing observed: the exact answer is 0
    return X


def solve_items(X: np.ndarray, C: sp.csr_matrix, regularization: float) -> np.ndarray:
    """The other half-step: item factors (n_items, f) given user factors X (n_users, f) and C (n_users, n_items)."""
    return solve_users(X, sp.csr_matrix(C.T), regularization)


def weighted_loss(X: np.ndarray, Y: np.ndarray, C: sp.csr_matrix, regularization: float) -> float:
    """The full objective L(X, Y) = sum_{u,i} c_ui (p_ui - x_u.y_i)^2 + reg (||X||^2 + ||Y||^2),
    over all n_users * n_items cells, without building the dense matrix:

        sum_{all cells} (x_u.y_i)^2 = trace(X^T X Y^T Y), then on the observed cells replace the
        unobserved term 1 * (0 - s)^2 by c (1 - s)^2."""
    users = np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))  # (nnz,) row of each observed cell
    s = np.einsum("nf,nf->n", np.take(X, users, axis=0), np.take(Y, C.indices, axis=0))  # (nnz,) x_u . y_i observed
    c = C.data
    all_cells = float(np.sum((X.T @ X) * (Y.T @ Y)))
    observed = float(np.sum(c * (1.0 - s) ** 2 - s ** 2))
    return all_cells + observed + regularization * float(np.sum(X * X) + np.sum(Y * Y))


@dataclass
class ALSConfig:
    factors: int = 64  # embedding size f
    regularization: float = 0.1  # lambda on ||X||^2 + ||Y||^2 (not scaled by activity, as in the paper)
    alpha: float = 1.0  # confidence slope: c = 1 + alpha * r ("hkv") or c = alpha * r ("implicit")
    iterations: int = 15  # full sweeps (users then items)
    seed: int = 0  # seeds the initial factors
    binary: bool = True  # r = 1 per observed pair; False: r = the summed event values (ratings)
    confidence: str = "hkv"  # "hkv": c = 1 + alpha r (the paper); "implicit": c = alpha r (implicit >= 0.5)
    init_scale: float = 0.01  # initial factors uniform in [0, init_scale), as implicit does
    solver: str = "cg"  # "cg": conjugate gradient, implicit's default; "exact": the closed-form solve per row
    cg_steps: int = 3  # CG steps per half-step, warm-started (only for solver="cg"; implicit uses 3)


class ALS(Recommender):
    """Weighted ALS (Hu, Koren and Volinsky 2008) in numpy; score = x_u . y_i."""

    name = "als-numpy"
    config_class = ALSConfig
    # Chosen on a validation split carved from train (never test); the commands that found them:
    #   ml-100k: python benchmarks/tune_lineage.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k --models als-numpy
    #   world:   python benchmarks/tune_lineage.py --dataset world --models als-numpy
    # Same objective and initial draws as implicit ("als"), same factors (tests/test_als.py),
    # so the same winners; the als-numpy grid confirms them at identical validation scores.
    TUNED: dict = {
        "ml-100k": dict(factors=128, regularization=80.0, alpha=3.0, confidence="hkv", binary=False, iterations=30),
        "world": dict(factors=128, regularization=100.0, alpha=16.0, confidence="implicit", binary=False),
    }

    def __init__(self, config: ALSConfig | None = None):
        self.config = config or ALSConfig()

    def _fit(self, train: Interactions) -> None:
        cfg = self.config
        if cfg.solver not in SOLVERS:
            raise ValueError(f"unknown solver {cfg.solver!r}; expected one of {', '.join(SOLVERS)}")
        C = confidence_matrix(train.to_csr(binary=cfg.binary), cfg.alpha, cfg.confidence)  # (n_users, n_items)
        C_items = sp.csr_matrix(C.T)  # (n_items, n_users), transposed once
        # the same draws as implicit for the same seed (float32 uniforms, users first), so the two
        # libraries can be compared run for run
        rng = np.random.default_rng(cfg.seed)
        X = rng.random((train.n_users, cfg.factors), dtype=np.float32) * np.float32(cfg.init_scale)  # (n_users, f)
        Y = rng.random((train.n_items, cfg.factors), dtype=np.float32) * np.float32(cfg.init_scale)  # (n_items, f)
        X, Y = X.astype(np.float64), Y.astype(np.float64)
        self.loss_history_ = []  # full objective after each iteration
        self.iteration_seconds_ = []  # time of each iteration, without the loss
        with threadpool_limits(1, "blas"):  # many small products: BLAS threads only add overhead
            for _ in range(cfg.iterations):
                start = time.perf_counter()
                if cfg.solver == "cg":
                    X = solve_users_cg(Y, C, cfg.regularization, X, cfg.cg_steps)
                    Y = solve_users_cg(X, C_items, cfg.regularization, Y, cfg.cg_steps)
                else:
                    X = solve_users(Y, C, cfg.regularization)
                    Y = solve_users(X, C_items, cfg.regularization)
                self.iteration_seconds_.append(time.perf_counter() - start)
                self.loss_history_.append(weighted_loss(X, Y, C, cfg.regularization))
        self.user_factors_ = X.astype(np.float32)  # (n_users, f)
        self.item_factors_ = Y.astype(np.float32)  # (n_items, f)

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[np.asarray(users, dtype=np.int64)] @ self.item_factors_.T  # (len(users), n_items)
