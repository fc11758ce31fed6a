# %% [markdown]
# # 03b · Exercise 1: one step of a weighted random walk
#
# **Goes with:** notebook 03b, section 1 (walks as sentences). **Time:** about 20 minutes.
#
# DeepWalk turns the item graph into sentences by walking on it. From node $v$ the walker moves to
# neighbour $j$ with probability proportional to the edge weight $w_{vj}$. With one uniform random
# number $u \in [0, 1)$ per step, lay the neighbours' weights end to end on $[0, W)$, $W$ the
# total weight, and pick the neighbour whose slice contains $u \cdot W$:
#
# ```
# weights     2       1     5
#         [-------|---|-----------)      u * W falls in a slice: that neighbour is next
#         0       2   3           8
# ```
#
# The graph is a `scipy.sparse` CSR matrix: the neighbours of `node` are
# `graph.indices[graph.indptr[node]:graph.indptr[node + 1]]`, their weights the same slice of
# `graph.data`.
#
# **Your task.** Write `walk_step(graph, node, u)` returning the *id* of the next node, or `-1`
# if `node` has no out-edges (the walk stops). Slices are half-open, $[\text{start}, \text{end})$:
# `np.cumsum` and `np.searchsorted` do it in two lines.

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from lineage.models.deepwalk import DeepWalkConfig, walk_graph
from lineage import generate_world, seed_everything, split, world_config
from workshop.deepwalk import check_walk_step, reference_walk_step

rng = seed_everything(0)

# %%
def walk_step(graph, node, u):
    """The next node of a walk at `node`, for a uniform draw u in [0, 1); -1 at a dead end."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: a node id, or -1
    start, end = graph.indptr[node], graph.indptr[node + 1]
    if start == end:
        return -1
    cumulative = np.cumsum(graph.data[start:end])  # where each neighbour's slice ends
    position = np.searchsorted(cumulative, u * cumulative[-1], side="right")  # first end > u * W
    return int(graph.indices[start + min(position, end - start - 1)])
    # END SOLUTION


# %%
passed = check_walk_step(walk_step)

# %% [markdown]
# ## Walk on the world
#
# The same graph as notebook 03b (cosine weights, the strongest neighbours of each item), built
# from the training part of the tiny world. Start 5,000 one-step walks at one item: do your steps
# follow the edge weights? Then take a few longer walks and read them like sentences.

# %%
step = walk_step if passed else reference_walk_step
world = generate_world(world_config("tiny"))
train = split(world.interactions(), "temporal", test_fraction=0.2, seed=42).train
graph = walk_graph(train, DeepWalkConfig(n_neighbours=8))  # (n_items, n_items), 8 strongest edges per item

start = int(np.argmax(np.diff(graph.indptr)))  # an item with a full row of neighbours
landed = np.array([step(graph, start, u) for u in rng.random(5000)])
row = graph[start]
neighbours, weights = row.indices, row.data / row.data.sum()
observed = np.array([np.mean(landed == j) for j in neighbours])

fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(np.arange(len(neighbours)) - 0.2, weights, width=0.4, label="edge weight (share)")
ax.bar(np.arange(len(neighbours)) + 0.2, observed, width=0.4, label="share of 5,000 steps")
ax.set_xticks(np.arange(len(neighbours)), [str(j) for j in neighbours])
ax.set(xlabel="neighbour (item index)", title=f"Steps from item {start}")
ax.legend()
plt.show()

genre = world.items["genre"]
for _ in range(3):
    walk = [start]
    while len(walk) < 6 and walk[-1] >= 0:
        walk.append(step(graph, walk[-1], rng.random()))
    print(" -> ".join(f"{item} ({genre[item]})" for item in walk if item >= 0))

# %% [markdown]
# **To discuss.** Most walks stay in one or two genres: why? What do skip-gram vectors learn from
# such sentences (notebook 03b, section 2)? The library steps every walker at once with *one*
# `searchsorted` over the whole graph: look at `lineage.models.deepwalk.random_walks` and find
# your two lines in it.
