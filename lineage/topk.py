"""Top-k selection with a fixed tie order, and masking of items a user must not get.

Every ranked list in the suite goes through this module, so equal scores are ordered the same way
(by index, lower first) on every machine. The one rule: the best entries of a row are the first
columns of a stable full sort, ``np.argsort(-scores, axis=1, kind="stable")``, and NaN counts as
-inf. The functions apply it to different shapes of the same question:

    top_k(scores, k)              (n, m) dense -> (n, k) indices, best first, -1 for -inf entries
    top_k_mask(scores, k)         (n, m) dense -> (n, m) bool, exactly k kept per row
    ranking(scores)               (n, m) dense -> (n, m) every index, best first
    keep_top_k(rows, cols, v, k)  sparse entries -> bool, the k best entries of each row kept
    rank_in_group(groups, v)      entries -> (n,) the position of each entry in its group, best first
    mask_items(scores, rows)      scores[r, j] = -inf where rows[r, j] is stored
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def mask_items(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """In place: scores[r, j] = -inf wherever rows[r, j] is stored. scores: (n, m); rows: (n, m) sparse."""
    scores[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr)), rows.indices] = -np.inf


def _nan_as_minus_inf(scores: np.ndarray) -> np.ndarray:
    """The scores with NaN replaced by -inf (the same array when there is no NaN)."""
    if np.isnan(scores).any():
        return np.where(np.isnan(scores), -np.inf, scores)
    return scores


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, m) bool: True at the k best entries of each row (exactly min(k, m) per row).

    The kept entries are the first k columns of a stable full sort of the row, best first: equal
    scores are kept by index, lower first. NaN counts as -inf; -inf entries are ordinary values
    here (kept when a row has fewer than k larger ones). Linear time: one np.partition finds the
    k-th best value, and only rows with more ties at that value than slots left need more work."""
    scores = _nan_as_minus_inf(np.asarray(scores))
    n, m = scores.shape
    k = min(max(k, 0), m)
    if k == 0:
        return np.zeros((n, m), dtype=bool)
    kth = np.partition(scores, m - k, axis=1)[:, m - k, None]  # (n, 1) the k-th best value: no ties issue
    keep = scores > kth  # (n, m) surely in the top k
    tied = scores == kth  # (n, m) candidates for the remaining slots
    need = k - keep.sum(axis=1)  # (n,) slots left for tied entries
    ambiguous = np.flatnonzero(tied.sum(axis=1) > need)  # rows with more tied entries than slots
    keep |= tied
    if ambiguous.size:  # keep the lowest-index tied entries only
        first = np.cumsum(tied[ambiguous], axis=1) <= need[ambiguous, None]
        keep[ambiguous] = (scores[ambiguous] > kth[ambiguous]) | (tied[ambiguous] & first)
    return keep


def ranking(scores: np.ndarray) -> np.ndarray:
    """(n, m) -> (n, m): every index of each row, best first; equal scores by index, lower first.

    NaN counts as -inf (after every other score, in index order among the -inf ones). This is the
    full stable sort `top_k` takes its first k columns from; use it when the whole order is needed
    (reranking a short candidate list), `top_k` when only the best few are."""
    return np.argsort(-_nan_as_minus_inf(np.asarray(scores)), axis=1, kind="stable")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row, best first. scores: (n, m) -> (n, min(k, m)).

    Equal scores are ordered by item index, lower first: exactly the first k columns of a stable
    full sort, `np.argsort(-scores, axis=1, kind="stable")[:, :k]`, on every CPU. (np.argpartition
    alone would not do: which of several tied items it keeps depends on the SIMD kernel numpy picks
    for the machine.) NaN counts as -inf. Entries equal to -inf are never returned; their slots
    hold -1."""
    scores = _nan_as_minus_inf(np.asarray(scores))
    n, m = scores.shape
    k = min(k, m)
    if k <= 0:
        return np.empty((n, 0), dtype=np.int64)
    if k < m:
        part = np.nonzero(top_k_mask(scores, k))[1].reshape(n, k)  # (n, k) the top k of each row, in index order
    else:
        part = np.tile(np.arange(m), (n, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")  # stable: ties keep index order
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    best[~np.isfinite(best_scores) & (best_scores < 0)] = -1
    return best.astype(np.int64)


def keep_top_k(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask over sparse entries (rows[i], cols[i], values[i]) keeping, for each row, the k
    entries with the largest value.

    Ties are broken by the smaller column index, so the result never depends on sort internals
    (the rule of `top_k`, for entries given as coordinates: a similarity graph, a sparse matrix).
    NaN counts as -inf. The entries may come in any order; each (row, col) should appear once."""
    values = _nan_as_minus_inf(np.asarray(values))
    order = np.lexsort((cols, -values, rows))  # by row, then best value, then smallest column
    sorted_rows = rows[order]
    starts = np.r_[0, np.flatnonzero(sorted_rows[1:] != sorted_rows[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(rows)])
    rank = np.arange(len(rows)) - np.repeat(starts, sizes)  # position inside the row
    keep = np.zeros(len(rows), dtype=bool)
    keep[order[rank < k]] = True
    return keep


def rank_in_group(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(n,) the position of each entry inside its group, 0 for the largest value: entries
    (groups[i], values[i]) in any order; equal values by their position in the input, earlier first.

    `rank_in_group(train.users, train.times) < 5` marks each user's five newest events. NaN counts
    as -inf."""
    groups = np.asarray(groups)
    values = _nan_as_minus_inf(np.asarray(values))
    order = np.lexsort((-values, groups))  # by group, then best value; lexsort is stable: ties keep input order
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(groups)])
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - np.repeat(starts, sizes)
    return rank
