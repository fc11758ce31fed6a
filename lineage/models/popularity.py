"""Popularity: recommend what most people took. The first baseline every model must beat.

Two flavours: all-time counts, and counts in a recent window before the end of training (what
is popular *now*, which matters when the catalogue changes, as in the content-app world).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lineage.data import Interactions
from lineage.models.base import Recommender


@dataclass
class PopularityConfig:
    window_days: float | None = None  # None: all-time counts; else count only the last N days of training
    binary: bool = True  # count each (user, item) pair once, however often it repeats


class Popularity(Recommender):
    """Scores every item by its (recent) number of users; the same list for everyone."""

    name = "popularity"
    config_class = PopularityConfig

    def __init__(self, config: PopularityConfig | None = None):
        self.config = config or PopularityConfig()

    def _fit(self, train: Interactions) -> None:
        events = train
        if self.config.window_days is not None and len(train):
            start = train.times.max() - self.config.window_days * 86400.0
            events = train.select(train.times >= start)
        if self.config.binary:
            counts = np.asarray(events.to_csr(binary=True).sum(axis=0)).ravel()
        else:
            counts = events.item_counts()
        # ties broken by all-time count so the order is stable and sensible
        all_time = train.item_counts()
        self.item_scores_ = (counts + all_time / (all_time.max() + 1.0)).astype(np.float32)  # (n_items,)

    def score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), self.n_items_))
