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

import reprlib
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from lineage.data import Interactions
from lineage.models.base import Recommender, top_k
from lineage.splits import PROTOCOLS, validation_split
from twotower_mini.features import FeatureBuilder, FeatureConfig, SideLog, check_range
from twotower_mini.towers import EnsembleModel, TowerConfig, TwoTowerModel
from twotower_mini.train import TrainConfig, as_tensors, item_vectors, train_towers, user_vectors


@dataclass
class TwoTowerConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)  # what each tower sees
    towers: TowerConfig = field(default_factory=TowerConfig)  # how wide and deep the towers are
    training: TrainConfig = field(default_factory=TrainConfig)  # loss, negatives, schedule
    validation_protocol: str = "temporal"  # how to carve validation out of train (match the test protocol)
    validation_fraction: float = 0.1  # share of train used for early stopping
    refit: bool = True  # after early stopping, train again on all of train for the chosen epochs
    serve_at: str = "now"  # the moment each user is served: "now" (the end of training, as a live system) or
    #   "last-event" (just after the user's own last training event, with item inputs as of then: for
    #   leave-last-out, where each user's test event follows their own history, not the global cut)
    serve_on_full_train: bool = True  # refit=False: serve with features built on all of train (histories
    #   and counts up to its end, like every other model), not only on the part the towers were fitted on
    ensemble: int = 1  # K tower pairs trained independently (training seeds seed, seed+1, ...) and served as one,
    #   their vectors concatenated (towers.EnsembleModel: still one dot product); K times the fit time

    def __post_init__(self):
        if self.serve_at not in ("now", "last-event"):
            raise ValueError(f"TwoTowerConfig.serve_at: expected 'now' or 'last-event', got {self.serve_at!r}")
        if self.ensemble < 1:
            raise ValueError(f"TwoTowerConfig.ensemble: expected at least 1 tower pair, got {self.ensemble}")
        check_range("TwoTowerConfig", "ensemble", self.ensemble, 1, 64)
        check_range("TwoTowerConfig", "validation_fraction", self.validation_fraction, 0, 1, high_open=True)
        if self.validation_protocol not in PROTOCOLS:
            raise ValueError(f"TwoTowerConfig.validation_protocol: expected one of {', '.join(PROTOCOLS)}, "
                             f"got {reprlib.repr(self.validation_protocol)}")


class TwoTowerRecommender(Recommender):
    name = "twotower"
    config_class = TwoTowerConfig
    scores_cold_items = True  # items are embedded from their features, trained or not
    scores_cold_users = True  # a user without history is embedded from whatever else is known

    def __init__(self, config: TwoTowerConfig | None = None, side: SideLog | None = None):
        self.config = config or TwoTowerConfig()
        self.side = side

    def _build(self, train: Interactions, members: int | None = None) -> tuple[FeatureBuilder, TwoTowerModel]:
        """Features on `train` and fresh towers: one TwoTowerModel, or an EnsembleModel of `members`
        (default: config.ensemble) of them, member k initialised from training seed + k."""
        features = FeatureBuilder(train, self.config.features, self.side)
        models = []
        for k in range(members or self.config.ensemble):
            torch.manual_seed(self.config.training.seed + k)  # the initial weights depend on the seed alone
            models.append(TwoTowerModel(features.user_fields(), features.item_fields(), self.config.towers))
        return features, (models[0] if len(models) == 1 else EnsembleModel(models))

    def _fit(self, train: Interactions) -> None:
        cfg = self.config
        epochs = cfg.training.epochs
        self.history_ = []
        if cfg.validation_fraction > 0:
            if cfg.ensemble > 1 and not cfg.refit:
                raise ValueError("TwoTowerConfig.ensemble > 1 needs refit=True (early stopping runs one member)")
            inner = validation_split(train, cfg.validation_protocol, cfg.validation_fraction, cfg.training.seed)
            features, model = self._build(inner.train, members=1)
            run = train_towers(model, features, cfg.training, validation=inner.test, side=self.side)
            self.history_ = run.history
            epochs = self.best_epoch_ = run.best_epoch
            if not cfg.refit:
                self.fit_features_, self.model_ = features, run.model
                self.features_ = self._serving_features(train, features) if cfg.serve_on_full_train else features
                self._export()
                return
        features, model = self._build(train)
        self.refit_history_ = []
        for k, member in enumerate(model.members if cfg.ensemble > 1 else [model]):  # one after another
            run = train_towers(member, features, replace(cfg.training, seed=cfg.training.seed + k), side=self.side,
                               epochs=epochs)
            self.refit_history_ += [dict(row, member=k) for row in run.history] if cfg.ensemble > 1 else run.history
        self.model_, self.features_ = model.eval(), features
        self._export()

    def _serving_features(self, train: Interactions, fitted: FeatureBuilder) -> FeatureBuilder:
        """Features as of the end of `train` for towers fitted on an earlier part of it. Ids the towers
        never trained on (users and items first seen after the fitted part) stay "unknown", as in training."""
        serving = FeatureBuilder(train, self.config.features, self.side)
        serving.item_counts = fitted.item_counts  # the id-embedding rule: an id never trained is "unknown"
        serving.user_has_events = fitted.user_has_events
        serving.count_windows = fitted.count_windows  # windows given as shares of a period: the fitted one's
        return serving

    def _export(self) -> None:
        """Item vectors as of the end of training: the index that retrieval searches."""
        self.refresh_items()

    def refresh_items(self, at_time: float | None = None) -> None:
        """Recompute the item index with item inputs (recent counts, age) as of `at_time`; default: now,
        the end of training. Dynamic inputs are only as fresh as the last refresh: an index built at an
        earlier moment keeps that moment's counts."""
        self.item_vectors_ = item_vectors(self.model_, self.features_, at_time)  # (n_items, D)

    def serving_time(self, users) -> np.ndarray:
        """(len(users),) when each user is served (see TwoTowerConfig.serve_at)."""
        users = np.asarray(users, dtype=np.int64)
        now = np.full(len(users), self.features_.now)
        if self.config.serve_at == "now":
            return now
        last = np.full(self.features_.train.n_users, -np.inf)
        np.maximum.at(last, self.features_.train.users, self.features_.train.times)
        return np.where(np.isfinite(last[users]), last[users] + 1.0, now)  # 1 s after it (inputs are "< t")

    def user_vectors(self, users) -> np.ndarray:
        return user_vectors(self.model_, self.features_, users, self.serving_time(users))  # (len(users), D)

    def new_user_vector(self) -> np.ndarray:
        """(D,) the vector of a user we know nothing about: every input empty (padding or zeros)."""
        blank = {name: np.zeros_like(values) for name, values in
                 self.features_.user_features(np.array([0]), self.features_.now).items()}
        with torch.no_grad():
            return self.model_.user_tower(as_tensors(blank)).numpy()[0]

    def recommend_new_user(self, k: int = 10) -> np.ndarray:
        """(k,) items for a user with no history and no known attributes."""
        scores = self.item_vectors_ @ self.new_user_vector() * self.model_.scale
        return top_k(scores[None, :], k)[0]

    def score(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        vectors = self.user_vectors(users)  # (n, D)
        if self.config.serve_at == "now":
            return (vectors @ self.item_vectors_.T) * self.model_.scale
        times = self.serving_time(users)
        scores = np.empty((len(users), self.item_vectors_.shape[0]), dtype=np.float32)  # (n, n_items)
        for moment in np.unique(times):  # the catalogue as of each user's moment
            rows = np.flatnonzero(times == moment)
            scores[rows] = vectors[rows] @ item_vectors(self.model_, self.features_, moment).T * self.model_.scale
        return scores
