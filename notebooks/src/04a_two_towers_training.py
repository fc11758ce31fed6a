# %% [markdown]
# # 04a · Two towers are matrix factorisation, trained with a softmax
#
# **Time:** about 25 minutes. **Prerequisites:** notebooks 00 and 02 (the world, the temporal
# split, matrix factorisation); a first look at PyTorch (tensors, `nn.Embedding`, a training loop)
# helps but is not required. **Next:** 04b, what the towers learned and how to use them.
#
# **You will learn to**
# 1. draw the two-tower architecture and list what each tower reads;
# 2. see that an id-only, linear two-tower model *is* matrix factorisation, and train one;
# 3. explain the **in-batch softmax**: a B x B matrix of scores whose diagonal holds the positives,
#    and why "accidental hits" must be masked;
# 4. watch a vanilla in-batch model lose to plain popularity, and fix it with the **logQ
#    correction** (Yi et al. 2019), exact or estimated on the fly from the stream of batches;
# 5. read training curves: a falling loss is not a better model.
#
# Every comparison of two models below carries a **paired 95% interval** (`lineage.evidence.compare`):
# both models are scored on the same test users, the users are resampled 2,000 times, and the
# interval is where the ratio of the two means falls. When it holds 1, there is no difference we can
# measure here.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import spearmanr

from lineage import (check, compare, evaluate_lists, guard, make_model, per_user_metrics, print_comparisons,
                     relevance_matrix, seed_everything, single_blas_thread, split, true_recall_at_k,
                     true_recall_per_user, users_with_test_events, world_config)
from lineage.world import generate_world
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
# By default each tower's output is **L2-normalised** (scaled to length 1), so the dot
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
results, per_user = {}, {}  # name -> mean metrics; name -> per-user nDCG and true recall (the paired inputs)
relevant = relevance_matrix(parts.test, eval_users, parts.train)  # each user's unseen test items
has_test_items = np.diff(relevant.indptr) > 0


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
    per_user[name] = {"ndcg": per_user_metrics(lists, relevant, K)["ndcg"][has_test_items],
                      "true recall": true_recall_per_user(lists, true_top, K)}
    print(f"{name:<30} ndcg@10 {scores['ndcg@10']:.3f}  recall@10 {scores['recall@10']:.3f}  "
          f"true recall@10 {scores['true_recall@10']:.3f}  mean popularity {scores['popularity@10']:5.0f}  "
          f"fit {seconds:4.1f} s")
    return model


def versus(a, b, metric="ndcg"):
    """a / b on the mean per-user metric, with a paired bootstrap 95% interval over the test users."""
    return compare(per_user[a][metric], per_user[b][metric], a, b, ratio=True)


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
# The code does what the text says: the id-only linear two-tower scores exactly P[u] . Q[i].
check("MF by hand: largest difference", difference, "<", 1e-5)
# Lesson guard: trained with a softmax, it learns nearly as well as ALS and far better than popularity.
mf_vs = [versus("two towers, ids only (= MF)", "ALS"), versus("two towers, ids only (= MF)", "popularity")]
print_comparisons(mf_vs)
guard("04a.1 id-only towers / ALS nDCG, 95% lower bound", mf_vs[0].low, ">", 0.75,
      falsified_by="a softmax that cannot reach the square loss's optimum in three epochs")
guard("04a.2 id-only towers / popularity nDCG, 95% lower bound", mf_vs[1].low, ">", 1.6,
      falsified_by="a world without shared tastes, where popularity is all there is")

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
# The code does what the text says: the mask hits exactly the off-diagonal twins ...
check("masked cells in the 12-example batch", n_masked, "==", 2)
check("the masked cells are the two twins", int(torch.isinf(masked[0, 11])) + int(torch.isinf(masked[11, 0])), "==", 2)
# ... and the lesson: in real batches of 1024, most examples have such a twin.
guard("04a.3 examples with an accidental hit in a batch of 1024", share_with_hit, ">", 0.5,
      falsified_by="a catalogue without a popular head (views spread evenly over items)")

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
# Lesson guard: the vanilla in-batch softmax is several times worse than the corrected one, and no better
# than popularity; with logQ it beats popularity by a wide margin and comes close to ALS.
plain_name, corrected_name = names[1], names[2]
logq_vs = [versus(corrected_name, plain_name), versus(plain_name, "popularity"), versus(corrected_name, "popularity"),
           versus(corrected_name, "ALS"), versus(corrected_name, "ALS", "true recall")]
