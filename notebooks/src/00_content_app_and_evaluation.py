# %% [markdown]
# # 00 · The content app, and how we evaluate recommenders
#
# **Time:** about 30 minutes. **Prerequisites:** Python and numpy; nothing about recommenders.
#
# **You will learn to**
# 1. describe the synthetic *content app* that every notebook uses, and why we generate it;
# 2. say what *retrieval* and *ranking* are, and why real systems use both;
# 3. choose a split: why a random split flatters models and can reorder them;
# 4. compute precision, recall, nDCG and MAP at k by hand, and trust the library that does it;
# 5. run the first baseline, popularity, and see why *logged* metrics are not the whole truth.

# %%
# Environment check, run it first: every line should say [ OK ]; a [FAIL] line says how to fix it.
# (The same check from a terminal: `make check-env` or `python scripts/check_env.py`.)
# %run ../scripts/check_env.py

# %%
# Setup: seeds first, so every number below is the same on every run.
import time

import matplotlib.pyplot as plt
import numpy as np

from harness.leaderboard import LeaderboardConfig, format_table, run
from lineage import check, compare, generate_world, guard, print_comparisons, seed_everything, split, world_config
from lineage.metrics import (average_precision_at_k, evaluate_lists, hit_matrix, ndcg_at_k, per_user_metrics,
                             precision_at_k, recall_at_k, relevance_matrix, true_recall_per_user,
                             users_with_test_events)
from lineage.models import Popularity, PopularityConfig

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()
WORLD = world_config()  # the default size, and the world seed from TT_WORLD_SEED (default 0)
print("world seed", WORLD.seed)

# %% [markdown]
# ## 1. The world
#
# Real public datasets never contain everything we want to teach with: the items that were
# *shown* but not chosen (impressions), what people *searched*, and, above all, what they would
# *truly* have liked. So we generate a small app whose users read, watch and listen to content:
#
# - **users** live in a region, read one or two languages, like a few genres and strongly dislike
#   some; some declare favourite genres at sign-up; some follow other users;
# - **items** have a genre, a language, a publisher, a release time (a few arrive late, during the
#   log), a hidden quality, and a title and description whose words hint at the genre;
# - every **session** the app shows a few items chosen by its *logging policy* (part trending,
#   part a noisy personal guess); the user picks at most one or two, by a utility model, or leaves;
#   some sessions start with a **search**; good views may be **liked**.
#
# Because we wrote the generator, we also know each user's **true utility** for every item: the
# oracle that real data never has.

# %%
world = generate_world(WORLD)  # WorldConfig.sized("tiny" | "default" | "large"), seeded
print(world.summary())

# %%
items = world.items
for i in range(5):
    print(f"{items['item_id'][i]}  [{items['genre'][i]:>8} · {items['language'][i]} · {items['publisher'][i]}]  "
          f"{items['title'][i]}")
print()
users = world.users
for u in range(3):
    print(users["user_id"][u], users["region"][u], users["languages"][u], "declared:", users["declared_genres"][u] or "-")

# %% [markdown]
# ### The long tail
#
# A few items get most of the attention. Sort items by their number of views and plot them: the
# curve falls steeply. Every model we build must do better than "show everyone the head".

