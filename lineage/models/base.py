"""The small interface every recommender in the suite shares (after benfred/implicit's model API).

    model = SomeModel(config).fit(train)              # train: lineage.data.Interactions
    scores = model.score(users)                       # (len(users), n_items) full-catalogue scores
    top = model.recommend(users, k=10)                # (len(users), k) item indices, best first

A subclass implements `_fit` and `score`. `recommend` is shared: it scores the whole catalogue in
chunks of users, masks the items each user already has in the training data (the switch
`exclude_seen`) and, for models that cannot score them, items with no training events at all
(cold items), and keeps the k best (ties broken by item index, `lineage.topk`). Slots that cannot
be filled (a user who has seen almost everything) hold -1.

Users without training history. A model that learns one vector or one row per user from
interactions (kNN, ALS, BPR, graph walks) knows nothing about such a user: every score would be
equal, and any list would be an accident of the tie order. Such models (`scores_cold_users =
False`) return an empty list (all -1) for them, a defined answer that scores zero. What a deployed
system does instead, falling back to a non-personal list, is `lineage.models.cold_users`, applied
the same way to every model.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lineage.data import Interactions
from lineage.topk import mask_items, top_k  # noqa: F401  (re-exported: models use them)


class Recommender:
    """Base class: fit on training interactions, score users against the whole catalogue."""

    name = "base"
    # dataset name (or "dataset/protocol", which wins for that protocol) -> config overrides chosen
    # on a validation split (see lineage.tuning)
    TUNED: dict = {}
    # Models that learn one vector (or one count) per item from interactions know nothing about an
    # item without training events: recommend() never returns such "cold" items for them. Models
    # that embed items from their features (the two-tower) set this to True.
    scores_cold_items = False
    # Likewise for users: only models that can score a user without training events (popularity,
    # which is the same for everyone; the two-tower, from the user's features) set this to True.
    scores_cold_users = False

    @classmethod
    def tuned(cls, dataset: str, protocol: str | None = None) -> "Recommender":
        """The model with the defaults tuned for `dataset` ("world", "ml-100k", ...) under `protocol`
        ("ml-100k/temporal" first, then "ml-100k"), or the plain defaults when it was never tuned."""
        for key in ([f"{dataset}/{protocol}"] if protocol else []) + [dataset]:
            if key in cls.TUNED:
                return cls(config=cls.config_class(**cls.TUNED[key]))
        return cls()

    def fit(self, train: Interactions) -> "Recommender":
        self.remember(train)
        self._fit(train)
        return self

    def remember(self, train: Interactions) -> None:
        """What every model keeps of its training log to serve: sizes, seen items, known items and users
        (a model restored from a checkpoint calls this instead of fitting)."""
        self.n_users_ = train.n_users
        self.n_items_ = train.n_items
        self.seen_ = train.to_csr(binary=True)  # (n_users, n_items) what each user already has
        self.known_items_ = train.item_counts() > 0  # (n_items,) items with at least one training event
        self.known_users_ = train.user_counts() > 0  # (n_users,) users with at least one training event

    def _fit(self, train: Interactions) -> None:
        raise NotImplementedError

    def score(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float32 scores; higher is better."""
        raise NotImplementedError

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
            if not self.scores_cold_users:
                best[~self.known_users_[chunk]] = -1  # no history, no personal list: an empty one
            out[start:start + len(chunk), :best.shape[1]] = best
            out[start:start + len(chunk), best.shape[1]:] = -1
        return out
