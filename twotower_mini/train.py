"""Training the two towers: a plain loop over shuffled batches of positive interactions.

Each epoch visits every training interaction once, in a seeded random order. For a batch:

    user vectors  U = user_tower(features of each user just before their interaction)   (B, D)
    item vectors  V = item_tower(features of each positive item at that time)           (B, D)
    logits        U V^T / temperature, minus log q (logQ correction), accidental hits masked
                  [+ uniform negatives from the catalogue] [+ the session's skipped impressions]
    loss          softmax cross-entropy: each user should pick out their own item

After each epoch the model is scored on the validation interactions (recall@k over the full
catalogue, seen items excluded; `eval_metric` picks another); training stops when that has not
improved for `patience` epochs and the best weights are kept. Everything is seeded: on a CPU, two
runs give identical numbers.

Variants, each a TrainConfig switch: `full_softmax` scores every catalogue item instead of sampled
negatives (small catalogues); `user_batches` (UserBatchLoss) makes a batch a set of users whose
histories are partly hidden and predicted, a denoising autoencoder for random splits (the MovieLens
presets). When item inputs are static, the in-batch softmax scores each distinct item of a batch
once (`distinct_in_batch_logits`): the same loss, several times faster at large batches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from lineage.data import Interactions
from lineage.metrics import evaluate_lists, test_users
from lineage.topk import mask_items, top_k
from twotower_mini.features import PAD, UNKNOWN, FeatureBuilder
from twotower_mini.losses import StreamingFrequency, extra_negative_logits, in_batch_logits, softmax_loss
from twotower_mini.towers import TwoTowerModel


@dataclass
class TrainConfig:
    epochs: int = 20  # upper bound; early stopping usually ends sooner
    batch_size: int = 512  # B: also the number of in-batch negatives
    learning_rate: float = 3e-3  # Adam
    weight_decay: float = 0.0  # L2 penalty on all weights (Adam's, coupled)
    logq: str = "exact"  # "none", "exact" (training frequencies) or "streaming" (Yi et al. 2019 estimate)
    in_batch: bool = True  # use the other positives of the batch as negatives
    uniform_negatives: int = 0  # extra negatives drawn uniformly from the catalogue per batch (mixed if in_batch)
    impression_negatives: int = 0  # up to this many skipped impressions per example as hard negatives
    impression_weight: float = 1.0  # their weight in the softmax denominator
    mask_accidental_hits: bool = True  # never treat the positive item itself as a negative
    id_dropout: float = 0.0  # share of examples whose user/item id is replaced by the "unknown" id, so
    #   the towers also learn to embed from features alone (what cold items and new users get)
    patience: int = 2  # epochs without validation improvement before stopping
    eval_k: int = 10  # validation metric: recall@eval_k ...
    eval_users: int = 2000  # ... over at most this many validation users (sampled once, seeded)
    seed: int = 0  # numpy and torch seeds
    threads: int = 1  # torch intra-op threads: small towers train fastest on one (no thread hand-offs)
    progress: bool = True  # show a progress bar
    full_softmax: bool = False  # every catalogue item is a negative (the exact softmax, (B, n_items) logits;
    #   small catalogues only). Replaces in-batch and uniform negatives; needs no logQ correction.
    history_dropout: float = 0.0  # share of each example's history / liked-history tokens dropped at random
    #   in every batch (denoising, as Mult-DAE, Liang et al. 2018); never at serving time
    batch_features: bool = False  # build each batch's features when it is drawn (memory B x L) instead of
    #   every example's up front (memory n x L, faster for short histories); use it for long histories
    min_positive_value: float | None = None  # only events with value >= this are training positives
    #   (e.g. ratings >= 4); histories still hold every event. None: every event is a positive
    value_weights: bool = False  # weight each positive's loss by its value (e.g. its rating)
    optimizer: str = "adam"  # "adam", "adamw" (decoupled weight decay) or "adagrad" (the TFRS tutorial's)
    lr_schedule: str = "constant"  # "constant", or "cosine": the learning rate decays to 0 over the run's
    #   epochs (a steadier last epoch; meant for a fixed number of epochs, validation_fraction=0)
    eval_metric: str = "recall"  # early-stopping metric at eval_k: "recall", "ndcg" or "hitrate"
    eval_exclude_seen: bool = True  # validation lists exclude training items (False: the TFRS protocol)
    user_batches: bool = False  # a batch is a set of users instead of interactions (see UserBatchLoss): each
    #   user's whole history is split at random into input and targets (a share history_dropout), and every
    #   target is scored against the full catalogue. Ignores event times: for random splits only. An epoch
    #   is then one pass over the users (batch_size users a batch)
    history_negative_weight: float = 1.0  # user_batches: weight of the items left visible in the softmax
    #   denominator. > 1 teaches the towers to rank a user's own history below other items: right where an
    #   item is consumed once (a movie is rated once) and the evaluation does not exclude seen items (TFRS)
    time_softmax: bool = False  # softmax over the catalogue as of each event's time (time_softmax.py; additive
    #   linear item towers): for time-ordered data with dynamic item inputs
    snapshot_days: float | None = None  # time_softmax: item inputs precomputed every this many days (None: the
    #   shortest count window)
    history: list = field(default_factory=list)  # filled in: one dict per epoch


def item_vectors(model: TwoTowerModel, features: FeatureBuilder, at_time: float | None = None,
                 batch_size: int = 8192) -> np.ndarray:
    """(n_items, D) item embeddings: the export that retrieval searches.

    Features are taken as of `at_time`, or by default as of `features.serving_times` (now, or the
    release of an item that is not out yet)."""
    n_items = features.train.n_items
    out = []
    with torch.no_grad():
        for start in range(0, n_items, batch_size):
            items = np.arange(start, min(start + batch_size, n_items))
            times = features.serving_times(items) if at_time is None else at_time
            out.append(model.item_tower(as_tensors(features.item_features(items, times))).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.output_dim), dtype=np.float32)


def user_vectors(model: TwoTowerModel, features: FeatureBuilder, users, at_time: float,
                 batch_size: int = 8192) -> np.ndarray:
    """(len(users), D) user embeddings with features as of `at_time`."""
    users = np.asarray(users, dtype=np.int64)
    out = []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            chunk = users[start:start + batch_size]
            out.append(model.user_tower(as_tensors(features.user_features(chunk, at_time))).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.output_dim), dtype=np.float32)


def as_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(values)) for name, values in arrays.items()}


def _take(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, torch.Tensor]:
    return {name: torch.from_numpy(np.ascontiguousarray(values[rows])) for name, values in arrays.items()}


HISTORY_FIELDS = ("history", "liked_history")  # the bags that history dropout thins out


def drop_history(arrays: dict[str, np.ndarray], rate: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each history token set to padding with probability `rate`; kept recency weights renormalised.

    Then columns that are padding in every row are cut off (they cost time and add nothing)."""
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
    return out