# %%
data = world.interactions()  # the views, as the Interactions object every model reads
views_per_item = np.sort(data.item_counts())[::-1]
views_per_user = data.user_counts()
top_decile_share = views_per_item[: data.n_items // 10].sum() / views_per_item.sum()

fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
axes[0].plot(np.arange(1, data.n_items + 1), np.maximum(views_per_item, 0.8))
axes[0].set(xscale="log", yscale="log", xlabel="item rank", ylabel="views",
            title=f"Item popularity: top 10% of items get {top_decile_share:.0%} of views")
axes[1].hist(views_per_user, bins=50)
axes[1].set(xlabel="views per user", ylabel="users", title="User activity is skewed too")

# How often a shown item is chosen, by how much the user likes its genre (hidden taste).
shown = world.impressions
taste_of_shown = world.taste[shown["user"], world.items["genre_index"][shown["item"]]]
bins = np.linspace(-4, 2.5, 14)
which = np.digitize(taste_of_shown, bins)
rate = [shown["chosen"][which == b].mean() if (which == b).sum() > 200 else np.nan for b in range(1, len(bins))]
axes[2].bar((bins[:-1] + bins[1:]) / 2, rate, width=0.4)
axes[2].set(xlabel="user's hidden taste for the item's genre", ylabel="chosen when shown",
            title="Genre tastes drive choices")
plt.tight_layout()
plt.show()

# %%
# Lesson guards: the world has a long tail, and hated genres are (almost) never chosen.
liked_rate = shown["chosen"][taste_of_shown > 1.0].mean()
hated_rate = shown["chosen"][taste_of_shown < -2.5].mean()
print(f"top 10% of items: {top_decile_share:.0%} of views; "
      f"chosen when shown: liked genre {liked_rate:.1%}, disliked genre {hated_rate:.2%}")
guard("00.1 the top 10% of items get this share of views", top_decile_share, ">", 0.4,
      falsified_by="a catalogue whose items are about equally attractive and equally shown")
guard("00.2 liked / hated genre: choice-rate ratio", liked_rate / max(hated_rate, 1e-6), ">", 90,
      falsified_by="users whose dislikes are mild, or choices that ignore genre")

# %% [markdown]
# ## 2. Retrieval, then ranking
#
# A real app has millions of items and must answer in tens of milliseconds. Scoring every item
# with a heavy model for every request is too slow, so systems work in two stages:
#
# 1. **retrieval** (candidate generation) picks a few hundred plausible items out of millions,
#    with a cheap model: popularity, neighbours, matrix factorisation, or a *two-tower* model
#    whose user and item vectors meet in a dot product, so the search is a nearest-neighbour
#    lookup;
# 2. **ranking** orders those few hundred with a richer model that can afford many features.
#
# Two different failures follow: the wanted item is *not among the candidates* (a retrieval
# miss, measured by recall at the candidate count), or it is there but *ranked too low* (a
# ranking miss). This course builds the retrieval stage, from the classics to two towers, and
# hands its candidates to a small ranker in notebook 07.
#
# ## 3. Splitting the log: time matters
#
# To evaluate, we hide part of the log and ask each model to recommend the hidden items.
#
# - A **random split** hides random events. The model trains on events from the *future* of the
#   ones it is tested on: it knows which items will become popular.
# - A **temporal split** hides everything after a moment in time, as in production: train on the
#   past, predict the future. Items released after the cut are *cold*: nobody saw them in training.
#
# Let us compare two popularity models under both splits: all-time counts, and counts over the
# last 14 days of training only.

# %%
K = 10
results, per_user_ndcg = {}, {}
for protocol in ["random", "temporal"]:
    parts = split(data, protocol, test_fraction=0.2, seed=42)
    eval_users = users_with_test_events(parts.test)
    relevant = relevance_matrix(parts.test, eval_users, parts.train)  # (n_test_users, n_items) 0/1, seen removed
    for name, model in [("all-time popularity", Popularity()),
                        ("last-14-days popularity", Popularity(PopularityConfig(window_days=14)))]:
        model.fit(parts.train)
        lists = model.recommend(eval_users, k=K)  # (n_test_users, K) item indices, seen items removed
        results[protocol, name] = evaluate_lists(lists, eval_users, parts.train, parts.test, K)
        ndcg = per_user_metrics(lists, relevant, K)["ndcg"]  # (n_test_users,), NaN: nothing left to find
        per_user_ndcg[protocol, name] = ndcg[~np.isnan(ndcg)]  # the same users for both models of a split
        print(f"{protocol:>8} · {name:<24} ndcg@10 = {results[protocol, name]['ndcg@10']:.4f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
names = ["all-time popularity", "last-14-days popularity"]
for offset, protocol in [(-0.2, "random"), (0.2, "temporal")]:
    ax.bar(np.arange(2) + offset, [results[protocol, n]["ndcg@10"] for n in names], width=0.4, label=protocol)
ax.set_xticks(np.arange(2), names)
ax.set(ylabel="nDCG@10", title="The split changes the numbers, and the winner")
ax.legend(title="split")
plt.show()

# %%
# The two models on one split are scored on the same users: a paired 95% interval of their nDCG ratio.
recent_vs_all = {protocol: compare(per_user_ndcg[protocol, names[1]], per_user_ndcg[protocol, names[0]],
                                   f"last 14 days ({protocol} split)", "all-time", ratio=True)
                 for protocol in ["random", "temporal"]}
print_comparisons(recent_vs_all)
random_all, temporal_all = results["random", names[0]]["ndcg@10"], results["temporal", names[0]]["ndcg@10"]
print(f"all-time popularity, random / temporal split: {random_all / temporal_all:.2f}x")

# %%
# Lesson guards: a random split flatters the models, and it reorders them.
reorder = recent_vs_all["temporal"].estimate / recent_vs_all["random"].estimate
guard("00.3 all-time popularity: random / temporal ndcg", random_all / temporal_all, ">", 1.3,
      falsified_by="a world whose popular items do not change over time")
guard("00.4 random split: last 14 days / all-time ndcg, 95% upper bound", recent_vs_all["random"].high, "<", 0.85,
      falsified_by="a log so short that the last 14 days are nearly all of it")
guard("00.5 temporal split: last 14 days / all-time ndcg, 95% lower bound", recent_vs_all["temporal"].low, ">", 0.8,
      falsified_by="tastes that do not drift, so older views count as much as recent ones")
guard("00.6 the split reorders: recent / all-time, temporal over random", reorder, ">", 1.25,
      falsified_by="a world without trends, where both splits rank the two alike")

# %% [markdown]
# Under the random split, all-time popularity looks much better: it is trained on events spread
# over the whole timeline, *including the weeks it is tested on*, and the last-14-days counts look
# clearly worse (the whole interval of the ratio lies below 1). Under the temporal split that
# advantage vanishes: the recent window draws level with all-time counts. Where its interval holds
# 1 there is no difference we can measure here; on another sample of the world it may come out a
# little ahead or behind (try `TT_WORLD_SEED=3`). What does not change is that the random split
# invented a large gap the honest split does not show. What is popular *now* is a good guess of what
# people take next. From here on, the **temporal split is our default** on the world.
#
# Each line above reads *A / B: ratio [95% interval]*. Both models were scored on the same test users,
# so we resample users (with replacement) and recompute the ratio each time: a hard user is hard for
# both, and the interval shows how much of the gap could be the luck of this sample of users
# (`lineage.evidence.compare`, a paired bootstrap; every later notebook reports comparisons this way).
#
# ## 4. The metrics, by hand
#
# Each model returns, for each test user, a list of k items (full-catalogue ranking: every item is
# a candidate, and items the user already had in training are removed). The user's **relevant**
# items are those they took in the test period. With hits marked along the list:
#
# | metric | definition |
# |---|---|
# | precision@k | hits / k |
# | recall@k | hits / number of relevant items; called **logged recall** when we contrast it with true recall (section 5) |
# | nDCG@k | Σ hit_j / log2(j+1), divided by the best possible value with min(#relevant, k) hits on top |
# | MAP@k | Σ over hits of (precision at that rank) / number of relevant items |
# | hit rate@k | per test interaction (u, i): is i in u's top k? Averaged over test interactions, not users (interactions with an item u already had in training are left out) |
#
# The first four are averaged over test users who have something left to find. The suite prints
# more, which look at the lists as a whole, at the world's hidden truth, or at one group of users
# or items:
#
# | metric | definition |
# |---|---|
# | coverage@k | share of the catalogue that appears in at least one user's top-k list |
# | popularity@k | mean training popularity of the recommended items: their number of training events, averaged over every filled slot of every list (high = the model pushes the head) |
# | true recall@k | on the world only: share of the user's truly best items (the oracle's list, section 5) that the top k contains, averaged over users |
# | recall@k/cold-items, /warm-items | recall@k counting only the relevant items without (cold) or with (warm) training views, over the users who have one |
# | ndcg@k/cold-users | nDCG@k over the test users without training history |
# | *metric* with-hist, no-hist | the same metric over the test users with, or without, training history (the leaderboard's columns) |
# | fit_seconds | time to fit the model (the leaderboard's last column; it depends on the machine) |
# | difference [95% interval] | a model minus a reference (or their ratio), with its paired bootstrap interval over test users: section 3 |
#
# A list of five with hits at ranks 2 and 5, and three relevant items:

# %%
ranked = ["a", "b", "c", "d", "e"]
relevant = {"b", "e", "z"}
by_hand = {
    "precision@5": 2 / 5,
    "recall@5": 2 / 3,
    "ndcg@5": (1 / np.log2(3) + 1 / np.log2(6)) / (1 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(4)),
    "map@5": (1 / 2 + 2 / 5) / 3,
}
library = {
    "precision@5": precision_at_k(ranked, relevant, 5),
    "recall@5": recall_at_k(ranked, relevant, 5),
    "ndcg@5": ndcg_at_k(ranked, relevant, 5),
    "map@5": average_precision_at_k(ranked, relevant, 5),
}
for name in by_hand:  # a property (check, not a lesson): the library computes the definitions above
    print(f"{name:<12} by hand {by_hand[name]:.4f}   lineage.metrics {library[name]:.4f}")
    check(f"{name} by hand = lineage.metrics (abs. difference)", abs(by_hand[name] - library[name]), "<", 1e-12)

# %% [markdown]
# Beware of definitions that differ between libraries: `implicit.evaluation.precision_at_k`
# divides by min(k, #relevant), not by k, so it reports a recall-like number for users with few
# test items. Ours is the textbook hits/k. Also avoid *sampled* metrics (rank the relevant item
# against 100 random ones): they can reorder models (Krichene and Rendle, 2020); we always rank
# the full catalogue.
#
# ## 5. Logged recall and true recall
#
# The test log only contains items the app *showed*. An item the user would have loved, but which
# the logging policy never showed them, can never be a test hit. The world knows the truth, so we
# can also measure **true recall@10**: how many of the user's ten truly best (unseen, released)
# items the list contains.
#
# Let us compare popularity, a slightly personal "popular in your genres" model, and the oracle
# itself (each user's true best items).

# %%
parts = split(data, "temporal", test_fraction=0.2, seed=42)
eval_users = users_with_test_events(parts.test)
seen = parts.train.to_csr()
genre_of_item = world.items["genre_index"]
genre_one_hot = np.eye(len(world.genres))[genre_of_item]  # (n_items, n_genres)
train_counts = parts.train.item_counts().astype(np.float32)


class PopularInYourGenres(Popularity):
    """Popularity weighted by the share of the user's training views in each item's genre."""

    def score(self, users):
        genre_views = seen[users] @ genre_one_hot  # (n, n_genres)
        share = genre_views / np.maximum(genre_views.sum(axis=1, keepdims=True), 1)
        return (share[:, genre_of_item] + 1e-3) * train_counts[None, :]


# %%
t_cut = parts.test.times.max() + 1
# The oracle: each user's K truly best items (unseen in training, released by the end of test).
# True recall is measured against these very lists, so the oracle's own true recall is 1 by definition.
oracle_lists = world.true_top_items(eval_users, K, released_before=t_cut, exclude=seen)  # (n_test_users, K)
true_top = oracle_lists
lists_of = {
    "popularity": Popularity().fit(parts.train).recommend(eval_users, k=K),
    "popular in your genres": PopularInYourGenres().fit(parts.train).recommend(eval_users, k=K),
    "oracle (true best items)": oracle_lists,
}
test_relevant = relevance_matrix(parts.test, eval_users, parts.train)  # (n_test_users, n_items) 0/1
has_relevant = np.diff(test_relevant.indptr) > 0  # users with something left to find in the test log
logged, true = {}, {}  # per-user recall@10: on the test log, and against the true best items
for name, lists in lists_of.items():
    logged[name] = per_user_metrics(lists, test_relevant, K)["recall"][has_relevant]
    true[name] = true_recall_per_user(lists, true_top, K)
    print(f"{name:<26} logged recall@10 {logged[name].mean():.3f}   true recall@10 {true[name].mean():.3f}")

# %% [markdown]
# Why does the oracle do so badly on the log? An item can only be a test hit if the app *showed* it
# to the user during the test period. Count how many of each list's items the logging policy
# showed the user in that period:

# %%
in_test = world.impressions["time"] >= parts.test.times.min()
shown_in_test = np.zeros((data.n_users, data.n_items), dtype=bool)  # (n_users, n_items) shown during test
shown_in_test[world.impressions["user"][in_test], world.impressions["item"][in_test]] = True
shown_share = {}  # per user: the share of their list the app showed them during test
for name, lists in lists_of.items():
    was_shown = hit_matrix(lists, shown_in_test[eval_users])  # (n_test_users, K), True: the app showed that item
    shown_share[name] = was_shown.sum(axis=1) / np.maximum((lists >= 0).sum(axis=1), 1)  # a list may be shorter than K
    print(f"{name:<26} share of recommended items the app showed the user during test: {shown_share[name].mean():.1%}")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.5))
