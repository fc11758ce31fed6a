# %% [markdown]
# # 03b · DeepWalk: walks, skip-gram and item vectors
#
# **Time:** about 35 minutes. **Prerequisites:** notebook 03a (the co-visitation graph and its
# relatedness scores); a first look at PyTorch helps but is not needed.
#
# **You will learn to**
# 1. turn the item graph into "sentences" with **weighted random walks** (DeepWalk, Perozzi et al. 2014);
# 2. train **skip-gram with negative sampling** in PyTorch (Mikolov et al. 2013): the unigram^0.75
#    noise, subsampling of frequent items, two embedding tables and the dynamic window;
# 3. compare DeepWalk with popularity, item-kNN, ALS and co-visitation on the world, and run an
#    honest ablation of two knobs;
# 4. see where neighbour aggregation (GraphSAGE, Hamilton et al. 2017) takes the idea next: to the
#    two-tower model.
#
# Item vectors learned from walks are the bridge from neighbours to the embeddings of the
# two-tower model. The setup below rebuilds what we need from notebook 03a: the world, the
# temporal split and a validation split carved from train.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from lineage import (check, compare, evaluate_lists, generate_world, guard, make_model, per_user_metrics,
                     print_comparisons, relevance_matrix, seed_everything, segment_recall, split,
                     users_with_test_events, validation_split, world_config)
from lineage.models import DeepWalk, DeepWalkConfig
from lineage.models.covisit import covisitation_counts
from lineage.models.deepwalk import (SkipGram, keep_probability, negative_distribution, node_counts, random_walks,
                                     skipgram_pairs, train_skipgram, walk_graph)

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()

world = generate_world(world_config())
data = world.interactions()
parts = split(data, "temporal", test_fraction=0.2, seed=42)
train, test = parts.train, parts.test
eval_users = users_with_test_events(test)
inner = validation_split(train, "temporal", fraction=0.1, seed=0)  # for choices: never the test set
validation_users = users_with_test_events(inner.test)
K = 10

# %%
# The items of notebook 03a: views, genres, the example item, and how often two graph items share a genre.
views = train.item_counts()  # (n_items,) training views
genre_of = world.items["genre_index"]  # (n_items,)
titles, genre_names = world.items["title"], world.items["genre"]
has_views = views > 0
by_views = np.flatnonzero(has_views)[np.argsort(views[has_views], kind="stable")]  # items with views, fewest first
example = by_views[int(0.75 * len(by_views))]  # an item busier than three quarters of the catalogue (03a's example)
popularity_order = np.argsort(-views, kind="stable")  # the whole catalogue, most viewed first
in_graph = np.diff(covisitation_counts(train).indptr) > 0  # items with at least one co-visit
genre_share = np.bincount(genre_of[in_graph]) / in_graph.sum()
chance_same_genre = float((genre_share ** 2).sum())  # two random items of the graph share a genre


def describe(item: int) -> str:
    return f"{genre_names[item]:>8} · {views[item]:>4} views · {titles[item]}"


# %% [markdown]
# ## 1. Walks as sentences
#
# Perozzi, Al-Rfou and Skiena (2014) noticed that on graphs whose degrees follow a power law, the
# number of times each node appears in short random walks follows a power law too, just like word
# frequencies in text. So: generate walks, treat each one as a sentence and each node as a word,
# and train word2vec on them. The node vectors that come out place nodes that appear in similar
# walks near each other. That is **DeepWalk**.
#
# Our walks run on a slightly different graph from 03a's (`walk_graph`): edge weight
# $c_{ij} / \sqrt{c_i c_j}$ (the cosine, a symmetric weight for a symmetric walk), the 50 strongest
# edges per item. From node $v$ the walker steps to neighbour $j$ with probability proportional to
# the edge weight (a first-order walk; node2vec, Grover and Leskovec 2016, adds knobs to bias it).
# All walkers step at once: a random number per walker, one binary search in the cumulative
# weights of its row.

