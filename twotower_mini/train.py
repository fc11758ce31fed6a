"""Training the two towers: one plain loop over shuffled batches, on one process or several.

Each epoch visits every training example once, in a seeded random order, and takes one optimiser
step per batch on the loss of `twotower_mini.batches` (the in-batch softmax with logQ correction and
its variants: see that module). After each epoch the model is scored on the validation interactions
(recall@k over the full catalogue, seen items excluded; `eval_metric` picks another); training stops
when that has not improved for `patience` epochs and the best weights are kept. Everything is
seeded: on a CPU, two runs give identical numbers. `train_towers` returns the model and the history
(one row per epoch); the config only describes the run.

Data-parallel training (PyTorch DistributedDataParallel; Li et al. 2020) is a mode of the same loop,
as in nanoGPT's train.py: pass `group=DataParallel(rank, size)` once `torch.distributed` is set up
(the launcher is `harness.distributed`). Every process then draws the same seeded permutation each
epoch and takes its shard `rank::size`; `batch_size` stays the global batch, so each process trains
on batch_size / size examples a step and its in-batch softmax uses the other positives of its own
part as negatives; `backward()` averages the gradients across processes, so all take the same step;
rank 0 scores validation and broadcasts the decision to stop and, at the end, its best weights.
With one process the loop is exactly the single-process one.

The loss is `TrainConfig.loss`: `SampledSoftmax` (the default), `SnapshotSoftmax` (its negatives as of
each example's event) or `FullSoftmax`, which scores every catalogue item instead of sampled negatives
(small catalogues), all in batches.BatchLoss;
`DenoisingUsers` (batches.UserBatchLoss) makes a batch a set of users whose histories are partly hidden
and predicted, a denoising autoencoder for random splits (the MovieLens presets); `TimeSoftmax`
(time_softmax.TimeSoftmaxLoss) scores the catalogue as it was at each event (data split by time).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lineage.data import Interactions
from lineage.metrics import evaluate_lists, users_with_test_events
from lineage.topk import mask_items, top_k
from twotower_mini.batches import BatchLoss, UserBatchLoss
from twotower_mini.config import DenoisingUsers, FullSoftmax, SampledSoftmax, SnapshotSoftmax, TimeSoftmax, TrainConfig
from twotower_mini.features import FeatureBuilder
from twotower_mini.time_softmax import TimeSoftmaxLoss
from twotower_mini.towers import TwoTowerModel, item_vectors, user_vectors



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


OPTIMISERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
              "adagrad": torch.optim.Adagrad}  # TrainConfig.optimiser -> the torch class
BATCH_LOSSES = {SampledSoftmax: BatchLoss, SnapshotSoftmax: BatchLoss, FullSoftmax: BatchLoss,  # the type of
                DenoisingUsers: UserBatchLoss, TimeSoftmax: TimeSoftmaxLoss}  # TrainConfig.loss -> what computes it


def make_optimiser(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser TrainConfig.optimiser names (the config has checked the name)."""
    return OPTIMISERS[config.optimiser](model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


def make_schedule(optimiser: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    """A per-step learning-rate multiplier: constant, or a cosine from 1 down to 0 over `total_steps`."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: 0.5 * (1.0 + np.cos(np.pi * min(step, total_steps) / max(total_steps, 1))))
    return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1.0)  # "constant"


@dataclass(frozen=True)
class DataParallel:
    """This process's place in data-parallel training: process `rank` of `size`.

    With `simulated=True`, one process plays all `size` of them (rank is ignored): every step it
    computes each process's loss on that process's part of the global batch, with that process's own
    random draws, and averages them, which is what DistributedDataParallel's averaged gradients
    compute. It gives the data-parallel result without torch.distributed (tests, and to see that
    data parallelism changes the batch each softmax sees, not the maths of a step)."""

    rank: int = 0  # 0 scores validation, decides early stopping and holds the reported history
    size: int = 1  # number of processes; 1 = ordinary single-process training
    simulated: bool = False  # one process stands for all `size` (see above)


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
    users = users_with_test_events(validation)
    if len(users) > config.eval_users:
        users = np.sort(rng.choice(users, config.eval_users, replace=False))
    return users


def make_batch_loss(features: FeatureBuilder, config: TrainConfig, side=None, train_on: Interactions | None = None):
    """The loss of one batch that config.loss asks for (batches.py, or time_softmax.py)."""
    return BATCH_LOSSES[type(config.loss)](features, config, side=side, train_on=train_on)


class Steps:
    """The optimiser steps of one run: each process's (or, simulated, every process's) share of a global
    batch, its loss, the averaged gradient, and one step of the optimiser and the schedule."""

    def __init__(self, model, features, config: TrainConfig, side, train_on, group: DataParallel, rng):
        ranks = range(group.size) if group.simulated else [group.rank]
        self.losses = [make_batch_loss(features, config, side, train_on) for _ in ranks]
        self.examples = self.losses[0].examples  # rows of the log that are positives (users with DenoisingUsers)
        self.forwards = [TowersWithLoss(model, loss) for loss in self.losses]
        if group.size > 1 and not group.simulated:
            self.forwards = [nn.parallel.DistributedDataParallel(self.forwards[0])]  # averages the gradients
        self.rngs = [rng] if group.size == 1 else [np.random.default_rng([config.seed, rank]) for rank in ranks]
        self.group, self.ranks = group, list(ranks)
        self.local_batch = config.batch_size // group.size
        self.optimiser = make_optimiser(model, config)

    def start(self, config: TrainConfig, epochs: int) -> None:
        """The learning-rate schedule over the run's steps."""
        per_epoch = int(np.ceil(len(self.examples) // self.group.size / self.local_batch))
        self.schedule = make_schedule(self.optimiser, config, epochs * per_epoch)

    def epoch(self, order: np.ndarray, bar_label: str, show: bool) -> list[float]:
        """One pass over this process's shards of `order`; returns the loss of each step (rank 0's part)."""
        shards = [shard(order, rank, self.group.size) for rank in self.ranks]
        bar = tqdm(range(0, len(shards[0]), self.local_batch), desc=bar_label, disable=not show, leave=False)
        losses = []
        for first in bar:
            parts = [forward(mine[first:first + self.local_batch], rng)
                     for forward, mine, rng in zip(self.forwards, shards, self.rngs)]
            loss = parts[0] if len(parts) == 1 else torch.stack(parts).mean()
            self.optimiser.zero_grad()
            loss.backward()
            self.optimiser.step()
            self.schedule.step()
            losses.append(parts[0].item())
            if show:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        return losses


def train_towers(model: TwoTowerModel, features: FeatureBuilder, config: TrainConfig,
                 validation: Interactions | None = None, side=None, epochs: int | None = None,
                 train_on: Interactions | None = None, group: DataParallel | None = None) -> TrainResult:
    """Train `model` on every interaction of `train_on` (default: `features.train`, the log the
    features are built from); early-stop on `validation` if given. `epochs` overrides config.epochs;
    `group` makes this process one of several data-parallel ones (see the module docstring)."""
    group = group or DataParallel()
    if config.batch_size % group.size:
        raise ValueError(f"TrainConfig.batch_size: the global batch {config.batch_size} must divide by the "
                         f"number of processes ({group.size})")
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)  # validation users, then the epochs' permutations: all processes alike
    steps = Steps(model, features, config, side, train_on, group, rng)
    eval_users = None if validation is None else validation_users(validation, config, rng)
    total_epochs = epochs or config.epochs
    steps.start(config, total_epochs)
    show = config.progress and group.rank == 0
    history, best = [], _Best()
    model.train()
    for epoch in range(total_epochs):
        order = rng.permutation(steps.examples)
        _barrier(group)  # time the epoch from a common start
        start = time.perf_counter()
        losses = steps.epoch(order, f"epoch {epoch + 1}/{total_epochs}", show)
        _barrier(group)
        seconds, seen = time.perf_counter() - start, len(shard(order, 0, group.size)) * group.size
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": seconds, "examples": seen,
                  "examples_per_second": seen / seconds}
        stop = False
        if validation is not None and group.rank == 0:
            score = validation_metric(model, features, validation, config.eval_k, eval_users, config.eval_metric,
                                      config.eval_exclude_seen)
            record[f"val_{config.eval_metric}@{config.eval_k}"] = score
            stop = best.update(score, model) >= config.patience
        history.append(record)
        if show:
            tqdm.write(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        if _rank_0_says(stop, group):  # everyone stops together
            break
    best.restore(model, group, validation is not None)
    return TrainResult(model.eval(), history, eval_users)


class _Best:
    """The best validation score so far, its weights, and how many epochs since it improved."""

    def __init__(self):
        self.score, self.state, self.waited = -1.0, None, 0

    def update(self, score: float, model) -> int:
        """Record an epoch's score; returns the epochs waited since the last improvement."""
        if score > self.score:
            self.score, self.waited = score, 0
            self.state = {name: value.clone() for name, value in model.state_dict().items()}
        else:
            self.waited += 1
        return self.waited

    def restore(self, model, group: DataParallel, validated: bool) -> None:
        """Load the best weights (on rank 0), and give every process rank 0's weights."""
        if self.state is not None:
            model.load_state_dict(self.state)
        if group.size > 1 and not group.simulated and validated:
            import torch.distributed as dist

            with torch.no_grad():
                for value in model.state_dict().values():
                    dist.broadcast(value, src=0)


def _barrier(group: DataParallel) -> None:
    if group.size > 1 and not group.simulated:
        import torch.distributed as dist

        dist.barrier()


def _rank_0_says(flag: bool, group: DataParallel) -> bool:
    """Rank 0's `flag`, the same in every process."""
    if group.size == 1 or group.simulated:
        return flag
    import torch.distributed as dist

    value = torch.tensor([float(flag)])
    dist.broadcast(value, src=0)
    return bool(value.item())