labels = list(lists_of)
ax.bar(np.arange(3) - 0.2, [logged[n].mean() for n in labels], width=0.4, label="logged recall@10")
ax.bar(np.arange(3) + 0.2, [true[n].mean() for n in labels], width=0.4, label="true recall@10")
ax.set_xticks(np.arange(3), labels)
ax.set(title="The log rewards imitating what the app showed")
ax.legend()
plt.show()

# %%
# The same test users for every list: paired 95% intervals of the ratios.
genres, popularity, oracle = "popular in your genres", "popularity", "oracle (true best items)"
versus = {"logged": compare(logged[genres], logged[popularity], f"{genres} (logged recall@10)", popularity, ratio=True),
          "true": compare(true[genres], true[popularity], f"{genres} (true recall@10)", popularity, ratio=True),
          "oracle": compare(logged[oracle], logged[genres], f"{oracle} (logged recall@10)", genres, ratio=True),
          "shown": compare(shown_share[oracle], shown_share[genres], f"{oracle} (share shown)", genres, ratio=True)}
print_comparisons(versus)

# %%
# Lesson guards: personalising beats popularity on both measures, but the log under-rates the
# oracle: it scores worse on logged recall than a model that imitates the logging policy, because
# the app showed its items to the user far less often.
guard("00.7 genres / popularity: logged recall, 95% lower bound", versus["logged"].low,
      ">", 1.8, falsified_by="users whose tastes do not follow genres")
