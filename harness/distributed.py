"""Data-parallel training of the two towers on several processes (PyTorch DistributedDataParallel).

    torchrun --nproc_per_node 2 -m harness.distributed --dataset world --world-size tiny --out run.json
    python -m harness.distributed --dataset world --world-size tiny --out run.json   # one process

The single-process path (`train_towers`, `TwoTowerRecommender`) stays the default everywhere; this module
shows what changes when the same training runs on P processes (here: gloo on CPU, one machine):

1. **every process loads the data** (the world is generated from its seed, a file is read) and builds
   the same point-in-time features; the model is built from the same seed, and DDP broadcasts rank 0's
   weights at the start anyway;
2. **sharded data loading**: each epoch, every process draws the same seeded permutation of the
   training examples and takes its shard `rank::P` of it (the tail that does not divide by P is left
   for the next epoch's permutation, so every process runs the same number of steps);
3. **in-batch negatives per process**: a global batch of B examples is B/P examples per process, and
   each process's softmax uses the other B/P - 1 positives of *its own* batch as negatives
   (`train.BatchLoss`, the very loss `train_towers` uses, with logQ computed for B/P);
4. **DDP averages the gradients** across processes during `backward()` (an all-reduce per bucket of
   parameters, overlapped with the backward pass), so every process takes the same optimiser step;
5. **rank 0 evaluates** validation recall after each epoch, decides early stopping (broadcast to the
   others), writes the JSON report and, with --checkpoint, saves the best weights.

Scaling out to several machines is the same command with a rendezvous (README, "Scaling out"):
`torchrun --nnodes 4 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 ...`; on GPUs
the backend becomes NCCL. Note what a larger global batch does to in-batch negatives: with P processes
each softmax still sees only B/P - 1 negatives. To keep (or grow) the number of negatives with the global
batch, gather the item vectors of every process (`torch.distributed.nn.all_gather`, which passes
gradients back) and score each user against all B items; this module keeps the per-process version.

Reference: Li et al. (2020), "PyTorch Distributed: Experiences on Accelerating Data Parallel Training".
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lineage.metrics import test_users
from lineage.splits import validation_split
from twotower_mini.features import FeatureBuilder, FeatureConfig, SideLog
from twotower_mini.towers import TowerConfig, TwoTowerModel
from twotower_mini.train import BatchLoss, TrainConfig, make_optimiser, validation_metric


class _Loss(nn.Module):
    """The towers with the batch loss as their forward pass, so DDP sees forward and backward."""

    def __init__(self, model: TwoTowerModel, batch_loss: BatchLoss):
        super().__init__()
        self.model = model
        self.batch_loss = batch_loss

    def forward(self, rows: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        return self.batch_loss(self.model, rows, rng)


def process_group() -> tuple[int, int, bool]:
    """(rank, number of processes, distributed?): from torchrun's environment, else one process."""
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, False
    import torch.distributed as dist

    dist.init_process_group(backend=os.environ.get("TT_DIST_BACKEND", "gloo"))
    return dist.get_rank(), dist.get_world_size(), True


def shard(order: np.ndarray, rank: int, processes: int) -> np.ndarray:
    """This process's share of an epoch's permutation: every P-th example from position `rank`, over the
    longest prefix that divides by P (so every process gets the same number of examples)."""
    usable = len(order) // processes * processes
    return order[rank:usable:processes]


