# %%
# Setup: seeds first, so every number below is the same on every run.
import time
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto; we show no progress bars
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import torch

from lineage.metrics import evaluate_lists, test_users, true_recall_at_k
from lineage.models import Popularity
from lineage.reproducibility import seed_everything
from lineage.splits import split
from lineage.world import GENRE_WORDS, generate_world
from lineage.lessons import world_config
from twotower_mini.features import FeatureConfig, SideLog
from twotower_mini.recommender import TwoTowerConfig, TwoTowerRecommender
from twotower_mini.towers import TowerConfig
from twotower_mini.train import TrainConfig, as_tensors

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()

# %% [markdown]
# # 05 · Negatives: what the model learns *not* to recommend
#
# **Time:** about 40 minutes. **Prerequisites:** notebook 04 (two towers, the in-batch softmax,
# logQ correction); notebook 00's true recall.
#
# **You will learn to**
# 1. name three sources of negatives: random catalogue items, the other positives of a batch, and
#    **impressions** the user was shown and skipped;
# 2. see, with the world's hidden truth, why a skipped impression is *not* a disliked item: it is
#    usually a good item from a genre the user likes, that lost to a better one (lesson L7);
# 3. train retrievers on each kind of negative and compare them on logged recall, true recall and
#    how often they recommend genres the user hates;
# 4. decide where impressions belong: in the ranker, or mixed into retrieval with care;
# 5. build a **bag-of-features** tower with no ids at all, StarSpace-style, and find words, genres
#    and items living in one space (lesson L13).
#
# ## 1. Three sources of negatives
#
# The softmax of notebook 04 needs, for each positive (user, item), some items the user did *not*
# take. The log never says "this user dislikes that item", so every negative is a guess:
#
# | negatives | where from | what they say |
# |---|---|---|
# | **random** (uniform) | any catalogue item | "most items are not for you" |
# | **in-batch** | the items other users took, in the same batch | the same, but drawn by popularity (hence logQ) |
# | **impressions** | items the app showed in the same session, not chosen | "not this one, *this time*" |
#
# Impressions look like the best negatives of all: they were *really* shown and *really* not
# taken. Let us ask the world what they are.

# %%
world = generate_world(world_config())
data = world.interactions()
parts = split(data, "temporal", test_fraction=0.2, seed=42)
train = parts.train
side = SideLog.from_world(world)  # searches, and for each view the items skipped in its session
genre = world.items["genre_index"]
liked_genre = world.taste > 1.0  # (n_users, n_genres) hidden truth: genres the user likes
hated_genre = world.taste < -2.0  # ... and genres they strongly dislike

# One feed session, told with the hidden truth.
skipped = side.skipped_impressions(train.users, train.items, max_per_example=7)  # (n_train, 7), -1 = none


def typical(row):
    """A typical session: several skipped items, mostly from liked genres, one of the chosen item's genre."""
    shown = skipped[row][skipped[row] >= 0]
    u, chosen_genre = train.users[row], genre[train.items[row]]
    return (len(shown) >= 5 and liked_genre[u, chosen_genre] and (genre[shown] == chosen_genre).any()
            and liked_genre[u, genre[shown]].mean() >= 0.5)


example = next(row for row in rng.permutation(len(train)) if typical(row))
user = train.users[example]


def describe(item):
    return (f"{world.items['title'][item]:<42} {world.genres[genre[item]]:>9} "
            f"(taste {world.taste[user, genre[item]]:+.1f})  true utility {world.pair_utility(user, item):+.2f}")


print(f"user {world.users['user_id'][user]} chose:\n    {describe(train.items[example])}\nand skipped:")
for item in skipped[example][skipped[example] >= 0]:
    print("   ", describe(item))

# %% [markdown]
# We picked a session where most skipped items come from genres the user likes (the numbers for
# the whole log follow). They are good items, one even of the same genre as the item chosen; they
# simply did not win this time. Only one item can win a session, and choices are noisy: a skipped
# item may even be truly *better* than the one taken (a lower slot, a different mood). Now the same question for *every* training
# example: the true utility of the user for (a) a uniformly random item, (b) an in-batch negative
# (another example's item), (c) the items skipped in the session, and, for reference, (d) the
# positive itself.

# %%
has = skipped >= 0
users_of_skipped = np.broadcast_to(train.users[:, None], skipped.shape)[has]
negatives = {
    "random item": (train.users, rng.integers(0, data.n_items, len(train))),
    "in-batch (another example's item)": (train.users, train.items[rng.permutation(len(train))]),
    "skipped impression": (users_of_skipped, skipped[has]),
}
utility = {name: world.pair_utility(u, i) for name, (u, i) in negatives.items()}
positive_utility = world.pair_utility(train.users, train.items)
share_liked = {name: liked_genre[u, genre[i]].mean() for name, (u, i) in negatives.items()}
share_hated = {name: hated_genre[u, genre[i]].mean() for name, (u, i) in negatives.items()}

