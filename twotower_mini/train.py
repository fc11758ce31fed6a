"""Training the two towers: one plain loop over shuffled batches, on one process or several.

Each epoch visits every training example once, in a seeded random order, and takes one optimiser
step per batch on the loss of `twotower_mini.batches` (the in-batch softmax with logQ correction and
its variants: see that module). After each epoch the model is scored on the validation interactions
(recall@k over the full catalogue, seen items excluded; `eval_metric` picks another); training stops
when that has not improved for `patience` epochs and the best weights are kept. Everything is
seeded: on a CPU, two runs give identical numbers. `train_towers` returns the model and the history
(one row per epoch); the config only describes the run.

Data-parallel training (PyTorch DistributedDataParallel; Li et al. 2020) is a mode of the same loop,
as in nanoGPT's train.py: pass `group=ProcessGroup(rank, size)` once `torch.distributed` is set up
(the launcher is `harness.distributed`). Every process then draws the same seeded permutation each
epoch and takes its shard `rank::size`; `batch_size` stays the global batch, so each process trains
on batch_size / size examples a step and its in-batch softmax uses the other positives of its own
part as negatives; `backward()` averages the gradients across processes, so all take the same step;
rank 0 scores validation and broadcasts the decision to stop and, at the end, its best weights.
With one process the loop is exactly the single-process one.

Variants, each a TrainConfig switch: `full_softmax` scores every catalogue item instead of sampled
negatives (small catalogues); `user_batches` (UserBatchLoss) makes a batch a set of users whose
histories are partly hidden and predicted, a denoising autoencoder for random splits (the MovieLens
presets).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lineage.data import Interactions
from lineage.metrics import METRIC_NAMES, evaluate_lists, test_users
from lineage.topk import mask_items, top_k
from twotower_mini.batches import BatchLoss, UserBatchLoss, as_tensors  # noqa: F401 (as_tensors: re-exported)
from twotower_mini.features import MAX_DAYS, FeatureBuilder, check_range
from twotower_mini.towers import TwoTowerModel

LOGQ_MODES = ("none", "exact", "streaming")
OPTIMIZERS = ("adam", "adamw", "adagrad")
LR_SCHEDULES = ("constant", "cosine")
SEED_MAX = 2**32 - 1  # numpy's legacy and torch's seeds are unsigned 32-bit
MAX_WEIGHT = 1e6  # largest loss weight or weight decay


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
    eval_metric: str = "recall"  # early-stopping metric at eval_k: "recall", "ndcg", "hitrate", ...
    eval_exclude_seen: bool = True  # validation lists exclude training items (False: the TFRS protocol)
    user_batches: bool = False  # a batch is a set of users instead of interactions (see UserBatchLoss): each
    #   user's whole history is split at random into input and targets (a share history_dropout), and every
    #   target is scored against the full catalogue. Ignores event times: for random splits only. An epoch
    #   is then one pass over the users (batch_size users a batch)
    history_negative_weight: float = 1.0  # user_batches: weight of the items left visible in the softmax
    #   denominator. > 1 teaches the towers to rank a user's own history below other items: right where an
    #   item is consumed once (a movie is rated once) and the evaluation does not exclude seen items (TFRS);
    #   0 leaves them out of the softmax, as serving leaves seen items out of the lists
    time_softmax: bool = False  # softmax over the catalogue as of each event's time (time_softmax.py; additive
    #   linear item towers): for time-ordered data with dynamic item inputs
    snapshot_days: float | None = None  # time_softmax: item inputs precomputed every this many days (None: the
    #   shortest count window)

    def __post_init__(self):
        """Refuse settings that contradict each other when the config is built, naming the field."""
        for name, allowed in (("logq", LOGQ_MODES), ("optimizer", OPTIMIZERS), ("lr_schedule", LR_SCHEDULES),
                              ("eval_metric", METRIC_NAMES)):
            if getattr(self, name) not in allowed:
                _refuse(name, f"expected one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name, high in (("epochs", 100_000), ("batch_size", 2**24), ("patience", 100_000), ("eval_k", 10**6),
                           ("eval_users", 10**9), ("threads", 1024)):
            check_range("TrainConfig", name, getattr(self, name), 1, high)
        for name, high in (("uniform_negatives", 10**7), ("impression_negatives", 10_000)):
            check_range("TrainConfig", name, getattr(self, name), 0, high)
        for name in ("id_dropout", "history_dropout"):
            check_range("TrainConfig", name, getattr(self, name), 0, 1, high_open=True)
        if self.history_negative_weight < 0:
            _refuse("history_negative_weight", f"expected a weight >= 0, got {self.history_negative_weight}")
        for name in ("history_negative_weight", "weight_decay"):
            check_range("TrainConfig", name, getattr(self, name), 0, MAX_WEIGHT)
        check_range("TrainConfig", "impression_weight", self.impression_weight, 0, MAX_WEIGHT, low_open=True)
        check_range("TrainConfig", "learning_rate", self.learning_rate, 0, 100, low_open=True)
        check_range("TrainConfig", "seed", self.seed, 0, SEED_MAX)
        check_range("TrainConfig", "snapshot_days", self.snapshot_days, 0, MAX_DAYS, low_open=True, optional=True)
        check_range("TrainConfig", "min_positive_value", self.min_positive_value, -1e12, 1e12, optional=True)
        if self.user_batches:  # the denoising loss: a share of each history is the targets
            if self.history_dropout == 0.0:
                _refuse("history_dropout", "user_batches predicts the hidden share of each history: "
                                           "set 0 < history_dropout < 1")
            for name in ("min_positive_value", "value_weights", "impression_negatives"):
                if getattr(self, name):
                    _refuse(name, f"user_batches scores whole histories; {name} is for interaction batches only")
        elif self.history_negative_weight != 1.0:
            _refuse("history_negative_weight", "applies to user_batches only")
        elif self.full_softmax:
            for name in ("uniform_negatives", "impression_negatives"):
                if getattr(self, name):
                    _refuse(name, "full_softmax already scores every catalogue item: no extra negatives to add")
        elif not (self.in_batch or self.uniform_negatives or self.impression_negatives):
            _refuse("in_batch", "no negatives at all: keep in_batch, or add uniform_negatives or impression_negatives")


def _refuse(name: str, message: str):
    raise ValueError(f"TrainConfig.{name}: {message}")


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
    return np.concatenate(out) if out else np.zeros((0, model.width), dtype=np.float32)


def user_vectors(model: TwoTowerModel, features: FeatureBuilder, users, at_time,
                 batch_size: int = 8192) -> np.ndarray:
    """(len(users), D) user embeddings with features as of `at_time`: one moment, or one per user."""
    users = np.asarray(users, dtype=np.int64)
    times = np.broadcast_to(np.asarray(at_time, dtype=np.float64), users.shape)  # (len(users),)
    out = []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            chunk = slice(start, start + batch_size)
            out.append(model.user_tower(as_tensors(features.user_features(users[chunk], times[chunk]))).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.width), dtype=np.float32)


def validation_metric(model: TwoTowerModel, features: FeatureBuilder, validation: Interactions, k: int,
                      users: np.ndarray, metric: str = "recall", exclude_seen: bool = True) -> float:
    """metric@k ("recall", "ndcg", "hitrate", ...) on validation interactions over the full catalogue;
    training items excluded from the lists unless exclude_seen=False. A k beyond the catalogue is
    capped at its size (a list cannot be longer than the catalogue)."""
    k = min(k, features.train.n_items)
    model.eval()
    scores = user_vectors(model, features, users, features.now) @ item_vectors(model, features).T
    if exclude_seen:
        mask_items(scores, features.train.to_csr(binary=True)[users])
    lists = top_k(scores, k)
    model.train()
    return evaluate_lists(lists, users, features.train, validation, k, exclude_seen)[f"{metric}@{k}"]


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


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in data-parallel training: process `rank` of `size` (torch.distributed set up)."""

    rank: int = 0  # 0 scores validation, decides early stopping and holds the reported history
    size: int = 1  # number of processes; 1 = ordinary single-process training


