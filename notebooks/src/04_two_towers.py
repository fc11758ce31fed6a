# %% [markdown]
# # 04 · Two towers: a user tower, an item tower and a dot product
#
# **Time:** about 45 minutes. **Prerequisites:** notebooks 00 and 02 (the world, the temporal
# split, matrix factorisation); a first look at PyTorch (tensors, `nn.Embedding`, a training loop)
# helps but is not required.
#
# **You will learn to**
# 1. draw the two-tower architecture and list what each tower reads (lesson L5);
# 2. see that an id-only, linear two-tower model *is* matrix factorisation, and train one;
# 3. explain the **in-batch softmax**: a B x B matrix of scores whose diagonal holds the positives,
#    and why "accidental hits" must be masked;
# 4. watch a vanilla in-batch model lose to plain popularity, and fix it with the **logQ
#    correction** (Yi et al. 2019), exact or estimated on the fly from the stream of batches;
# 5. read training curves, and see how the learned item space is organised by genre;
# 6. ask the item tower for "more like this", and build your own profile from a few titles;
# 7. map these pieces to TensorFlow Recommenders, the library many courses start with.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time
from pathlib import Path
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import spearmanr

from lineage import (evaluate_lists, guard, make_model, seed_everything, single_blas_thread, split, top_k,
                     true_recall_at_k, users_with_test_events, world_config)
from lineage.world import GENRE_WORDS, generate_world
from twotower_mini import (FeatureBuilder, FeatureConfig, SampledSoftmax, SideLog, StreamingFrequency, TowerConfig,
                           TrainConfig, TwoTowerConfig, TwoTowerRecommender, as_tensors, fit_part, in_batch_logits)

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()

# %% [markdown]
# ## 1. The architecture
#
# Retrieval must pick a few hundred items out of the whole catalogue in milliseconds. The two-tower
# model makes that possible by *never looking at a user and an item together* until the very end:
#
# ```
#   user features (history, searches, region, ...)      item features (id, genre, words, ...)
#                 │                                                   │
#        embedding bags + MLP                                embedding bags + MLP
#          "the user tower"                                    "the item tower"
#                 │                                                   │
#         u ∈ R^D (one vector)                                v ∈ R^D (one vector)
#                 └──────────────────► score = u · v ◄─────────────────┘
# ```
#
# Both towers end in vectors of the **same size D**, and the score is their **dot product**
# (lesson L5). By default each tower's output is **L2-normalised** (scaled to length 1), so the dot
# product is a cosine, between -1 and 1: no item can win every user's list just by having a long
# vector, and the scores of different users are on one scale. A softmax over cosines would be very
# flat (a gap of at most 2 between the best and the worst item), so the scores are divided by a
# **temperature** (a small number, printed below) before the softmax: a lower temperature makes the
# softmax sharper, concentrating the loss on the negatives that score close to the positive. The
# temperature is a setting of the loss (`SampledSoftmax(temperature=...)`), not of the towers, and it
# applies only to normalised vectors. Item vectors can therefore be computed once, stored, and
# searched with a nearest-neighbour index; at request time only the user tower runs. A cross-feature between a user
# and an item ("has this user read this publisher before?") is impossible here: that is the ranker's
# job (notebook 07).
#
# Let us load the world, split it by time as always, and look at what the towers can read.

# %%
world = generate_world(world_config())
data = world.interactions()
parts = split(data, "temporal", test_fraction=0.2, seed=42)
eval_users = users_with_test_events(parts.test)
seen = parts.train.to_csr()
t_cut = parts.test.times.max() + 1
true_top = world.true_top_items(eval_users, 10, released_before=t_cut, exclude=seen)  # the oracle's top 10
side = SideLog.from_world(world)  # searches and impressions: events beyond the views themselves
K = 10

features = FeatureBuilder(parts.train, FeatureConfig(), side)
print(features.describe())
default_loss = TrainConfig().loss  # a SampledSoftmax: the loss of sections 3 and 4
temperature = default_loss.temperature
print(f"output L2-normalised: {TowerConfig().l2_normalize}, {type(default_loss).__name__} temperature {temperature}: "
      f"cosines in [-1, 1] become logits in [{-1 / temperature:.0f}, {1 / temperature:.0f}]")