fig, axes = plt.subplots(1, 2, figsize=(13, 4), gridspec_kw={"width_ratios": [1.6, 1]})
bins = np.linspace(-6, 8, 57)
for (name, values), colour in zip(utility.items(), ["grey", "tab:blue", "tab:orange"]):
    axes[0].hist(values, bins=bins, density=True, histtype="step", lw=2, color=colour,
                 label=f"{name} (mean {values.mean():.2f})")
axes[0].axvline(positive_utility.mean(), color="tab:green", ls="--",
                label=f"positives (mean {positive_utility.mean():.2f})")
axes[0].set(xlabel="true utility for the user", ylabel="density", title="Who are the negatives, really?")
axes[0].legend(fontsize=8)
x = np.arange(3)
axes[1].bar(x - 0.2, list(share_liked.values()), width=0.4, color="tab:green", label="from a liked genre")
axes[1].bar(x + 0.2, list(share_hated.values()), width=0.4, color="tab:red", label="from a hated genre")
axes[1].set_xticks(x, ["random", "in-batch", "skipped\nimpression"])
axes[1].set(ylabel="share of negatives", title="Skipped impressions come from liked genres")
axes[1].legend()
plt.tight_layout()
plt.show()

# %%
# Lesson guard (L7): skipped impressions are far better items than random negatives: mostly from
# liked genres, rarely from hated ones.
u_random, u_skipped = utility["random item"].mean(), utility["skipped impression"].mean()
assert u_skipped > u_random + 1.0, (u_skipped, u_random)
assert share_liked["skipped impression"] > 2 * share_liked["random item"], share_liked
assert share_hated["skipped impression"] < 0.6 * share_hated["random item"], share_hated

# %% [markdown]
# A random item is usually something the user is indifferent to, or from a genre they hate. A
# skipped impression sits much closer to the positives: half of them come from a genre the user
# likes. The user who skipped their second-favourite science-fiction title is not telling you it
# is as bad as the horror they never watch.
#
# What happens when a model learns *only* from such negatives? It is told "this sci-fi title is
# wrong, that one is right", over and over, and never "horror is wrong": the policy rarely shows
# this user horror, so horror almost never appears as a negative.
#
# ## 2. Three retrievers, three kinds of negatives
#
# Same towers as notebook 04 (the fast configuration), trained three ways:
#
# - **random**: the in-batch softmax with logQ correction (the other positives of the batch, random
#   draws from the log);
# - **impressions only**: no in-batch negatives (`in_batch=False`), only the up-to-7 items skipped
#   in the session of each positive (`impression_negatives=7`);
# - **mixed**: in-batch negatives *plus* the skipped impressions, each impression weighing as much
#   as one in-batch negative (`impression_weight=1.0`): seven hard negatives among a thousand
#   random ones.
#
# Besides logged recall and true recall (notebook 00), we count how many recommendations fall in a
# genre the user strongly dislikes: the mistake a user notices first.

# %%
eval_users = test_users(parts.test)
seen = train.to_csr()
t_cut = parts.test.times.max() + 1
true_top = world.true_top_items(eval_users, 10, released_before=t_cut, exclude=seen)
K = 10
results = {}


def evaluate(name, model):
    """Fit, recommend the full catalogue, and measure logged recall, true recall and hated-genre share."""
    start = time.perf_counter()
    model.fit(train)
    lists = model.recommend(eval_users, k=K)
    scores = evaluate_lists(lists, eval_users, train, parts.test, K)
    scores["true_recall@10"] = true_recall_at_k(lists, true_top, K)
    scores["hated@10"] = hated_genre[eval_users[:, None], genre[lists]].mean()
    results[name] = scores
    print(f"{name:<18} recall@10 {scores['recall@10']:.3f}  ndcg@10 {scores['ndcg@10']:.3f}  "
          f"true recall@10 {scores['true_recall@10']:.3f}  hated genre {scores['hated@10']:.2%}  "
          f"mean popularity {scores['popularity@10']:4.0f}  fit {time.perf_counter() - start:4.1f} s")
    return model


def towers(**training):
    return TwoTowerConfig(features=FeatureConfig(history_length=20, drop=("counts",)),
                          towers=TowerConfig(embedding_dim=32, output_dim=32, hidden=(64,)),
                          training=TrainConfig(progress=False, epochs=2, batch_size=1024, **training),
                          refit=False)


