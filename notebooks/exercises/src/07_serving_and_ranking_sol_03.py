# %% [markdown]
# # 07 · Exercise 3: one feature of the gradient-boosted-tree ranker
#
# **Goes with:** notebook 07, section 5. **Time:** about 20 minutes.
#
# The LightGBM ranker of notebook 07 splits on crossed features of a (user, item, request time) row.
# The one its trees use most is usually `genre_affinity`: the share of the user's past views in the
# item's genre. "Past" means strictly before the request time: the same row at an earlier time has a
# smaller history.
#
# **Your task.** For the 300 rows below (`users`, `items`, `times`), compute `genre_affinity`: the number
# of the user's training views at a time < t whose item has the row's item's genre, divided by the user's
# views at a time < t (0 for a user with no views before t). A loop over the rows is fine.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import generate_world, seed_everything, world_config
from workshop.serving_and_ranking import check_genre_affinity

rng = seed_everything(0)
world = generate_world(world_config("tiny"))
train = world.interactions()
genre = np.asarray(train.item_features["genre"]).astype(str)  # (n_items,)
rows = rng.choice(len(train), 300, replace=False)
users, items, times = train.users[rows], rng.integers(0, train.n_items, 300), train.times[rows]
print(f"{len(train):,} views; rows at times between day {times.min() / 86400:.0f} and day {times.max() / 86400:.0f}")

# %%
# BEGIN SOLUTION
# STUB: genre_affinity = None  # YOUR CODE HERE: a (300,) array
genre_affinity = np.zeros(len(users))
for j, (u, i, t) in enumerate(zip(users, items, times)):
    past = (train.users == u) & (train.times < t)
    if past.any():
        genre_affinity[j] = np.mean(genre[train.items[past]] == genre[i])
# END SOLUTION

# %%
passed = check_genre_affinity(genre_affinity, train, users, items, times)

# %% [markdown]
# **To discuss.** A tree splits on `genre_affinity > 0.3`, say. Why does the same split mean less for a
# user with 2 past views than for one with 200 (which other feature of the ranker lets the trees tell them
# apart)? And what would happen offline, and in production, if the share counted the row's own view?