# %% [markdown]
# Each name is a *field*; the number in brackets is its vocabulary size (for a bag of tokens) or its
# width (for numbers). The user tower reads the items the user viewed and liked *before* the moment
# of the example (point-in-time, notebook 06), the words they searched, their region, languages,
# declared genres, sign-up age and whom they follow. The item tower reads the item's id, genre,
# language, publisher, release age, title and description words, and recent view counts.
#
# A bag field becomes one vector by averaging the embeddings of its tokens (a recency-weighted mean,
# for the history): `nn.EmbeddingBag` with per-token weights that add up to 1. The tower concatenates
# all field vectors and passes them through a small MLP. That is all `twotower_mini/towers.py` does, in about a hundred lines.
#
# Our yardsticks, on this split: popularity and ALS from notebook 02.

# %%
results = {}


def evaluate_model(name, model):
    """Fit (timed), recommend the full catalogue for every test user, score logged and true recall."""
    start = time.perf_counter()
    with single_blas_thread():
        model.fit(parts.train)
    seconds = time.perf_counter() - start
    lists = model.recommend(eval_users, k=K)  # (n_test_users, K), seen items removed
    scores = evaluate_lists(lists, eval_users, parts.train, parts.test, K)
    scores["true_recall@10"] = true_recall_at_k(lists, true_top, K)
    results[name] = scores
    print(f"{name:<30} ndcg@10 {scores['ndcg@10']:.3f}  recall@10 {scores['recall@10']:.3f}  "
          f"true recall@10 {scores['true_recall@10']:.3f}  mean popularity {scores['popularity@10']:5.0f}  "
          f"fit {seconds:4.1f} s")
    return model


evaluate_model("popularity", make_model("popularity", "world"))
evaluate_model("ALS", make_model("als", "world"));

# %% [markdown]
# ## 2. With only ids, two towers are matrix factorisation
#
# Give the user tower a single field, the user id, and the item tower a single field, the item id;
# remove the MLP (`linear_only=True`) and the normalisation. Each tower is then a lookup table:
# $u = P[\text{user}]$, $v = Q[\text{item}]$, and the score is $P[u] \cdot Q[i]$, exactly the model
# of notebook 02. Only the *loss* differs: ALS fits a weighted square loss over every cell of the
# matrix; here a softmax asks each user to pick their item out of a batch of candidates (section 3).
#
# One setting is used here before it is explained: `SampledSoftmax(logq="exact")`, the **logQ correction**
# of section 4 (on by default: `TrainConfig().loss` is `SampledSoftmax()`, the loss of section 3, and each
# loss carries its own settings). The batch's other positives are its negatives, and they are drawn by
# popularity; the correction subtracts, from each candidate's logit, the log of how often it is drawn.
# Section 4 shows what happens without it.

# %%
every_field = [s.name for s in features.user_fields() + features.item_fields()]
ids_only = FeatureConfig(use_user_id=True, drop=tuple(n for n in every_field if n not in ("user_id", "item_id")))
mf_config = TwoTowerConfig(
    features=ids_only,
    towers=TowerConfig(output_dim=32, linear_only=True, l2_normalize=False),  # P, Q: 32 numbers per user and item
    training=TrainConfig(loss=SampledSoftmax(logq="exact"),  # section 4
                         progress=False, epochs=3, batch_size=1024, learning_rate=1e-2,
                         id_dropout=0.0),  # no id dropout: ids are all this model has
    refit=False)
mf = evaluate_model("two towers, ids only (= MF)", TwoTowerRecommender(mf_config, side=side))
print(mf.features_.describe())

# %%
# The two towers are two tables. Take them out and compute P[u] . Q[i] by hand.
some_users = eval_users[:200]
P_some = mf.user_id_embeddings(some_users)  # (200, 32): the rows of P for these users
Q = mf.item_id_embeddings(np.arange(data.n_items))  # (n_items, 32): one row of Q per item
by_hand = P_some @ Q.T  # (200, n_items)
difference = np.abs(mf.score(some_users) - by_hand).max()
print(f"largest difference between the model's scores and P[u] . Q[i]: {difference:.1e}")

