# %% [markdown]
# # 06 · Cold start, side information and leakage
#
# **Time:** about 40 minutes. **Prerequisites:** notebooks 00, 02 (matrix factorisation) and 04
# (two towers).
#
# **You will learn to**
# 1. see why matrix factorisation cannot recommend an item released after training, and how a
#    two-tower model embeds it from its features (lesson L11);
# 2. serve a brand-new user from the user-tower features they do have (their sign-up profile, and
#    searches when they have any: few do), and otherwise from what the tower learned for users with
#    no history;
# 3. measure which user features (L3) and item features (L4) matter, by ablation;
# 4. recognise *leakage*: features computed with data from after the event inflate offline
#    metrics (lesson L6), and build them point-in-time instead;
# 5. add dynamic view counts to the item tower (L4), and see why precomputed item vectors go stale.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from lineage import (evaluate_lists, generate_world, guard, hit_matrix, make_model, relevance_matrix,
                     seed_everything, segment_recall, split, top_k, true_recall_at_k, users_with_test_events,
                     world_config)
from twotower_mini import (FeatureBuilder, FeatureConfig, SideLog, TowerConfig, TrainConfig, TwoTowerConfig,
                           TwoTowerModel, TwoTowerRecommender, item_vectors, train_towers, user_vectors)

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()

# %% [markdown]
# We use the content-app world with the honest temporal split: train on the first 80% of views,
# test on the rest. Items released during the test period have no training views: they are
# **cold items**. Users who signed up during the test period are **new users**.

# %%
world = generate_world(world_config())
data = world.interactions()
parts = split(data, "temporal", test_fraction=0.2, seed=42)
side = SideLog.from_world(world)  # searches (and impressions) beyond the views themselves
users = users_with_test_events(parts.test)
cold_items = parts.cold_items()  # (n_items,) bool: test views but no training views
new_users = parts.cold_users()[users]  # per test user: no training views at all
print(f"{cold_items.sum()} cold items ({np.isin(parts.test.items, np.flatnonzero(cold_items)).mean():.0%} of test views), "
      f"{new_users.sum()} new users among {len(users):,} test users")

# %% [markdown]
# ## 1. Matrix factorisation has nothing to say about a new item
#
# ALS learns one vector per item *from that item's interactions*. An item released after
# training has no interactions, so it has no vector: MF cannot rank it at all (our models return
# no cold item, by construction). Popularity cannot either: its count is zero.
#
# A two-tower model builds the item vector from the item's **features**: title and description
# words, genre, publisher, language, age. A new item gets a vector the moment it exists. We train
# two of them: one that also has an item-id embedding (it memorises warm items; a cold item gets
# the shared "unknown id" row, which this training never updates: id dropout,
# `TrainConfig(id_dropout=...)`, would train it, and it is off by default, so a cold item's id part is
# a small random offset and its features do the work), and one with features only.

# %%
K = 50  # a retrieval stage hands a few dozen to a few hundred candidates to the ranker
fast = dict(towers=TowerConfig(embedding_dim=32, hidden=(64,), output_dim=32),
            training=TrainConfig(epochs=3, batch_size=1024, progress=False), refit=False)


def two_tower(**feature_options) -> TwoTowerRecommender:
    features = FeatureConfig(history_length=20, drop=("counts",), **feature_options)
    return TwoTowerRecommender(TwoTowerConfig(features=features, **fast), side=side)


quick = dict(fast, training=TrainConfig(epochs=2, batch_size=1024, progress=False))  # for the feature-only tower
models = {
    "popularity": make_model("popularity", "world"),
    "ALS": make_model("als", "world"),
    "two-tower (ids + features)": two_tower(),
    "two-tower (features only)": TwoTowerRecommender(TwoTowerConfig(
        features=FeatureConfig(history_length=20, use_item_id=False, drop=("counts",)), **quick), side=side),
}
lists, results = {}, {}
for name, model in models.items():
    model.fit(parts.train)
    lists[name] = model.recommend(users, k=K)  # (n_test_users, K)
    results[name] = {
        "ndcg@10": evaluate_lists(lists[name][:, :10], users, parts.train, parts.test, 10)["ndcg@10"],
        "cold-item recall@50": segment_recall(lists[name], users, parts.train, parts.test, K, cold_items),
        "warm-item recall@50": segment_recall(lists[name], users, parts.train, parts.test, K, ~cold_items),
    }
    print(f"{name:<28} " + "  ".join(f"{key} {value:.3f}" for key, value in results[name].items()))