guard("00.8 genres / popularity: true recall, 95% lower bound", versus["true"].low,
      ">", 2.0, falsified_by="users whose tastes do not follow genres")
guard("00.9 oracle / genres: logged recall, 95% upper bound", versus["oracle"].high,
      "<", 1.0, falsified_by="a logging policy that shows each user their truly best items")
guard("00.10 oracle / genres: share shown during test, 95% upper bound", versus["shown"].high,
      "<", 0.55, falsified_by="a logging policy that shows each user their truly best items")

# %% [markdown]
# The oracle recommends exactly what each user would like most, yet its *logged* recall is lower
# than a popularity-in-genre model's: the app showed the user far fewer of the oracle's items
# than of the popular ones during the test period, and an item never shown can never appear in the
# test log. Offline metrics on logged data measure agreement with the
# past logging policy; they are the best we have on real data, but keep this bias in mind
# (counterfactual evaluation and A/B tests exist for that reason).
#
# ## 6. The leaderboard
#
# The same split, metrics and models are available from the command line, for any dataset:
#
# ```bash
# python -m twotower_mini leaderboard --dataset world --protocol temporal --models popularity
# ```
#
# The cold-item segment shows what popularity cannot do: items released after the cut have no
# training views, and `recommend` never returns an item without training events for a model that
# learns only from interactions. So its `recall@10/cold-items` is 0 by construction: the check below
# shows that the code does what this text says; it is not a lesson about the world. The line under
# the table compares popularity with recent popularity, the leaderboard's reference, with a paired
# interval.

# %%
board = run(LeaderboardConfig(dataset="world", protocol="temporal", models=("popularity",), k=10, seed=42,
                              world_seed=WORLD.seed), log=lambda message: None)
print(format_table(board))
check("popularity recall@10 on cold items (recommend never returns them)",
      board["models"]["popularity"]["recall@10/cold-items"], "==", 0.0)

# %% [markdown]
# ## Summary
#
# - The content app gives us impressions, searches, likes and the true utility.
# - Retrieval finds a few hundred candidates; ranking orders them. Two different ways to fail.
# - Split by time: a random split inflates numbers and can change which model wins.
# - Precision, recall, nDCG and MAP at k, over the full catalogue, seen items removed.
# - Logged metrics reward imitating the logging policy; on the world we can also report true recall.
# - Two models scored on the same test users are compared with a paired interval; where it holds the
#   null (0, or 1 for a ratio), there is no difference we can measure here.
#
# Next: **01 neighbours**, the first personalised models.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
