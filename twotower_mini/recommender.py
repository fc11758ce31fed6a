"""The two-tower model behind the same interface as every classic model (`lineage.models.base`).

    model = TwoTowerRecommender(TwoTowerConfig()).fit(train)
    model.recommend(users, k=10)

`fit` builds point-in-time features from the training log, carves a validation part out of it
(same protocol as the evaluation, never the test part) to early-stop, and, by default, trains
again on all of train for the number of epochs that validation chose. `score` embeds users with
their features as of the end of training and takes dot products with every item's vector.

Fallbacks by design: a user with no history is embedded from whatever else is known (region,
languages, declared genres, searches; or nothing, which gives the tower's "average user"); an item
with no training events is embedded from its side features (with its id embedding untrained).
"""
from __future__ import annotations

import numpy as np

from lineage.data import Interactions
from lineage.models.base import Recommender, top_k
from twotower_mini.config import TwoTowerConfig
from twotower_mini.features import SideLog
from twotower_mini.fitted import FittedTowers, fit_towers

__all__ = ["TwoTowerRecommender", "TwoTowerConfig"]


class TwoTowerRecommender(Recommender):
    name = "twotower"
    config_class = TwoTowerConfig
    scores_cold_items = True  # items are embedded from their features, trained or not
    scores_cold_users = True  # a user without history is embedded from whatever else is known

    def __init__(self, config: TwoTowerConfig | None = None, side: SideLog | None = None):
        self.config = config or TwoTowerConfig()
        self.side = side

    @classmethod
    def serving(cls, towers: FittedTowers, train: Interactions, side: SideLog | None = None) -> "TwoTowerRecommender":
        """A recommender serving towers fitted (or restored) on `train`, without training anything."""
        recommender = cls(towers.config, side)
        recommender.remember(train)
        return recommender.use(towers)

    def _fit(self, train: Interactions) -> None:
        self.selection_ = None
        config = self.config
        if config.select_on_validation:  # choose the key settings on validation carved by time, then fit
            from twotower_mini.selection import TimeOrderedSearch, select_time_ordered

            self.selection_ = select_time_ordered(train, config, TimeOrderedSearch.for_protocol(config.validation_protocol),
                                                  self.side)
            config = self.selection_.config
        self.use(fit_towers(train, config, self.side))

    def use(self, towers: FittedTowers) -> "TwoTowerRecommender":
        """Serve these fitted towers (from fit_towers, or checkpoint.restore_towers): the recommender's whole state."""
        self.towers_, self.config = towers, towers.config
        self.history_, self.best_epoch_, self.refit_history_ = towers.history, towers.best_epoch, towers.refit_history
        self.refresh_items()
        self.recent_popularity_ = None
        if self.config.recent_popularity_for:  # segments that validation gave to recent popularity
            from lineage.models.popularity import RecentPopularity

            self.recent_popularity_ = RecentPopularity().fit(towers.features.train)
        return self

    @property
    def model_(self):
        """The trained towers (torch modules), in eval mode."""
        return self.towers_.model

    @property
    def features_(self):
        """The feature builder the towers serve with."""
        return self.towers_.features

    def refresh_items(self, at_time: float | None = None) -> None:
        """Recompute the item index with item inputs (recent counts, age) as of `at_time`; default: now,
        the end of training. Dynamic inputs are only as fresh as the last refresh: an index built at an
        earlier moment keeps that moment's counts."""
        self.item_vectors_ = self.towers_.item_vectors(at_time)  # (n_items, D)

    def serving_time(self, users) -> np.ndarray:
        """(len(users),) when each user is served (see TwoTowerConfig.serve_at)."""
        users = np.asarray(users, dtype=np.int64)
        now = np.full(len(users), self.towers_.now)
        if self.config.serve_at == "now":
            return now
        log = self.features_.train
        last = np.full(log.n_users, -np.inf)
        np.maximum.at(last, log.users, log.times)
        return np.where(np.isfinite(last[users]), last[users] + 1.0, now)  # 1 s after it (inputs are "< t")

    def user_vectors(self, users) -> np.ndarray:
        return self.towers_.user_vectors(users, self.serving_time(users))  # (len(users), D)

    def new_user_vector(self) -> np.ndarray:
        """(D,) the vector of a user we know nothing about: every input empty (padding or zeros)."""
        return self.towers_.new_user_vector()

    def embed_profile(self, items=(), search_words=()) -> np.ndarray:
        """(D,) the vector of a new user known only by these items (as a history) and search words."""
        return self.towers_.embed_profile(items, search_words)

    def user_id_embeddings(self, users) -> np.ndarray:
        """(len(users), E) the users' rows of the user tower's id table: P[u] of matrix factorisation."""
        return self.towers_.user_id_embeddings(users)

    def item_id_embeddings(self, items) -> np.ndarray:
        """(len(items), E) the items' rows of the item tower's id table: Q[i] of matrix factorisation."""
        return self.towers_.item_id_embeddings(items)

    def recommend_new_user(self, k: int = 10) -> np.ndarray:
        """(k,) items for a user with no history and no known attributes."""
        scores = self.item_vectors_ @ self.new_user_vector() * self.towers_.scale
        return top_k(scores[None, :], k)[0]

    def score(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        vectors = self.user_vectors(users)  # (n, D)
        if self.config.serve_at == "now":
            scores = (vectors @ self.item_vectors_.T) * self.towers_.scale
        else:
            times = self.serving_time(users)
            scores = np.empty((len(users), self.item_vectors_.shape[0]), dtype=np.float32)  # (n, n_items)
            for moment in np.unique(times):  # the catalogue as of each user's moment
                rows = np.flatnonzero(times == moment)
                scores[rows] = vectors[rows] @ self.towers_.item_vectors(moment).T * self.towers_.scale
        return self._recent_popularity_where_chosen(users, scores)

    def _recent_popularity_where_chosen(self, users: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Rows of users in a segment of config.recent_popularity_for get recent popularity's scores."""
        if self.recent_popularity_ is None:
            return scores
        has_history = self.features_.train.user_counts()[users] > 0  # (n,)
        in_segment = np.zeros(len(users), dtype=bool)
        for segment in self.config.recent_popularity_for:
            in_segment |= has_history if segment == "with_history" else ~has_history
        if in_segment.any():
            scores = np.array(scores, dtype=np.float32, copy=True)
            scores[in_segment] = self.recent_popularity_.score(users[in_segment])
        return scores