# %%
# Lesson guard: MF and popularity cannot recommend a cold item; the two towers can.
guard("L11 ALS cold-item recall@50", results["ALS"]["cold-item recall@50"], "==", 0.0)
guard("L11 popularity cold-item recall@50", results["popularity"]["cold-item recall@50"], "==", 0.0)
guard("L11 features-only cold-item recall@50", results["two-tower (features only)"]["cold-item recall@50"], ">", 0.02)
guard("L11 ids + features cold-item recall@50", results["two-tower (ids + features)"]["cold-item recall@50"], ">", 0.005)  # over worlds: see the margins table in benchmarks/REPORT.md

# %% [markdown]
# Compare the two towers. The id embedding helps warm items (it memorises what features cannot say).
# On cold items, which tower wins changes from one sample of the world to the next: on some, the
# feature-only tower finds several times more of the cold items; on others, the two are close (run
# the notebook with another `TT_WORLD_SEED`). What holds on every sample is the lesson itself: both
# towers recommend items that matrix factorisation cannot rank at all. Production systems keep both
# kinds of signal and re-train often, so that a new item's id embedding is learned within hours.
#
# ### The "new releases" shelf
#
# A fairer test for new items is a shelf that shows only new releases: rank the cold items alone.
# Without a model, the best we can do is a popularity proxy, e.g. how popular each item's
# publisher was in training, or simply the newest first.

# %%
def shelf(scores: np.ndarray) -> np.ndarray:
    """Top-K among cold items only."""
    return top_k(np.where(cold_items[None, :], scores, -np.inf), K)


train_counts = parts.train.item_counts()
publisher = np.asarray(world.items["publisher"])
_, publisher_index = np.unique(publisher, return_inverse=True)
publisher_popularity = np.bincount(publisher_index, weights=train_counts)[publisher_index]  # (n_items,)
release = np.asarray(world.items["release_time"], dtype=float)
same_for_everyone = lambda item_scores: np.broadcast_to(item_scores, (len(users), data.n_items))
shelf_recall = {
    "newest first": segment_recall(shelf(same_for_everyone(release)), users, parts.train, parts.test, K, cold_items),
    "publisher popularity": segment_recall(shelf(same_for_everyone(publisher_popularity)), users, parts.train,
                                           parts.test, K, cold_items),
}
for name in ["two-tower (features only)", "two-tower (ids + features)"]:
    shelf_recall[name] = segment_recall(shelf(models[name].score(users)), users, parts.train, parts.test, K, cold_items)
