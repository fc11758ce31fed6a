"""The loss of one training batch of the two towers: the sampled softmax and its variants.

`BatchLoss` is the loss of a batch of interactions (Covington et al. 2016; Yi et al. 2019), for
`TrainConfig(loss=SampledSoftmax(...))`:

    user vectors  U = user_tower(features of each user just before their interaction)   (B, D)
    item vectors  V = item_tower(features of each positive item at that time)           (B, D)
    logits        U V^T / temperature, minus log q (logQ correction), accidental hits masked
                  [+ uniform negatives from the catalogue] [+ the session's skipped impressions]
                  (mixed negatives: Yang et al. 2020)
    loss          softmax cross-entropy: each user should pick out their own item

or, with `FullSoftmax()`, the exact softmax over the whole catalogue. By default an in-batch
negative keeps the inputs (counts, ages) of its own example's time, another row's; with
`SnapshotSoftmax()` every candidate of a row (its positive, the other positives of the batch, the
uniform negatives) has them as of that row's event, on a grid of moments (`ItemSnapshots`): the
point-in-time rule applied to the negatives, as `TimeSoftmax` does for the whole catalogue. The loss's temperature divides the scores when the towers are L2-normalised
(`config.logit_scale`). `UserBatchLoss` is the loss of a batch of users whose histories are partly
hidden and predicted (`DenoisingUsers()`: a denoising autoencoder, Liang et al. 2018). Both are built
once per training run and called once per batch by `train.train_towers`, in every process when
training is data-parallel.
"""
from __future__ import annotations

import numpy as np
import torch

from lineage.data import Interactions
from twotower_mini.config import DenoisingUsers, FullSoftmax, SampledSoftmax, SnapshotSoftmax, TrainConfig, logit_scale
from twotower_mini.features import PAD, UNKNOWN, FeatureBuilder, pad_empty_bags, snapshot_grid
from twotower_mini.losses import StreamingFrequency, extra_negative_logits, in_batch_logits, softmax_loss
from twotower_mini.towers import TwoTowerModel, as_tensors


HISTORY_FIELDS = ("history", "liked_history")  # the bags that history dropout thins out


def history_offset(history: np.ndarray, selected: np.ndarray, n_items: int, value: float) -> torch.Tensor:
    """(B, n_items) logit offsets: `value` at the items of `history` (item index + 2) where `selected`,
    0 elsewhere. -inf takes those items out of the softmax; log(w) weighs them w times as negatives."""
    offset = np.zeros((len(history), n_items), dtype=np.float32)  # (B, n_items)
    rows, columns = np.nonzero(selected)
    offset[rows, history[rows, columns] - 2] = value
    return torch.from_numpy(offset)


