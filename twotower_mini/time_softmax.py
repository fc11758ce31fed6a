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

A catalogue larger than `TimeSoftmax.sampled_above` items is not scored whole: each batch shares
`TimeSoftmax.negatives` items drawn in proportion to (count + 1)^0.75, each negative's logit lowered
by log(S q_j) so that the sample's sum estimates the catalogue's (the sampled softmax of Jean et al.
2015). Its fit time and its cost on ML-100K are in REPORT (benchmarks/time_checks.py).

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
from twotower_mini.features import DAY, PAD, FeatureBuilder, snapshot_grid


class TimeSoftmaxLoss:
    """The loss of one batch of (user, item, time) events: softmax over the catalogue as of each event.

    Same call signature as `batches.BatchLoss`; `examples` are rows of the training log."""

    def __init__(self, features: FeatureBuilder, config: TrainConfig, side=None, train_on: Interactions | None = None):
        if not isinstance(config.loss, TimeSoftmax):
            raise ValueError(f"TimeSoftmaxLoss scores TimeSoftmax, not {type(config.loss).__name__}")
        if train_on is not None and train_on is not features.train:
            raise ValueError("TimeSoftmax trains on features.train; train_on is not supported")
        if "liked_by" in {spec.name for spec in features.item_fields()}:
            raise ValueError("TimeSoftmax takes item bags as fixed in time; the liked_by bag moves")
        self.features, self.config = features, config
        data = self.data = features.train
        self.n_items = data.n_items
        self.examples = np.arange(len(data))
        gap = features.history_gap_days * DAY
        self.user_inputs = features.user_features(data.users, data.times - gap)  # as of `gap` before each event
        # every item the user had before the event, to take out of its softmax (none can be the answer)
        positions = features.user_events.last_before(data.users, data.times, features.config.history_length)
        earlier = features.user_events.take(positions, -1)  # (n, L) rows of the log, -1 = none
        self.earlier_items = np.where(earlier >= 0, data.items[earlier] + 2, PAD)  # (n, L)
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
        loss = config.loss  # a large catalogue: a shared sample of items per batch instead of all of them
        self.sample_size = loss.negatives if self.n_items > loss.sampled_above else None
        weights = (np.bincount(data.items, minlength=self.n_items) + 1.0) ** 0.75
        self.sampling = weights / weights.sum()  # (n_items,) q_j: each draw's probability of item j

    def _numeric(self, model) -> torch.Tensor:
        if self.item_names is None:
            self.item_names = model.item_tower.numeric_names
            if self.item_names:
                stacked = [np.concatenate([snap[name] for name in self.item_names], axis=1) for snap in self.snapshots]
                self.numeric = torch.from_numpy(np.stack(stacked))  # (G, n_items, F)
                if self.sample_size is not None:  # an item's inputs at every moment in one row: fast to gather
                    self.numeric_by_item = self.numeric.transpose(0, 1).contiguous()  # (n_items, G, F)
            else:
                self.numeric = None
            self.snapshots = None
        return self.numeric

    def _dynamic_scores(self, weights: torch.Tensor, numeric: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """(B, n_items): row b's weights against every item's inputs at b's snapshot. Rows are sorted by
        snapshot and split into one block per snapshot of the batch, one (b_g, F) x (F, n_items) product
        each: the same numbers as gathering a (B, n_items, F) copy of the inputs for every row, without
        building it."""
        snapshots = self.snapshot_of_example[rows]  # (B,)
        order = np.argsort(snapshots, kind="stable")
        groups, sizes = np.unique(snapshots[order], return_counts=True)
        blocks = weights[torch.from_numpy(order)].split(sizes.tolist())  # (b_g, F) each, one gather in all
        products = [block @ numeric[g].T for g, block in zip(groups, blocks)]
        return torch.cat(products)[torch.from_numpy(np.argsort(order))]  # (B, n_items), back in batch order

    def __call__(self, model, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        cfg, data = self.config, self.data
        tower = model.item_tower
        batch_users = {name: values[rows] for name, values in self.user_inputs.items()}
        history = self.earlier_items[rows]  # (B, L) item + 2: every item of the user before the event
        batch_users = drop_history(batch_users, cfg.history_dropout, rng)
        users = model.user_tower(as_tensors(batch_users))  # (B, D)
        if self.sample_size is not None:
            return self._sampled_loss(model, users, rows, history, rng)
        static = tower.static_part(as_tensors(self.static_inputs))  # (n_items, D)
        logits = users @ static.T  # (B, n_items)
        numeric = self._numeric(model)
        if numeric is not None:
            weights = users @ tower.numeric_projection.weight  # (B, F): how much this user follows each input
            logits = logits + self._dynamic_scores(weights, numeric, rows)
        if history.size:  # the user's earlier items are no candidates (they are excluded when serving)
            logits = logits + history_offset(history, history != PAD, self.n_items, -np.inf)
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(data.items[rows]))

    def _scores(self, model, users: torch.Tensor, items: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        """(B, S): each row's user against the S sampled items, their inputs at the row's snapshot."""
        tower = model.item_tower
        static = tower.static_part(as_tensors({n: v[items] for n, v in self.static_inputs.items()}))  # (S, D)
        scores = users @ static.T
        numeric = self._numeric(model)
        if numeric is not None:
            weights = users @ tower.numeric_projection.weight  # (B, F)
            drawn = self.numeric_by_item[torch.from_numpy(items)].transpose(0, 1)  # (G, S, F): S rows gathered whole
            scores = scores + self._dynamic_scores(weights, drawn, rows)
        return scores

    def _positive_scores(self, model, users: torch.Tensor, positives: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        """(B,): each row's user against its own item only, the item's inputs at the row's snapshot."""
        tower = model.item_tower
        static = tower.static_part(as_tensors({n: v[positives] for n, v in self.static_inputs.items()}))  # (B, D)
        scores = (users * static).sum(dim=1)
        numeric = self._numeric(model)
        if numeric is not None:
            weights = users @ tower.numeric_projection.weight  # (B, F)
            inputs = numeric[torch.from_numpy(self.snapshot_of_example[rows]), torch.from_numpy(positives)]  # (B, F)
            scores = scores + (weights * inputs).sum(dim=1)
        return scores

    def _hidden(self, drawn: np.ndarray, positives: np.ndarray, history: np.ndarray) -> np.ndarray:
        """(B, S) True where draw j is row b's positive or one of its earlier items (history: item + 2, PAD)."""
        distinct, inverse = np.unique(drawn, return_inverse=True)
        column = np.full(self.n_items + 2, -1)
        column[distinct + 2] = np.arange(len(distinct))  # history code -> column of the distinct draws, or -1
        hidden = np.zeros((len(positives), len(distinct)), dtype=bool)  # (B, U)
        rows, slots = np.nonzero(column[history] >= 0)
        hidden[rows, column[history[rows, slots]]] = True
        hit = column[positives + 2] >= 0
        hidden[np.flatnonzero(hit), column[positives[hit] + 2]] = True
        return hidden[:, inverse.reshape(-1)]

    def _sampled_loss(self, model, users: torch.Tensor, rows: np.ndarray, history: np.ndarray,
                      rng: np.random.Generator) -> torch.Tensor:
        """Sampled softmax (Jean et al. 2015): the positive against S items drawn with probability q_j per draw,
        each negative's logit lowered by log(S q_j), so the sum over the sample estimates the whole
        catalogue's; a draw that is the row's positive or one of its earlier items is masked."""
        positives = self.data.items[rows]  # (B,)
        drawn = rng.choice(self.n_items, size=self.sample_size, p=self.sampling)  # (S,) shared by the batch
        positive = self._positive_scores(model, users, positives, rows)[:, None]  # (B, 1)
        negative = self._scores(model, users, drawn, rows) - torch.from_numpy(
            np.log(self.sample_size * self.sampling[drawn])).float()  # (B, S)
        negative = negative.masked_fill(torch.from_numpy(self._hidden(drawn, positives, history)), float("-inf"))
        logits = torch.cat([positive, negative], dim=1)  # the positive in column 0
        return torch.nn.functional.cross_entropy(logits, torch.zeros(len(rows), dtype=torch.long))
