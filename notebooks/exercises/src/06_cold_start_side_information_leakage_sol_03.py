# %% [markdown]
# # 06 · Exercise 3: find the leak inside a model's features
#
# **Goes with:** notebook 06, section 4. **Time:** about 25 minutes.
#
# A colleague's feature builder (`MysteryFeatures`) produces the same fields as `FeatureBuilder`, and the
# offline numbers of the model trained on it look great. One of its fields reads the future. Which?
#
# The test that finds it needs no model: a feature as of time t must not change when only what happens
# *after* t changes. Build the features as of t twice, from the true log and from a log whose future was
# changed (`change_future(data, t)`: some events from t on removed, new ones added), and compare field by
# field. Changing the future, rather than shuffling it, matters: a shuffle keeps every item's future total,
# so a feature built from an all-time count would pass it.
#
# **Your task.** Set `leaking` to the set of field names (user or item fields) of `MysteryFeatures` whose
# values as of `T` differ between the two logs, for the sampled `users` and `items`.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import generate_world, seed_everything, world_config
from workshop.cold_start_side_information_leakage import MysteryFeatures, check_leaking_fields
from twotower_mini import FeatureConfig, SideLog, change_future

rng = seed_everything(0)
world = generate_world(world_config("tiny"))
data = world.interactions()
side = SideLog.from_world(world)
config = FeatureConfig(history_length=20)
T = float(np.quantile(data.times, 0.7))  # "now" for the test: 70% of the log is before it
users, items = rng.integers(0, data.n_users, 300), rng.integers(0, data.n_items, 300)
print(MysteryFeatures(data, config, side).describe())

# %%
# BEGIN SOLUTION
# STUB: leaking = None  # YOUR CODE HERE: a set of field names
before = MysteryFeatures(data, config, side)
changed_data, changed_side = change_future(data, T, seed=0, side=side, min_count=config.min_token_count)
after = MysteryFeatures(changed_data, config, changed_side)
leaking = set()
for name, values in before.user_features(users, T).items():
    if not np.array_equal(values, after.user_features(users, T)[name]):
        leaking.add(name)
for name, values in before.item_features(items, T).items():
    if not np.array_equal(values, after.item_features(items, T)[name]):
        leaking.add(name)
# END SOLUTION

# %%
passed = check_leaking_fields(leaking, MysteryFeatures, data, config, side, T, users, items)

# %% [markdown]
# **To discuss.** The same test, run on `FeatureBuilder`, finds no leaking field: that is the property
# test of `tests/test_features.py`. Why is changing the future a stronger test than checking a few
# examples by hand? Which fields could leak in a way this test would miss (hint: a field computed from a
# side table, not from the event log)?