# %%
small = DeepWalkConfig(n_neighbours=50, walks_per_node=8, walk_length=10, dim=32, epochs=4)  # teaching size
walk_weights = walk_graph(train, small)  # (n_items, n_items) cosine weights, top 50 per row
nodes = np.flatnonzero(np.diff(walk_weights.indptr) > 0)  # items with at least one edge
walks = random_walks(walk_weights, rng.permutation(np.repeat(nodes, small.walks_per_node)), small.walk_length, rng)
print(f"{walks.shape[0]:,} walks of {walks.shape[1]} items: a corpus of {(walks >= 0).sum():,} 'words'\n")
for walk in walks[:3]:
    print("  ->  ".join(f"{titles[i]} [{genre_names[i]}]" for i in walk[:4]), end="\n\n")

# %% [markdown]
# Walks wander mostly inside a genre, with the occasional jump where users' tastes overlap. Do they
# really follow the edge weights? Start 20,000 one-step walks at one item and compare how often
# each neighbour is reached with its share of the item's total edge weight.

# %%
start = nodes[np.argmax(np.diff(walk_weights.indptr)[nodes])]  # an item with a full row of 50 neighbours
steps = random_walks(walk_weights, np.full(20_000, start), 2, rng)[:, 1]  # (20000,) where the first step went
row = walk_weights[start]
expected = np.zeros(train.n_items)
expected[row.indices] = row.data / row.data.sum()  # P(next = j | here = start)
observed = np.bincount(steps, minlength=train.n_items) / len(steps)
total_variation = 0.5 * np.abs(observed - expected).sum()
print(f"from '{titles[start]}': total variation between observed and expected next steps {total_variation:.3f}")

strongest = row.indices[np.argsort(-row.data, kind="stable")[:15]]
fig, ax = plt.subplots(figsize=(9, 3.5))
ax.bar(np.arange(15) - 0.2, expected[strongest], width=0.4, label="edge weight share")
ax.bar(np.arange(15) + 0.2, observed[strongest], width=0.4, label="observed step frequency")
ax.set_xticks(np.arange(15), [" ".join(titles[j].split()[:2]) for j in strongest], rotation=45, ha="right", fontsize=8)
ax.set(ylabel="probability", title="The walker steps in proportion to the edge weights")
ax.legend()
plt.show()
# Properties: the walk's steps never leave the edges and follow the edge weights (up to sampling noise).
check("share of walk steps off the edges", observed[expected == 0].sum(), "==", 0)
check("walk steps vs edge weights, total variation (20,000 steps)", total_variation, "<", 0.05)

# %% [markdown]
# ## 2. Skip-gram with negative sampling
#
# Skip-gram (Mikolov et al. 2013) learns two vectors per word: an **input** vector $v_w$ used when
# the word is the centre, and an **output** vector $u_c$ used when it is the context. For every
# pair (centre $w$, context $c$) that occurs within a small window, it wants $v_w \cdot u_c$ large;
# for $K$ random **noise** words $n_1 \dots n_K$ it wants $v_w \cdot u_{n_k}$ small:
#
# $$\ell(w, c) = -\log \sigma(v_w \cdot u_c) - \sum_{k=1}^{K} \log \sigma(-v_w \cdot u_{n_k}).$$
#
# This is *negative sampling*: instead of a softmax over the whole vocabulary, a handful of binary
# questions ("was this a real pair?"). Keep it in mind: the two-tower model of notebook 04 trains
# with the same idea, and notebook 05 is all about choosing those negatives.
#
# **The pairs and the dynamic window.** word2vec does not use a fixed window: for every centre it
# draws a window size $b$ between 1 and the maximum, so a neighbour at distance 1 is always used
# and one at distance 3 only a third of the time. Near neighbours count more, for free. On a toy
# walk:

# %%
toy_walk = np.array([[0, 1, 2, 3, 4]])  # one walk A B C D E
toy_spans = np.array([[1, 2, 1, 3, 1]])  # the window drawn for each centre
centres, contexts = skipgram_pairs(toy_walk, toy_spans)
letters = "ABCDE"
print("window per centre:", ", ".join(f"{letters[p]}: {b}" for p, b in enumerate(toy_spans[0])))
print("pairs (centre, context):", " ".join(sorted(letters[c] + letters[o] for c, o in zip(centres, contexts))))

# %% [markdown]
# **The noise distribution.** Which items are the negatives? Uniform noise mostly asks about rare
# items, which the model learns little from; noise in proportion to frequency asks mostly about the
# head. Mikolov et al. found that frequency to the power **0.75** works best: it flattens the head
# and lifts the tail.

# %%
occurrences = node_counts(walks, train.n_items)  # (n_items,) how often each item appears in the walks
by_rank = np.argsort(-occurrences, kind="stable")[: (occurrences > 0).sum()]
noise = {exponent: negative_distribution(occurrences, exponent)[by_rank] for exponent in (1.0, 0.75, 0.0)}
top_share = {e: p[: len(p) // 10].sum() for e, p in noise.items()}  # share of the 10% most frequent items

fig, axes = plt.subplots(1, 2, figsize=(13, 3.8))
for exponent, label in [(1.0, "raw frequency (count^1)"), (0.75, "count^0.75 (word2vec)"), (0.0, "uniform (count^0)")]:
    axes[0].plot(np.arange(1, len(by_rank) + 1), noise[exponent], label=label)
axes[0].set(yscale="log", xlabel="items by walk frequency (rank)", ylabel="probability of being a negative",
            title="Noise distributions")
axes[0].legend()
keep = keep_probability(occurrences, small.subsample)  # (n_items,) min(1, sqrt(t / f))
frequency = occurrences / occurrences.sum()
axes[1].scatter(frequency[by_rank], keep[by_rank], s=4)
axes[1].axvline(small.subsample, color="gray", linestyle="--", label=f"t = {small.subsample:g}")
axes[1].set(xscale="log", xlabel="frequency of the item in the walks", ylabel="probability of keeping an occurrence",
            title="Subsampling frequent items")
axes[1].legend()
plt.tight_layout()
plt.show()
kept_share = float((occurrences * keep).sum() / occurrences.sum())
print(f"share of negatives drawn from the 10% most frequent items: count^1 {top_share[1.0]:.1%}, "
      f"count^0.75 {top_share[0.75]:.1%}, uniform {top_share[0.0]:.1%}")
print(f"subsampling keeps every occurrence of {(keep == 1).sum()} items, thins {(keep < 1).sum()}, "
      f"and keeps {kept_share:.0%} of the corpus")
walked = occurrences[occurrences > 0]
print(f"the most frequent item appears {walked.max() / walked.min():.0f} times as often in the walks as the rarest")

# %%
# Properties (they follow from p ∝ count^a and keep = min(1, sqrt(t / f))): the 0.75 power takes weight
# from the head and gives it to the tail; subsampling thins exactly the items more frequent than t.
check("head share of negatives, count^1 > count^0.75 > uniform (the smaller step)",
      min(top_share[1.0] - top_share[0.75], top_share[0.75] - top_share[0.0]), ">", 0.0)
check("rarest item's noise probability, count^0.75 / count^1", noise[0.75][-1] / noise[1.0][-1], ">", 1.0)
check("most frequent item's noise probability, count^0.75 / count^1", noise[0.75][0] / noise[1.0][0], "<", 1.0)
check("items thinned by subsampling unless more frequent than t, or kept whole although more frequent",
      np.sum((keep < 1) != (frequency > small.subsample)), "==", 0)
# Lesson guard: our walk corpus is flat enough that subsampling keeps most of it.
guard("03b.1 share of the walk corpus subsampling keeps", kept_share, ">", 0.7,
      falsified_by="a corpus dominated by a few very frequent items, as text is")

# %% [markdown]
# **Subsampling** (right) is the other half of Mikolov et al.'s frequency trick: every occurrence of
# an item with frequency $f$ is dropped with probability $1 - \sqrt{t / f}$, anew each epoch. The
# busiest items lose some of their occurrences, so they stop dominating the pairs, and the window,
# which spans the gaps, reaches a little further. Here it thins the busiest items and keeps most
# of the corpus (the counts are printed above).
#
# **Two tables.** `SkipGram` holds an input table and an output table, both (n_items, dim). Why
# not one? With a single table an item's score with itself would be $v_w \cdot v_w = \lVert
# v_w\rVert^2$, which can never be negative, although an item is rarely its own context; and
# "appears *next to*" need not mean "is *like*". Two tables decouple the two roles (Goldberg and
# Levy 2014, "word2vec explained", make this point). The input table starts small and random,
# the output table at zero (word2vec's initialisation), so the first loss is exactly
# $(1 + K) \log 2$. We train on the walks for four epochs, with fresh subsampling, windows and
# negatives every epoch.

# %%
print(SkipGram(train.n_items, small.dim))
skipgram, loss_per_epoch = train_skipgram(walks, train.n_items, small, rng)  # PyTorch, Adam, batches of 4096 pairs
print("mean loss per epoch:", np.round(loss_per_epoch, 3), f"  (an untrained model: {(1 + small.negatives) * np.log(2):.3f})")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, len(loss_per_epoch) + 1), loss_per_epoch, marker="o", label="training loss")
ax.axhline((1 + small.negatives) * np.log(2), color="gray", linestyle="--", label="untrained: (1 + K) log 2")
ax.set(xlabel="epoch", ylabel="mean SGNS loss per pair", title="Skip-gram learns the walks", ylim=(0, None))
ax.legend()
plt.show()
# Property: training lowers the loss every epoch. Lesson guard: the walks are predictable enough that
# the loss ends far below the untrained value.
check("largest change of the skip-gram loss from one epoch to the next", np.diff(loss_per_epoch).max(), "<", 0.0)
guard("03b.2 last epoch's skip-gram loss / untrained loss", loss_per_epoch[-1] / ((1 + small.negatives) * np.log(2)),
      "<", 0.4, falsified_by="walks with no structure to learn (a graph of random edges)")