# %%
# Lesson guard: the id-only linear two-tower scores exactly P[u] . Q[i], and learns about as well as ALS.
guard("MF by hand: largest difference", difference, "<", 1e-5)
mf_ndcg, als_ndcg = results["two towers, ids only (= MF)"]["ndcg@10"], results["ALS"]["ndcg@10"]
guard("id-only towers / ALS ndcg", mf_ndcg / als_ndcg, ">", 0.8)
guard("id-only towers / popularity ndcg", mf_ndcg / results["popularity"]["ndcg@10"], ">", 1.8)  # over worlds: see the margins table in benchmarks/REPORT.md

# %% [markdown]
# Three epochs of a softmax bring the same factorisation within reach of ALS. From here on we keep
# the two-tower *form* and add what matrix factorisation cannot use: side information.
#
# ## 3. The in-batch softmax
#
# Training data holds only positives: (user, item they took). Where do negatives come from? The
# cheapest source is the batch itself. Take B examples, run the user tower on the B users and the
# item tower on the B items, and multiply: a **B x B matrix of scores**. Row b holds user b against
# every item of the batch; the diagonal holds the items they actually took. The loss is a
# cross-entropy on each row: *pick your own item out of the B*. The other B - 1 items are the
# negatives, and they cost nothing extra: they are already computed.
#
# One catch: if two users in the batch took the same (popular) item, that item is also off the
# diagonal in their rows. Treating it as a negative tells the model the item is both right and
# wrong for the same user: an **accidental hit**. We mask those cells (set them to $-\infty$).
#
# Here is a batch of 12 training examples, two of which share the same item.

# %%
train_fit = fit_part(parts.train, mf.config)  # the part of train the model was fitted on (validation carved out)
popular_item = np.bincount(train_fit.items).argmax()
others = rng.permutation(np.flatnonzero(train_fit.items != popular_item))[:100]
_, first_of_item = np.unique(train_fit.items[others], return_index=True)
twins = rng.choice(np.flatnonzero(train_fit.items == popular_item), 2, replace=False)
rows = np.r_[twins[0], others[np.sort(first_of_item)[:10]], twins[1]]  # 10 distinct items, the popular one at both ends
batch_users, batch_items, batch_times = train_fit.users[rows], train_fit.items[rows], train_fit.times[rows]
with torch.no_grad():
    scores = mf.model_(as_tensors(mf.features_.user_features(batch_users, batch_times)),
                       as_tensors(mf.features_.item_features(batch_items, batch_times)))  # (12, 12)
masked = in_batch_logits(scores, torch.from_numpy(batch_items), log_q=None, mask_accidental_hits=True)
n_masked = int(torch.isinf(masked).sum())

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
for ax, matrix, title in [(axes[0], scores, "scores u_b · v_j"),
                          (axes[1], masked, f"accidental hits masked ({n_masked} cells)")]:
    image = ax.imshow(matrix.numpy(), cmap="viridis")
    ax.scatter(np.arange(12), np.arange(12), marker="s", s=90, facecolors="none", edgecolors="white")
    ax.set(xlabel="item of example j", ylabel="user of example b", title=title)
    fig.colorbar(image, ax=ax, shrink=0.8)
axes[1].scatter([0, 11], [11, 0], marker="x", s=80, c="red", label="same item as the row's positive")
axes[1].legend(loc="lower left", fontsize=8)
plt.tight_layout()
plt.show()

# %%
# How often does it happen in real batches of 1024?
order = rng.permutation(len(train_fit))
shared = [np.unique(train_fit.items[order[s:s + 1024]], return_counts=True)[1] for s in range(0, len(order), 1024)]
share_with_hit = np.mean([(counts[counts > 1]).sum() / counts.sum() for counts in shared])
print(f"examples whose item appears more than once in their batch of 1024: {share_with_hit:.1%}")

# %%
# Lesson guard: the masked cells are exactly the off-diagonal duplicates, and real batches are full of them.
guard("masked cells in the 12-example batch", n_masked, "==", 2)
guard("the masked cells are the two twins", int(torch.isinf(masked[0, 11])) + int(torch.isinf(masked[11, 0])), "==", 2)
guard("examples with an accidental hit in a batch of 1024", share_with_hit, ">", 0.5)