evaluate("popularity", Popularity())
evaluate("random", TwoTowerRecommender(towers(), side=side))
evaluate("impressions only", TwoTowerRecommender(towers(in_batch=False, impression_negatives=7), side=side))
evaluate("mixed", TwoTowerRecommender(towers(impression_negatives=7, impression_weight=1.0), side=side));

# %%
names = ["random", "impressions only", "mixed"]
colours = ["tab:blue", "tab:orange", "tab:purple"]
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for ax, key, title in [(axes[0], "recall@10", "logged recall@10 (test log)"),
                       (axes[1], "true_recall@10", "true recall@10 (oracle's top 10)"),
                       (axes[2], "hated@10", "share of recommendations from a hated genre")]:
    ax.bar(np.arange(3), [results[n][key] for n in names], color=colours)
    ax.axhline(results["popularity"][key], color="grey", ls="--", label="popularity")
    ax.set_xticks(np.arange(3), names)
    ax.set(title=title)
axes[0].legend()
plt.tight_layout()
plt.show()

# %%
# Lesson guards (L7): impressions alone lose half the logged recall and recommend more than twice as
# many items from hated genres as random negatives; mixed in with a small weight, they do no harm.
random_, alone, mixed = (results[n] for n in names)
assert alone["recall@10"] < 0.6 * random_["recall@10"], (alone["recall@10"], random_["recall@10"])
assert alone["hated@10"] > 2 * random_["hated@10"], (alone["hated@10"], random_["hated@10"])
assert mixed["recall@10"] > 0.95 * random_["recall@10"], (mixed["recall@10"], random_["recall@10"])
assert mixed["true_recall@10"] > 0.95 * random_["true_recall@10"]
assert mixed["hated@10"] < 1.3 * random_["hated@10"], (mixed["hated@10"], random_["hated@10"])
# ...and, honestly: on this world, impressions alone find *more* of the oracle's top 10.
assert alone["true_recall@10"] > 1.2 * random_["true_recall@10"], (alone["true_recall@10"], random_["true_recall@10"])

# %% [markdown]
# Read the three panels together; they do not tell one simple story, and that is the lesson.
#
# - **Logged recall** halves with impressions alone, and the hated-genre share more than doubles:
#   the model learned to split hairs between good items and was never shown what a bad one looks
#   like. Of everything it never saw in a feed (most of the catalogue), it knows little.
# - **True recall** goes the *other* way on our world: impressions alone find more of each user's
#   truly best items. In this simulation the user chooses among what they are shown *exactly* by
#   their true utility, so "chosen over skipped" is a clean preference signal, free of the
#   popularity bias of the log (look at the mean popularity printed above). Real users are
#   noisier, and a real log has no oracle to tell you this.
# - **Mixed**, with impressions as a handful of extra negatives among a thousand random ones, is as
#   good as random on every measure.
#
# So: random negatives teach the coarse lesson a retriever needs first, *what is plausible at
# all*, over the whole catalogue; impressions teach the fine one, *which of the plausible items
# wins*. That fine comparison among a few shown candidates is exactly the ranker's job, which is
# why the usual advice is to **leave impressions to the ranker** (notebook 07), **or mix them into
# retrieval with care**, with a weight chosen on validation. Try `impression_weight=30.0` in the
# mixed model: the retriever drifts towards the impressions-only one, more true recall, less logged
# recall, more hated-genre mistakes. Where to stop depends on what you can measure, and in a real
# app you can measure the log, not the truth.
#
# Uniform catalogue negatives (`uniform_negatives=N`) are the third switch; mixing them with
# in-batch negatives is the *mixed negative sampling* of Yang et al. (2020), which helps the long
# tail and cold items reach the softmax.
#
# ## 3. Embed everything: a bag-of-features tower (StarSpace)
#
# StarSpace (Wu et al. 2018) had a simple, general idea: give *every* kind of entity (words, tags,
# users, documents) an embedding in one space, describe each thing as a **bag of features**, add
# up their embeddings, and train so that the dot product fits the task. A two-tower model with
# linear towers is exactly that (lesson L13).
#
# Build one with **no ids at all**: the item is the sum of its genre, language, publisher, title
# words and description words; the user is the (recency-weighted) mean of the items they viewed
# plus the words they searched. Nothing is tied to a particular item, so any new item with a genre
# and a title has a vector on day one.

# %%
star_config = TwoTowerConfig(
    features=FeatureConfig(history_length=20, use_item_id=False, count_windows_days=(),
                           drop=("liked_history", "region", "languages", "declared_genres", "signup_time",
                                 "follows", "release_time")),
    towers=TowerConfig(output_dim=32, linear_only=True),  # every field embeds straight into the 32-d space
    training=TrainConfig(progress=False, epochs=2, batch_size=1024),
    refit=False)
star = evaluate("bag of features", TwoTowerRecommender(star_config, side=side))
print(star.features_.describe())