# %% [markdown]
# Now the payoff: the item vectors. Like `DeepWalk`, we use the sum of the unit input and output
# vectors (Levy, Goldberg and Dagan 2015 found it better for similarity than the input vectors
# alone) and look up nearest neighbours by cosine. The model never saw a genre, a title or a
# language: only which items appear near each other in walks.

# %%
def unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


with torch.no_grad():
    item_vectors = unit(unit(skipgram.inputs.weight.numpy()) + unit(skipgram.outputs.weight.numpy()))  # (n_items, 32)
trained = occurrences > 0
similarity = item_vectors @ item_vectors.T  # (n_items, n_items) cosine
np.fill_diagonal(similarity, -np.inf)
similarity[:, ~trained] = -np.inf  # items that never appeared in a walk have no vector
embedding_neighbours = np.argsort(-similarity[trained], axis=1, kind="stable")[:, :K]  # (n_trained, 10)
same_genre = float(np.mean(genre_of[embedding_neighbours] == genre_of[trained][:, None]))

for item in [example, by_views[len(by_views) // 4], popularity_order[0]]:
    print(f"{describe(item)}\n  nearest by embedding:")
    for j in np.argsort(-similarity[item], kind="stable")[:4]:
        print(f"     cos {similarity[item, j]:.2f}  {describe(j)}")
print(f"\n{same_genre:.0%} of the 10 nearest neighbours share the item's genre; two random items: {chance_same_genre:.0%}")

# %%
# Lesson guard: the walks taught the embedding the genres, which it was never told.
guard("03b.3 same-genre share of embedding neighbours / two random items", same_genre / chance_same_genre, ">", 6.0,
      falsified_by="a world whose co-visits do not follow genres")

# %% [markdown]
# Compare the three examples: a busy item sits in a tight cluster of its genre (cosines near 1),
# while the rare one (a handful of views) has looser neighbours that may stray from its genre. Few
# walks pass through a rare item, so its vector rests on little evidence: the same one-user noise
# that sank $b = 1$ in notebook 03a, now inside an embedding.
#
# ## 3. DeepWalk on the world, against the classics
#
# `lineage.models.DeepWalk` packs the pipeline into a recommender: graph, walks, skip-gram, then a
# user is scored against item $j$ by the mean cosine between $j$ and the user's history, plus a
# small popularity prior, $\lambda \log(1 + n_j)$ (section 4 shows why). `make_model` gives every
# model the hyperparameters tuned on a validation split (DeepWalk's are printed below). This is
# the notebook's one full-size DeepWalk fit.

# %%
board, lists = {}, {}
for name, label in [("popularity", "popularity"), ("itemknn", "item-kNN"), ("als", "ALS (implicit)"),
                    ("covisit", "co-visitation"), ("deepwalk", "DeepWalk")]:
    model = make_model(name, "world")
    started = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - started
    lists[label] = model.recommend(eval_users, k=K)
    board[label] = evaluate_lists(lists[label], eval_users, train, test, K)
    board[label]["fit seconds"] = fit_seconds
    board[label]["cold-item recall@10"] = segment_recall(lists[label], eval_users, train, test, K, parts.cold_items())
    if name == "deepwalk":
        deepwalk = model
print(f"{'model':<16}{'ndcg@10':>9}{'recall@10':>11}{'coverage@10':>13}{'mean views':>12}{'cold recall':>13}{'fit s':>7}")
for label, row in board.items():
    print(f"{label:<16}{row['ndcg@10']:9.4f}{row['recall@10']:11.4f}{row['coverage@10']:13.3f}"
          f"{row['popularity@10']:12.0f}{row['cold-item recall@10']:13.3f}{row['fit seconds']:7.1f}")
tuned = deepwalk.config
print(f"\nDeepWalk: {tuned.walks_per_node} walks of {tuned.walk_length} items from every node, {tuned.dim} dimensions, "
      f"{tuned.epochs} epochs")
classics = ("item-kNN", "ALS (implicit)", "co-visitation")
relevant = relevance_matrix(test, eval_users, train)  # (n_eval, n_items) 0/1: the paired per-user scores
ndcg = {label: per_user_metrics(found, relevant, K)["ndcg"][np.diff(relevant.indptr) > 0]
        for label, found in lists.items()}  # label -> (n users with a test item,) nDCG@10
versus = {label: compare(ndcg["DeepWalk"], ndcg[label], "DeepWalk", label, ratio=True)
          for label in ("popularity", *classics)}
print_comparisons(versus)  # test nDCG@10 ratios with their paired 95% intervals

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
colours = ["tab:gray", "tab:green", "tab:blue", "tab:orange", "tab:red"]
axes[0].bar(list(board), [row["ndcg@10"] for row in board.values()], color=colours)
axes[0].set(ylabel="test nDCG@10", title="DeepWalk among the classics")
axes[1].bar(list(board), [row["coverage@10"] for row in board.values()], color=colours)
axes[1].set(ylabel="coverage@10", title="Share of the catalogue that reaches some list")
for ax in axes:
    ax.tick_params(axis="x", rotation=20)
plt.tight_layout()
plt.show()

# %%
# Lesson guards: DeepWalk beats popularity by far, is not far below the graph it was built from, and
# spreads its lists over more of the catalogue. Properties: a cold item has no training events, so no
# vector (zero) and no place in a list.
guard("03b.4 test ndcg@10, DeepWalk / popularity, 95% lower bound", versus["popularity"].low, ">", 1.6,
      falsified_by="a world where users mostly take bestsellers")
guard("03b.5 test ndcg@10, DeepWalk / co-visitation, 95% lower bound", versus["co-visitation"].low, ">", 0.8,
      falsified_by="a walk graph or skip-gram settings that lose the graph's strongest edges")
guard("03b.6 coverage@10, DeepWalk / the best classic",
      board["DeepWalk"]["coverage@10"] / max(board[label]["coverage@10"] for label in classics), ">", 1.0,
      falsified_by="a popularity prior strong enough to pull every list to the head")
check("DeepWalk cold-item recall@10", board["DeepWalk"]["cold-item recall@10"], "==", 0.0)
check("DeepWalk: nonzero vector entries of cold items", np.count_nonzero(deepwalk.item_vectors_[parts.cold_items()]), "==", 0)

# %% [markdown]
# DeepWalk is far better than popularity and lands close to item-kNN, ALS and plain co-visitation:
# a little below one where its paired interval printed above lies wholly below 1 (the verdict names
# the classic), no difference we can measure here where the interval holds 1. The guard claims only
# that DeepWalk is not far below co-visitation. That is honest and expected: its walks re-encode
# the co-visitation graph, so it cannot know more than the graph does, and on a small, dense log
# the graph itself is already a strong recommender. What DeepWalk buys is a **vector per item**: a
# fixed-size, dense description that can be searched with a dot product, fed to other models as a
# feature, or averaged into a user vector. It also spreads its lists over more of the catalogue
# (the coverage panel). Its blind spot is the same as ALS's: no training events, no vector (the
# code gives a cold item a zero vector, so its recall is 0).
#
# ## 4. An ablation: the noise exponent and the popularity prior
#
# Two knobs, with small, fast settings (the `fast` configuration below), scored on the
# *validation* split:
#
# - the **noise exponent** of the negatives: 0 (uniform), 0.75 (word2vec), 1 (raw frequency);
# - the **popularity prior** $\lambda$ in the score: 0 (pure embedding) or 0.1 (the tuned value).
#
# Why might the prior matter? Levy and Goldberg (2014) showed that skip-gram with negative
# sampling factorises a *shifted pointwise mutual information* matrix,
# $v_w \cdot u_c \approx \log \frac{P(w, c)}{P(w) P(c)} - \log K$: item popularity is divided
# out, by design. That is what makes the neighbours of section 2 so clean, but next-item metrics
# reward popular items.

# %%
fast = dict(n_neighbours=50, walks_per_node=8, walk_length=10, dim=32, epochs=1)
exponents, priors = [0.0, 0.75, 1.0], [0.0, 0.1]
log_views = np.log1p(inner.train.item_counts())  # (n_items,)
validation_relevant = relevance_matrix(inner.test, validation_users, inner.train)  # (n_users, n_items) 0/1


def validation_scores(model) -> dict:
    """Validation metrics at K, and each user's nDCG@K under "per_user" (paired across models)."""
    found = model.recommend(validation_users, k=K)
    scores = evaluate_lists(found, validation_users, inner.train, inner.test, K)
    scores["per_user"] = per_user_metrics(found, validation_relevant, K)["ndcg"][np.diff(validation_relevant.indptr) > 0]
    return scores


validation_popularity = validation_scores(make_model("popularity", "world").fit(inner.train))

ablation = {}
for exponent in exponents:
    model = DeepWalk(DeepWalkConfig(**fast, neg_exponent=exponent)).fit(inner.train)
    for prior in priors:  # the prior is only added when scoring, so one fit serves both values
        model.prior_ = (prior * log_views).astype(np.float32)
        ablation[exponent, prior] = validation_scores(model)
for prior in priors:
    for exponent in exponents:
        print(f"exponent {exponent:4}  prior {prior:3}:  validation ndcg@10 {ablation[exponent, prior]['ndcg@10']:.4f}"
              f"   mean views of recommended items {ablation[exponent, prior]['popularity@10']:5.0f}")

# %%
# How large are these differences? Paired 95% intervals over the validation users; and the same
# setting with another seed, for the noise floor of training.
with_prior = {e: ablation[e, 0.1]["ndcg@10"] for e in exponents}
best, worst = max(with_prior, key=with_prior.get), min(with_prior, key=with_prior.get)
prior_effect = [compare(ablation[e, 0.1]["per_user"], ablation[e, 0.0]["per_user"], f"exponent {e}: prior 0.1",
                        "no prior", ratio=True) for e in exponents]
over_popularity = [compare(ablation[e, 0.1]["per_user"], validation_popularity["per_user"],
                           f"exponent {e}, prior 0.1", "popularity", ratio=True) for e in exponents]
exponent_gap = compare(ablation[best, 0.1]["per_user"], ablation[worst, 0.1]["per_user"], f"exponent {best}",
                       f"exponent {worst} (both with the prior)", ratio=True)
print_comparisons([*prior_effect, *over_popularity, exponent_gap])
reseeded = DeepWalk(DeepWalkConfig(**fast, popularity_weight=0.1, seed=1)).fit(inner.train)
seed_noise = abs(validation_scores(reseeded)["ndcg@10"] / ablation[0.75, 0.1]["ndcg@10"] - 1)
views_ratio = max(ablation[e, 0.0]["popularity@10"] / ablation[e, 0.1]["popularity@10"] for e in exponents)
print(f"the same setting (0.75, 0.1) with another seed: validation ndcg@10 differs by {seed_noise:.1%}; without the "
      f"prior, recommended items have at most {views_ratio:.2f}x the views")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
for offset, prior, colour in [(-0.2, 0.0, "tab:purple"), (0.2, 0.1, "tab:red")]:
    ax.bar(np.arange(3) + offset, [ablation[e, prior]["ndcg@10"] for e in exponents], width=0.4, color=colour,
           label=f"popularity prior {prior}")
ax.axhline(validation_popularity["ndcg@10"], color="gray", linestyle="--", label="popularity")
ax.set_xticks(np.arange(3), [f"noise exponent {e}" for e in exponents])
ax.set(ylabel="validation nDCG@10", title="The prior matters; the exponent much less",
       ylim=(0, 1.35 * max(row["ndcg@10"] for row in ablation.values())))
ax.legend(loc="upper right", ncol=3, fontsize=8)
plt.show()

# %%
# Lesson guards: the popularity prior lifts nDCG by far for every exponent, and with it every setting
# beats popularity by far; the exponent moves nDCG much less than the prior does. Which exponent wins
# changes with the world sample: not guarded (see below).
guard("03b.7 validation ndcg@10 with / without the popularity prior, worst exponent, 95% lower bound",
      min(c.low for c in prior_effect), ">", 1.5, falsified_by="a task that does not reward popular items")
guard("03b.8 validation ndcg@10 with the prior / popularity, worst exponent, 95% lower bound",
      min(c.low for c in over_popularity), ">", 1.7, falsified_by="a world where users mostly take bestsellers")
guard("03b.9 mean views of recommended items without / with the prior, largest", views_ratio, "<", 0.65,
      falsified_by="a prior weight too small to move the lists")
guard("03b.10 validation ndcg@10 with the prior, best exponent / worst, 95% upper bound", exponent_gap.high, "<", 1.4,
      falsified_by="a corpus as skewed as text, where the exponent changes who the negatives are")

# %% [markdown]
# The popularity prior lifts nDCG a lot for every exponent (the intervals above): the embedding says
# *what goes with what*, the prior says *what people take at all*, and a top-10 list needs both.
# (Look at the "mean views" column: without the prior, the recommended items have far fewer views.)
#
# The noise exponent, famous from word2vec, matters much less than the prior (compare the
# intervals printed above). Which exponent comes out ahead is printed too, with its paired interval
# against the worst (where it holds 1: no difference we can measure here; it covers the users, not
# the training seed, so compare the gap with two seeds of one setting), and it changes from one
# sample of the world to the next (run the notebook with `TT_WORLD_SEED=1`, `2`, ...). So 0.75 is
# a setting to validate, not a law, and no exponent is guarded as the winner. A reason the exponent
# matters little here: 0.75 was tuned on text, where "the" and "of" are thousands of times more
# frequent than most words. Our walk corpus is much flatter (every item starts the same number of
# walks; section 2 printed how much more often the most frequent item appears than the rarest), so
# the exponent barely changes who the negatives are. Walk length is another knob of the same kind:
# try it yourself with `walk_length` and `walks_per_node`.
#
# ## 5. Where this goes next: aggregating neighbours
#
# DeepWalk learns a free vector per item, a *lookup table*: an item that is not in the graph gets
# nothing, and what we know about an item (genre, language, title) cannot enter. **GraphSAGE**
# (Hamilton, Ying and Leskovec 2017) computes a node's vector instead, from its **own features**
# and an **aggregate of its neighbours'** vectors:
#
# $$h_v^{(1)} = \sigma\!\left(W \left[\, x_v \;;\; \operatorname{mean}_{u \in N(v)} x_u \right]\right)$$
#
# with $W$ learned. Stack two such layers (the second aggregates the first layer's $h_u$) and a node
# sees its neighbours' neighbours; a new node with features but no edges still gets $[x_v ; 0]$.
# One aggregation step in numpy, on the walk graph, with each item's genre and language as its
# features. As a test of what the aggregate carries, hide an item's own features and guess its
# genre from its neighbours' mean alone:

# %%
languages = world.items["language_index"]
x = np.hstack([np.eye(len(world.genres))[genre_of], np.eye(len(world.languages))[languages]])  # (n_items, 16)
weight_sum = np.asarray(walk_weights.sum(axis=1)).ravel()  # (n_items,)
neighbour_mean = (walk_weights @ x) / np.maximum(weight_sum, 1e-12)[:, None]  # (n_items, 16) weighted mean over N(v)
h = np.hstack([x, neighbour_mean])  # (n_items, 32): what W would be applied to
guess = neighbour_mean[:, : len(world.genres)].argmax(axis=1)
linked = weight_sum > 0
guessed_right = float(np.mean(guess[linked] == genre_of[linked]))
majority = np.bincount(genre_of[linked]).max() / linked.sum()
print(f"[own features ; neighbour mean]: {h.shape}")
print(f"genre guessed from the neighbours alone: {guessed_right:.0%} right (always guessing the biggest genre: {majority:.0%})")
print(f"items with no edges (no training views, e.g. new releases): {int((~linked).sum())}; "
      "their aggregate is 0, their own features are not")

# %%
# Lesson guard: one mean over the neighbours already recovers the item's genre: the aggregate carries
# real information about the node, beyond chance by far.
guard("03b.11 genre guessed from the neighbour mean / always the biggest genre", guessed_right / majority, ">", 3.0,
      falsified_by="a world whose co-visits do not follow genres")

# %% [markdown]
# Now look at the user side. DeepWalk scores a user with the **mean of their history items'
# vectors**: that *is* one mean-aggregation step, on the bipartite user-item graph, with no learned
# weights. A two-tower model (notebook 04) does the same with learned ones: its user tower embeds
# the user from a **bag of history items** plus the user's own features, and its item tower embeds
# an item from its features (genre, language, title words) instead of looking it up, so a new item
# gets a vector on day one. GraphSAGE, PinSage (Ying et al. 2018, the same idea at Pinterest scale,
# with random walks choosing the neighbours) and the two-tower model are one family: vectors
# computed from features and neighbourhoods, trained so that the dot product fits the task.
#
# ## Summary
#
# - DeepWalk (Perozzi et al. 2014): weighted random walks are sentences; skip-gram with negative
#   sampling (Mikolov et al. 2013: count^0.75 noise, subsampling, two tables, dynamic window) turns
#   them into item vectors whose neighbours share genres it never saw.
# - On the world, DeepWalk is far ahead of popularity and close to the classics; its popularity
#   prior matters much more than the noise exponent.
# - GraphSAGE computes vectors from features and neighbours, which is what the two-tower model's
#   towers do.
#
# Next: **04 two towers**.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