print_comparisons(logq_vs)
guard("04a.4 logQ / no correction nDCG, 95% lower bound", logq_vs[0].low, ">", 2.5,
      falsified_by="a catalogue whose items are about equally popular (q nearly uniform)")
guard("04a.5 no correction / popularity nDCG, 95% upper bound", logq_vs[1].high, "<", 1.5,
      falsified_by="a world where popular items are rarely what a user wants")
guard("04a.6 logQ / popularity nDCG, 95% lower bound", logq_vs[2].low, ">", 1.6,
      falsified_by="a world without shared tastes, where popularity is all there is")
guard("04a.7 no correction / logQ popularity of recommendations",
      results[plain_name]["popularity@10"] / results[corrected_name]["popularity@10"], "<", 0.6,
      falsified_by="a catalogue whose items are about equally popular")
guard("04a.8 logQ towers / ALS nDCG, 95% lower bound", logq_vs[3].low, ">", 0.75,
      falsified_by="side features that add nothing to ids and a softmax that underfits")
guard("04a.9 logQ towers / ALS true recall, 95% lower bound", logq_vs[4].low, ">", 0.85,
      falsified_by="a world whose hidden utility ignores the features the towers read")

# %% [markdown]
# This is a trap experts keep warning about: a textbook in-batch two-tower can be *worse than
# recommending the most popular items to everyone*; read the interval of "no correction /
# popularity" above: on this world it sits around 1, and the margins table in `benchmarks/REPORT.md`
# shows where it falls on ten samples of the world. One line of the loss, `logits - log_q`, turns it
# into a model several times better than popularity and close to ALS; on the oracle's measure (true
# recall), read its interval against ALS above.
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
guard("04a.10 streaming vs exact q, Spearman", rank_correlation, ">", 0.9,
      falsified_by="item frequencies that drift faster than the moving average follows")

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
# The code does what the text says: gradient steps on the training loss lower it, in both runs ...
for label, model in (("no correction", plain), ("logQ", corrected)):
    losses = [row["loss"] for row in model.history_]
    check(f"{label}: last / first epoch loss", losses[-1] / losses[0], "<", 1.0)
# ... and the lesson: only the corrected model is good on held-out validation users.
val_plain = max(row["val_recall@10"] for row in plain.history_)
val_corrected = max(row["val_recall@10"] for row in corrected.history_)
guard("04a.11 logQ / no correction validation recall", val_corrected / val_plain, ">", 2.5,
      falsified_by="a catalogue whose items are about equally popular")

# %% [markdown]
# A falling training loss says the model is getting better *at its own objective*. Without the
# correction, that objective is the wrong one, and only a metric on held-out data shows it. Always
# watch a validation metric, not only the loss.
#
# ## Summary
#
# - Two towers turn a user and an item into two same-size vectors; the score is their dot product,
#   so item vectors can be precomputed and searched.
# - With ids only and no MLP, the model is matrix factorisation: $P[u] \cdot Q[i]$, checked to the
#   last digit, and nearly as good as ALS (read the interval).
# - The in-batch softmax uses the other positives of a batch as negatives: a B x B matrix whose
#   diagonal holds the positives; accidental hits are masked.
# - Popular items are over-used as in-batch negatives. Without the logQ correction the model learns
#   to avoid them and lands around popularity's level; with it, it is several times better. The
#   frequencies can be estimated from the stream (Yi et al. 2019).
# - A falling loss is not a better model: watch validation recall.
#
# Next: **04b, what the towers learned**: the item space, "more like this", your own profile, and the
# same model in TensorFlow Recommenders.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