# %% [markdown]
# The white squares are the positives; the two red crosses would have told the two users of the
# popular item that it is wrong for them. In batches of 1024 on the world, *most* examples have
# such a twin somewhere in their batch, because a few items get most of the views.
#
# ## 4. Why a plain in-batch model loses to popularity, and the logQ correction
#
# The negatives in a batch are *other people's positives*. An item that makes 1% of all views sits
# in about 1% of the negative slots: popular items are used as negatives far more often than rare
# ones. The softmax over the batch is therefore not the softmax over the catalogue. Work it out
# (Bengio and Senecal 2008; Yi et al. 2019) and the model trained this way learns
#
# $$ s(u, i) \approx \log p(i \mid u) - \log q_i ,$$
#
# where $q_i$ is the probability that item $i$ is sampled into a batch. It learns how much *more*
# likely the item is than its popularity, so it pushes popular items down, and recommends
# rarities. The **logQ correction** subtracts $\log q_i$ from each in-batch logit *during training
# only*; the model then learns $s(u, i) \approx \log p(i \mid u)$, and serving uses $s$ as it is.
#
# We train the same feature-rich towers twice, without and with the correction (`SampledSoftmax(logq="none")`
# and `SampledSoftmax(logq="exact")`, where $q_i$ is item $i$'s share of the training events times B). Both use
# everything the features offer except the recent view counts (notebook 06, section 5, adds one back
# and looks at what it does to precomputed item vectors).

# %%
towers_config = dict(
    features=FeatureConfig(history_length=20, drop=("counts",)),
    towers=TowerConfig(embedding_dim=32, output_dim=32, hidden=(64,)),
    refit=False)
plain = evaluate_model("in-batch softmax, no correction",
                       TwoTowerRecommender(TwoTowerConfig(**towers_config, training=TrainConfig(
                           loss=SampledSoftmax(logq="none"), progress=False, epochs=3, batch_size=1024)), side=side))
corrected = evaluate_model("in-batch softmax + logQ",
                           TwoTowerRecommender(TwoTowerConfig(**towers_config, training=TrainConfig(
                               loss=SampledSoftmax(logq="exact"), progress=False, epochs=3, batch_size=1024)),
                                               side=side))

# %%
names = ["popularity", "in-batch softmax, no correction", "in-batch softmax + logQ", "ALS"]
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
bar_colours = ["grey", "tab:red", "tab:green", "tab:blue"]
axes[0].bar(np.arange(4), [results[n]["ndcg@10"] for n in names], color=bar_colours)
axes[0].set(ylabel="nDCG@10 (test)", title="Without logQ, the two-tower is no better than popularity")
axes[1].bar(np.arange(4), [results[n]["popularity@10"] for n in names], color=bar_colours)
axes[1].set(ylabel="training views of recommended items", yscale="log",
            title="...because it learned to avoid popular items")
for ax in axes:
    ax.set_xticks(np.arange(4), ["popularity", "no correction", "logQ", "ALS"])
plt.tight_layout()
plt.show()

# %%
# Lesson guard: the vanilla in-batch softmax is several times worse than the corrected one, around the level
# of popularity (below it on most samples of the world: see the margins table in benchmarks/REPORT.md); with
# logQ it beats popularity by a wide margin.
popularity_ndcg = results["popularity"]["ndcg@10"]
plain_ndcg, corrected_ndcg = results[names[1]]["ndcg@10"], results[names[2]]["ndcg@10"]
print(f"no correction / popularity nDCG@10: {plain_ndcg / popularity_ndcg:.2f}; "
      f"logQ / no correction: {corrected_ndcg / plain_ndcg:.2f}")
guard("logQ / no correction ndcg", corrected_ndcg / plain_ndcg, ">", 2.5)
guard("no correction / popularity ndcg", plain_ndcg / popularity_ndcg, "<", 1.3)
guard("logQ / popularity ndcg", corrected_ndcg / popularity_ndcg, ">", 1.8)  # over worlds: see the margins table in benchmarks/REPORT.md
guard("no correction / logQ popularity of recommendations",
      results[names[1]]["popularity@10"] / results[names[2]]["popularity@10"], "<", 0.5)
