"""Top-k ranking metrics, shared by every model in the suite.

Protocol, the same for every model: each ranks the *full* catalogue for each test user (no sampled
negatives: sampled metrics can reorder models, Krichene and Rendle 2020), items the user already
has in the training data are excluded unless the switch says otherwise, and each test user's
relevant set is the set of items they interacted with in the test part.

Definitions, for one user with ranked list r_1..r_k and relevant set R (hit_j = 1 if r_j in R):

    precision@k = sum_j hit_j / k
    recall@k    = sum_j hit_j / |R|
    ndcg@k      = DCG / IDCG,  DCG = sum_j hit_j / log2(j + 1),
                  IDCG = sum_{j=1..min(|R|, k)} 1 / log2(j + 1)          (binary gains)
    map@k       = sum_j hit_j * precision@j / |R|
    hitrate@k   = per *test interaction* (u, i): 1 if i is in u's top k    (TFRS "top-k
                  categorical accuracy"), averaged over test interactions

Note: `implicit.evaluation.precision_at_k` divides by min(k, |R|) rather than k, so its
"precision" is a recall-like number for users with few test items; ours is the textbook one.

User-level metrics are averaged over test users with a non-empty relevant set. Catalogue-level:
coverage@k (share of items that appear in at least one list) and mean popularity of the
recommended items (their training counts).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lineage.data import Interactions

METRIC_NAMES = ("precision", "recall", "ndcg", "map", "hitrate", "coverage")  # every model's metrics@k, in table order


# ---- one list at a time: the definitions, written to be read ----------------------------------
def precision_at_k(ranked, relevant, k: int) -> float:
    hits = sum(1 for item in list(ranked)[:k] if item in set(relevant))
    return hits / k


def recall_at_k(ranked, relevant, k: int) -> float:
    relevant = set(relevant)
    hits = sum(1 for item in list(ranked)[:k] if item in relevant)
    return hits / len(relevant) if relevant else 0.0


def ndcg_at_k(ranked, relevant, k: int) -> float:
    relevant = set(relevant)
    dcg = sum(1.0 / np.log2(j + 2) for j, item in enumerate(list(ranked)[:k]) if item in relevant)
    idcg = sum(1.0 / np.log2(j + 2) for j in range(min(len(relevant), k)))
    return dcg / idcg if idcg > 0 else 0.0


def average_precision_at_k(ranked, relevant, k: int) -> float:
    relevant = set(relevant)
    hits, total = 0, 0.0
    for j, item in enumerate(list(ranked)[:k]):
        if item in relevant:
            hits += 1
            total += hits / (j + 1)
    return total / len(relevant) if relevant else 0.0


# ---- all users at once: vectorised, and tested against the functions above ----------------------
def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """(n, k) bool: hit[u, j] = recommended[u, j] is in row u of `relevant` (an (n, n_items) 0/1 matrix).

    Slots holding -1 (nothing recommended) are never hits."""
    n, k = recommended.shape
    rows = np.repeat(np.arange(n), k)
    cols = recommended.ravel()
    valid = cols >= 0
    hits = np.zeros(n * k, dtype=bool)
    if valid.any():  # (scipy returns a sparse matrix, not an array, for an empty fancy index)
        hits[valid] = np.asarray(relevant[rows[valid], cols[valid]]).ravel() > 0
    return hits.reshape(n, k)


def per_user_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Per-user precision, recall, ndcg and map at k.

    recommended: (n, >=k) item indices, best first (-1 = empty slot); relevant: (n, n_items) 0/1.
    Users with an empty relevant set get NaN (callers drop them)."""
    recommended = recommended[:, :k]
    hits = hit_matrix(recommended, relevant).astype(np.float64)  # (n, k)
    n_relevant = np.diff(relevant.indptr).astype(np.float64)  # (n,)
    with np.errstate(invalid="ignore", divide="ignore"):
        discounts = 1.0 / np.log2(np.arange(2, k + 2))  # (k,)
        dcg = hits @ discounts
        ideal_len = np.minimum(n_relevant, k).astype(np.int64)
        idcg = np.r_[0.0, np.cumsum(discounts)][ideal_len]
        precision_at_j = np.cumsum(hits, axis=1) / np.arange(1, k + 1)  # (n, k)
        out = {
            "precision": hits.sum(axis=1) / k,
            "recall": hits.sum(axis=1) / n_relevant,
            "ndcg": dcg / idcg,
            "map": (precision_at_j * hits).sum(axis=1) / n_relevant,
        }
    empty = n_relevant == 0
    for values in out.values():
        values[empty] = np.nan
    return out