for name, value in shelf_recall.items():
    print(f"{name:<28} recall@50 among new releases {value:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.barh(list(shelf_recall), list(shelf_recall.values()), color=["grey", "grey", "tab:blue", "tab:blue"])
ax.set(xlabel="recall@50 of the new-releases shelf", title="New items: personalised from features vs popularity proxies")
plt.show()

# %%
# Lesson guard: embedded from features, new items are ranked better than by any popularity proxy (by how
# much varies a lot from one sample of the world to another: the ratios are printed).
best_proxy = max(shelf_recall["newest first"], shelf_recall["publisher popularity"])
best_tower = max(shelf_recall["two-tower (features only)"], shelf_recall["two-tower (ids + features)"])
print(f"best tower / best proxy: {best_tower / best_proxy:.2f}; features only / best proxy: "
      f"{shelf_recall['two-tower (features only)'] / best_proxy:.2f}")
guard("L11 new-release shelf, best tower / best proxy", best_tower / best_proxy, ">", 1.2)
guard("L11 new-release shelf, features only / best proxy", shelf_recall["two-tower (features only)"] / best_proxy, ">", 1.0)

# %% [markdown]
# ## 2. New users
#
# A user who signed up yesterday has no history. MF has no vector for them either. The user tower
# still reads the features they do have: their region and languages, the genres they declared at
# sign-up (the world has about 40% of users declare some: `declared_genres_fraction`), whom they follow,
# and their searches when they have any (by the end of training few new users have searched). Where
# those say little, the tower answers with what it learned for users with an empty history (every
# training user's first view was such an example): a learned average rather than a personal guess.
# Together, enough for a first guess.

# %%
# A few dozen new users view a few items each in the test period: their logged nDCG is noisy. The
# world knows what each of them would truly like best (the oracle), so we also measure true
# recall@10, which does not depend on which few items they happened to view.
new_user_ndcg, new_user_true = {}, {}
true_top_new = world.true_top_items(users[new_users], 10, released_before=parts.test.times.max() + 1)
for name in ["popularity", "ALS", "two-tower (ids + features)"]:
    new_user_ndcg[name] = evaluate_lists(lists[name][new_users][:, :10], users[new_users], parts.train, parts.test,
                                         10)["ndcg@10"]
    new_user_true[name] = true_recall_at_k(lists[name][new_users], true_top_new, 10)
    print(f"{name:<28} on {new_users.sum()} new users: nDCG@10 {new_user_ndcg[name]:.3f}   "
          f"true recall@10 {new_user_true[name]:.3f}")

# %%
# Lesson guard: the user tower serves new users better than popularity; MF cannot serve them.
guard("new users: towers / popularity true recall",
      new_user_true["two-tower (ids + features)"] / max(new_user_true["popularity"], 1e-3), ">", 1.1)  # over worlds: see the margins table in benchmarks/REPORT.md
guard("new users: ALS / popularity ndcg", new_user_ndcg["ALS"] / new_user_ndcg["popularity"], "<", 0.5)

# %% [markdown]
# ## 3. Which features matter? Ablations
#
# Train the same model with one group of features removed, and compare. User side (lesson L3):
# the history of items, the search words, the declared profile (region, languages, declared
# genres, follows). Item side (lesson L4): the words of the title and description, the
# metadata (genre, publisher, language). We ablate the features-only tower (two epochs each), where
# every feature has to pull its weight.

# %%
ablations = {
    "all features": (),  # the features-only tower trained above
    "- history": ("history", "liked_history"),
    "- every user feature": ("history", "liked_history", "search_words", "region", "languages", "declared_genres",
                             "follows"),  # only the account's age is left
    "- item words": ("title_words", "description_words"),
    "- item metadata": ("genre", "publisher", "language"),
}
ablation_results = {}
for name, dropped in ablations.items():
    if dropped:
        config = TwoTowerConfig(features=FeatureConfig(history_length=20, use_item_id=False,
                                                       drop=("counts",) + dropped), **quick)
        model = TwoTowerRecommender(config, side=side).fit(parts.train)
    else:
        model = models["two-tower (features only)"]
    top = model.recommend(users, k=K)
    ablation_results[name] = {
        "recall@50 (all test users)": evaluate_lists(top, users, parts.train, parts.test, K)["recall@50"],
        "new-releases shelf recall@50": segment_recall(shelf(model.score(users)), users, parts.train, parts.test, K,
                                                       cold_items),
    }
    print(f"{name:<22} " + "  ".join(f"{key} {value:.3f}" for key, value in ablation_results[name].items()))

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), sharey=True)
names = list(ablation_results)
for ax, metric in zip(axes, ["recall@50 (all test users)", "new-releases shelf recall@50"]):
    values = [ablation_results[n][metric] for n in names]
    ax.barh(names, values, color=["tab:blue"] + ["tab:orange"] * (len(names) - 1))
    ax.axvline(values[0], color="tab:blue", lw=1, ls="--")
    ax.set(title=metric)
axes[0].invert_yaxis()
plt.tight_layout()
plt.show()

# %%
# Lesson guards (L3, L4): without its user features the tower cannot personalise; item words and
# metadata each carry part of the item side.
full = ablation_results["all features"]
overall = "recall@50 (all test users)"
guard("L3 - every user feature / all", ablation_results["- every user feature"][overall] / full[overall], "<", 0.8)
guard("L4 - item words / all", ablation_results["- item words"][overall] / full[overall], "<", 0.95)
guard("L4 - item metadata / all", ablation_results["- item metadata"][overall] / full[overall], "<", 1.0)  # over worlds: see the margins table in benchmarks/REPORT.md

# %% [markdown]
# Read the bars with care: each is one training run, so differences of a few percent are noise.
# The user-side groups overlap: the history, the search words and the declared genres all say
# which genres a user likes, so removing one group (here the history) costs little, while
# removing them all leaves a model that can only rank items by their general appeal. On the item
# side, words and metadata each matter over all test users. On the new-releases shelf, a single
# run per ablation is too noisy to rank the groups: removing the metadata costs a lot of shelf recall on
# some samples of the world and nothing on others (try another `TT_WORLD_SEED`); to compare feature groups
# on cold items, average several training seeds.

# %% [markdown]
# ## 4. Leakage: features from the future
#
# Every training example is an interaction (user, item, time t). Its features must be what was
# known **just before t**: the user's history up to t, the item's counts up to t. It is easy to get
# this wrong: join each event with today's user profile or today's view counts, and the features
# contain the future, often the answer itself (the item is already in the user's "history").
#
# Our `FeatureBuilder` computes every feature from events strictly before t (a property test in
# `tests/test_features.py` checks it on random logs). For the demonstration it also has a
# `leaky=True` switch that uses the whole log instead. We train two models the same way, on the same
# training events, one on point-in-time features and one on leaky ones, and evaluate them like with
# like: the honest model with features as of the end of training (what production has), the leaky model
# twice, offline with the same leaky pipeline (features from a log snapshot taken after the test
# period) and as it would run in production (features as of the end of training).

