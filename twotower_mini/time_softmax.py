"""A softmax over the whole catalogue *as it was* at each training event (TrainConfig(loss=TimeSoftmax())).

On data split by time, what a user picks next depends on what is popular and new at that moment.
The item tower sees this through dynamic inputs (views in recent windows, the item's age: see
`twotower_mini.features`), and the user tower through a history weighted by recency. For an
honest loss, every example (user u, item i, time t) must compare i with every other item *as of
t*: the negatives' counts and ages at t, not at the end of training (that would let the towers
tell the positive apart by its timestamp, and teach nothing about "popular now").

Scoring every item at every example's time is expensive in general, but cheap for an additive
item tower (TowerConfig(linear_only=True, l2_normalize=False)):

    item vector  v_i(t) = s_i + P x_i(t)        s_i: id and static bags (D,); x_i(t): numeric inputs (F,)
    score        u . v_i(t) = u . s_i + (P^T u) . x_i(t)

so one (n_items, D) static matrix serves the whole batch, and the dynamic part is a (B, F) x (B,
n_items, F) product. The numeric inputs are precomputed on a grid of moments ("snapshots", one per
`TimeSoftmax.snapshot_days`); an example at time t uses the latest snapshot at or before t, so every input stays
strictly point-in-time (at most one grid step stale, which serving also is: the index is built at
the cut and used on the days after). The user's own earlier items are removed from the softmax,
as the evaluation removes them from the lists. The towers are not normalised, so there is no
temperature: the scores are the dot products themselves.

This is the exact ("full") softmax of Covington et al. (2016) with "example age" features, in the
log-linear form of a factorisation model with time-dependent item biases (Koren 2009, "Collaborative
filtering with temporal dynamics").
"""
from __future__ import annotations

import numpy as np
import torch

from lineage.data import Interactions
from twotower_mini.batches import drop_history, history_offset
from twotower_mini.config import TimeSoftmax, TrainConfig
from twotower_mini.towers import as_tensors
from twotower_mini.features import DAY, PAD, FeatureBuilder

MAX_SNAPSHOT_VALUES = 50_000_000  # snapshots x items x numeric inputs kept in memory (200 MB of float32)


class TimeSoftmaxLoss:
    """The loss of one batch of (user, item, time) events: softmax over the catalogue as of each event.

    Same call signature as `batches.BatchLoss`; `examples` are rows of the training log."""

    def __init__(self, features: FeatureBuilder, config: TrainConfig, side=None, train_on: Interactions | None = None):
        if not isinstance(config.loss, TimeSoftmax):
            raise ValueError(f"TimeSoftmaxLoss scores TimeSoftmax, not {type(config.loss).__name__}")
        if train_on is not None and train_on is not features.train:
            raise ValueError("TimeSoftmax trains on features.train; train_on is not supported")
        self.features, self.config = features, config
        data = self.data = features.train
        self.n_items = data.n_items
        self.examples = np.arange(len(data))
        gap = features.history_gap_days * DAY
        self.user_inputs = features.user_features(data.users, data.times - gap)  # as of `gap` before each event
        # every item the user had before the event, to take out of its softmax (none can be the answer)
        earlier = features.user_events.last_before(data.users, data.times, features.config.history_length)
        self.earlier_items = np.where(earlier >= 0, data.items[np.maximum(earlier, 0)] + 2, PAD)  # (n, L)
        self.item_names = None  # numeric item inputs, in the tower's order (set on first call)
        step = config.loss.snapshot_days or min(features.count_windows, default=1.0)  # default: the shortest window
        self.grid = snapshot_grid(data.times, step, self.n_items,
                                  sum(s.size for s in features.item_fields() if s.kind == "numeric"))
        # the latest snapshot at or before each event: item inputs as fresh as the event allows (inputs lagged
        # by the history gap as well scored far worse on validation: 0.33 vs 0.40 nDCG@10)
        self.snapshot_of_example = np.maximum(np.searchsorted(self.grid, data.times, "right") - 1, 0)  # (n,)
        everything = np.arange(self.n_items)
        snapshots = [features.item_features(everything, moment) for moment in self.grid]
        self.static_inputs = features.item_features(everything, features.now)  # bags do not change with time
        self.snapshots = snapshots  # list of dicts, stacked on first call (the tower fixes the order)

    def _numeric(self, model) -> torch.Tensor:
        if self.item_names is None:
            self.item_names = model.item_tower.numeric_names
            if self.item_names:
                stacked = [np.concatenate([snap[name] for name in self.item_names], axis=1) for snap in self.snapshots]
                self.numeric = torch.from_numpy(np.stack(stacked))  # (G, n_items, F)
            else:
                self.numeric = None
            self.snapshots = None
        return self.numeric

    def __call__(self, model, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        cfg, data = self.config, self.data
        tower = model.item_tower
        batch_users = {name: values[rows] for name, values in self.user_inputs.items()}
        history = self.earlier_items[rows]  # (B, L) item + 2: every item of the user before the event
        batch_users = drop_history(batch_users, cfg.history_dropout, rng)
        users = model.user_tower(as_tensors(batch_users))  # (B, D)
        static = tower.static_part(as_tensors(self.static_inputs))  # (n_items, D)
        logits = users @ static.T  # (B, n_items)
        numeric = self._numeric(model)
        if numeric is not None:
            weights = users @ tower.numeric_projection.weight  # (B, F): how much this user follows each input
            at = numeric[self.snapshot_of_example[rows]]  # (B, n_items, F)
            logits = logits + torch.einsum("bf,bnf->bn", weights, at)
        if history.size:  # the user's earlier items are no candidates (they are excluded when serving)
            logits = logits + history_offset(history, history != PAD, self.n_items, -np.inf)
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(data.items[rows]))


def snapshot_grid(times: np.ndarray, step_days: float, n_items: int, n_numeric: int) -> np.ndarray:
    """(G,) moments from the first event to the last, `step_days` apart (coarser if the snapshots of
    n_items x n_numeric values would not fit in MAX_SNAPSHOT_VALUES)."""
    if len(times) == 0:
        return np.zeros(1)
    start, end = float(times.min()), float(times.max())
    step = step_days * DAY
    budget = max(MAX_SNAPSHOT_VALUES // max(n_items * max(n_numeric, 1), 1), 2)
    step = max(step, (end - start) / (budget - 1))
    return start + step * np.arange(int(np.floor((end - start) / step)) + 1)
