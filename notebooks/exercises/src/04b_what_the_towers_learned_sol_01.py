# %% [markdown]
# # 04b · Exercise 1: "more like this", by cosine
#
# **Goes with:** notebook 04b, section 2. **Time:** about 15 minutes.
#
# The item tower turns every item into a vector. "More like this" under a title is then a
# nearest-neighbour question: the items whose vectors point the same way as this item's. "The same
# way" is the **cosine**, $\cos(a, b) = a \cdot b / (\lVert a \rVert \lVert b \rVert)$: it ignores
# how long the vectors are. (The towers' outputs are L2-normalised, so there a dot product *is* a
# cosine; the vectors of the check below are not.)
#
# **Your task.** Write `more_like_this(item_vectors, item, k)`: `item_vectors` is (n_items, D), and the
# answer is a (k,) array of the k items of largest cosine with `item`, the most similar first, the
# item itself left out, ties broken by the lower index.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import generate_world, seed_everything, split, world_config
from twotower_mini import FeatureConfig, SampledSoftmax, SideLog, TowerConfig, TrainConfig, TwoTowerConfig, \
    TwoTowerRecommender
from workshop.two_towers import check_more_like_this, reference_more_like_this

rng = seed_everything(0)


# %%
def more_like_this(item_vectors, item, k):
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: (k,) item indices, best first, `item` left out
    vectors = np.asarray(item_vectors, dtype=np.float64)  # (n_items, D)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # length 1: dot product = cosine
    similarity = unit @ unit[item]  # (n_items,) cosines with the item
    similarity[item] = -np.inf  # not the item itself
    return np.argsort(-similarity, kind="stable")[:k]  # stable: ties keep the lower index first
    # END SOLUTION


# %%
passed = check_more_like_this(more_like_this)

# %% [markdown]
# ## On a trained item tower
#
# The towers of notebook 04b, trained for two epochs on the world's temporal split. Your function
# (or the reference, if the check has not passed yet) finds the neighbours of three popular items;
# the world's hidden genres say whether they make sense.

# %%
world = generate_world(world_config())
parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
towers = TwoTowerRecommender(TwoTowerConfig(
    features=FeatureConfig(history_length=20, drop=("counts",)),
    towers=TowerConfig(embedding_dim=32, output_dim=32, hidden=(64,)),
    training=TrainConfig(loss=SampledSoftmax(logq="exact"), progress=False, epochs=2, batch_size=1024),
    refit=False), side=SideLog.from_world(world)).fit(parts.train)
vectors = towers.item_vectors_  # (n_items, 32)
nearest = more_like_this if passed else reference_more_like_this
titles, genres = world.items["title"], world.items["genre"]
for item in np.argsort(-parts.train.item_counts(), kind="stable")[:3]:
    print(f"more like '{titles[item]}' ({genres[item]}):")
    for neighbour in nearest(vectors, item, 5):
        print(f"    {titles[neighbour]:<44} {genres[neighbour]}")

# %% [markdown]
# ## To discuss
#
# - A shop wants "more like this" to favour items people actually take. Where would you add that:
#   in the vectors, in the similarity, or after the top k?
# - The item tower places items nobody has viewed yet (04b, section 1). Would you show them on a
#   "more like this" shelf? What could go wrong?