def drop_history(arrays: dict[str, np.ndarray], rate: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each history token set to padding with probability `rate`; kept recency weights renormalised.

    Then columns that are padding in every row are cut off (they cost time and add nothing); a bag
    left with no column at all (nobody in the batch has a history yet) keeps one padding column."""
    out = dict(arrays)
    for name in HISTORY_FIELDS:
        if name not in out:
            continue
        ids = out[name]  # (B, L)
        if rate > 0:
            ids = np.where(rng.random(ids.shape) < rate, PAD, ids)
        keep = (ids != PAD).any(axis=0)  # (L,) columns with at least one token
        out[name] = ids[:, keep]
        if f"{name}_weights" in out:
            weights = np.where(ids != PAD, out[f"{name}_weights"], 0.0)[:, keep]  # (B, L')
            out[f"{name}_weights"] = (weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)).astype(np.float32)
    return pad_empty_bags(out)


def _drop_ids(inputs: dict[str, np.ndarray] | None, name: str, rate: float, rng) -> dict[str, np.ndarray] | None:
    """Replace the id of a random share `rate` of the examples by the "unknown" id (training only)."""
    if inputs is not None and rate > 0 and name in inputs:
        dropped = rng.random(len(inputs[name])) < rate  # (B,)
        inputs = dict(inputs, **{name: np.where(dropped[:, None], UNKNOWN, inputs[name])})
    return inputs



class BatchLoss:
    """The softmax loss of one batch of training examples: SampledSoftmax or FullSoftmax, as TrainConfig.loss says.

    Built once per training run (it precomputes every example's point-in-time features, the skipped
    impressions and the item frequencies for logQ); called once per batch with the batch's rows of the
    training log: `train_towers` calls it on each batch of its loop (in data-parallel training, on
    this process's shard of the global batch)."""

    def __init__(self, features: FeatureBuilder, config: TrainConfig, side=None, train_on: Interactions | None = None):
        if not isinstance(config.loss, (SampledSoftmax, FullSoftmax)):
            raise ValueError(f"BatchLoss scores SampledSoftmax and FullSoftmax, not {type(config.loss).__name__}")
        self.features, self.config, self.loss = features, config, config.loss
        sampled = self.loss if isinstance(self.loss, SampledSoftmax) else None  # the negatives' settings
        data = self.data = features.train if train_on is None else train_on
        self.n_items = data.n_items
        examples = np.arange(len(data))  # rows of `data` that are training positives
        if config.min_positive_value is not None:
            examples = examples[data.values >= config.min_positive_value]
        self.examples = examples
        n = len(examples)
        self.user_inputs = self.item_inputs = None
        if not config.batch_features:
            # Every example's features, computed once, point-in-time (as of just before its own event).
            self.user_inputs = features.user_features(data.users, data.times, target_items=data.items)
            self.item_inputs = features.item_features(data.items, data.times)
        self.skipped = None
        if sampled is not None and sampled.impression_negatives and side is not None:
            self.skipped = side.skipped_impressions(data.users, data.items, sampled.impression_negatives)  # (n, M)
        self.frequency = np.bincount(data.items[examples], minlength=self.n_items) / max(n, 1)  # P(a positive is item j)
        streaming = sampled is not None and sampled.logq == "streaming"
        self.streaming = StreamingFrequency(seed=config.seed) if streaming else None
        self.snapshots = None  # SnapshotSoftmax: every item's inputs on a grid of moments
        if isinstance(self.loss, SnapshotSoftmax):
            self.snapshots = ItemSnapshots(features, data.times, self.loss.snapshot_days)
        # When an item's inputs are the same at every one of its events (no dynamic counts or ages), all the
        # copies of an item in a batch get the same vector, so the in-batch softmax can score each distinct
        # item once (see distinct_in_batch_logits): exactly the same loss, far less work for large batches.
        self.static_items = self.item_inputs is not None and _same_inputs_per_item(self.item_inputs, data.items)

    def __call__(self, model: TwoTowerModel, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """The scalar loss of the examples `rows` (indices into the training log); rng draws the batch's
        random parts (history and id dropout, the catalogue's feature times, uniform negatives), in the
        order of the steps below."""
        cfg, loss, data = self.config, self.loss, self.data
        item_ids = torch.from_numpy(data.items[rows])  # (B,)
        batch_users, batch_items = self._inputs(rows, rng)
        users = model.user_tower(as_tensors(batch_users))  # (B, D)
        # The temperature scales the (B, D) user vectors rather than every (B, B) score: same logits,
        # B/D times less work (and none at all when the scale is 1).
        scale = logit_scale(loss, model.config)
        scaled = users * scale if scale != 1.0 else users  # (B, D)
        if isinstance(loss, FullSoftmax):  # the exact softmax: every item of the catalogue is a candidate
            columns, labels, constant = [self._catalogue_logits(model, scaled, rows, rng)], item_ids, None
        else:
            block, labels, constant = self._positive_logits(model, scaled, batch_items, rows, item_ids)
            columns = [block]
            if loss.uniform_negatives:
                columns.append(self._uniform_negative_logits(model, scaled, rows, item_ids, rng))
            if self.skipped is not None:
                columns.append(self._impression_logits(model, scaled, rows, item_ids))
        weights = torch.from_numpy(data.values[rows]) if cfg.value_weights else None
        logits = columns[0] if len(columns) == 1 else torch.cat(columns, dim=1)  # no copy for one block
        loss = softmax_loss(logits, weights, labels)
        if constant is not None:  # distinct_in_batch_logits: the exact loss value
            loss = loss + (constant.mean() if weights is None else (constant * weights).sum() / weights.sum())
        return loss

    def _inputs(self, rows: np.ndarray, rng: np.random.Generator):
        """The tower inputs of the batch (user fields, item fields: dicts of (B, ...) arrays), as of just
        before each example's event, with history and id dropout applied."""
        cfg, features, data = self.config, self.features, self.data
        if cfg.batch_features:  # built now
            batch_users = features.user_features(data.users[rows], data.times[rows], target_items=data.items[rows])
            batch_items = None if isinstance(self.loss, FullSoftmax) else features.item_features(data.items[rows],
                                                                                                 data.times[rows])
        else:
            batch_users = {name: values[rows] for name, values in self.user_inputs.items()}
            batch_items = {name: values[rows] for name, values in self.item_inputs.items()}
        if cfg.history_dropout or cfg.batch_features:
            batch_users = drop_history(batch_users, cfg.history_dropout, rng)
        if cfg.id_dropout:  # some examples see the "unknown" id: the towers learn to embed from features too
            batch_users = _drop_ids(batch_users, "user_id", cfg.id_dropout, rng)
            batch_items = _drop_ids(batch_items, "item_id", cfg.id_dropout, rng)
        return batch_users, batch_items

    def _featurised_at(self, rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n,) times to featurise n negatives at: each the time of a random example of the batch, so their
        ages and counts look like a positive's (featurising them all at one moment, say the batch's
        earliest, would let the towers tell negatives from positives by age alone)."""
        return self.data.times[rows][rng.integers(0, len(rows), n)]

    def _catalogue_logits(self, model, scaled: torch.Tensor, rows: np.ndarray, rng) -> torch.Tensor:
        """(B, n_items) logits against every item of the catalogue (column j = item j)."""
        at = self._featurised_at(rows, self.n_items, rng)
        catalogue = model.item_tower(as_tensors(self.features.item_features(np.arange(self.n_items), at)))
        return scaled @ catalogue.T  # catalogue: (n_items, D)

    def _positive_logits(self, model, scaled: torch.Tensor, batch_items, rows: np.ndarray, item_ids: torch.Tensor):
        """The block of logits that holds each example's positive: the in-batch softmax (the other
        positives as negatives, logQ-corrected), or the positive alone. Returns (logits, the positive's
        column per row or None for column b, a loss constant or None)."""
        if self.snapshots is not None:  # every candidate of a row as of that row's moment
            return self._snapshot_logits(model, scaled, rows)
        loss, items_of_rows = self.loss, self.data.items[rows]
        # (with id dropout, two copies of an item may differ: then every copy is scored)
        use_distinct = (loss.in_batch and self.static_items and loss.logq != "streaming"
                        and not (self.config.id_dropout and "item_id" in batch_items))
        items = None if use_distinct else model.item_tower(as_tensors(batch_items))  # (B, D)
        if not loss.in_batch:  # the positive alone in column 0 of the in-batch layout
            positive = (scaled * items).sum(dim=1)  # (B,)
            diagonal = torch.full((len(rows), len(rows)), float("-inf"))
            return diagonal.diagonal_scatter(positive), None, None
        if use_distinct:  # each distinct item of the batch scored once (exact, faster)
            return distinct_in_batch_logits(model, scaled, batch_items, items_of_rows,
                                            self.frequency if loss.logq == "exact" else None, loss.mask_accidental_hits)
        log_q = None
        if loss.logq == "exact":
            log_q = torch.from_numpy(np.log(self.frequency[items_of_rows] * len(rows))).float()  # (B,)
        elif loss.logq == "streaming":
            self.streaming.update(items_of_rows)
            log_q = torch.from_numpy(np.log(self.streaming.probability(items_of_rows))).float()  # (B,)
        return in_batch_logits(scaled @ items.T, item_ids, log_q, loss.mask_accidental_hits), None, None

    def _snapshot_logits(self, model, scaled: torch.Tensor, rows: np.ndarray):
        """SnapshotSoftmax: the in-batch block (as _positive_logits returns it) with every candidate
        of row b, its positive and the batch's other positives, as of row b's moment. Within a row the copies
        of an item are then identical, so each distinct item is one column (distinct_columns_logits: exact)."""
        loss, items = self.loss, self.data.items[rows]
        distinct, inverse = np.unique(items, return_inverse=True)
        scores = self.snapshots.scores(model.item_tower, scaled, distinct, rows)  # (B, U)
        if not loss.in_batch:  # the positive alone in column 0 of the in-batch layout
            positive = scores[torch.arange(len(rows)), torch.from_numpy(inverse.reshape(-1))]  # (B,)
            return torch.full((len(rows), len(rows)), float("-inf")).diagonal_scatter(positive), None, None
        log_q = None
        if loss.logq == "exact":
            log_q = np.log(self.frequency[distinct] * len(rows))  # (U,)
        elif loss.logq == "streaming":
            self.streaming.update(items)
            log_q = np.log(self.streaming.probability(distinct))
        return distinct_columns_logits(scores, items, log_q, loss.mask_accidental_hits)

    def _uniform_negative_logits(self, model, scaled: torch.Tensor, rows: np.ndarray, item_ids: torch.Tensor,
                                 rng: np.random.Generator) -> torch.Tensor:
        """(B, N) logits of N items drawn uniformly from the catalogue, shared by the batch."""
        loss = self.loss
        negative_ids = rng.integers(0, self.n_items, loss.uniform_negatives)  # (N,)
        if self.snapshots is not None:  # each row's negatives as of the row's moment
            scores = self.snapshots.scores(model.item_tower, scaled, negative_ids, rows)  # (B, N)
        else:
            at = self._featurised_at(rows, len(negative_ids), rng)
            scores = scaled @ model.item_tower(as_tensors(self.features.item_features(negative_ids, at))).T  # (B, N)
        ids = torch.from_numpy(np.broadcast_to(negative_ids, (len(rows), len(negative_ids))).copy())  # (B, N)
        log_q = float(np.log(loss.uniform_negatives / self.n_items)) if loss.logq != "none" else None
        return extra_negative_logits(scores, ids, item_ids, -log_q if log_q is not None else None)

    def _impression_logits(self, model, scaled: torch.Tensor, rows: np.ndarray, item_ids: torch.Tensor) -> torch.Tensor:
        """(B, M) logits of the items shown in each example's session and skipped (hard negatives)."""
        shown = self.skipped[rows]  # (B, M) item index, -1 = none
        flat = np.maximum(shown, 0).ravel()
        times = self.data.times[rows] if self.snapshots is None else self.snapshots.moments(rows)  # (B,)
        inputs = self.features.item_features(flat, np.repeat(times, shown.shape[1]))
        shown_vectors = model.item_tower(as_tensors(inputs))
        shown_vectors = shown_vectors.view(len(rows), shown.shape[1], -1)  # (B, M, D)
        shown_scores = torch.einsum("bd,bmd->bm", scaled, shown_vectors)  # (B, M)
        return extra_negative_logits(shown_scores, torch.from_numpy(shown), item_ids,
                                     float(np.log(self.loss.impression_weight)))


def _same_inputs_per_item(item_inputs: dict[str, np.ndarray], items: np.ndarray) -> bool:
    """True when every example of an item has exactly the same item-tower inputs (static features only)."""
    _, first = np.unique(items, return_index=True)
    first_row = np.zeros(items.max(initial=0) + 1, dtype=np.int64)
    first_row[items[first]] = first  # item -> its first example
    return all(np.array_equal(values, values[first_row[items]]) for values in item_inputs.values())


def distinct_in_batch_logits(model: TwoTowerModel, scaled_users: torch.Tensor, batch_items: dict[str, np.ndarray],
                             items: np.ndarray, frequency: np.ndarray | None, mask_accidental_hits: bool):
    """The in-batch softmax with each distinct item of the batch scored once (items with static inputs).

    With B examples and U distinct items, the B x B logits hold each item k in c_k identical columns.
    A softmax only needs their sum, c_k exp(s_bk), so one column with log c_k added is the same; with
    accidental hits masked, row b keeps only its own copy of its positive item (count 1 there). Returns
    ((B, U) logits, (B,) label = the positive's column, (B,) constant): the cross-entropy over these
    logits plus the constant (log c of the positive when copies are not masked; no gradient) equals the
    B x B loss exactly. For B = 8192 over MovieLens' 1,682 movies this is ~5x less work."""
    distinct, first = np.unique(items, return_index=True)
    vectors = model.item_tower(as_tensors({name: values[first] for name, values in batch_items.items()}))  # (U, D)
    # logQ: q = probability that a batch holds the item = frequency x B
    log_q = np.log(frequency[distinct] * len(items)) if frequency is not None else None
    return distinct_columns_logits(scaled_users @ vectors.T, items, log_q, mask_accidental_hits)


def distinct_columns_logits(scores: torch.Tensor, items: np.ndarray, log_q: np.ndarray | None,
                            mask_accidental_hits: bool):
    """The in-batch softmax from (B, U) scores of each row against the batch's U distinct items (in
    np.unique order), each standing for its c copies: log c added to its column, log q (U,) subtracted
    (logQ; None = no correction). Returns (logits, labels, constant) as distinct_in_batch_logits."""
    _, inverse, counts = np.unique(items, return_inverse=True, return_counts=True)
    log_counts = np.log(counts)  # (U,)
    offsets = log_counts - log_q if log_q is not None else log_counts
    logits = scores + torch.from_numpy(offsets).float()[None, :]  # (B, U)
    labels = torch.from_numpy(inverse.reshape(-1))  # (B,)
    own = torch.from_numpy(log_counts[inverse.reshape(-1)]).float()  # (B,) log c of each row's positive
    if mask_accidental_hits:  # the other copies of the positive are not negatives: count 1 in its column
        logits = logits.index_put((torch.arange(len(items)), labels), -own, accumulate=True)
        constant = None
    else:
        constant = own  # the positive is one of c identical columns: add back log c
    return logits, labels, constant


class ItemSnapshots:
    """Every item's tower inputs on a grid of moments `step_days` apart (snapshot_grid), for
    SnapshotSoftmax: the bags once (an item's bags do not change with time), the
    numeric inputs (counts, ages) at every moment. An example reads the latest moment at or before its
    event, so every input stays strictly point-in-time (at most one step stale)."""

    def __init__(self, features: FeatureBuilder, times: np.ndarray, step_days: float):
        fields = features.item_fields()
        if "liked_by" in {spec.name for spec in fields}:
            raise ValueError("SnapshotSoftmax takes item bags as fixed in time; the liked_by bag moves")
        numeric = [spec for spec in fields if spec.kind == "numeric"]
        n_items, everything = features.train.n_items, np.arange(features.train.n_items)
        self.grid = snapshot_grid(times, step_days, n_items, sum(spec.size for spec in numeric))  # (G,)
        self.moment_of_example = np.maximum(np.searchsorted(self.grid, times, "right") - 1, 0)  # (n,)
        names = [spec.name for spec in numeric]
        self.bags = {name: values for name, values in features.item_features(everything, features.now).items()
                     if name not in names}
        at = [features.item_features(everything, moment) for moment in self.grid]
        self.numeric = {name: np.stack([inputs[name] for inputs in at], axis=1) for name in names}  # (n_items, G, d)

    def moments(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) the moment each example's candidates are taken at."""
        return self.grid[self.moment_of_example[rows]]

    def scores(self, tower, scaled: torch.Tensor, items: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        """(B, len(items)): each row's (scaled) user vector against `items` as of the row's moment; each
        item is embedded once per distinct moment of the batch (Tower.forward_at_moments)."""
        moments, row_moment = np.unique(self.moment_of_example[rows], return_inverse=True)
        row_moment = row_moment.reshape(-1)
        inputs = {name: values[items] for name, values in self.bags.items()}
        inputs.update({name: values[np.ix_(items, moments)] for name, values in self.numeric.items()})
        vectors = tower.forward_at_moments(as_tensors(inputs), len(moments)).unbind(1)  # G x (U, D)
        order = np.argsort(row_moment, kind="stable")  # the rows grouped by moment
        grouped = scaled[torch.from_numpy(order)].split(np.bincount(row_moment, minlength=len(moments)).tolist())
        blocks = [rows_at @ vectors[g].T for g, rows_at in enumerate(grouped)]  # unbind, split: one backward each
        return torch.cat(blocks)[torch.from_numpy(np.argsort(order))]


class UserBatchLoss:
    """The denoising loss of one batch of *users* (TrainConfig(loss=DenoisingUsers())): predict the hidden part of
    each user's history from the rest, with a softmax over the full catalogue.

    For each user of the batch, every item of their training history is hidden with probability
    `history_dropout`; the user tower sees the items left (and every other user field; hidden items are
    also taken out of the liked-items bag), and each hidden item is a positive:

        user vectors  U = user_tower(history with the targets hidden)           (B, D)
        item vectors  V = item_tower(every item of the catalogue)               (n_items, D)
        loss          mean over the hidden items (b, i) of  -log softmax(U V^T x logit_scale)[b, i]

    This is the interaction loss with "all-but-target" histories, with a random share of the history
    held out at once instead of one item, so one user-tower pass serves many positives (about
    history_dropout x |history|): a denoising autoencoder over the history, the two-tower form of
    Mult-DAE (Liang et al. 2018, "Variational autoencoders for collaborative filtering") and of the
    dropout-emphasised linear autoencoders of Steck (2020, "Autoencoders that don't overfit towards the
    identity"). Event times are ignored (every history is taken as of the end of training), so this is
    for random splits, where "before t" has no meaning anyway. Same call signature as BatchLoss, with
    `rows` indexing `examples` = the users who have a history."""

    def __init__(self, features: FeatureBuilder, config: TrainConfig, side=None, train_on: Interactions | None = None):
        if not isinstance(config.loss, DenoisingUsers):
            raise ValueError(f"UserBatchLoss scores DenoisingUsers, not {type(config.loss).__name__}")
        if train_on is not None and train_on is not features.train:
            raise ValueError("DenoisingUsers trains on the histories of features.train; train_on is not supported")
        if "history" not in {spec.name for spec in features.user_fields()}:
            raise ValueError("DenoisingUsers predicts hidden history items: the 'history' field must not be dropped")
        self.features, self.config, self.loss = features, config, config.loss
        self.n_items = features.train.n_items
        self.examples = np.flatnonzero(features.train.user_counts() > 0)  # users with a history
        # Every user's inputs as of the end of training; history_length should cover the longest history.
        self.user_inputs = features.user_features(self.examples, features.now)
        self.row_of_user = np.full(features.train.n_users, -1, dtype=np.int64)
        self.row_of_user[self.examples] = np.arange(len(self.examples))

    def __call__(self, model: TwoTowerModel, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """The scalar loss of the users `rows` (user indices, from `examples`); rng draws the hidden items."""
        cfg, n_items = self.config, self.n_items
        batch = {name: values[self.row_of_user[rows]] for name, values in self.user_inputs.items()}
        history = batch["history"]  # (B, L) item index + 2, PAD = 0
        hidden = (history != PAD) & (rng.random(history.shape) < cfg.history_dropout)  # (B, L) the targets
        batch["history"] = np.where(hidden, PAD, history)
        if "history_weights" in batch:  # drop_history below renormalises the weights of the items left
            batch["history_weights"] = np.where(hidden, 0.0, batch["history_weights"]).astype(np.float32)
        if "liked_history" in batch:  # a hidden item must not stay visible through the liked-items bag
            is_hidden = np.zeros((len(rows), n_items + 2), dtype=bool)  # (B, n_items + 2)
            is_hidden[np.nonzero(hidden)[0], history[hidden]] = True
            is_hidden[:, PAD] = False
            liked = batch["liked_history"]
            batch["liked_history"] = np.where(is_hidden[np.arange(len(rows))[:, None], liked], PAD, liked)
        batch = drop_history(batch, 0.0, rng)  # renormalise weights, cut all-padding columns
        users = model.user_tower(as_tensors(batch))  # (B, D)
        everything = np.arange(n_items)  # as of the same moments as the exported item vectors (serving)
        catalogue = model.item_tower(as_tensors(self.features.item_features(everything,
                                                                            self.features.serving_times(everything))))
        logits = (users * logit_scale(self.loss, model.config)) @ catalogue.T  # (B, n_items); catalogue: (n_items, D)
        weight = self.loss.history_negative_weight
        if weight != 1.0:  # the visible history as weighted (hard) negatives
            log_weight = np.log(weight) if weight > 0 else -np.inf
            logits = logits + history_offset(history, (history != PAD) & ~hidden, n_items, log_weight)
        log_p = torch.log_softmax(logits, dim=1)  # (B, n_items)
        b, j = np.nonzero(hidden)  # one positive per hidden item
        if len(b) == 0:
            return (log_p * 0.0).sum()  # nothing hidden in this batch (tiny histories): a zero loss
        return -log_p[torch.from_numpy(b), torch.from_numpy(history[b, j] - 2)].mean()
