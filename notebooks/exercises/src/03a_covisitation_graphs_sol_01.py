# %% [markdown]
# # 03a · Exercise 1: from co-visitation counts to relatedness
#
# **Goes with:** notebook 03a, section 1 (the graph, training data only, relatedness). **Time:** about
# 20 minutes.
#
# The YouTube recommender of 2010 (Davidson et al.) links two videos that the same people watched.
# With $X$ the 0/1 user x item matrix of the **training** log,
#
# - $c_{ij}$ = number of users who took item $i$ *and* item $j$ ($i \ne j$): the off-diagonal
#   entries of $X^\top X$;
# - $c_i$ = number of users who took item $i$: its diagonal.
#
# Raw counts favour the bestsellers, which are co-visited with everything, so each count is
# divided by the popularity of the two items, with one power for the *seed* $i$ (the row) and one
# for the *candidate* $j$ (the column):
#
# $$r(i \to j) = \frac{c_{ij}}{c_i^{\,a}\; c_j^{\,b}}$$
#
# **Your task.** Compute `related`, the (n_items, n_items) array of $r(i \to j)$ with $a$ = `A`
# and $b$ = `B` (the tuned values of notebook 03a), from `train` only. An item is not its own
# neighbour: the **diagonal is 0**. Items nobody took in train have $c_i = 0$: their rows and
# columns are 0 (not NaN). No loops needed: $X$ is `train.to_csr(binary=True)`, a scipy sparse
# matrix (`.toarray()` makes a dense copy), and numpy broadcasting divides rows and columns.

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np

from lineage import generate_world, seed_everything, split, world_config
from workshop.covisitation_graphs import check_relatedness, reference_relatedness

rng = seed_everything(0)

# %%
world = generate_world(world_config())  # the world of notebook 03a
data = world.interactions()  # the whole log
parts = split(data, "temporal", test_fraction=0.2, seed=42)
train, test = parts.train, parts.test  # build the graph from `train` only
A, B = 1.0, 0.25  # seed power a, candidate power b
print(f"train: {len(train):,} events, {train.n_users:,} users, {train.n_items:,} items "
      f"({int((train.item_counts() == 0).sum())} items have no training views)")

# %%
# BEGIN SOLUTION
# STUB: related = None  # YOUR CODE HERE: an (n_items, n_items) array, zero diagonal
X = train.to_csr(binary=True)  # (n_users, n_items) 0/1, training events only
counts = (X.T @ X).toarray()  # (n_items, n_items) c_ij off the diagonal, c_i on it
c = np.maximum(np.diag(counts), 1.0)  # (n_items,) users per item; 1 for items nobody took (their c_ij are 0)
np.fill_diagonal(counts, 0.0)  # an item is not its own neighbour
related = counts / (c[:, None] ** A * c[None, :] ** B)  # row i divided by c_i^a, column j by c_j^b
# END SOLUTION

# %%
passed = check_relatedness(related, train, A, B, data)

# %% [markdown]
# ## What the normalisation changes
#
# One item's five strongest neighbours by raw count and by your relatedness; then, over the whole
# catalogue, each item's ten strongest neighbours: how popular they are, and how often they share
# the item's genre, for raw counts ($a = b = 0$), your $r$ and YouTube's $c_i c_j$ ($a = b = 1$).

# %%
R = related if passed else reference_relatedness(train, A, B)
raw = reference_relatedness(train, 0.0, 0.0)  # c_ij itself
youtube = reference_relatedness(train, 1.0, 1.0)  # the paper's simplest f = c_i c_j
views = train.item_counts()
genre = world.items["genre_index"]
titles = world.items["title"]

busy = np.flatnonzero(views > 0)[np.argsort(views[views > 0], kind="stable")]
example = busy[int(0.75 * len(busy))]  # busier than three quarters of the items with views
print(f"item {example}: {titles[example]} ({world.items['genre'][example]}, {views[example]} views)")
for name, matrix in [("raw count", raw), (f"your r (a={A:g}, b={B:g})", R)]:
    top = np.argsort(-matrix[example], kind="stable")[:5]
    print(f"  top 5 by {name}: " + "; ".join(f"{views[j]} views, {world.items['genre'][j]}" for j in top))

rows = np.flatnonzero(views > 0)  # items with training views
summary = {}
for name, matrix in [("raw counts", raw), ("your r", R), ("c_i c_j", youtube)]:
    top10 = np.argsort(-matrix[rows], axis=1, kind="stable")[:, :10]  # (n_rows, 10) strongest first
    edge = np.take_along_axis(matrix[rows], top10, axis=1) > 0  # a real neighbour, not a 0 filling the list
    summary[name] = (views[top10][edge].mean(), np.mean((genre[top10] == genre[rows][:, None])[edge]))
    print(f"{name:>10}: neighbours have {summary[name][0]:6.1f} views on average, "
          f"{summary[name][1]:.0%} share the item's genre")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
names = list(summary)
axes[0].bar(names, [summary[n][0] for n in names])
axes[0].set(ylabel="mean views of a top-10 neighbour", title="Normalising pushes out the head")
axes[1].bar(names, [summary[n][1] for n in names])
axes[1].set(ylabel="share in the same genre", ylim=(0, 1), title="...and c_i c_j drowns in noise")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Why training data only
#
# Items released during the test period have no training views: in your graph they have no
# neighbours at all, as in production on the day of the cut. A graph counted on the whole log
# already links them to the items their first viewers took.

# %%
leaky = reference_relatedness(data, A, B)  # counted on train *and* test: the leak
new_items = (train.item_counts() == 0) & (test.item_counts() > 0)
print(f"{new_items.sum()} items first viewed in the test period; with neighbours in your graph: "
      f"{int((R[new_items] > 0).any(axis=1).sum())}, in the whole-log graph: "
      f"{int((leaky[new_items] > 0).any(axis=1).sum())}")

# %% [markdown]
# **To discuss.** The seed power $a$ divides a whole row by the same number: does it change the
# order of one item's neighbours? What is it for, then (hint: a user's candidates sum the rows of
# several seeds, notebook 03a section 2)? Why does $c_i c_j$ work for YouTube's billions of
# co-visits and fail on this log? The whole-log graph gives the new items neighbours: why is that
# not a feature you can have in production?