def validation_metric(model: TwoTowerModel, features: FeatureBuilder, validation: Interactions, k: int,
                      users: np.ndarray, metric: str = "recall", exclude_seen: bool = True) -> float:
    """metric@k ("recall", "ndcg", "hitrate", ...) on validation interactions over the full catalogue;
    training items excluded from the lists unless exclude_seen=False."""
    model.eval()
    scores = user_vectors(model, features, users, features.now) @ item_vectors(model, features).T
    if exclude_seen:
        mask_items(scores, features.train.to_csr(binary=True)[users])
    lists = top_k(scores, k)
    model.train()
    return evaluate_lists(lists, users, features.train, validation, k, exclude_seen)[f"{metric}@{k}"]


def _drop_ids(inputs: dict[str, np.ndarray] | None, name: str, rate: float, rng) -> dict[str, np.ndarray] | None:
    """Replace the id of a random share `rate` of the examples by the "unknown" id (training only)."""
    if inputs is not None and rate > 0 and name in inputs:
        dropped = rng.random(len(inputs[name])) < rate  # (B,)
        inputs = dict(inputs, **{name: np.where(dropped[:, None], UNKNOWN, inputs[name])})
    return inputs


def validation_recall(model: TwoTowerModel, features: FeatureBuilder, validation: Interactions, k: int,
                      users: np.ndarray) -> float:
    """recall@k of the model on validation interactions, full catalogue, training items excluded."""
    return validation_metric(model, features, validation, k, users, "recall")


def make_optimiser(model: torch.nn.Module, config: "TrainConfig") -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; expected adam, adamw or adagrad")


def make_schedule(optimiser: torch.optim.Optimizer, config: "TrainConfig", total_steps: int):
    """A per-step learning-rate multiplier: constant, or a cosine from 1 down to 0 over `total_steps`."""
    if config.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1.0)
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: 0.5 * (1.0 + np.cos(np.pi * min(step, total_steps) / max(total_steps, 1))))
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; expected constant or cosine")


