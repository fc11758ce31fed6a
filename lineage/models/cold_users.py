"""What to recommend to a user with no training history: the cold-user policy.

On a split by time many test users have no history at all (on MovieLens 100K with a global time
cut, most of them). A model that learns from interactions has nothing to say to them, and a real
system does not show them an empty page: it falls back to a non-personal list. The policy is
applied the same way to every model, so a leaderboard compares models on the users they can
serve and says how the others were served:

    none               each model answers alone: models that cannot score a user without history
                       return an empty list (all -1), which scores zero
    popularity         those users get the all-time most popular items
    recent-popularity  those users get what was popular in a recent window before the end of
                       training (`lineage.models.popularity.RecentPopularity`)

Models that can score users without history (popularity itself; the two-tower, which embeds a
user from features) keep their own answer under every policy.

    model = ColdUserFallback(ItemKNN(), Popularity()).fit(train)
    model.recommend(users, k=10)      # item-kNN for users with history, popularity for the rest
"""
from __future__ import annotations

import numpy as np

from lineage.data import Interactions
from lineage.models.base import Recommender

COLD_USER_POLICIES = ("none", "popularity", "recent-popularity")
DEFAULT_COLD_USER_POLICY = "popularity"  # what a deployed system does: a non-personal fallback


class ColdUserFallback(Recommender):
    """`model` for users with training history; `fallback` for users without (when `model` cannot score them)."""

    scores_cold_users = True

    def __init__(self, model: Recommender, fallback: Recommender):
        self.model = model
        self.fallback = fallback
        self.name = model.name
        self.scores_cold_items = model.scores_cold_items

    def fit(self, train: Interactions) -> "ColdUserFallback":
        self.model.fit(train)
        self.fallback.fit(train)
        super().fit(train)
        return self

    def _fit(self, train: Interactions) -> None:
        pass

    def score(self, users: np.ndarray) -> np.ndarray:
        return self.model.score(users)

    def recommend(self, users, k: int = 10, exclude_seen: bool = True, exclude=None, chunk_size: int = 2048) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        lists = self.model.recommend(users, k, exclude_seen, exclude, chunk_size)
        if self.model.scores_cold_users:
            return lists
        cold = ~self.known_users_[users]
        if cold.any():
            lists[cold] = self.fallback.recommend(users[cold], k, exclude_seen, exclude, chunk_size)
        return lists


def with_cold_user_policy(model: Recommender, policy: str, dataset: str = "", protocol: str | None = None) -> Recommender:
    """`model` wrapped by the cold-user `policy` (one of COLD_USER_POLICIES), the fallback tuned for
    `dataset` and `protocol`; unchanged for "none"."""
    if policy not in COLD_USER_POLICIES:
        raise ValueError(f"unknown cold-user policy {policy!r}; expected one of {', '.join(COLD_USER_POLICIES)}")
    if policy == "none" or model.scores_cold_users:
        return model
    from lineage.models.registry import make_model
    return ColdUserFallback(model, make_model(policy, dataset, protocol))
