"""The small interface every recommender in the suite shares (after benfred/implicit's model API).

    model = SomeModel(config).fit(train)              # train: lineage.data.Interactions
    scores = model.score(users)                       # (len(users), n_items) full-catalogue scores
    top = model.recommend(users, k=10)                # (len(users), k) item indices, best first
    pair_scores = model.score_pairs(users, items)     # (n,) scores of given (user, item) pairs

A subclass implements `_fit` and `score`. `recommend` is shared: it scores the whole catalogue in
chunks of users, masks the items each user already has in the training data (the switch
`exclude_seen`) and, for models that cannot score them, items with no training events at all
(cold items), and keeps the k best with a partial sort. Slots that cannot be filled (a user
who has seen almost everything) hold -1.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lineage.data import Interactions


def mask_items(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """In place: scores[r, j] = -inf wherever rows[r, j] is stored. scores: (n, m); rows: (n, m) sparse."""
    scores[np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr)), rows.indices] = -np.inf


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries of each row, best first. scores: (n, m) -> (n, min(k, m)).

    Entries equal to -inf are never returned; their slots hold -1."""
    n, m = scores.shape
    k = min(k, m)
    if k <= 0:
        return np.empty((n, 0), dtype=np.int64)
    if k < m:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (n, k) unordered top-k
    else:
        part = np.tile(np.arange(m), (n, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    best[~np.isfinite(best_scores) & (best_scores < 0)] = -1
    return best.astype(np.int64)


class Recommender:
    """Base class: fit on training interactions, score users against the whole catalogue."""

    name = "base"
    TUNED: dict = {}  # dataset name -> config overrides chosen on a validation split (see lineage.tuning)
    # Models that learn one vector (or one count) per item from interactions know nothing about an
    # item without training events: recommend() never returns such "cold" items for them. Models
    # that embed items from their features (the two-tower) set this to True.
    scores_cold_items = False

    @classmethod
    def tuned(cls, dataset: str) -> "Recommender":
        """The model with the defaults tuned for `dataset` ("world", "ml-100k", ...), or the plain
        defaults when that dataset was never tuned."""
        return cls(**({"config": cls.config_class(**cls.TUNED[dataset])} if dataset in cls.TUNED else {}))

    def fit(self, train: Interactions) -> "Recommender":
        self.n_users_ = train.n_users
        self.n_items_ = train.n_items
        self.seen_ = train.to_csr(binary=True)  # (n_users, n_items) what each user already has
        self.known_items_ = train.item_counts() > 0  # (n_items,) items with at least one training event
        self._fit(train)
        return self

    def _fit(self, train: Interactions) -> None:
        raise NotImplementedError

    def score(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32 scores; higher is better."""
        raise NotImplementedError

    def score_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(n,) scores for given (user, item) pairs. Subclasses may do this without full scoring."""
        users = np.asarray(users)
        items = np.asarray(items)
        out = np.empty(len(users), dtype=np.float32)
        for start in range(0, len(users), 1024):
            u = users[start:start + 1024]
            out[start:start + 1024] = self.score(u)[np.arange(len(u)), items[start:start + 1024]]
        return out

    def recommend(self, users, k: int = 10, exclude_seen: bool = True,
                  exclude: sp.csr_matrix | None = None, chunk_size: int = 2048) -> np.ndarray:
        """(len(users), k) item indices, best first, -1 where no item is left.

        exclude_seen: drop items the user has in the training data.
        exclude: an extra (n_users, n_items) matrix of items to drop (e.g. validation items)."""
        users = np.asarray(users, dtype=np.int64)
        out = np.empty((len(users), k), dtype=np.int64)
        for start in range(0, len(users), chunk_size):
            chunk = users[start:start + chunk_size]
            scores = np.array(self.score(chunk), dtype=np.float32, copy=True)  # (c, n_items)
            if not self.scores_cold_items:
                scores[:, ~self.known_items_] = -np.inf  # no vector, no count: the model cannot rank them
            for mask in ([self.seen_] if exclude_seen else []) + ([exclude] if exclude is not None else []):
                mask_items(scores, mask[chunk])
            best = top_k(scores, k)
            out[start:start + len(chunk), :best.shape[1]] = best
            out[start:start + len(chunk), best.shape[1]:] = -1
        return out