class BatchLoss:
    """The softmax loss of one batch of training examples, everything `TrainConfig` switches included.

    Built once per training run (it precomputes every example's point-in-time features, the skipped
    impressions and the item frequencies for logQ); called once per batch with the batch's rows of the
    training log. `train_towers` calls it on each batch of its loop; `harness.distributed` calls
    it in every process on that process's shard of the global batch."""

    def __init__(self, features: FeatureBuilder, config: TrainConfig, side=None, train_on: Interactions | None = None):
        self.features, self.config = features, config
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
        if config.impression_negatives and side is not None:
            self.skipped = side.skipped_impressions(data.users, data.items, config.impression_negatives)  # (n, M)
        self.frequency = np.bincount(data.items[examples], minlength=self.n_items) / max(n, 1)  # P(a positive is item j)
        self.streaming = StreamingFrequency(seed=config.seed) if config.logq == "streaming" else None
        # When an item's inputs are the same at every one of its events (no dynamic counts or ages), all the
        # copies of an item in a batch get the same vector, so the in-batch softmax can score each distinct
        # item once (see distinct_in_batch_logits): exactly the same loss, far less work for large batches.
        self.static_items = self.item_inputs is not None and _same_inputs_per_item(self.item_inputs, data.items)

    def __call__(self, model: TwoTowerModel, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """The scalar loss of the examples `rows` (indices into the training log); rng draws the batch's
        random parts (history dropout, uniform negatives)."""
        cfg, features, data, n_items = self.config, self.features, self.data, self.n_items
        item_ids = torch.from_numpy(data.items[rows])
        if cfg.batch_features:  # built now, as of just before each example's event
            batch_users = features.user_features(data.users[rows], data.times[rows], target_items=data.items[rows])
            batch_items = None if cfg.full_softmax else features.item_features(data.items[rows], data.times[rows])
        else:
            batch_users = {name: values[rows] for name, values in self.user_inputs.items()}
            batch_items = {name: values[rows] for name, values in self.item_inputs.items()}
        if cfg.history_dropout or cfg.batch_features:
            batch_users = drop_history(batch_users, cfg.history_dropout, rng)
        if cfg.id_dropout:  # some examples see the "unknown" id: the towers learn to embed from features too
            batch_users = _drop_ids(batch_users, "user_id", cfg.id_dropout, rng)
            batch_items = _drop_ids(batch_items, "item_id", cfg.id_dropout, rng)
        users = model.user_tower(as_tensors(batch_users))  # (B, D)
        # The temperature scales the (B, D) user vectors rather than every (B, B) score: same logits,
        # B/D times less work (and none at all when the scale is 1).
        scaled = users * model.scale if model.scale != 1.0 else users  # (B, D)
        columns, labels, constant = [], None, None  # logit blocks, positive's column (None: column b), loss offset
        if cfg.full_softmax:  # the exact softmax: every item of the catalogue is a candidate
            # Each negative is featurised as of the time of a random example of the batch, so its age
            # and counts look like a positive's; featurising them all at one moment (say the batch's
            # earliest) would let the towers tell negatives from positives by age alone.
            at = data.times[rows][rng.integers(0, len(rows), n_items)]
            catalogue = model.item_tower(as_tensors(features.item_features(np.arange(n_items), at)))  # (n_items, D)
            columns.append(scaled @ catalogue.T)  # (B, n_items)
            labels = item_ids  # the positive's column is its item index
        else:
            # (with id dropout, two copies of an item may differ: then every copy is scored)
            use_distinct = (cfg.in_batch and self.static_items and cfg.logq != "streaming"
                            and not (cfg.id_dropout and "item_id" in batch_items))
            items = None if use_distinct else model.item_tower(as_tensors(batch_items))  # (B, D)
            if cfg.in_batch:
                log_q = None
                if cfg.logq == "exact":
                    log_q = torch.from_numpy(np.log(self.frequency[data.items[rows]] * len(rows))).float()
                elif cfg.logq == "streaming":
                    self.streaming.update(data.items[rows])
                    log_q = torch.from_numpy(np.log(self.streaming.probability(data.items[rows]))).float()
                if use_distinct:  # each distinct item of the batch scored once (exact, faster)
                    block, labels, constant = distinct_in_batch_logits(
                        model, scaled, batch_items, data.items[rows], self.frequency if cfg.logq == "exact" else None,
                        cfg.mask_accidental_hits)
                    columns.append(block)
                else:
                    columns.append(in_batch_logits(scaled @ items.T, item_ids, log_q,
                                                   cfg.mask_accidental_hits))
            else:  # the positive alone in column 0 of the in-batch layout
                if items is None:
                    items = model.item_tower(as_tensors(batch_items))  # (B, D)
                positive = (scaled * items).sum(dim=1)
                diagonal = torch.full((len(rows), len(rows)), float("-inf"))
                columns.append(diagonal.diagonal_scatter(positive))
        if cfg.uniform_negatives and not cfg.full_softmax:
            negative_ids = rng.integers(0, n_items, cfg.uniform_negatives)
            # Each negative is featurised as of the time of a random example of the batch, so its age
            # and counts look like a positive's; featurising them all at one moment (say the batch's
            # earliest) would let the towers tell negatives from positives by age alone.
            at = data.times[rows][rng.integers(0, len(rows), len(negative_ids))]
            negatives = model.item_tower(as_tensors(features.item_features(negative_ids, at)))  # (N, D)
            ids = torch.from_numpy(np.broadcast_to(negative_ids, (len(rows), len(negative_ids))).copy())
            log_q = float(np.log(cfg.uniform_negatives / n_items)) if cfg.logq != "none" else None
            columns.append(extra_negative_logits(scaled @ negatives.T, ids, item_ids,
                                                 -log_q if log_q is not None else None))
        if self.skipped is not None and not cfg.full_softmax:
            shown = self.skipped[rows]  # (B, M)
            flat = np.maximum(shown, 0).ravel()
            shown_vectors = model.item_tower(as_tensors(
                features.item_features(flat, np.repeat(data.times[rows], shown.shape[1]))))
            shown_vectors = shown_vectors.view(len(rows), shown.shape[1], -1)  # (B, M, D)
            shown_scores = torch.einsum("bd,bmd->bm", scaled, shown_vectors)
            columns.append(extra_negative_logits(shown_scores, torch.from_numpy(shown), item_ids,
                                                 float(np.log(cfg.impression_weight))))
        weights = torch.from_numpy(data.values[rows]) if cfg.value_weights else None
        logits = columns[0] if len(columns) == 1 else torch.cat(columns, dim=1)  # no copy for one block
        loss = softmax_loss(logits, weights, labels)
        if constant is not None:  # distinct_in_batch_logits: the exact loss value
            loss = loss + (constant.mean() if weights is None else (constant * weights).sum() / weights.sum())
        return loss


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
    distinct, first, inverse, counts = np.unique(items, return_index=True, return_inverse=True, return_counts=True)
    vectors = model.item_tower(as_tensors({name: values[first] for name, values in batch_items.items()}))  # (U, D)
    log_counts = np.log(counts)  # (U,)
    offsets = log_counts.copy()
    if frequency is not None:  # logQ: q = probability that a batch holds the item = frequency x B
        offsets -= np.log(frequency[distinct] * len(items))
    logits = scaled_users @ vectors.T + torch.from_numpy(offsets).float()[None, :]  # (B, U)
    labels = torch.from_numpy(inverse.reshape(-1))  # (B,)
    own = torch.from_numpy(log_counts[inverse.reshape(-1)]).float()  # (B,) log c of each row's positive
    if mask_accidental_hits:  # the other copies of the positive are not negatives: count 1 in its column
        logits = logits.index_put((torch.arange(len(items)), labels), -own, accumulate=True)
        constant = None
    else:
        constant = own  # the positive is one of c identical columns: add back log c
    return logits, labels, constant


class UserBatchLoss:
    """The denoising loss of one batch of *users* (TrainConfig.user_batches): predict the hidden part of
    each user's history from the rest, with a softmax over the full catalogue.

    For each user of the batch, every item of their training history is hidden with probability
    `history_dropout`; the user tower sees the items left (and every other user field; hidden items are
    also taken out of the liked-items bag), and each hidden item is a positive:

        user vectors  U = user_tower(history with the targets hidden)           (B, D)
        item vectors  V = item_tower(every item of the catalogue)               (n_items, D)
        loss          mean over the hidden items (b, i) of  -log softmax(U V^T / temperature)[b, i]

    This is the interaction loss with "all-but-target" histories, with a random share of the history
    held out at once instead of one item, so one user-tower pass serves many positives (about
    history_dropout x |history|): a denoising autoencoder over the history, the two-tower form of
    Mult-DAE (Liang et al. 2018, "Variational autoencoders for collaborative filtering") and of the
    dropout-emphasised linear autoencoders of Steck (2020, "Autoencoders that don't overfit towards the
    identity"). Event times are ignored (every history is taken as of the end of training), so this is
    for random splits, where "before t" has no meaning anyway. Same call signature as BatchLoss, with
    `rows` indexing `examples` = the users who have a history."""

    def __init__(self, features: FeatureBuilder, config: TrainConfig, side=None, train_on: Interactions | None = None):
        if train_on is not None and train_on is not features.train:
            raise ValueError("user_batches trains on the histories of features.train; train_on is not supported")
        if config.min_positive_value is not None or config.value_weights or config.impression_negatives:
            raise ValueError("user_batches does not support min_positive_value, value_weights or impression_negatives")
        if not 0.0 < config.history_dropout < 1.0:
            raise ValueError(f"user_batches needs 0 < history_dropout < 1 (the share of each history to predict), "
                             f"got {config.history_dropout}")
        if "history" not in {spec.name for spec in features.user_fields()}:
            raise ValueError("user_batches predicts hidden history items: the 'history' field must not be dropped")
        self.features, self.config = features, config
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
        logits = (users * model.scale) @ catalogue.T  # (B, n_items); catalogue: (n_items, D)
        if cfg.history_negative_weight != 1.0:  # the visible history as weighted (hard) negatives
            visible = np.zeros((len(rows), n_items), dtype=np.float32)  # (B, n_items)
            shown = (history != PAD) & ~hidden
            visible[np.nonzero(shown)[0], history[shown] - 2] = np.log(cfg.history_negative_weight)
            logits = logits + torch.from_numpy(visible)
        log_p = torch.log_softmax(logits, dim=1)  # (B, n_items)
        b, j = np.nonzero(hidden)  # one positive per hidden item
        if len(b) == 0:
            return (log_p * 0.0).sum()  # nothing hidden in this batch (tiny histories): a zero loss
        return -log_p[torch.from_numpy(b), torch.from_numpy(history[b, j] - 2)].mean()


def train_towers(model: TwoTowerModel, features: FeatureBuilder, config: TrainConfig,
                 validation: Interactions | None = None, side=None, epochs: int | None = None,
                 train_on: Interactions | None = None) -> TwoTowerModel:
    """Train `model` on every interaction of `train_on` (default: `features.train`, the log the
    features are built from); early-stop on `validation` if given."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    loss_class = UserBatchLoss if config.user_batches else BatchLoss
    if config.time_softmax:
        from twotower_mini.time_softmax import TimeSoftmaxLoss as loss_class
    batch_loss = loss_class(features, config, side=side, train_on=train_on)
    examples = batch_loss.examples  # rows of the training log that are training positives (users with user_batches)
    n = len(examples)
    optimiser = make_optimiser(model, config)
    eval_users = None
    if validation is not None:
        eval_users = test_users(validation)
        if len(eval_users) > config.eval_users:
            eval_users = np.sort(rng.choice(eval_users, config.eval_users, replace=False))
    best_score, best_state, waited = -1.0, None, 0
    total_epochs = epochs or config.epochs
    schedule = make_schedule(optimiser, config, total_epochs * int(np.ceil(n / config.batch_size)))
    model.train()
    for epoch in range(total_epochs):
        order = rng.permutation(examples)
        batches = range(0, n, config.batch_size)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{total_epochs}", disable=not config.progress, leave=False)
        losses, start = [], time.perf_counter()
        for first in bar:
            rows = order[first:first + config.batch_size]
            loss = batch_loss(model, rows, rng)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            if config.progress:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - start,
                  "examples_per_second": n / (time.perf_counter() - start)}
        if validation is not None:
            score = validation_metric(model, features, validation, config.eval_k, eval_users, config.eval_metric,
                                      config.eval_exclude_seen)
            record[f"val_{config.eval_metric}@{config.eval_k}"] = score
            if score > best_score:
                best_score, waited = score, 0
                best_state = {name: value.clone() for name, value in model.state_dict().items()}
            else:
                waited += 1
        config.history.append(record)
        if config.progress:
            tqdm.write(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        if validation is not None and waited >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model
