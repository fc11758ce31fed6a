# %% [markdown]
# # 06 · Exercise 2: embed new items from a feature
#
# **Goes with:** notebook 06, section 1 (cold items). **Time:** about 20 minutes.
#
# Matrix factorisation has no vector for an item released after training. A feature does not care:
# a new item's *genre* is known the day it is released. Here is the smallest possible two-tower
# model, with no training at all:
#
# - **item tower:** the item's genre as a one-hot vector (n_genres,);
# - **user tower:** the user's genre profile, the share of their *training* views in each genre;
# - **score:** the dot product, so a user scores an item by how much of their viewing is in its genre.
#
# **Your task.** Build `profile`, an (n_users, n_genres) array: row $u$ is the share of user $u$'s
# training views in each genre (each row sums to 1), and a row of zeros for users without
# training views. Use `train` only: the test period is the future.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import generate_world, seed_everything, segment_recall, split, users_with_test_events, world_config
from workshop.cold_start_side_information_leakage import check_genre_profile, reference_genre_profile

rng = seed_everything(0)

# %%
world = generate_world(world_config())  # the default world of the walkthroughs
data = world.interactions()
parts = split(data, "temporal", test_fraction=0.2, seed=42)
train = parts.train
item_genre = world.items["genre_index"]  # (n_items,) genre of every item, known at release
n_genres = len(world.genres)
print(f"{train.n_users} users, {n_genres} genres, {len(train):,} training views")

# %%
# BEGIN SOLUTION
# STUB: profile = None  # YOUR CODE HERE: an (n_users, n_genres) array of shares
counts = np.zeros((train.n_users, n_genres))
np.add.at(counts, (train.users, item_genre[train.items]), 1.0)  # views per user and genre
totals = counts.sum(axis=1, keepdims=True)
profile = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
# END SOLUTION

# %%
passed = check_genre_profile(profile, train, item_genre, n_genres, full_log=data)

# %% [markdown]
# ## The new-releases shelf
#
# Rank only the cold items (released after the cut, no training views) for every test user, and
# measure recall@10 on them, against "newest first" (the same list for everyone). Neither ALS nor
# popularity can rank these items at all.

# %%
user_profile = profile if passed else reference_genre_profile(train.users, train.items, item_genre,
                                                                       train.n_users, n_genres)
item_vectors = np.eye(n_genres)[item_genre]  # (n_items, n_genres): the item tower
users = users_with_test_events(parts.test)
cold_items = parts.cold_items()


def shelf(scores):
    """Top 10 among the cold items only."""
    scores = np.where(cold_items[None, :], scores, -np.inf)
    return np.argsort(-scores, axis=1, kind="stable")[:, :10]


genre_scores = user_profile[users] @ item_vectors.T  # (n_test_users, n_items): the dot product
release = np.asarray(world.items["release_time"], dtype=float)
newest = np.broadcast_to(release, (len(users), world.n_items))
# break the genre model's ties (items of the same genre) by release time, as the newest-first list does
recall = {
    "newest first": segment_recall(shelf(newest), users, train, parts.test, 10, cold_items),
    "genre profile . genre one-hot": segment_recall(shelf(genre_scores + 1e-12 * newest), users, train,
                                                    parts.test, 10, cold_items),
}
for name, value in recall.items():
    print(f"{name:<32} recall@10 among new releases {value:.3f}")

# %% [markdown]
# **To discuss.** New users have a zero profile: what does this model show them, and which user
# features of notebook 06 would help (declared genres, searches)? What does a *trained* item
# tower add over a fixed one-hot genre (words of the title, publisher, language)?
