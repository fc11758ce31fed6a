# %% [markdown]
# # 05 · Exercise 2: mixing negatives
#
# **Goes with:** notebook 05, section 2. **Time:** about 20 minutes.
#
# In-batch negatives are other users' positives: drawn by popularity, corrected by logQ, and an item
# nobody took in a batch is never a negative there. Uniform catalogue negatives reach every item, the
# long tail and the new releases included, but most are easy. **Mixed negative sampling** (Yang et al.
# 2020) uses both in one softmax: the B - 1 in-batch negatives *and* N items drawn uniformly from the
# catalogue per batch.
#
# **Your task.** Write `mixed`, a `TrainConfig` (from `twotower_mini.config`) for mixed negative sampling
# with 256 uniform negatives per batch, keeping everything else of `base` (2 epochs, batch 512, logQ on
# the in-batch negatives). The negatives are settings of the loss, `base.loss` (a `SampledSoftmax`).
# Hint: configs are frozen, so `dataclasses.replace` builds the changed copy (of the loss, then of the
# config). Then compare it with `base` on a small world: logged recall, and how much of the long tail
# each recommends.

# %%
# Setup: seeds first, so every number below is the same on every run.
from dataclasses import replace

import numpy as np

from lineage import evaluate_lists, generate_world, seed_everything, split, users_with_test_events, world_config
from twotower_mini import FeatureConfig, SideLog, TowerConfig, TrainConfig, TwoTowerConfig, TwoTowerRecommender
from workshop.negatives import check_mixed_negatives

rng = seed_everything(0)
base = TrainConfig(progress=False, epochs=2, batch_size=512)  # loss: SampledSoftmax(), in-batch negatives with logQ

# %%
# BEGIN SOLUTION
# STUB: mixed = None  # YOUR CODE HERE: a TrainConfig
mixed = replace(base, loss=replace(base.loss, uniform_negatives=256))
# END SOLUTION

# %%
passed = check_mixed_negatives(mixed, base)

# %%
world = generate_world(world_config("tiny"))
parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
side = SideLog.from_world(world)
users = users_with_test_events(parts.test)
counts = parts.train.item_counts()
tail = counts <= np.quantile(counts, 0.8)  # the 80% least viewed items of training
for name, training in [("in-batch + logQ", base), ("in-batch + logQ + uniform", mixed if passed else base)]:
    model = TwoTowerRecommender(TwoTowerConfig(features=FeatureConfig(history_length=20, drop=("counts",)),
                                               towers=TowerConfig(embedding_dim=16, hidden=(32,), output_dim=16),
                                               training=training, refit=False), side=side).fit(parts.train)
    lists = model.recommend(users, k=10)
    recall = evaluate_lists(lists, users, parts.train, parts.test, 10)["recall@10"]
    print(f"{name:<28} recall@10 {recall:.3f}  recommendations from the long tail {tail[lists].mean():.0%}")

# %% [markdown]
# **To discuss.** Which model recommends more of the long tail, and why would uniform negatives change
# that (which items does each kind of negative push down)? On a world this small one run is noisy: try
# two or three `seed` values in `TrainConfig` before you conclude.
