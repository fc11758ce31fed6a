"""Fitted towers: the one object every caller of a trained two-tower model shares.

    towers = fit_towers(train, config, side=side)          # validation, early stopping, refit
    towers.item_vectors()                                  # (n_items, D): the index retrieval searches
    towers.user_vectors(users, at_time)                    # (n, D): users with their inputs as of a moment
    towers.embed_profile(items=[3, 17], search_words=["space"])  # (D,): a new user known only by these
    towers.user_id_embeddings(users)                       # (n, E): rows of the id table (P[u] of MF)

    from twotower_mini import checkpoint                   # the file format sits on top of this module
    checkpoint.save("runs/world.safetensors", towers, data_spec, train)
    towers = checkpoint.restore_towers(checkpoint.load("runs/world.safetensors"), train, side=side)

A fitted two-tower model is more than its weights. It is also the feature builder its inputs come
from, and three rules for what the towers never saw in training:

- an **unknown user** (no event in the log the towers were fitted on) is embedded from whatever
  else is known (side features, searches), or as the tower's "average user" when nothing is;
- an **unknown item** (no event in that log) keeps the "unknown" id: its id row was never trained,
  so it is embedded from its side features alone;
- an item or user **first seen after the fitted part** (towers fitted on an early part of train,
  served on all of it) stays unknown the same way, while histories and counts run to the end of train
  (`FeatureBuilder.extended_to`).

`fit_towers` is the only place these are decided, and `checkpoint.restore_towers` rebuilds exactly
the same object from a checkpoint and the same training data, so the recommender, the two-stage
pipeline, the ranker's features, the data-parallel launcher and the checkpoint all serve one thing.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from lineage.data import Interactions
from lineage.splits import validation_split
from twotower_mini.features import UNKNOWN, FeatureBuilder, SideLog
from twotower_mini.config import TwoTowerConfig
from twotower_mini.towers import EnsembleModel, TwoTowerModel, as_tensors, item_vectors, user_vectors
from twotower_mini.train import DataParallel, train_towers

__all__ = ["FittedTowers", "fit_towers", "build_towers"]


@dataclass
class FittedTowers:
    """Trained towers, the features they serve with, and the training record."""

    config: TwoTowerConfig  # how they were built and trained
    model: TwoTowerModel | EnsembleModel  # the towers, in eval mode
    features: FeatureBuilder  # serving inputs: histories and counts to the end of the training log
    history: list[dict] = field(default_factory=list)  # one row per epoch of the validation run
    best_epoch: int | None = None  # the epoch validation chose (None without validation)
    refit_history: list[dict] = field(default_factory=list)  # the refit on all of train, when there is one
    validation_users: np.ndarray | None = None  # the users validation scored after every epoch

    @property
    def now(self) -> float:
        """The serving moment: just after the last training event."""
        return self.features.now

    @property
    def scale(self) -> float:
        """The factor on every dot product: 1 / the loss's temperature with normalised vectors, else 1
        (config.logit_scale). Rankings do not depend on it; softmax-based uses of the scores (a
        Plackett-Luce feed policy) see the logits the towers were trained on."""
        return self.config.scale

    def item_vectors(self, at_time: float | None = None) -> np.ndarray:
        """(n_items, D) item vectors with item inputs (counts, age) as of `at_time` (default: now)."""
        return item_vectors(self.model, self.features, at_time)

    def user_vectors(self, users, at_time=None) -> np.ndarray:
        """(len(users), D) user vectors with inputs as of `at_time`: one moment or one per user (default: now).
        With config.history_weight w < 1, each is the no-history vector plus w times what the inputs add."""
        vectors = user_vectors(self.model, self.features, users, self.now if at_time is None else at_time)
        weight = self.config.history_weight
        if weight == 1.0:
            return vectors
        constant = self.new_user_vector()  # (D,)
        return (constant + weight * (vectors - constant)).astype(vectors.dtype)

    def new_user_vector(self) -> np.ndarray:
        """(D,) the vector of a user we know nothing about: every input empty (padding or zeros)."""
        blank = {name: np.zeros_like(values) for name, values in
                 self.features.user_features(np.array([0]), self.now).items()}
        with torch.no_grad():
            return self.model.user_tower(as_tensors(blank)).numpy()[0]

    def embed_profile(self, items=(), search_words=()) -> np.ndarray:
        """(D,) the vector of a new user known only by these inputs, every other input empty: `items`
        (item indices) as the history, each weighted 1 / len(items) and all liked; `search_words` (a
        list of words) as the searches (a word the towers never met is "unknown"). A profile has no
        times, so there is no recency: what a user picks in an onboarding screen, or types."""
        profile = {name: np.zeros_like(values) for name, values in  # every input empty: padding or zeros
                   self.features.user_features(np.array([0]), self.now).items()}
        items = np.asarray(items, dtype=np.int64)
        if items.size and not ((items >= 0) & (items < self.features.train.n_items)).all():
            raise ValueError(f"embed_profile: item indices must lie in [0, {self.features.train.n_items})")
        if items.size:
            rows = (items + 2)[None, :]  # history rows: item index + 2 (0 = padding, 1 = unknown)
            for name in ("history", "liked_history"):
                if name in profile:
                    profile[name] = rows
            if "history" in profile:
                profile["history_weights"] = np.full((1, items.size), 1.0 / items.size, dtype=np.float32)
        if len(search_words):
            if "search_words" not in profile:
                raise ValueError("embed_profile: these towers have no search_words input")
            vocabulary = self.features.search_vocab.index
            profile["search_words"] = np.array([[vocabulary.get(word, UNKNOWN) for word in search_words]])
        with torch.no_grad():
            return self.model.user_tower(as_tensors(profile)).numpy()[0]

    def user_id_embeddings(self, users) -> np.ndarray:
        """(len(users), E) the rows of the user tower's id table (`user_id`) for these users: P[u] of
        matrix factorisation (a user without training events gets the shared "unknown" row)."""
        return self._id_table("user_tower", "user_id")[self.features.user_id_rows(users)]

    def item_id_embeddings(self, items) -> np.ndarray:
        """(len(items), E) the rows of the item tower's id table (`item_id`) for these items: Q[i] of
        matrix factorisation (an item without training events gets the shared "unknown" row)."""
        return self._id_table("item_tower", "item_id")[self.features.item_id_rows(items)]

    def _id_table(self, tower: str, field: str) -> np.ndarray:
        bags = getattr(getattr(self.model, tower), "bags", {})
        if field not in bags:
            raise ValueError(f"these towers have no {field} table in the {tower} (an ensemble, or {field} dropped)")
        return bags[field].weight.detach().numpy()

    def extended_to(self, log: Interactions) -> "FittedTowers":
        """The same towers served with inputs from a longer log (e.g. the test period as it happens):
        histories and counts as of any moment of `log`, with the id rules they were trained with."""
        return replace(self, features=self.features.extended_to(log))


def build_towers(features: FeatureBuilder, config: TwoTowerConfig, members: int = 1):
    """Fresh towers for these features: one TwoTowerModel, or an EnsembleModel of `members`, member k
    initialised from training seed + k (the initial weights depend on the seed alone)."""
    models = []
    for k in range(members):
        torch.manual_seed(config.training.seed + k)
        models.append(TwoTowerModel(features.user_fields(), features.item_fields(), config.towers))
    return models[0] if members == 1 else EnsembleModel(models)


def fit_part(train: Interactions, config: TwoTowerConfig) -> Interactions:
    """The part of train the towers are fitted on: all of it, or (refit=False with validation) the
    part left after carving validation out."""
    if config.validation_fraction > 0 and not config.refit:
        return validation_split(train, config.validation_protocol, config.validation_fraction,
                                config.training.seed).train
    return train


def serving_features(train: Interactions, config: TwoTowerConfig, side: SideLog | None) -> FeatureBuilder:
    """The features fitted towers serve with: on the fitted part, extended to all of train when the
    towers were fitted on a part and config.serve_on_full_train (the id rules of the fitted part kept)."""
    part = fit_part(train, config)
    features = FeatureBuilder(part, config.features, side)
    if part is not train and config.serve_on_full_train:
        features = features.extended_to(train)
    return features


def fit_towers(train: Interactions, config: TwoTowerConfig, side: SideLog | None = None,
               group: DataParallel | None = None) -> FittedTowers:
    """Fit two towers on `train`: early-stop on a validation part carved from it (same protocol as the
    evaluation, never test), then, with config.refit, train again on all of train for the chosen epochs."""
    group = group or DataParallel()
    if config.validation_fraction <= 0:
        return _train_on_all(train, config, side, config.training.epochs, group)
    if config.ensemble > 1 and not config.refit:
        raise ValueError("TwoTowerConfig.ensemble > 1 needs refit=True (early stopping runs one member)")
    inner = validation_split(train, config.validation_protocol, config.validation_fraction, config.training.seed)
    features = FeatureBuilder(inner.train, config.features, side)
    validation = inner.test if config.early_stopping else None
    run = train_towers(build_towers(features, config), features, config.training, validation=validation, side=side,
                       group=group)
    if not config.refit:
        serving = features.extended_to(train) if config.serve_on_full_train else features
        return FittedTowers(config, run.model, serving, run.history, run.best_epoch,
                            validation_users=run.validation_users)
    fitted = _train_on_all(train, config, side, run.best_epoch, group)
    return replace(fitted, history=run.history, best_epoch=run.best_epoch, validation_users=run.validation_users)


def _train_on_all(train: Interactions, config: TwoTowerConfig, side: SideLog | None, epochs: int,
                  group: DataParallel) -> FittedTowers:
    """Train config.ensemble tower pairs on all of train for `epochs` (one after another)."""
    features = FeatureBuilder(train, config.features, side)
    model = build_towers(features, config, config.ensemble)
    history = []
    for k, member in enumerate(model.members if config.ensemble > 1 else [model]):
        run = train_towers(member, features, replace(config.training, seed=config.training.seed + k), side=side,
                           epochs=epochs, group=group)
        history += [dict(row, member=k) for row in run.history] if config.ensemble > 1 else run.history
    return FittedTowers(config, model.eval(), features, refit_history=history)
