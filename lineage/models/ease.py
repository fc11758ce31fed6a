"""EASE: an item-item linear model with a closed form, no hidden layer, no training loop.

Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW).

With X the (n_users, n_items) 0/1 matrix of who took what, EASE learns an (n_items, n_items)
weight matrix B that rebuilds each user's row from the *other* items of that row:

    minimise  ||X - X B||_F^2 + lambda ||B||_F^2   subject to  diag(B) = 0

(without the constraint, B = I would be a perfect and useless answer). The Lagrangian gives the
closed form

    P = (X^T X + lambda I)^-1,      B = I - P diagMat(1 / diag(P))     (so B_ij = -P_ij / P_jj, B_jj = 0)

and a user's scores are their row times B: score(u, j) = sum over the user's items i of B_ij.
Everything costs one dense inversion of the Gram matrix, O(n_items^3) time and a few dense
n_items x n_items float64 matrices of memory, which bounds the catalogue it can serve: above
`max_items` (by default, what fits in half the available memory) `fit` stops with a one-line
error naming the size instead of swapping the machine to a halt.

lambda is the only knob. The Gram matrix's diagonal holds the item counts, and lambda competes
with them, so a lambda that suits a small dataset is too weak for a large one: the default here
is relative, lambda = `regularization_scale` x the mean number of training events per item,
and a dataset tuned on validation (`TUNED`) may also give an absolute `regularization`. (Seen
twice over, the same population gives the same B under a relative lambda: both X^T X and lambda
double. An absolute lambda would fit the copy with half the regularization.)
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from lineage.data import Interactions
from lineage.models.base import Recommender

DENSE_COPIES = 3  # the Gram matrix, its inverse and LAPACK's work copy: n x n float64 each


def available_memory_bytes() -> int:
    """Memory the kernel says a new allocation can use (MemAvailable), else free physical pages."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 * 2 ** 30  # unknown platform: assume 4 GiB


def bytes_needed(n_items: int) -> int:
    """Peak memory of the closed form for `n_items` items (the dense float64 matrices)."""
    return DENSE_COPIES * n_items * n_items * 8


def default_max_items(memory_share: float = 0.5) -> int:
    """The largest catalogue whose dense matrices fit in `memory_share` of the available memory."""
    return int((memory_share * available_memory_bytes() / (DENSE_COPIES * 8)) ** 0.5)


@dataclass
class EASEConfig:
    regularization: float | None = None  # lambda; None: regularization_scale x mean training events per item
    # lambda relative to the mean item count (the scale of diag(X^T X)); 4 is the middle of the values
    # tuned on validation below (2 to 16), and within 6% of each one's best validation nDCG@10
    regularization_scale: float = 4.0
    max_items: int | None = None  # refuse larger catalogues; None: what fits in half the available memory

    def __post_init__(self):
        if self.regularization is not None and not self.regularization > 0:
            raise ValueError(f"EASE regularization must be > 0, got {self.regularization}")
        if not self.regularization_scale > 0:
            raise ValueError(f"EASE regularization_scale must be > 0, got {self.regularization_scale}")
        if self.max_items is not None and self.max_items < 1:
            raise ValueError(f"EASE max_items must be >= 1, got {self.max_items}")


def ease_weights(X, regularization: float) -> np.ndarray:
    """(n_items, n_items) float64 B with a zero diagonal, from a (n_users, n_items) 0/1 matrix X."""
    gram = np.asarray((X.T @ X).todense() if hasattr(X, "todense") else X.T @ X, dtype=np.float64)  # (n, n)
    gram[np.diag_indices_from(gram)] += regularization
    P = np.linalg.inv(gram)  # (n, n), symmetric positive definite
    B = P / (-np.diag(P))[None, :]  # column j divided by -P_jj
    B[np.diag_indices_from(B)] = 0.0
    return B


class EASE(Recommender):
    """Scores = the user's 0/1 history row times the closed-form item-item matrix B."""

    name = "ease"
    config_class = EASEConfig
    # chosen on validation carved from train (by time on temporal and leave-last-out) with
    #   python benchmarks/tune_lineage.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k \
    #       --protocol P --models ease,recent-popularity          (P = temporal, leave-last-out, per-item)
    #   python benchmarks/tune_lineage.py --dataset world --models ease,recent-popularity
    TUNED: dict = {
        "ml-100k/temporal": dict(regularization_scale=4.0),  # validation ndcg@10 0.0801 (lambda about 170)
        "ml-100k/leave-last-out": dict(regularization_scale=2.0),  # validation ndcg@10 0.0883
        "ml-100k": dict(regularization_scale=16.0),  # per-item (and the other shuffled splits); validation ndcg@10 0.2657
        "world": dict(regularization_scale=8.0),  # temporal; validation ndcg@10 0.2407
    }

    def __init__(self, config: EASEConfig | None = None):
        self.config = config or EASEConfig()

    def regularization_for(self, train: Interactions) -> float:
        """The lambda used on `train`: the absolute one if given, else relative to the mean item count."""
        if self.config.regularization is not None:
            return float(self.config.regularization)
        X = train.to_csr(binary=True)
        known = max(int((train.item_counts() > 0).sum()), 1)
        return self.config.regularization_scale * X.nnz / known

    def _fit(self, train: Interactions) -> None:
        n_items = train.n_items
        limit = self.config.max_items if self.config.max_items is not None else default_max_items()
        if n_items > limit:
            raise ValueError(f"EASE cannot invert a {n_items:,} x {n_items:,} Gram matrix in memory "
                             f"(about {bytes_needed(n_items) / 2 ** 30:.1f} GiB needed, max_items={limit:,}); "
                             f"use a smaller catalogue or another model")
        self.regularization_ = self.regularization_for(train)
        self.B_ = ease_weights(train.to_csr(binary=True), self.regularization_).astype(np.float32)  # (n_items, n_items)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.seen_[np.asarray(users)] @ self.B_, dtype=np.float32)  # (len(users), n_items)