def run(args) -> dict | None:
    """Train on this process's shard; rank 0 returns (and writes) the report, other ranks return None."""
    from harness import cli, leaderboard

    rank, processes, distributed = process_group()
    import torch.distributed as dist

    finished_cleanly = False
    try:
        if args.batch_size % processes:
            raise ValueError(f"--batch-size {args.batch_size} must divide by the number of processes ({processes})")
        torch.set_num_threads(args.threads)
        config = cli._leaderboard_config(args)
        data, world, parts, _ = leaderboard.prepare(config, log=lambda message: None)
        side = SideLog.from_world(world) if world is not None else None
        inner = validation_split(parts.train, config.protocol, 0.1, config.seed)
        features = FeatureBuilder(inner.train, FeatureConfig(history_length=args.history_length), side)
        towers = TowerConfig(embedding_dim=args.embedding_dim, hidden=tuple(args.hidden), output_dim=args.output_dim)
        local_batch = args.batch_size // processes
        training = TrainConfig(epochs=args.epochs, batch_size=local_batch, learning_rate=args.learning_rate,
                               seed=args.train_seed, threads=args.threads, progress=False, patience=args.patience,
                               eval_users=args.eval_users)
        torch.manual_seed(training.seed)
        model = TwoTowerModel(features.user_fields(), features.item_fields(), towers)
        batch_loss = BatchLoss(features, training, side=side)
        module = _Loss(model, batch_loss)
        if distributed:
            module = nn.parallel.DistributedDataParallel(module)
        optimiser = make_optimiser(module, training)
        order_rng = np.random.default_rng(training.seed)  # the same permutation in every process
        batch_rng = np.random.default_rng([training.seed, rank])  # this process's own random draws
        eval_users = test_users(inner.test)
        if len(eval_users) > training.eval_users:
            eval_users = np.sort(np.random.default_rng(training.seed).choice(eval_users, training.eval_users,
                                                                             replace=False))
        history, best, best_state, waited = [], -1.0, None, 0
        for epoch in range(training.epochs):
            mine = shard(order_rng.permutation(batch_loss.examples), rank, processes)
            module.train()
            if distributed:
                dist.barrier()  # time the epoch from a common start
            start = time.perf_counter()
            losses = []
            for first in range(0, len(mine), local_batch):
                loss = module(mine[first:first + local_batch], batch_rng)
                optimiser.zero_grad()
                loss.backward()  # DDP: gradients averaged over processes here
                optimiser.step()
                losses.append(loss.item())
            if distributed:
                dist.barrier()
            seconds = time.perf_counter() - start
            examples = len(mine) * processes
            stop = torch.zeros(1)
            record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": seconds,
                      "examples": examples, "examples_per_second": examples / seconds}
            if rank == 0:
                score = validation_metric(model, features, inner.test, training.eval_k, eval_users)
                record[f"val_recall@{training.eval_k}"] = score
                if score > best:
                    best, waited, best_epoch = score, 0, epoch + 1
                    best_state = {name: value.clone() for name, value in model.state_dict().items()}
                else:
                    waited += 1
                stop[0] = float(waited >= training.patience)
                history.append(record)
                if args.verbose:
                    print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()),
                          file=sys.stderr, flush=True)
            if distributed:
                dist.broadcast(stop, src=0)  # everyone stops together
            if stop[0] > 0:
                break
        if rank != 0:
            finished_cleanly = True
            return None
        model.load_state_dict(best_state)
        total_examples = sum(r["examples"] for r in history)
        total_seconds = sum(r["seconds"] for r in history)
        report = {
            "dataset": config.dataset, "world_size": config.world_size, "protocol": config.protocol,
            "processes": processes, "backend": dist.get_backend() if distributed else None,
            "global_batch": args.batch_size, "per_process_batch": local_batch,
            "in_batch_negatives_per_example": local_batch - 1, "threads_per_process": args.threads,
            "train_examples": len(batch_loss.examples), "epochs": history, "best_epoch": best_epoch,
            f"val_recall@{training.eval_k}": best, "examples_per_second": total_examples / total_seconds,
        }
        if args.checkpoint:
            _save_checkpoint(args.checkpoint, model, features.config, towers, training, config, parts.train)
            report["checkpoint"] = args.checkpoint
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        finished_cleanly = True
        return report
    finally:
        if distributed:
            if finished_cleanly:  # wait until rank 0 has written its report: a process that tears the
                dist.barrier()  # group down while its peer still runs can abort in gloo's threads
            dist.destroy_process_group()


def _save_checkpoint(path, model, feature_config, towers, training, config, train) -> None:
    """A safe checkpoint, readable by `python -m twotower_mini evaluate --checkpoint PATH`."""
    from dataclasses import replace

    from twotower_mini import checkpoint
    from harness import cli
    from twotower_mini.recommender import TwoTowerConfig, TwoTowerRecommender

    recommender = TwoTowerRecommender(TwoTowerConfig(features=feature_config, towers=towers,
                                                     training=replace(training, history=[]), refit=False))
    recommender.model_ = model
    checkpoint.save(path, recommender, cli._data_spec(config), train)


def build_parser() -> argparse.ArgumentParser:
    from harness import cli

    parser = argparse.ArgumentParser(
        prog="torchrun --nproc_per_node P -m harness.distributed",
        description="Train the two towers data-parallel with PyTorch DDP: each process takes a shard of every "
                    "epoch, in-batch negatives come from its own part of the global batch, gradients are "
                    "averaged, rank 0 evaluates validation recall and writes the report. Without torchrun it "
                    "runs as one process.", formatter_class=cli.FORMATTER)
    cli._add_data_options(parser)
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=int, default=5, help="maximum number of epochs")
    group.add_argument("--batch-size", type=int, default=512,
                       help="global batch: each of P processes trains on batch-size / P examples per step")
    group.add_argument("--learning-rate", type=float, default=3e-3, help="Adam learning rate")
    group.add_argument("--patience", type=int, default=2, help="epochs without validation improvement before stopping")
    group.add_argument("--eval-users", type=int, default=2000, help="validation users scored by rank 0")
    group.add_argument("--train-seed", type=int, default=0, help="model and shuffling seed")
    group.add_argument("--threads", type=int, default=1, help="torch threads per process")
    group.add_argument("--history-length", type=int, default=20, help="items in the user's history bag")
    group.add_argument("--embedding-dim", type=int, default=32, help="width of each field embedding")
    group.add_argument("--hidden", type=int, nargs="*", default=[64], help="tower MLP hidden layers")
    group.add_argument("--output-dim", type=int, default=32, help="size of the user and item vectors")
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="JSON report written by rank 0")
    out.add_argument("--checkpoint", help="also save the best weights as a checkpoint (rank 0)")
    out.add_argument("--verbose", action="store_true", help="rank 0 prints one line per epoch on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    from lineage.data import DataError

    args = build_parser().parse_args(argv)
    try:
        report = run(args)
    except (DataError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if report is not None:
        print(f"{report['processes']} process(es): val recall@10 {report['val_recall@10']:.4f}, "
              f"{report['examples_per_second']:,.0f} examples/s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