def relevance_matrix(test: Interactions, users: np.ndarray, train: Interactions | None = None) -> sp.csr_matrix:
    """(len(users), n_items) 0/1 matrix of each user's test items.

    With `train` given, items the user already has in train are removed (they are excluded from
    the recommendations, so they cannot be asked for)."""
    matrix = test.to_csr(binary=True)
    if train is not None:
        matrix = matrix - matrix.multiply(train.to_csr(binary=True))
        matrix.eliminate_zeros()
    return matrix[users].tocsr()


def hit_rate_at_k(recommended: np.ndarray, users: np.ndarray, test: Interactions, k: int,
                  train: Interactions | None = None) -> float:
    """Share of test interactions (u, i) whose item is in u's top k (TFRS top-k categorical accuracy).

    recommended: (len(users), >=k) lists for `users`. With `train` given, test events of items the
    user already had in train are left out (they could not be recommended)."""
    hits, events = _hits_and_events(recommended, users, test, k, train)
    return float(hits.sum() / events.sum()) if events.sum() else float("nan")


def hit_rate_per_user(recommended: np.ndarray, users: np.ndarray, test: Interactions, k: int,
                      train: Interactions | None = None) -> np.ndarray:
    """(len(users),) each user's hits scaled by len(users) / (test interactions counted), so that the
    mean is exactly `hit_rate_at_k`: the paired input of `lineage.evidence.compare` for this
    per-interaction metric. Resampling users keeps each user's interactions together (a cluster
    bootstrap); the fixed denominator makes the interval slightly wide, never narrow."""
    hits, events = _hits_and_events(recommended, users, test, k, train)
    if not events.sum():
        raise ValueError("hit_rate_per_user: no test interaction of these users can be scored")
    return hits * (len(users) / events.sum())


def _hits_and_events(recommended: np.ndarray, users: np.ndarray, test: Interactions, k: int,
                     train: Interactions | None) -> tuple[np.ndarray, np.ndarray]:
    """Per user of `users`: (test interactions whose item is in the top k, test interactions counted)."""
    row_of_user = np.full(test.n_users, -1, dtype=np.int64)
    row_of_user[users] = np.arange(len(users))
    rows = row_of_user[test.users]
    keep = rows >= 0
    if train is not None:
        seen = train.to_csr(binary=True)
        keep &= np.asarray(seen[test.users, test.items]).ravel() == 0
    top = recommended[rows[keep], :k]  # (n_events, k)
    hit = (top == test.items[keep][:, None]).any(axis=1)
    hits = np.bincount(rows[keep], weights=hit, minlength=len(users))  # (len(users),)
    events = np.bincount(rows[keep], minlength=len(users)).astype(np.float64)
    return hits, events


