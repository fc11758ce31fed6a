"""The launcher of data-parallel training of the two towers (PyTorch DistributedDataParallel).

    torchrun --nproc_per_node 2 -m harness.distributed --dataset world --world-size tiny --out run.json
    python -m harness.distributed --dataset world --world-size tiny --out run.json   # one process

The training itself is `twotower_mini.train.train_towers`, the same loop the single-process path runs,
given this process's place in the group (`ProcessGroup(rank, size)`). This module only starts it:

1. reads the options and joins the process group torchrun describes in the environment (gloo on
   CPU; without torchrun it is one process);
2. **every process loads the data** (the world is generated from its seed, a file is read) and builds
   the same point-in-time features and the same initial model (DDP also broadcasts rank 0's weights);
3. calls `train_towers`: each epoch every process takes its shard of the same seeded permutation, a
   global batch of B examples is B/P per process (so each softmax has B/P - 1 in-batch negatives),
   `backward()` averages the gradients, rank 0 scores validation and stops everyone together;
4. rank 0 writes the JSON report and, with --checkpoint, a checkpoint the `evaluate` command reads.

Scaling out to several machines is the same command with a rendezvous (README, "Scaling out"):
`torchrun --nnodes 4 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 ...`; on GPUs
the backend becomes NCCL. Note what a larger global batch does to in-batch negatives: with P processes
each softmax still sees only B/P - 1 negatives. To keep (or grow) the number of negatives with the global
batch, gather the item vectors of every process (`torch.distributed.nn.all_gather`, which passes
gradients back) and score each user against all B items; the training loop keeps the per-process version.

Reference: Li et al. (2020), "PyTorch Distributed: Experiences on Accelerating Data Parallel Training".
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch

from harness import leaderboard, options
from lineage.outputs import check_distinct, check_output, write_text_atomic
from lineage.splits import validation_split
from twotower_mini import checkpoint
from twotower_mini.features import FeatureBuilder, FeatureConfig, SideLog
from twotower_mini.recommender import TwoTowerConfig, TwoTowerRecommender
from twotower_mini.towers import TowerConfig, TwoTowerModel
from twotower_mini.train import ProcessGroup, TrainConfig, train_towers


def join_process_group() -> tuple[ProcessGroup, bool]:
    """(this process's place, distributed?): from torchrun's environment, else one process."""
    if "WORLD_SIZE" not in os.environ:
        return ProcessGroup(), False
    import torch.distributed as dist

    dist.init_process_group(backend=os.environ.get("TT_DIST_BACKEND", "gloo"))
    return ProcessGroup(dist.get_rank(), dist.get_world_size()), True


def run(args) -> dict | None:
    """Train as this process's part of the group; rank 0 returns (and writes) the report, the others None."""
    group, distributed = join_process_group()
    import torch.distributed as dist

    finished_cleanly = False
    try:
        if args.batch_size % group.size:
            raise ValueError(f"--batch-size {args.batch_size} must divide by the number of processes ({group.size})")
        torch.set_num_threads(args.threads)
        config = options.leaderboard_config(args)
        # outputs are checked before any loading or training (on every rank, so all stop together)
        inputs = options._inputs(config)
        check_output(args.out, "--out", inputs, args.overwrite)
        if args.checkpoint is not None:  # not truthiness: an empty path must reach the check and be refused
            check_output(args.checkpoint, "--checkpoint", inputs, args.overwrite)
            check_distinct([("--out", args.out), ("--checkpoint", args.checkpoint)])
        data, world, parts, _ = leaderboard.prepare(config, log=lambda message: None)
        side = SideLog.from_world(world) if world is not None else None
        inner = validation_split(parts.train, config.protocol, 0.1, config.seed)
        features = FeatureBuilder(inner.train, FeatureConfig(history_length=args.history_length), side)
        towers = TowerConfig(embedding_dim=args.embedding_dim, hidden=tuple(args.hidden), output_dim=args.output_dim)
        training = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                               seed=args.train_seed, threads=args.threads, progress=args.verbose,
                               patience=args.patience, eval_users=args.eval_users)
        torch.manual_seed(training.seed)
        model = TwoTowerModel(features.user_fields(), features.item_fields(), towers)
        result = train_towers(model, features, training, validation=inner.test, side=side, group=group)
        if group.rank != 0:
            finished_cleanly = True
            return None
        history, key = result.history, f"val_recall@{training.eval_k}"
        report = {
            "dataset": config.dataset, "world_size": config.world_size, "protocol": config.protocol,
            "processes": group.size, "backend": dist.get_backend() if distributed else None,
            "global_batch": args.batch_size, "per_process_batch": args.batch_size // group.size,
            "in_batch_negatives_per_example": args.batch_size // group.size - 1, "threads_per_process": args.threads,
            "train_examples": len(inner.train), "epochs": history,
            "best_epoch": result.best_epoch, key: history[result.best_epoch - 1][key],
            "validation_users": len(result.validation_users),
            "examples_per_second": sum(r["examples"] for r in history) / sum(r["seconds"] for r in history),
        }
        if args.checkpoint is not None:
            recommender = TwoTowerRecommender(TwoTowerConfig(features=features.config, towers=towers,
                                                             training=training, refit=False))
            recommender.model_ = result.model
            checkpoint.save(args.checkpoint, recommender, options.data_spec(config), parts.train,
                            overwrite=args.overwrite, option="--checkpoint")
            report["checkpoint"] = args.checkpoint
        write_text_atomic(args.out, json.dumps(report, indent=2) + "\n", overwrite=args.overwrite, option="--out")
        finished_cleanly = True
        return report
    finally:
        if distributed:
            if finished_cleanly:  # wait until rank 0 has written its report: a process that tears the
                dist.barrier()  # group down while its peer still runs can abort in gloo's threads
            dist.destroy_process_group()


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The launcher's options; every number is checked by argparse (one line naming the option)."""
    int_in = options.int_in
    parser = argparse.ArgumentParser(
        prog="torchrun --nproc_per_node P -m harness.distributed",
        description="Train the two towers data-parallel with PyTorch DDP: each process takes a shard of every "
                    "epoch, in-batch negatives come from its own part of the global batch, gradients are "
                    "averaged, rank 0 evaluates validation recall and writes the report. Without torchrun it "
                    "runs as one process.", formatter_class=options.FORMATTER)
    options.add_data_options(parser)
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=int_in(1), default=5, help="maximum number of epochs")
    group.add_argument("--batch-size", type=int_in(1), default=512,
                       help="global batch: each of P processes trains on batch-size / P examples per step")
    group.add_argument("--learning-rate", type=positive_float, default=3e-3, help="Adam learning rate")
    group.add_argument("--patience", type=int_in(1), default=2,
                       help="epochs without validation improvement before stopping")
    group.add_argument("--eval-users", type=int_in(1), default=2000, help="validation users scored by rank 0")
    group.add_argument("--train-seed", type=int_in(0, options.SEED_MAX), default=0, help="model and shuffling seed")
    group.add_argument("--threads", type=int_in(1, os.cpu_count() or 1), default=1,
                       help="torch threads per process (at most the number of CPUs)")
    group.add_argument("--history-length", type=int_in(0), default=20,
                       help="items in the user's history bag (0: no history input)")
    group.add_argument("--embedding-dim", type=int_in(1), default=32, help="width of each field embedding")
    group.add_argument("--hidden", type=int_in(1), nargs="*", default=[64],
                       help="tower MLP hidden layers (none: a linear tower)")
    group.add_argument("--output-dim", type=int_in(1), default=32, help="size of the user and item vectors")
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="JSON report written by rank 0")
    out.add_argument("--checkpoint", help="also save the best weights as a checkpoint (rank 0)")
    options._add_overwrite(out)
    out.add_argument("--verbose", action="store_true", help="rank 0 shows a progress bar and one line per epoch")
    return parser


def main(argv: list[str] | None = None) -> int:
    from lineage.data import DataError

    args = build_parser().parse_args(argv)
    try:
        report = run(args)
    except (DataError, ValueError, OSError) as error:  # OutputError is a ValueError; a full disk an OSError
        lines = str(error).strip().splitlines() or [type(error).__name__]
        print(f"error: {lines[0]}", file=sys.stderr)
        return 2
    if report is not None:
        print(f"{report['processes']} process(es): val recall@10 {report['val_recall@10']:.4f}, "
              f"{report['examples_per_second']:,.0f} examples/s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