# %% [markdown]
# Because the towers are sums of embeddings, the embedding of a single genre, or of a search
# query, is a point in the *same* 32-d space as the items. We can ask which items are closest:
#
# - to the **genre token** "scifi" (a row of the item tower's `genre` table);
# - to a **search query** typed by a brand-new user (run the user tower on a user who has nothing
#   but that query). The search words live in the *user* tower's vocabulary: they met the items
#   only through the dot product.

# %%
item_vectors = star.item_vectors_  # (n_items, 32), unit length
genre_token = star.features_.item_features(np.arange(data.n_items), star.features_.now)["genre"][:, 0]  # (n_items,)
genre_table = star.model_.item_tower.bags["genre"].weight.detach().numpy()
blank_user = {name: np.zeros_like(values)  # a user with no history and nothing else
              for name, values in star.features_.user_features(np.array([0]), star.features_.now).items()}


def query_vector(words):
    ids = np.array([[star.features_.search_vocab.index.get(word, 1) for word in words]])  # 1 = unknown word
    with torch.no_grad():
        return star.model_.user_tower(as_tensors({**blank_user, "search_words": ids})).numpy()[0]


genre_vectors, query_vectors, genre_share, query_share = [], [], [], []
for g, name in enumerate(world.genres):
    genre_vectors.append(genre_table[genre_token[genre == g][0]])
    query = GENRE_WORDS[name].split()[:2]  # e.g. "quantum galaxy"
    query_vectors.append(query_vector(query))
    nearest_to_genre = np.argsort(-(item_vectors @ genre_vectors[-1]), kind="stable")[:20]
    nearest_to_query = np.argsort(-(item_vectors @ query_vectors[-1]), kind="stable")[:10]
    genre_share.append(np.mean(genre[nearest_to_genre] == g))
    query_share.append(np.mean(genre[nearest_to_query] == g))
    if g < 4:
        print(f"query {' '.join(query)!r:<24} -> " + " | ".join(world.items["title"][nearest_to_query[:3]]))
print(f"\n20 items nearest to each genre token: {np.mean(genre_share):.0%} of that genre")
print(f"10 items nearest to each two-word query: {np.mean(query_share):.0%} of the query's genre")

# %%
# The whole picture: how close each genre token (or query) is to the items of each genre. The items'
# common direction is removed first (as in notebook 04): it adds the same amount to every item's
# score for a given query, so it never changes a ranking.
def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


centred_items = unit(item_vectors - item_vectors.mean(axis=0))  # (n_items, 32)
items_by_genre = np.eye(len(world.genres))[genre].T / np.bincount(genre)[:, None]  # (n_genres, n_items) averaging
fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"wspace": 0.45})
for ax, vectors, title in [(axes[0], genre_vectors, "genre token (item tower)"),
                           (axes[1], query_vectors, "search query (user tower)")]:
    mean_cosine = unit(np.array(vectors)) @ centred_items.T @ items_by_genre.T  # (n_genres, n_genres)
    image = ax.imshow(mean_cosine, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(world.genres)), world.genres, rotation=90)
    ax.set_yticks(range(len(world.genres)), world.genres)
    ax.set(xlabel="genre of the items", ylabel=title, title=f"{title} vs items: mean cosine")
fig.colorbar(image, ax=axes, shrink=0.8)
plt.show()

# %%
# Lesson guard (L13): genre tokens and search queries land among the items of their genre, and the
# id-free bag-of-features model is a real recommender, well ahead of popularity.
assert np.mean(genre_share) > 0.9, genre_share
assert np.mean(query_share) > 0.9, query_share
assert results["bag of features"]["ndcg@10"] > 2 * results["popularity"]["ndcg@10"]

# %% [markdown]
# Both diagonals are bright: a genre token points the way its items point, and so does a query,
# although the query words were learned in the other tower. The model never had a per-item
# parameter; it recommends from descriptions alone, which is what makes new items reachable
# (notebook 06).
#
# ## Summary
#
# - Negatives are guesses. Random catalogue items, in-batch items and skipped impressions are
#   three different guesses, and the world's truth shows how different: skipped impressions are
#   mostly good items from genres the user likes (L7).
# - A retriever trained on impressions alone loses half its logged recall and recommends more than
#   twice as many items from hated genres: it never saw what "bad" looks like. On our simulated users
#   it still finds more of their true favourites, because they choose exactly by utility; real
#   users give a noisier signal.
# - Random negatives first; impressions go to the ranker, or into retrieval with a small weight
#   chosen on validation.
# - A linear two-tower over bags of features is StarSpace: genres, words, queries and items share
#   one space, and a model without a single item id still recommends well (L13).
#
# Next: **06 cold start, side information and leakage**.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