# ...and the corrected towers come close to ALS on the log, level with it on the oracle's measure.
guard("logQ towers / ALS ndcg", corrected_ndcg / results["ALS"]["ndcg@10"], ">", 0.8)
guard("logQ towers / ALS true recall", results[names[2]]["true_recall@10"] / results["ALS"]["true_recall@10"], ">", 0.9)

# %% [markdown]
# This is a trap experts keep warning about: a textbook in-batch two-tower can be *worse than
# recommending the most popular items to everyone* (here it is on most samples of the world, and never
# far above it: the ratio is printed above). One line of the loss, `logits - log_q`, turns
# it into a model several times better than popularity and close to ALS; and, on the oracle's
# measure (true recall), the feature-rich towers are already level with ALS.
#
# ### Estimating q on the fly
#
# Exact frequencies need a pass over the data, and in production the data is a never-ending
# stream with a changing catalogue. Yi et al. (2019) estimate $q_i$ from the stream itself: keep,
# for every item (in a hashed table), the step at which it was last seen and a moving average of
# the gap between sightings. An item seen every 4 batches has $q_i \approx 1/4$. `SampledSoftmax(logq=
# "streaming")` uses this estimator. Let us run it over three epochs of batches and compare with
# the exact values.

# %%
estimator = StreamingFrequency(seed=0)
n_fit = len(train_fit)
for epoch in range(3):
    order = rng.permutation(n_fit)
    for start in range(0, n_fit, 1024):
        estimator.update(train_fit.items[order[start:start + 1024]])
counts = np.bincount(train_fit.items, minlength=data.n_items)
frequent = counts >= 5  # items seen at least 5 times per epoch: enough sightings for a gap to average
exact_q = np.minimum(counts / n_fit * 1024, 1.0)  # expected copies per batch (capped: "in every batch")
streaming_q = estimator.probability(np.arange(data.n_items))
rank_correlation = spearmanr(exact_q[frequent], streaming_q[frequent]).statistic
print(f"Spearman rank correlation, streaming vs exact q ({frequent.sum()} items): {rank_correlation:.3f}")

fig, ax = plt.subplots(figsize=(5.5, 4.5))
ax.scatter(exact_q[frequent], streaming_q[frequent], s=6, alpha=0.5)
ax.plot([0.03, 1], [0.03, 1], color="black", lw=1, label="y = x")
ax.set(xscale="log", yscale="log", xlabel="exact q (share of events x B)", ylabel="streaming estimate 1 / mean gap",
       title=f"Streaming frequency estimate, Spearman {rank_correlation:.2f}")
ax.legend()
plt.show()

# %%
# Lesson guard: the streaming estimate ranks items by frequency almost as the exact count does.
guard("streaming vs exact q, Spearman", rank_correlation, ">", 0.9)

# %% [markdown]
# The estimate follows the exact values along the diagonal; it saturates at 1 for items present in
# (almost) every batch, where "probability of being in the batch" and "expected copies per batch"
# part ways, and it is noisier for rare items, seen only a few times. That is good enough for a
# correction that works on a log scale.
#
# ## 5. Training curves
#
# `train_towers` records one row per epoch: the mean training loss and the recall@10 on a
# validation part carved out of train (never the test part). Early stopping keeps the best epoch.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for model, label, colour in [(plain, "no correction", "tab:red"), (corrected, "logQ", "tab:green")]:
    epochs = [row["epoch"] for row in model.history_]
    axes[0].plot(epochs, [row["loss"] for row in model.history_], "o-", color=colour, label=label)
    axes[1].plot(epochs, [row["val_recall@10"] for row in model.history_], "o-", color=colour, label=label)
axes[0].set(xlabel="epoch", ylabel="training loss", title="Both losses fall...")
axes[1].set(xlabel="epoch", ylabel="validation recall@10", title="...only one model gets better", ylim=(0, None))
for ax in axes:
    ax.set_xticks(epochs)
    ax.legend()
plt.tight_layout()
plt.show()

# %%
# Lesson guard: the loss falls in both runs, but only the corrected model is good on validation.
for label, model in (("no correction", plain), ("logQ", corrected)):
    losses = [row["loss"] for row in model.history_]
    guard(f"{label}: last / first epoch loss", losses[-1] / losses[0], "<", 1.0)