@dataclass
class TrainResult:
    """What a training run produced."""

    model: TwoTowerModel  # the trained towers (with validation: the best epoch's weights), in eval mode
    history: list[dict] = field(default_factory=list)  # one row per epoch: loss, seconds, examples (/s) and
    #   the validation metric (data-parallel: on rank 0 only)
    validation_users: np.ndarray | None = None  # the users scored after every epoch

    @property
    def best_epoch(self) -> int | None:
        """The epoch (1-based) whose weights were kept: the first with the best validation score."""
        scores = [value for row in self.history for key, value in row.items() if key.startswith("val_")]
        return int(np.argmax(scores)) + 1 if scores else None


def shard(order: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Process `rank`'s share of an epoch's permutation: every size-th example from position `rank`, over
    the longest prefix that divides by `size` (so every process runs the same number of steps; the tail
    waits for the next epoch's permutation)."""
    usable = len(order) // size * size
    return order[rank:usable:size]


class TowersWithLoss(nn.Module):
    """The towers with a batch loss as their forward pass, so that DistributedDataParallel sees the
    forward and the backward pass of every step."""

    def __init__(self, model: TwoTowerModel, batch_loss):
        super().__init__()
        self.model, self.batch_loss = model, batch_loss

    def forward(self, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        return self.batch_loss(self.model, rows, rng)


def validation_users(validation: Interactions, config: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """The users scored after every epoch: at most config.eval_users of them, drawn once from `rng`."""
    users = test_users(validation)
    if len(users) > config.eval_users:
        users = np.sort(rng.choice(users, config.eval_users, replace=False))
    return users


def train_towers(model: TwoTowerModel, features: FeatureBuilder, config: TrainConfig,
                 validation: Interactions | None = None, side=None, epochs: int | None = None,
                 train_on: Interactions | None = None, group: ProcessGroup | None = None) -> TrainResult:
    """Train `model` on every interaction of `train_on` (default: `features.train`, the log the
    features are built from); early-stop on `validation` if given. `epochs` overrides config.epochs;
    `group` makes this process one of several data-parallel ones (see the module docstring)."""
    group = group or ProcessGroup()
    if config.batch_size % group.size:
        raise ValueError(f"TrainConfig.batch_size: the global batch {config.batch_size} must divide by the "
                         f"number of processes ({group.size})")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)  # validation users, then the epochs' permutations: all processes alike
    batch_rng = rng if group.size == 1 else np.random.default_rng([config.seed, group.rank])  # this process's draws
    loss_class = UserBatchLoss if config.user_batches else BatchLoss
    if config.time_softmax:
        from twotower_mini.time_softmax import TimeSoftmaxLoss as loss_class
    batch_loss = loss_class(features, config, side=side, train_on=train_on)
    examples = batch_loss.examples  # rows of the training log that are positives (users with user_batches)
    step = TowersWithLoss(model, batch_loss)
    if group.size > 1:
        step = nn.parallel.DistributedDataParallel(step)  # averages the gradients during backward()
    optimiser = make_optimiser(model, config)
    eval_users = None if validation is None else validation_users(validation, config, rng)
    local_batch = config.batch_size // group.size
    total_epochs = epochs or config.epochs
    schedule = make_schedule(optimiser, config, total_epochs * int(np.ceil(len(examples) // group.size / local_batch)))
    show = config.progress and group.rank == 0
    history, best_score, best_state, waited = [], -1.0, None, 0
    model.train()
    for epoch in range(total_epochs):
        mine = shard(rng.permutation(examples), group.rank, group.size)
        _barrier(group)  # time the epoch from a common start
        start = time.perf_counter()
        bar = tqdm(range(0, len(mine), local_batch), desc=f"epoch {epoch + 1}/{total_epochs}", disable=not show,
                   leave=False)
        losses = []
        for first in bar:
            loss = step(mine[first:first + local_batch], batch_rng)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            if show:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        _barrier(group)
        seconds = time.perf_counter() - start
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": seconds,
                  "examples": len(mine) * group.size, "examples_per_second": len(mine) * group.size / seconds}
        stop = False
        if validation is not None and group.rank == 0:
            score = validation_metric(model, features, validation, config.eval_k, eval_users, config.eval_metric,
                                      config.eval_exclude_seen)
            record[f"val_{config.eval_metric}@{config.eval_k}"] = score
            if score > best_score:
                best_score, waited = score, 0
                best_state = {name: value.clone() for name, value in model.state_dict().items()}
            else:
                waited += 1
            stop = waited >= config.patience
        history.append(record)
        if show:
            tqdm.write(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        if _rank_0_says(stop, group):  # everyone stops together
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    if group.size > 1 and validation is not None:  # every process ends with rank 0's best weights
        import torch.distributed as dist

        with torch.no_grad():
            for value in model.state_dict().values():
                dist.broadcast(value, src=0)
    model.eval()
    return TrainResult(model, history, eval_users)


def _barrier(group: ProcessGroup) -> None:
    if group.size > 1:
        import torch.distributed as dist

        dist.barrier()


def _rank_0_says(flag: bool, group: ProcessGroup) -> bool:
    """Rank 0's `flag`, the same in every process."""
    if group.size == 1:
        return flag
    import torch.distributed as dist

    value = torch.tensor([float(flag)])
    dist.broadcast(value, src=0)
    return bool(value.item())
