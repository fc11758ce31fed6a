"""Top-k selection with a fixed tie order, and masking of items a user must not get.

Every ranked list in the suite goes through `top_k`, so equal scores are ordered the same way
(by item index, lower first) on every machine. Both functions work on a dense (users, items)
block of scores, in place or chunk by chunk.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def mask_items(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """In place: scores[r, j] = -inf wherever rows[r, j] is stored. scores: (n, m); rows: (n, m) sparse."""
    scores[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr)), rows.indices] = -np.inf


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row, best first. scores: (n, m) -> (n, min(k, m)).

    Equal scores are ordered by item index, lower first: exactly the first k columns of a stable
    full sort, `np.argsort(-scores, axis=1, kind="stable")[:, :k]`, on every CPU. (np.argpartition
    alone would not do: which of several tied items it keeps depends on the SIMD kernel numpy picks
    for the machine.) NaN counts as -inf. Entries equal to -inf are never returned; their slots
    hold -1."""
    scores = np.asarray(scores)
    n, m = scores.shape
    k = min(k, m)
    if k <= 0:
        return np.empty((n, 0), dtype=np.int64)
    if np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    if k < m:
        kth = np.partition(scores, m - k, axis=1)[:, m - k, None]  # (n, 1) the k-th best value: no ties issue
        keep = scores > kth  # (n, m) surely in the top k
        tied = scores == kth  # (n, m) candidates for the remaining slots
        need = k - keep.sum(axis=1)  # (n,) slots left for tied items
        ambiguous = np.flatnonzero(tied.sum(axis=1) > need)  # rows with more tied items than slots
        keep |= tied
        if ambiguous.size:  # keep the lowest-index tied items only
            first = np.cumsum(tied[ambiguous], axis=1) <= need[ambiguous, None]
            keep[ambiguous] = (scores[ambiguous] > kth[ambiguous]) | (tied[ambiguous] & first)
        part = np.nonzero(keep)[1].reshape(n, k)  # (n, k) the top k of each row, in index order
    else:
        part = np.tile(np.arange(m), (n, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")  # stable: ties keep index order
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    best[~np.isfinite(best_scores) & (best_scores < 0)] = -1
    return best.astype(np.int64)