# %%
leaky_config = FeatureConfig(history_length=20, drop=("counts",), leaky=True)
leaky_features = FeatureBuilder(data, leaky_config, side)  # a snapshot of the whole log: the future included
honest_features = FeatureBuilder(parts.train, FeatureConfig(history_length=20, drop=("counts",)), side)
torch.manual_seed(0)
leaky_model = TwoTowerModel(leaky_features.user_fields(), leaky_features.item_fields(), fast["towers"])
train_towers(leaky_model, leaky_features, fast["training"], train_on=parts.train)  # same training events
now = honest_features.now


def recall_at_10(model, features) -> float:
    scores = user_vectors(model, features, users, now) @ item_vectors(model, features, at_time=now).T
    seen = parts.train.to_csr()[users]
    scores[np.repeat(np.arange(len(users)), np.diff(seen.indptr)), seen.indices] = -np.inf
    return evaluate_lists(top_k(scores, 10), users, parts.train, parts.test, 10)["recall@10"]


torch.manual_seed(0)  # the same initial weights as the leaky model: only the features differ
honest_model = TwoTowerModel(honest_features.user_fields(), honest_features.item_fields(), fast["towers"])
train_towers(honest_model, honest_features, fast["training"], train_on=parts.train)
leak = {
    "point-in-time model (offline = production)": recall_at_10(honest_model, honest_features),
    "leaky model, offline (leaky pipeline)": recall_at_10(leaky_model, leaky_features),
    "leaky model, in production": recall_at_10(leaky_model, honest_features),
}
for name, value in leak.items():
    print(f"{name:<40} recall@10 {value:.3f}")

# %%
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(list(leak), list(leak.values()), color=["tab:blue", "tab:red", "tab:orange"])
ax.invert_yaxis()
ax.set(xlabel="recall@10", title="Leaky features flatter the offline number, not the product")
plt.show()

# %%
# Lesson guard (L6): the leaky pipeline inflates the offline metric well above what the same model
# delivers in production, and above the honest model's offline number.
honest = leak["point-in-time model (offline = production)"]
guard("L6 leaky offline / leaky in production", leak["leaky model, offline (leaky pipeline)"] / leak["leaky model, in production"],
      ">", 1.2)
guard("L6 leaky offline / honest", leak["leaky model, offline (leaky pipeline)"] / honest, ">", 1.2)
guard("L6 leaky in production / honest", leak["leaky model, in production"] / honest, "<", 1.05)  # no better, up to run noise

# %% [markdown]
# The leaky offline number is a promise production will not keep: the moment the model runs on
# features as they really are when a request arrives, it falls back, to no better than the honest
# model trained the same way. The honest model's offline
# number is the one to trust. Build features point-in-time, and test that they are: our property
# test changes the log from time t on (`twotower_mini.leakage.change_future` removes some future events
# and adds new ones) and checks that no feature as of t moves. Shuffling the future would not do: it
# keeps every item's future total, so a feature built from an all-time count would pass.
#
# ## 5. Dynamic counts, and item vectors that go stale (L4)
#
# Notebooks 04 to 06 leave out the item tower's *dynamic counts* (`drop=("counts",)`). Here we add one
# back: the number of views of the item in the 7 days before the moment of the example, exactly the
# point-in-time feature of exercise 06·1 (`count_windows_days=(7.0,)`; the builder also counts likes in
# the same window). A count changes every day, and that has a consequence for serving. Item vectors are
# precomputed (notebook 07): an item's vector is a function of its features, so when a feature moves, the
# stored vector is out of date. We compare, on each day of the test period:
#
# - **computed once**: the item vectors exported at the end of training, used for the whole test period
#   (a new release keeps a count of 0; yesterday's hit keeps last month's count);
# - **refreshed**: the item vectors recomputed at the start of each day, from the views logged before it.
#
# Users are embedded once, as of the end of training, in both cases, so the only difference is the items.
# The metric is each day's recall@10: that day's views among the lists of the users who came back.

# %%
counts_config = FeatureConfig(history_length=20, count_windows_days=(7.0,))  # exercise 06·1's count (+ likes)
no_counts_config = FeatureConfig(history_length=20, drop=("counts",))
with_counts = TwoTowerRecommender(TwoTowerConfig(features=counts_config, **fast), side=side).fit(parts.train)
without_counts = models["two-tower (ids + features)"]
test_days = np.unique(np.floor(parts.test.times / 86400.0))