def coverage_at_k(recommended: np.ndarray, n_items: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    items = recommended[:, :k].ravel()
    return len(np.unique(items[items >= 0])) / n_items


def mean_popularity_at_k(recommended: np.ndarray, train: Interactions, k: int) -> float:
    """Average training count of the recommended items (high = the model pushes the head)."""
    items = recommended[:, :k].ravel()
    items = items[items >= 0]
    return float(train.item_counts()[items].mean()) if len(items) else float("nan")


def true_recall_at_k(recommended: np.ndarray, true_top: np.ndarray, k: int) -> float:
    """Recall against an oracle: |top-k ∩ true best items| / |true best items|, averaged over users.

    true_top: (n, m) indices of each user's m truly best items (the synthetic world knows them)."""
    return float(np.mean(true_recall_per_user(recommended, true_top, k)))


def true_recall_per_user(recommended: np.ndarray, true_top: np.ndarray, k: int) -> np.ndarray:
    """(n,) each user's |top-k ∩ true best items| / |true best items| (true_recall_at_k is its mean)."""
    recommended = recommended[:, :k]
    hits = [len(np.intersect1d(recommended[u][recommended[u] >= 0], true_top[u])) for u in range(len(recommended))]
    return np.asarray(hits, dtype=np.float64) / true_top.shape[1]


# ---- the harness -----------------------------------------------------------------------------
def users_with_test_events(test: Interactions) -> np.ndarray:
    """Users with at least one test event, ascending."""
    return np.flatnonzero(test.user_counts() > 0)


def evaluate_lists(recommended: np.ndarray, users: np.ndarray, train: Interactions, test: Interactions,
                   k: int, exclude_seen: bool = True) -> dict[str, float]:
    """All metrics at k for ready-made lists: {"precision@10": ..., "recall@10": ..., ...}.

    recommended: (len(users), >=k) item indices for `users` (best first)."""
    relevant = relevance_matrix(test, users, train if exclude_seen else None)
    per_user = per_user_metrics(recommended, relevant, k)
    has_relevant = np.diff(relevant.indptr) > 0
    result = {f"{name}@{k}": float(np.mean(values[has_relevant])) if has_relevant.any() else float("nan")
              for name, values in per_user.items()}
    result[f"hitrate@{k}"] = hit_rate_at_k(recommended, users, test, k, train if exclude_seen else None)
    result[f"coverage@{k}"] = coverage_at_k(recommended, test.n_items, k)
    result[f"popularity@{k}"] = mean_popularity_at_k(recommended, train, k)
    result["n_eval_users"] = int(has_relevant.sum())
    return result


def segment_recall(recommended: np.ndarray, users: np.ndarray, train: Interactions, test: Interactions,
                   k: int, item_mask: np.ndarray, exclude_seen: bool = True) -> float:
    """recall@k counting only relevant items inside a segment (e.g. cold items), over users who have one."""
    relevant = relevance_matrix(test, users, train if exclude_seen else None)
    relevant = relevant.multiply(item_mask[None, :].astype(np.float32)).tocsr()
    relevant.eliminate_zeros()
    recall = per_user_metrics(recommended, relevant, k)["recall"]
    recall = recall[~np.isnan(recall)]
    return float(recall.mean()) if len(recall) else float("nan")


def evaluate(model, train: Interactions, test: Interactions, k: int = 10, exclude_seen: bool = True,
             users: np.ndarray | None = None) -> dict[str, float]:
    """Fit-free evaluation of a fitted model: full-catalogue top-k for every test user, then metrics."""
    users = users_with_test_events(test) if users is None else np.asarray(users)
    recommended = model.recommend(users, k=k, exclude_seen=exclude_seen)
    return evaluate_lists(recommended, users, train, test, k, exclude_seen)


def per_user_scores(model, train: Interactions, test: Interactions, metric: str = "ndcg", k: int = 10,
                    users: np.ndarray | None = None, exclude_seen: bool = True) -> np.ndarray:
    """One metric per test user with something to find, in user order: the paired input of
    `lineage.evidence.compare`. Two models scored with the same train, test and users give arrays
    over the same users (metric: precision, recall, ndcg or map)."""
    users = users_with_test_events(test) if users is None else np.asarray(users)
    relevant = relevance_matrix(test, users, train if exclude_seen else None)
    values = per_user_metrics(model.recommend(users, k=k, exclude_seen=exclude_seen), relevant, k)[metric]
    return values[np.diff(relevant.indptr) > 0]
