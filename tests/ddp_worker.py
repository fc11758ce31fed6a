"""Run by tests/test_distributed.py, once as a plain process and once under torchrun with 2 processes.

Each process builds the same small two-tower setup (tiny world), then saves to OUT/rank<r>.npz:
- the gradients of one step of the training loop's own pieces (`TowersWithLoss`, wrapped in
  DistributedDataParallel when there are several processes) on its shard of one global batch;
- what `train_towers` returned: the validation users, the number of epochs run, the final weights.

The loss is made separable over examples (no in-batch negatives, the session's skipped impressions as
negatives), so the mean of the shards' gradients must equal the one-process gradient of the batch.
"""
import os
import sys
from pathlib import Path

import numpy as np
import torch

from lineage.splits import split, validation_split
from lineage.world import WorldConfig, generate_world
from twotower_mini.config import FeatureConfig, SampledSoftmax, TowerConfig, TrainConfig
from twotower_mini.features import FeatureBuilder, SideLog
from twotower_mini.towers import TwoTowerModel
from twotower_mini.train import BatchLoss, DataParallel, TowersWithLoss, shard, train_towers

CONFIG = TrainConfig(loss=SampledSoftmax(in_batch=False, impression_negatives=3), batch_size=128, epochs=3, patience=1,
                     progress=False, eval_users=50, seed=3)
TOWERS = TowerConfig(embedding_dim=8, hidden=(16,), output_dim=8)


def main(out: Path) -> None:
    group = DataParallel()
    if "WORLD_SIZE" in os.environ:
        import torch.distributed as dist

        dist.init_process_group(backend="gloo")
        group = DataParallel(dist.get_rank(), dist.get_world_size())
    world = generate_world(WorldConfig.sized("tiny"))
    inner = validation_split(split(world.interactions(), "temporal", 0.2, seed=0).train, "temporal", 0.1, 0)
    side = SideLog.from_world(world)
    features = FeatureBuilder(inner.train, FeatureConfig(history_length=10), side)

    torch.manual_seed(CONFIG.seed)
    model = TwoTowerModel(features.user_fields(), features.item_fields(), TOWERS)
    batch_loss = BatchLoss(features, CONFIG, side=side)
    step = TowersWithLoss(model, batch_loss)
    if group.size > 1:
        step = torch.nn.parallel.DistributedDataParallel(step)
    batch = np.random.default_rng(CONFIG.seed).permutation(batch_loss.examples)[:CONFIG.batch_size]
    step(shard(batch, group.rank, group.size), np.random.default_rng(0)).backward()
    saved = {f"grad/{name}": p.grad.numpy().copy() for name, p in model.named_parameters() if p.grad is not None}

    torch.manual_seed(CONFIG.seed)
    model = TwoTowerModel(features.user_fields(), features.item_fields(), TOWERS)
    result = train_towers(model, features, CONFIG, validation=inner.test, side=side, group=group)
    saved["validation_users"] = result.validation_users
    saved["epochs_run"] = np.array(len(result.history))
    saved["validated"] = np.array(sum(1 for row in result.history if "val_recall@10" in row))
    saved["weights"] = np.concatenate([value.numpy().ravel() for value in result.model.state_dict().values()])
    np.savez(out / f"rank{group.rank}.npz", **saved)
    if group.size > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