val_plain = max(row["val_recall@10"] for row in plain.history_)
val_corrected = max(row["val_recall@10"] for row in corrected.history_)
guard("logQ / no correction validation recall", val_corrected / val_plain, ">", 2.5)

# %% [markdown]
# A falling training loss says the model is getting better *at its own objective*. Without the
# correction, that objective is the wrong one, and only a metric on held-out data shows it. Always
# watch a validation metric, not only the loss.
#
# ## 6. What the item tower learned
#
# The item tower reads the genre as one field among many, next to the id, the publisher and the
# words. Nothing forces the item vectors to be organised by genre; if they are, it is because genre
# is what explains the users' choices. Take the 32-d item vectors, remove their common mean (all
# of them share a direction, "something people watch"), and look at them two ways: projected on
# their first two principal components (an SVD of the centred matrix), and as the mean cosine
# between the items of every pair of genres.

# %%
vectors = corrected.item_vectors_  # (n_items, 32), unit length: the index retrieval searches
genre = world.items["genre_index"]
viewed = corrected.features_.item_counts > 0  # items with training views (the others are cold)
mean_vector = vectors[viewed].mean(axis=0)
_, singular_values, components = np.linalg.svd(vectors[viewed] - mean_vector, full_matrices=False)
xy = (vectors - mean_vector) @ components[:2].T  # (n_items, 2)
unit = (vectors - mean_vector) / np.linalg.norm(vectors - mean_vector, axis=1, keepdims=True)
n_genres = len(world.genres)
one_hot = np.eye(n_genres)[genre[viewed]]  # (n_viewed, n_genres)
sums = one_hot.T @ unit[viewed]  # (n_genres, 32): sum of the unit vectors of each genre
sizes = one_hot.sum(axis=0)
genre_cosine = (sums @ sums.T) / np.outer(sizes, sizes)  # mean cosine over all pairs of items (a, b)
np.fill_diagonal(genre_cosine, (np.diag(sums @ sums.T) - sizes) / (sizes * (sizes - 1)))  # pairs a != b

fig, axes = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1.2, 1]})
cmap = plt.get_cmap("tab20")
for g, name in enumerate(world.genres):
    axes[0].scatter(*xy[viewed & (genre == g)].T, s=6, color=cmap(g), label=name)
axes[0].scatter(*xy[~viewed].T, s=10, marker="x", color="darkgrey", label="no training views")
axes[0].set(xlabel="principal component 1", ylabel="principal component 2",
            title="Item vectors, coloured by (hidden) genre")
axes[0].legend(markerscale=3, fontsize=7, ncol=2)
image = axes[1].imshow(genre_cosine, cmap="RdBu_r", vmin=-1, vmax=1)
axes[1].set_xticks(range(n_genres), world.genres, rotation=90)
axes[1].set_yticks(range(n_genres), world.genres)
axes[1].set_title("Mean cosine between items of two genres")
fig.colorbar(image, ax=axes[1], shrink=0.8)
plt.tight_layout()
plt.show()

# %%
within = np.average(np.diag(genre_cosine), weights=sizes * (sizes - 1))
across = ~np.eye(n_genres, dtype=bool)
between = np.average(genre_cosine[across], weights=np.outer(sizes, sizes)[across])
centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)  # (n_genres, 32) direction of each genre
cold_own_genre = np.mean(np.argmax(unit[~viewed] @ centroids.T, axis=1) == genre[~viewed])
print(f"mean cosine: items of the same genre {within:.2f}, of different genres {between:.2f}")
print(f"items without training views nearest to their own genre's direction: {cold_own_genre:.0%} "
      f"of {(~viewed).sum()}")

# %%
# Lesson guard: items of a genre cluster together in the learned space, even the ones nobody viewed.
guard("mean cosine within - between genres", within - between, ">", 0.5)
guard("unviewed items nearest their own genre", cold_own_genre, ">", 0.7)  # chance would be about 1 in 12