def daily_recall(model, refresh: bool) -> float:
    """Mean over test days of recall@10 on that day's views; item vectors as of the day's start if refresh."""
    live = model.towers_.extended_to(data)  # knows the views up to any moment; read before t
    seen_before = parts.train.to_csr(binary=True)
    recalls = []
    for day in test_days:
        on_day = np.floor(parts.test.times / 86400.0) == day
        today = parts.test.select(on_day)
        day_users = users_with_test_events(today)
        if refresh:
            vectors = live.item_vectors(at_time=day * 86400.0)  # (n_items, D) as of the day's start
            release = np.asarray(world.items["release_time"], dtype=float)
            vectors = np.where((release < day * 86400.0)[:, None], vectors, model.item_vectors_)
        else:
            vectors = model.item_vectors_  # exported once, at the end of training
        scores = model.user_vectors(day_users) @ vectors.T  # (U, n_items)
        seen = seen_before[day_users]
        scores[np.repeat(np.arange(len(day_users)), np.diff(seen.indptr)), seen.indices] = -np.inf
        lists = top_k(scores, 10)
        relevant = relevance_matrix(today, day_users, parts.train)
        recalls.append(hit_matrix(lists, relevant).sum() / max(relevant.nnz, 1))
    return float(np.mean(recalls))


# %%
staleness = {}
for name, model in [("no counts", without_counts), ("7-day counts", with_counts)]:
    for refresh in (False, True):
        staleness[(name, refresh)] = daily_recall(model, refresh)
        print(f"{name:<13} item vectors {'refreshed daily' if refresh else 'computed once':<16} "
              f"daily recall@10 {staleness[(name, refresh)]:.4f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3))
labels = [f"{name}\n{'refreshed' if refresh else 'computed once'}" for name, refresh in staleness]
ax.barh(labels, list(staleness.values()), color=["tab:blue", "tab:blue", "tab:orange", "tab:green"])
ax.invert_yaxis()
ax.set(xlabel="mean daily recall@10 over the test period", title="Dynamic counts need fresh item vectors")
plt.show()

# %%
# How far does a stored item vector drift from a fresh one by the last test day? (1 - cosine, mean over items)
last_day = test_days[-1] * 86400.0
released = np.asarray(world.items["release_time"], dtype=float) < parts.train.times.max()
drift = {}
for name, model in [("no counts", without_counts), ("7-day counts", with_counts)]:
    fresh = model.towers_.extended_to(data).item_vectors(at_time=last_day)[released]  # (n_released, D) unit vectors
    drift[name] = float(np.mean(1.0 - np.sum(fresh * model.item_vectors_[released], axis=1)))
refresh_gain = {name: staleness[(name, True)] / staleness[(name, False)] for name in ("no counts", "7-day counts")}
print("drift of the stored vectors by the last test day:", ", ".join(f"{n} {d:.4f}" for n, d in drift.items()))
print("daily recall, refreshed / computed once:", ", ".join(f"{n} {g:.3f}" for n, g in refresh_gain.items()))

# %%
# Lesson guards (L4): item vectors with counts drift further from the stored ones than vectors without.
guard("L4 drift with counts / without", drift["7-day counts"] / drift["no counts"], ">", 1.5)

# %% [markdown]
# Every input that depends on time makes a stored vector go stale. Without counts, one item input moves
# with time, its age (the id, genre, words and publisher do not); with counts, the views of the last week
# move too, and much faster: the stored vectors drift further from what the tower would say today (printed
# above). Refreshing the index daily brings the vectors back; compare the refreshed and computed-once bars
# of each model, and the "7-day counts" bars with "no counts", to see whether, on this world, the counts
# pay for themselves (each bar is one training run: read small differences as noise). A production system
# with dynamic item features re-exports its item vectors on a schedule (daily here), or keeps the
# fast-moving signals out of the towers and gives them to the ranker (notebook 07), whose features are
# computed at request time.
#
# ## Summary
#
# - MF and popularity cannot rank an item without interactions; a two-tower model embeds it from
#   its features, and ranks new releases better than popularity proxies.
# - New users are served from the features they do have (their profile, and searches for the few who
#   have any), and otherwise from what the tower learned for users with no history, instead of nothing.
# - Ablations tell which features earn their place, as groups: the user features overlap (history,
#   searches and declared genres all say which genres a user likes), so only removing them all hurts;
#   on the item side words and metadata each matter, and the metadata places new items.
# - Dynamic counts change every day; item vectors built from them must be refreshed, or they go stale.
# - Features must be computed as of just before each event; leaky features inflate offline metrics.
#
# Next: **07 serving**, the retrieval stage in front of a ranker.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
