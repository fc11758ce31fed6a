"""The launcher of data-parallel training of the two towers (PyTorch DistributedDataParallel).

    torchrun --nproc_per_node 2 -m harness.distributed --dataset world --world-size tiny --out run.json
    python -m harness.distributed --dataset world --world-size tiny --out run.json   # one process

The model is the one `train` fits: the preset for the dataset and protocol (`twotower_mini.presets`),
with the options given here replacing its fields, fitted by `twotower_mini.fitted.fit_towers` (early
stopping on a validation part carved from train, no refit), given this process's place in the group
(`DataParallel(rank, size)`). This module only starts it:

1. reads the options and joins the process group torchrun describes in the environment (gloo on
   CPU; without torchrun it is one process);
2. **every process loads the data** (the world is generated from its seed, a file is read) and builds
   the same point-in-time features and the same initial model (DDP also broadcasts rank 0's weights);
3. `fit_towers` calls `train_towers`: each epoch every process takes its shard of the same seeded permutation, a
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
import math
import os
import sys
from dataclasses import replace

import torch

from harness import leaderboard, options
from lineage.outputs import check_distinct, check_output, json_text, write_text_atomic
from twotower_mini.checkpoint import config_to_dict, save as save_checkpoint
from twotower_mini.config import SampledSoftmax, TwoTowerConfig
from twotower_mini.features import SideLog
from twotower_mini.fitted import FittedTowers, fit_part, fit_towers
from twotower_mini.presets import preset
from twotower_mini.train import DataParallel


def join_process_group() -> tuple[DataParallel, bool]:
    """(this process's place, distributed?): from torchrun's environment, else one process."""
    if "WORLD_SIZE" not in os.environ:
        return DataParallel(), False
    import torch.distributed as dist

    dist.init_process_group(backend=os.environ.get("TT_DIST_BACKEND", "gloo"))
    return DataParallel(dist.get_rank(), dist.get_world_size()), True


def launcher_config(args, dataset: str, protocol: str) -> TwoTowerConfig:
    """The preset for the dataset and protocol (what `train` uses), with the options given on the command
    line replacing its fields; early stopping on a validation part, no refit (one training run)."""
    base = preset(dataset, protocol)
    features, towers, training = base.features, base.towers, base.training
    if args.history_length is not None:
        features = replace(features, history_length=args.history_length)
    towers = replace(towers, **{name: value for name, value in (
        ("embedding_dim", args.embedding_dim), ("output_dim", args.output_dim),
        ("hidden", None if args.hidden is None else tuple(args.hidden))) if value is not None})
    training = replace(training, progress=args.verbose, **{name: value for name, value in (
        ("epochs", args.epochs), ("batch_size", args.batch_size), ("learning_rate", args.learning_rate),
        ("patience", args.patience), ("eval_users", args.eval_users), ("seed", args.train_seed),
        ("threads", args.threads)) if value is not None})
    return replace(base, features=features, towers=towers, training=training, validation_protocol=protocol,
                   validation_fraction=base.validation_fraction or 0.1, refit=False, ensemble=1)


def run(args) -> dict | None:
    """Train as this process's part of the group; rank 0 returns (and writes) the report, the others None."""
    group, distributed = join_process_group()
    import torch.distributed as dist

    finished_cleanly = False
    try:
        data_config = options.leaderboard_config(args)
        # outputs are checked before any loading or training (on every rank, so all stop together)
        inputs = options.input_files_of(data_config)
        check_output(args.out, "--out", inputs, args.overwrite)
        if args.checkpoint is not None:  # not truthiness: an empty path must reach the check and be refused
            check_output(args.checkpoint, "--checkpoint", inputs, args.overwrite)
            check_distinct([("--out", args.out), ("--checkpoint", args.checkpoint)])
        config = launcher_config(args, data_config.dataset, data_config.protocol)
        torch.set_num_threads(config.training.threads)
        data, world, parts, _ = leaderboard.prepare(data_config, log=lambda message: None)
        side = SideLog.from_world(world) if world is not None else None
        towers = fit_towers(parts.train, config, side, group=group)
        if group.rank != 0:
            finished_cleanly = True
            return None
        report = _report(config, data_config, towers, group, dist.get_backend() if distributed else None,
                         len(fit_part(parts.train, config)))
        if args.checkpoint is not None:
            save_checkpoint(args.checkpoint, towers, options.data_spec(data_config), parts.train,
                            overwrite=args.overwrite, option="--checkpoint")
            report["checkpoint"] = args.checkpoint
        write_text_atomic(args.out, json_text(report), overwrite=args.overwrite, option="--out")
        finished_cleanly = True
        return report
    finally:
        if distributed:
            if finished_cleanly:  # wait until rank 0 has written its report: a process that tears the
                dist.barrier()  # group down while its peer still runs can abort in gloo's threads
            dist.destroy_process_group()


def _report(config: TwoTowerConfig, data_config, towers: FittedTowers, group: DataParallel, backend,
            train_examples: int) -> dict:
    """Rank 0's JSON report of the run."""
    training, history = config.training, towers.history
    key = f"val_{training.eval_metric}@{training.eval_k}"
    in_batch = isinstance(training.loss, SampledSoftmax) and training.loss.in_batch  # (the others: no in-batch)
    return {
        "dataset": data_config.dataset, "world_size": data_config.world_size, "protocol": data_config.protocol,
        "processes": group.size, "backend": backend,
        "global_batch": training.batch_size, "per_process_batch": training.batch_size // group.size,
        "in_batch_negatives_per_example": training.batch_size // group.size - 1 if in_batch else None,
        "threads_per_process": training.threads, "train_examples": train_examples, "epochs": history,
        "best_epoch": towers.best_epoch, key: history[towers.best_epoch - 1][key],
        "validation_users": len(towers.validation_users),
        "examples_per_second": sum(r["examples"] for r in history) / sum(r["seconds"] for r in history),
        "config": config_to_dict(config),
    }


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
    group.add_argument("--epochs", type=int_in(1), help="maximum number of epochs (default: the preset's)")
    group.add_argument("--batch-size", type=int_in(1),
                       help="global batch: each of P processes trains on batch-size / P examples per step "
                            "(default: the preset's)")
    group.add_argument("--learning-rate", type=positive_float, help="learning rate (default: the preset's)")
    group.add_argument("--patience", type=int_in(1),
                       help="epochs without validation improvement before stopping (default: the preset's)")
    group.add_argument("--eval-users", type=int_in(1), help="validation users scored by rank 0 (default: the preset's)")
    group.add_argument("--train-seed", type=int_in(0, options.SEED_MAX), help="model and shuffling seed (default: the preset's)")
    group.add_argument("--threads", type=int_in(1, os.cpu_count() or 1),
                       help="torch threads per process (at most the number of CPUs; default: the preset's)")
    group.add_argument("--history-length", type=int_in(0),
                       help="items in the user's history bag (0: no history input; default: the preset's)")
    group.add_argument("--embedding-dim", type=int_in(1), help="width of each field embedding (default: the preset's)")
    group.add_argument("--hidden", type=int_in(1), nargs="*",
                       help="tower MLP hidden layers (given with no value: a linear tower; default: the preset's)")
    group.add_argument("--output-dim", type=int_in(1), help="size of the user and item vectors (default: the preset's)")
    out = parser.add_argument_group("output")
    out.add_argument("--out", required=True, help="JSON report written by rank 0")
    out.add_argument("--checkpoint", help="also save the best weights as a checkpoint (rank 0)")
    options.add_overwrite(out)
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
        key = next(name for name in report if name.startswith("val_"))
        print(f"{report['processes']} process(es): {key} {report[key]:.4f}, "
              f"{report['examples_per_second']:,.0f} examples/s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