# %% [markdown]
# Two principal components can only show part of a 32-d space: a few genres stand apart, the others
# overlap in the projection. The heatmap shows all of it: a bright diagonal, items of one genre
# pointing the same way, and close to zero (or negative) across genres. Like the latent categories
# of notebook 02, the structure comes from the training signal.
#
# Look at the grey crosses: items with no training views at all (late releases, and items nobody
# took). Their id embedding is the shared "unknown" one, yet the tower places them by their genre,
# publisher and words, mostly next to the items of their genre. Matrix factorisation cannot do
# that; notebook 06 makes it a lesson.
#
# ## 7. "More like this", from the item tower alone
#
# The item vectors answer a second question for free: which items are close to *this* item? Take an
# item's vector and find its nearest neighbours by cosine (the vectors have length 1, so a dot product):
# the "more like this" shelf under a title. No user is involved, so it works on a logged-out page too.

# %%
def more_like_this(item: int, k: int = 5) -> np.ndarray:
    """(k,) the items whose vectors are closest to `item`'s (itself excluded)."""
    similarity = vectors @ vectors[item]  # (n_items,) cosines
    similarity[item] = -np.inf
    return top_k(similarity[None, :], k)[0]


titles = np.asarray(world.items["title"]).astype(str)
popular_items = np.argsort(-corrected.features_.item_counts, kind="stable")
for item in popular_items[:3]:
    print(f"more like '{titles[item]}' ({world.genres[genre[item]]}):")
    for neighbour in more_like_this(item):
        print(f"    {titles[neighbour]:<44} {world.genres[genre[neighbour]]}")
neighbour_genre = np.mean([genre[more_like_this(item, 10)] == genre[item] for item in popular_items[:200]])
print(f"share of the 10 nearest neighbours in the item's own genre (200 most viewed items): {neighbour_genre:.0%}")

# %%
# Lesson guard: an item's nearest neighbours in the tower's space are mostly of its genre.
guard("more like this: neighbours of the same genre", neighbour_genre, ">", 0.6)

# %% [markdown]
# ## 8. Your own profile
#
# The user tower reads a history of items; give it yours. Pick a few titles (search them with
# `titles_with`, then edit `MY_TITLES`), and the cell embeds a user whose only history is those items,
# viewed and liked, as of the end of training, and recommends from the whole catalogue. Change the picks
# and run the cell again: the list follows. Three titles are thin evidence (real users here have dozens,
# plus searches and a profile), so after your own list we measure how well such tiny profiles work: one
# profile per genre, made of that genre's three most viewed titles.

# %%
def titles_with(word: str, n: int = 8) -> list[str]:
    """Titles containing `word` (case-insensitive), the most viewed first."""
    return [str(titles[i]) for i in popular_items if word.lower() in titles[i].lower()][:n]


def recommend_for_titles(picked_titles: list[str], k: int = 10) -> np.ndarray:
    """(k,) items for a new user whose history is exactly `picked_titles` (unknown titles raise)."""
    index_of = {title: i for i, title in enumerate(titles)}
    unknown = [title for title in picked_titles if title not in index_of]
    if unknown:
        raise ValueError(f"titles not in the catalogue: {unknown}; search them with titles_with('word')")
    picked = np.array([index_of[title] for title in picked_titles])
    user = corrected.embed_profile(items=picked)  # (D,) a new user whose history is exactly these items
    scores = vectors @ user
    scores[picked] = -np.inf  # not the items you picked
    return top_k(scores[None, :], k)[0]


first_genre = world.genres[0]
print(f"titles with a {first_genre} word:", titles_with(GENRE_WORDS[first_genre].split()[0])[:4])
MY_TITLES = [str(titles[i]) for i in popular_items if genre[i] == 0][:3]  # replace with your own picks
print("your picks:", MY_TITLES)
mine = recommend_for_titles(MY_TITLES)
for item in mine:
    print(f"    {titles[item]:<44} {world.genres[genre[item]]}")
picked_genres = {genre[np.flatnonzero(titles == title)[0]] for title in MY_TITLES}
print(f"your recommendations in the genres you picked: {np.isin(genre[mine], list(picked_genres)).mean():.0%}")

# %%
# Over every genre: a profile of its three most viewed titles, and the share of its list in that genre.
share_in_genre = []
for g in range(n_genres):  # one tiny profile per genre: its three most viewed titles
    lists = recommend_for_titles([str(titles[i]) for i in popular_items if genre[i] == g][:3])
    share_in_genre.append(np.mean(genre[lists] == g))
catalogue_share = np.bincount(genre, minlength=n_genres) / len(genre)  # what a random list would give
lift = np.mean(share_in_genre) / np.mean(catalogue_share)
print(f"three-title profiles: {np.mean(share_in_genre):.0%} of their recommendations in the profile's genre "
      f"(a random list: {np.mean(catalogue_share):.0%}), {lift:.1f}x")

# %%
# Lesson guard: three titles of a genre pull the recommendations towards that genre, far above chance.
guard("own profile: share in the profile's genre / chance", lift, ">", 3.0)

# %% [markdown]
# ## 9. The same pieces in TensorFlow Recommenders
#
# The article on two-tower retrieval recommends starting with **TensorFlow Recommenders** (TFRS), and
# many courses do. Everything above has a TFRS counterpart; we use PyTorch so that every line can be read
# here, with no TensorFlow to install:
#
# | here | TFRS |
# |---|---|
# | `Tower` (embedding bags + MLP) | a Keras model per tower (`tf.keras.layers.Embedding`, `Dense`) |
# | the in-batch softmax (`twotower_mini/losses.py`), accidental hits masked, logQ | `tfrs.tasks.Retrieval` (in-batch softmax; `candidate_sampling_probability` for logQ, `remove_accidental_hits`) |
# | exact top-k over the item vectors (`ExactIndex`, `lineage.topk.top_k`) | `tfrs.metrics.FactorizedTopK` (exact top-k during evaluation) and `tfrs.layers.factorized_top_k.BruteForce` |
# | approximate search (faiss IVF, notebook 07) | `tfrs.layers.factorized_top_k.ScaNN` |
#
# `benchmarks/twotower_bench.py` trains the TFRS retrieval tutorial's model (id-only 32-d towers,
# in-batch softmax without correction, 3 epochs, batch 8192) on MovieLens 100K with the tutorial's
# protocol, and compares it with the published TFRS number and with TFRS itself run on the same machine.
# The measured tables, read from `benchmarks/REPORT.md`:

# %%
report = Path("../benchmarks/REPORT.md")
if not report.exists():  # run from the repository root instead of notebooks/
    report = Path("benchmarks/REPORT.md")
sections = report.read_text().split("\n## ")
for section in sections:
    heading = section.splitlines()[0]
    if "TensorFlow Recommenders protocol" in heading or "TFRS tutorial model" in heading:
        print("## " + heading)
        print("\n".join(line for line in section.splitlines()[1:] if line.startswith("|")))
        print()

# %% [markdown]
# Read hit rate@100 (the share of test interactions whose item is in the user's top 100; on this
# protocol the movies a user already rated stay candidates, as in TFRS's "top-100 categorical accuracy")
# against the TFRS tutorial's published value, and examples per second against TFRS 0.7.7 on the same
# 2 cores. The model is the same; the numbers differ where the implementations do
# (batching, the distinct-item softmax of `twotower_mini/batches.py`, the optimiser's defaults).
#
# ## Summary
#
# - Two towers turn a user and an item into two same-size vectors; the score is their dot product
#   (L5), so item vectors can be precomputed and searched.
# - With ids only and no MLP, the model is matrix factorisation: $P[u] \cdot Q[i]$, checked to the
#   last digit, and about as good as ALS.
# - The in-batch softmax uses the other positives of a batch as negatives: a B x B matrix whose
#   diagonal holds the positives; accidental hits are masked.
# - Popular items are over-used as in-batch negatives. Without the logQ correction the model learns
#   to avoid them and lands around popularity's level (often below); with it, it is several times better. The frequencies can
#   be estimated from the stream (Yi et al. 2019).
# - A falling loss is not a better model: watch validation recall.
# - The learned item space is organised by genre, because genre drives the users' choices; even items
#   nobody viewed land next to their genre. The item tower alone answers "more like this", and the user
#   tower turns any few titles into a profile.
# - TensorFlow Recommenders' `Retrieval` task is this in-batch softmax, and `FactorizedTopK` this exact
#   top-k; the benchmark compares the two implementations.
#
# Next: **05 negatives**: where else negatives can come from, and why the items a user skipped are
# not the negatives you might think.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
