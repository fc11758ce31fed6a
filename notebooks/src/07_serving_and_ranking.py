# %% [markdown]
# # 07 · Serving, and the retrieval-to-ranking hand-off
#
# **Time:** about 45 minutes. **Prerequisites:** notebooks 00 (retrieval and ranking, the metrics),
# 04 (two towers), 05 (negatives) and 06 (point-in-time features).
#
# **You will learn to**
# 1. measure why a heavy model cannot score the whole catalogue for every request, and what retrieval
#    followed by ranking costs instead;
# 2. export a trained two-tower model: item vectors for an index, a safe checkpoint;
# 3. search exactly and approximately, and measure what the approximation costs in recall;
# 4. filter already-seen items as a business rule applied to the retrieved candidates;
# 5. train a ranker over the candidates, and see where impressions belong as negatives: a logistic
#    regression you can read, then gradient-boosted trees (LightGBM LambdaRank), the usual production
#    choice, each compared with a paired interval;
# 6. measure the two kinds of loss, retrieval misses and ranking misses, and choose the candidate count;
# 7. know what changes when training and serving scale out to several machines.

# %%
# Setup: seeds first, so every number below is the same on every run.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from lineage import (check, compare, evaluate_lists, generate_world, grouped_bars, guard, print_comparisons,
                     seed_everything, split, users_with_test_events, world_config, world_seed)
from lineage.retrieval import NumpyIVF, best_time, multiply_adds, per_user_quality, score_every_pair
from lineage.topk import top_k
from twotower_mini import (ExactIndex, FeatureConfig, GBDTRanker, GBDTRankerConfig, PipelineConfig, Ranker,
                           RankerConfig, SideLog, TowerConfig, TrainConfig, TwoStagePipeline, TwoTowerConfig,
                           checkpoint, filter_seen, recall_vs_exact, shard, two_losses)
from twotower_mini.ann import ApproximateIndex
from twotower_mini.retrieval import MissingDependencyError

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()

# %% [markdown]
# ## 1. Scoring everything is too slow
#
# A ranking model may look at anything about a (user, item) pair: both embeddings, their product, and
# features that cross the two (how often this user watched this publisher, whether they skipped this
# item yesterday). That makes it accurate, and expensive: its cost is *per pair*, so a request that
# scores every item of a catalogue of a million items pays a million times. We measure it on 10^6 random
# 32-dimensional item vectors and a typical ranking network (user and item vectors, their product and 16
# pair features, through layers of 256 and 128 units; random weights: we only measure cost), two ways:
#
# - **full scoring**: the heavy network on every item of the catalogue (`score_every_pair`);
# - **retrieval + ranking**: an exact dot-product search for the top N = 200 (a matrix-vector
#   product and a partial sort), then the heavy network on those 200 candidates only.

# %%
D, N_CANDIDATES = 32, 200
catalogue = rng.standard_normal((1_000_000, D), dtype=np.float32)  # (10^6, D)
request = rng.standard_normal((1, D), dtype=np.float32)  # one user vector
torch.set_num_threads(1)
heavy = nn.Sequential(nn.Linear(3 * D + 16, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 1))
per_pair = multiply_adds(heavy)  # multiply-adds of the network per (user, item) pair; a dot product costs D

sizes = [1_000, 10_000, 100_000, 1_000_000]
full_seconds, two_stage_seconds, fewer_operations = {}, {}, {}
for n in sizes:
    index = ExactIndex(catalogue[:n])

    def retrieve_then_rank():
        ids, _ = index.search(request, N_CANDIDATES)
        return score_every_pair(heavy, request, catalogue[ids[0]])

    two_stage_seconds[n] = best_time(retrieve_then_rank)
    if n <= 100_000:  # the full scoring of 10^6 items would take seconds: extrapolated below instead
        full_seconds[n] = best_time(lambda: score_every_pair(heavy, request, catalogue[:n]), 1 if n > 10_000 else 3)
    fewer_operations[n] = n * per_pair / (n * D + N_CANDIDATES * per_pair)
full_seconds[1_000_000] = 10 * full_seconds[100_000]  # the cost is per pair: 10x the pairs of 10^5
for n in sizes:
    extrapolated = " (extrapolated)" if n == 1_000_000 else ""
    print(f"{n:>9,} items: full scoring {1e3 * full_seconds[n]:8.1f} ms{extrapolated:<15} retrieval + ranking "
          f"{1e3 * two_stage_seconds[n]:5.1f} ms -> {full_seconds[n] / two_stage_seconds[n]:4.0f}x faster, "
          f"{fewer_operations[n]:5.0f}x fewer multiply-adds")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(sizes[:3], [1e3 * full_seconds[n] for n in sizes[:3]], "o-", color="tab:red", label="heavy model on every item")
ax.plot(sizes[2:], [1e3 * full_seconds[n] for n in sizes[2:]], "o--", color="tab:red", alpha=0.5,
        label="... extrapolated (cost per pair)")
ax.plot(sizes, [1e3 * two_stage_seconds[n] for n in sizes], "o-", color="tab:blue",
        label=f"exact retrieval of {N_CANDIDATES}, then the heavy model on them")
ax.axhline(100, color="grey", ls=":", lw=1)
ax.text(1_200, 140, "a typical latency budget: 100 ms", color="grey")
ax.set(xscale="log", yscale="log", xlabel="catalogue size (items)", ylabel="milliseconds per request",
       title="One request: full scoring vs retrieval then ranking")
ax.legend(loc="upper left")
plt.show()

# %%
# The code does what the text says: at 10^6 items, retrieval + ranking of 200 candidates needs over 100x
# fewer multiply-adds than the heavy model on every item (arithmetic, the same on every machine; the
# measured speed-up above depends on the machine, and is not checked).
check("multiply-adds: full scoring / retrieval + ranking at 10^6 items", fewer_operations[1_000_000], ">", 100)
del catalogue

# %% [markdown]
# The measured speed-up is smaller than the count of multiply-adds: the search reads every vector once
# (memory-bound), while the network runs its pairs in dense batches. Still, a dot product per item is far
# cheaper than the network, the search can be made sub-linear (section 3), and the ranker's cost stays N pairs.
#
# ## 2. The retrieval stage, trained and exported
#
# We train the two towers of notebook 06 on the content-app world (temporal split). The ranker of section 5
# uses the tower score as a feature, so it must learn from events the towers did not train on:
# `TwoStagePipeline` trains the towers on the training log minus its last 10% and keeps that period for
# the ranker, as production does (the ranker learns from the logs of a deployed retrieval model). Both are
# served with features computed from the whole training log, as of its end.

# %%
world = generate_world(world_config())
data = world.interactions()
parts = split(data, "temporal", test_fraction=0.2, seed=42)
side = SideLog.from_world(world)
users = users_with_test_events(parts.test)
seen = parts.train.to_csr()  # (n_users, n_items) what each user already viewed in training
towers = TwoTowerConfig(features=FeatureConfig(history_length=20, drop=("counts",)),
                        towers=TowerConfig(embedding_dim=32, hidden=(64,), output_dim=32),
                        training=TrainConfig(epochs=3, batch_size=1024, progress=False))
pipeline = TwoStagePipeline(PipelineConfig(tower=towers), side=side).fit_retrieval(parts.train)
vectors = pipeline.item_vectors_  # (n_items, D): all that retrieval needs from the item tower
print(f"item vectors {vectors.shape}, {vectors.nbytes / 1e3:.0f} kB; users embedded on request with their "
      f"features as of now")

# %% [markdown]
# **Exporting.** The item tower runs *offline*: every item's vector is computed once (again when its
# features change, e.g. daily) and loaded into the index. The user tower runs *online*, per request: the
# user's features (history, searches) change all the time. Serving needs the item vectors and the user
# tower's weights, saved as a safe checkpoint (`safetensors`: tensors plus a JSON header with the config, a
# fingerprint of the training data and checksums; no pickle, so opening it cannot run code). A fresh
# process must rebuild exactly the same vectors.

# %%
with tempfile.TemporaryDirectory() as folder:
    np.save(Path(folder) / "item_vectors.npy", vectors)
    data_spec = {"dataset": "world", "protocol": "temporal", "seed": 42, "test_fraction": 0.2,
                 "world_size": "default", "world_seed": world_seed()}
    checkpoint.save(Path(folder) / "towers.safetensors", pipeline.retriever_, data_spec, parts.train)
    sizes_kb = {p.name: p.stat().st_size / 1e3 for p in Path(folder).iterdir()}
    restored = checkpoint.restore(checkpoint.load(Path(folder) / "towers.safetensors"), parts.train, side=side)
print(", ".join(f"{name} {kb:.0f} kB" for name, kb in sizes_kb.items()))
check("checkpoint rebuilds the item vectors (max difference)", np.abs(restored.item_vectors_ - vectors).max(), "<", 1e-6)

# %% [markdown]
# ## 3. Exact and approximate search
#
# On the world's 1,500 items exact search is instant. At millions of items, approximate nearest-neighbour
# indexes trade a little recall for a lot of speed. An **IVF** index (faiss `IndexIVFFlat`) clusters the
# item vectors into `nlist` lists with k-means; a query scans only its `nprobe` closest lists: more lists,
# more recall, more time. (Without faiss, `lineage.retrieval.NumpyIVF` does the same in numpy, slower; the
# cell says which one ran.) Random vectors have no clusters to find, so the catalogue is 10^5 items shaped
# like the world's (a world item's vector plus noise), the queries real test users' vectors. For each
# `nprobe`: the recall of the approximate top 100 against the exact top 100, and the time.

# %%
base = vectors[rng.integers(0, len(vectors), 100_000)]
big = base + 0.5 * rng.standard_normal(base.shape, dtype=np.float32) / np.sqrt(D)
big /= np.linalg.norm(big, axis=1, keepdims=True)  # (10^5, D) unit vectors, like the towers' outputs
queries = pipeline.user_vectors(users[:500])  # (500, D)
exact = ExactIndex(big, threads=1)
exact_ids, _ = exact.search(queries, 100)
exact_ms = 1e3 * best_time(lambda: exact.search(queries, 100)) / len(queries)
try:
    ivf = ApproximateIndex(big, method="ivf", nlist=256, threads=1)  # faiss IndexIVFFlat
    print("approximate index: faiss IndexIVFFlat, 256 lists")
except MissingDependencyError:  # faiss is not installed: the same idea in numpy
    ivf = NumpyIVF(big, nlist=256)
    print("approximate index: lineage.retrieval.NumpyIVF, 256 lists (faiss is not installed)")
sweep = {}  # nprobe -> (recall@100 vs exact, milliseconds per query)
for nprobe in [1, 2, 4, 8, 16, 32, 64]:
    approx_ids, _ = ivf.search(queries, 100, nprobe=nprobe)
    milliseconds = 1e3 * best_time(lambda: ivf.search(queries, 100, nprobe=nprobe)) / len(queries)
    sweep[nprobe] = (recall_vs_exact(approx_ids, exact_ids), milliseconds)
    print(f"nprobe {nprobe:>3}: recall vs exact {sweep[nprobe][0]:.3f}, {milliseconds:.3f} ms per query "
          f"(exact {exact_ms:.3f} ms)")

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot([ms for _, ms in sweep.values()], [r for r, _ in sweep.values()], "o-", label="IVF, nprobe = 1 ... 64")
for nprobe, (r, ms) in sweep.items():
    ax.annotate(str(nprobe), (ms, r), textcoords="offset points", xytext=(4, -10))
ax.plot([exact_ms], [1.0], "s", color="black", label="exact")
ax.set(xscale="log", xlabel="milliseconds per query (one thread)", ylabel="recall@100 vs exact",
       title="Approximate search: the nprobe knob")
ax.legend(loc="lower right")
plt.show()

# %%
# The code does what the text says: the lists of a larger nprobe hold those of a smaller one, so recall
# can only grow. The lessons: scanning a quarter of the lists finds almost everything, one list far less.
recalls = [r for r, _ in sweep.values()]
check("IVF recall never falls with nprobe (steps down)", sum(b < a for a, b in zip(recalls, recalls[1:])), "==", 0)
guard("07.1 IVF recall at nprobe 64 (of 256 lists)", sweep[64][0], ">", 0.95,
      falsified_by="item vectors without cluster structure, whose nearest items spread over many lists")
guard("07.2 IVF recall gained from nprobe 1 to 64", sweep[64][0] - sweep[1][0], ">", 0.55,
      falsified_by="clusters so well separated that one list holds a query's whole top 100")

# %% [markdown]
# At 10^5 items our `ExactIndex` holds its own against IVF at high `nprobe` (compare the times above); IVF
# pays off at millions of items. The right `nprobe` is a product decision: recall lost here is lost for good (the
# ranker never sees those items), so measure it with `recall_vs_exact` whenever the index or catalogue changes.
#
# ## 4. Already-seen items: a business rule, after retrieval
#
# Retrieval ranks by taste, and a user's own past items match their taste best: many of their top
# candidates are things they already watched. Whether to show them again is a *product* decision (a
# music app replays songs; our app does not), so it is a filter applied to the retrieved candidates,
# not part of the model. Because the filter removes items, retrieval must **over-fetch**: ask for
# k + (the number of items the user has seen), then filter, so k candidates survive.

# %%
query_vectors = pipeline.user_vectors(users)  # (n_test_users, D)
raw_ids, raw_scores = pipeline.index_.search(query_vectors, 10)  # no filter
wasted = seen[users[:, None], raw_ids].toarray().mean()  # share of slots holding a seen item
short_ids, _ = filter_seen(raw_ids, raw_scores, seen, users, k=10)  # filter without over-fetching: holes
filtered_ids, _ = pipeline.index_.search(query_vectors, 10, exclude=seen[users])  # over-fetch, then filter
recall = {name: evaluate_lists(lists, users, parts.train, parts.test, 10)["recall@10"]
          for name, lists in [("no filter", raw_ids), ("filter, no over-fetch", short_ids),
                              ("filter after over-fetching", filtered_ids)]}
print(f"{wasted:.0%} of the unfiltered top-10 slots hold items the user already viewed; filtering them "
      f"without over-fetching leaves {np.mean(short_ids < 0):.0%} of the slots empty")
for name, value in recall.items():
    print(f"{name:<28} recall@10 {value:.3f}")

# %%
# A property: a seen item is never a wanted test item, so dropping it without refilling changes no hit.
# The lessons: seen items crowd the raw top 10; filtering them with over-fetching recovers recall.
check("recall: filter without over-fetching = no filter", recall["filter, no over-fetch"], "==", recall["no filter"])
guard("07.3 seen items in the unfiltered top 10", wasted, ">", 0.35,
      falsified_by="a retrieval model that does not score a user's own past items high (tastes that drift fast)")
guard("07.4 over-fetch filter / no filter recall", recall["filter after over-fetching"] / recall["no filter"], ">", 1.3,
      falsified_by="users who saw few items, or a model that ranks seen items low")

# %% [markdown]
# ## 5. The ranker: richer features, and impressions as negatives
#
# The ranker sees a few hundred candidates per request, so it can afford features the towers cannot
# have: features that *cross* the user and the item, all point-in-time (as of the request): the tower
# score and retrieval rank, the item's recent views and likes, its age, the share of the user's past views
# in the item's genre, publisher and language, whether the user reads that language or declared that
# genre, how often the item was *shown to this user and skipped*, how active the user is. A logistic
# regression over these (`twotower_mini.ranker`) learns from the logged **impressions** of the last period
# of training: chosen = 1, shown but not chosen = 0. "Of what was shown, what was chosen" is exactly the
# ranker's question, whatever the feed. For a *retrieval* model, whether impressions help or mislead
# depends on the world, on which feed produced them: notebook 05 (section 3) showed that they mislead a
# retriever when the skipped items all come from genres the user likes (the item you skipped is then your
# second favourite, not a bad item), and not when the feed also shows genres the user dislikes.
#
# The catch: the test log only contains items the app **showed**, and a ranker of P(chosen | shown) knows
# nothing about what gets shown. So we train two: **impressions only**, and **impressions + unshown
# candidates** (per request, 16 items retrieval would have offered but the app did not show, as negatives:
# the training rows then look like what the ranker meets at serving time). We rerank N = 200 candidates per
# test user and compare with retrieval's order, per user, on the logged test data and against the world's
# oracle (true recall, notebook 00): every two orders of the same users get a paired 95% interval.

# %%
pipeline.fit_ranker(parts.train, world.impressions)  # impressions + unshown candidates (the default)
impressions_only = Ranker(RankerConfig(unshown_negatives=0)).fit(parts.train, world.impressions,
                                                                 retrieval=pipeline.tower_scores(),
                                                                 since=pipeline.ranker_since_)
gbdt = GBDTRanker(GBDTRankerConfig()).fit(parts.train, world.impressions, retrieval=pipeline.tower_scores(),
                                          since=pipeline.ranker_since_)  # same rows, same features
ids, scores = pipeline.index_.search(query_vectors, 500, exclude=seen[users])  # (n_test_users, 500), seen removed
true_top = world.true_top_items(users, 10, released_before=parts.test.times.max() + 1, exclude=seen)
candidates = (ids[:, :N_CANDIDATES], scores[:, :N_CANDIDATES])
orders = {"retrieval": candidates[0],
          "impressions only": impressions_only.rerank(users, *candidates),  # logistic
          "+ unshown": pipeline.ranker_.rerank(users, *candidates),  # logistic
          "LightGBM + unshown": gbdt.rerank(users, *candidates)}
quality = per_user_quality(orders, users, parts.train, parts.test, true_top)  # metric -> order -> per user
for name in orders:
    print(f"{name:<20}" + "   ".join(f"{metric} {quality[metric][name].mean():.4f}" for metric in quality))
print(f"training rows: {gbdt.n_examples_:,} in {gbdt.n_groups_:,} requests, {gbdt.positive_rate_:.1%} chosen")
TRUE, LOGGED = "true recall@10", "logged nDCG@10"
PAIRS = [(TRUE, "impressions only", "retrieval"), (TRUE, "+ unshown", "retrieval"), (LOGGED, "+ unshown", "retrieval"),
         (LOGGED, "impressions only", "retrieval"), (LOGGED, "+ unshown", "impressions only"),
         (TRUE, "impressions only", "+ unshown"), (LOGGED, "LightGBM + unshown", "+ unshown"),
         (TRUE, "LightGBM + unshown", "+ unshown")]
compared = {(metric, a, b): compare(quality[metric][a], quality[metric][b], a, b, ratio=True) for metric, a, b in PAIRS}
for metric in quality:
    print(f"{metric}, ratio of the means with its paired 95% interval:")
    print_comparisons([c for (m, _, _), c in compared.items() if m == metric])

# %%
grouped_bars({name: {metric: quality[metric][name].mean() for metric in quality} for name in orders},
             ylabel="mean over test users", title="Four orders of the same 200 candidates")
plt.show()
weights = pipeline.ranker_.model_.net[0].weight.detach().numpy()[0]  # one per standardised feature
importance = gbdt.feature_importances  # each feature's share of the trees' total gain
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), sharey=True)
axes[0].barh(pipeline.ranker_.feature_names, weights, color=np.where(weights > 0, "tab:blue", "tab:red"))
axes[0].set(xlabel="logistic regression weight (per standard deviation)", title="What the logistic ranker learned")
axes[1].barh(gbdt.feature_names, [importance[n] for n in gbdt.feature_names], color="tab:green")
axes[1].set(xlabel="share of the trees' total gain", title="Where LightGBM's trees split")
axes[0].invert_yaxis()
plt.tight_layout()
plt.show()
print("largest logistic weights:", ", ".join(f"{name} {w:+.2f}" for w, name in
                                             sorted(zip(weights, pipeline.ranker_.feature_names), key=lambda p: -abs(p[0]))[:6]))
print("largest LightGBM gains:  ", ", ".join(f"{name} {share:.0%}" for name, share in
                                             sorted(importance.items(), key=lambda p: -p[1])[:6]))
crossed = ["genre_affinity", "publisher_affinity", "language_affinity", "language_match", "declared_genre"]
crossed_gain = sum(importance[name] for name in crossed)
print(f"share of LightGBM's gain from the features that cross user and item: {crossed_gain:.0%}")

# %%
# The lessons, each on the lower bound of a paired 95% interval of a ratio of means (1: no difference).
guard("07.5 impressions-only ranker / retrieval true recall, 95% lower bound",
      compared[TRUE, "impressions only", "retrieval"].low, ">", 1.15,
      falsified_by="a feed whose users choose among shown items with little regard to taste")
guard("07.6 ranker + unshown / retrieval true recall, 95% lower bound", compared[TRUE, "+ unshown", "retrieval"].low,
      ">", 1.03, falsified_by="a retrieval model whose order already holds what the crossed features know")
guard("07.7 ranker + unshown / retrieval nDCG, 95% lower bound", compared[LOGGED, "+ unshown", "retrieval"].low,
      ">", 1.0, falsified_by="a retrieval model whose order already holds what the crossed features know")
guard("07.8 ranker + unshown / impressions-only nDCG, 95% lower bound",
      compared[LOGGED, "+ unshown", "impressions only"].low, ">", 1.05,
      falsified_by="a feed that shows what retrieval offers, so that impressions alone match serving")
guard("07.9 impressions-only / + unshown true recall, 95% lower bound",
      compared[TRUE, "impressions only", "+ unshown"].low, ">", 1.02,
      falsified_by="unshown candidates that users truly dislike (they would then teach taste, not exposure)")
guard("07.10 LightGBM / logistic nDCG, 95% lower bound", compared[LOGGED, "LightGBM + unshown", "+ unshown"].low,
      ">", 0.88, falsified_by="too few training rows for the trees, or features that need extrapolation")
guard("07.11 LightGBM / logistic true recall, 95% lower bound",
      compared[TRUE, "LightGBM + unshown", "+ unshown"].low, ">", 0.95,
      falsified_by="too few training rows for the trees, or features that need extrapolation")
guard("07.12 LightGBM gain share of the crossed features", crossed_gain, ">", 0.25,
      falsified_by="a world where taste does not depend on genre, publisher or language")

# %% [markdown]
# Read the logistic weights with care: each is per standard deviation of its feature, and the features are
# correlated, so a weight is not an effect on its own. Look at `times_skipped`: an item the app already
# showed this user is one its logging policy tends to show again, and the logged data reward that exposure,
# liked or not (the logging-policy bias of notebook 00, now inside a feature).
#
# The gradient-boosted trees read the same features differently. A feature's importance is the loss
# reduction its splits bring, summed over the trees: unsigned, and it credits a feature for its
# interactions too ("genre affinity matters once the user has some history"). They are trained with
# **LambdaRank** (Burges 2010): the rows of one request form a group, and the loss cares only about the
# order within it, each swap weighted by what it costs in nDCG: the question a reranker answers. Compare
# the two rankers on the intervals printed above, not on the point values: where the interval of LightGBM
# / logistic holds 1, there is no difference we can measure here; where it lies below 1, the logistic
# regression is ahead (the verdict says which; the lessons only say the trees are not far behind on logged
# nDCG). On a small, well-engineered feature set like this one the two are close; trees earn their keep
# when features are many, raw and interacting, and need no standardisation. The logistic ranker stays as
# the readable baseline: when a tree model wins, you know by how much, and why you pay for it.
#
# The two logistic rankers disagree because they answer different questions. The impressions-only ranker
# orders by what users choose *once shown*: the truly best items rise, yet the logged test data also depend
# on what the app chose to show, so its logged nDCG does not follow (its interval against retrieval is
# printed; it can even fall below 1). Adding the unshown candidates teaches the ranker the serving
# distribution, and it wins on the logged metric. Offline, the logged metric is what you can measure on
# real data; the oracle reminds us that it is a proxy (the way to settle it is an A/B test).
#
# ## 6. Two kinds of loss, and the candidate count
#
# A wanted test item is lost in one of two places: **retrieval** did not put it among the N candidates
# (no ranker can repair that), or the **ranker** put it below the top 10. Every wanted (user, item) pair
# lands in exactly one of: missed by retrieval, missed by ranking, found. More candidates move items out
# of the first bucket, but the ranker must then pick 10 out of more.

# %%
counts = [10, 20, 50, 100, 200, 500]
rows = two_losses(ids, scores, users, parts.train, parts.test, pipeline.ranker_.rerank, counts=counts)
gbdt_rows = two_losses(ids, scores, users, parts.train, parts.test, gbdt.rerank, counts=counts)
tower_only = two_losses(ids, scores, users, parts.train, parts.test, None, counts=[10])[0]
print(f"{'':>4} {'':>19} {'logistic ranker':^30}   {'LightGBM ranker':^30}")
print(f"{'N':>4} {'retrieval recall@N':>19} {'top-10 if retrieved':>20} {'nDCG@10':>8}   "
      f"{'top-10 if retrieved':>20} {'nDCG@10':>8}")
for row, tree_row in zip(rows, gbdt_rows):
    print(f"{row['candidates']:>4} {row['recall@N']:>19.3f} {row['top-10 when retrieved']:>20.3f} "
          f"{row['ndcg@10']:>8.4f}   {tree_row['top-10 when retrieved']:>20.3f} {tree_row['ndcg@10']:>8.4f}")
print(f"retrieval order alone: nDCG@10 {tower_only['ndcg@10']:.4f}")
ndcg = {name: {r["candidates"]: r["ndcg@10"] for r in table} for name, table in [("logistic", rows), ("LightGBM", gbdt_rows)]}
late_gain = {name: (v[500] - v[100]) / (v[100] - v[10]) for name, v in ndcg.items()}  # 100 -> 500 against 10 -> 100
print("nDCG@10 gained from 100 to 500 candidates / gained from 10 to 100:",
      ", ".join(f"{name} {ratio:+.2f}" for name, ratio in late_gain.items()))

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
x = np.arange(len(counts))
missed_retrieval = np.array([r["missed by retrieval"] for r in rows])
missed_ranking = np.array([r["missed by ranking"] for r in rows])
found = np.array([r["found"] for r in rows])
axes[0].bar(x, found, color="tab:green", label="found (in the final top 10)")
axes[0].bar(x, missed_ranking, bottom=found, color="tab:orange", label="missed by ranking")
axes[0].bar(x, missed_retrieval, bottom=found + missed_ranking, color="tab:red", label="missed by retrieval")
axes[0].set_xticks(x, counts)
axes[0].set(xlabel="candidates N handed to the ranker", ylabel="share of wanted test items",
            title="Where the wanted items are lost")
axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
axes[1].plot(counts, [r["ndcg@10"] for r in rows], "o-", label="logistic ranker on N candidates")
axes[1].plot(counts, [r["ndcg@10"] for r in gbdt_rows], "s-", color="tab:green", label="LightGBM ranker on N candidates")
axes[1].axhline(tower_only["ndcg@10"], color="grey", ls="--", label="retrieval order, no ranker")
axes[1].set(xscale="log", xlabel="candidates N", ylabel="nDCG@10 of the final list", title="Final quality")
axes[1].legend(loc="lower right")
plt.tight_layout()
plt.show()

# %%
# A property: the candidates at N are the first N of the same list, so retrieval recall@N can only grow.
# The lessons: a harder ranking task with every step; the final list gains from 10 to 100 candidates,
# then stops gaining (logistic) or loses (LightGBM) while the ranker's work keeps growing.
recall_at_n, in_top = [r["recall@N"] for r in rows], [r["top-10 when retrieved"] for r in rows]
check("retrieval recall@N never falls with N (steps down)", sum(b < a for a, b in zip(recall_at_n, recall_at_n[1:])), "==", 0)
for name, v in ndcg.items():
    guard(f"07.13 {name}: relative nDCG@10 gain from 10 to 100 candidates", v[100] / v[10] - 1, ">", 0.02,
          falsified_by="a retrieval model whose top 10 already holds the wanted items")
guard("07.14 logistic: gain 100->500 / gain 10->100", late_gain["logistic"], "<", 0.1,
      falsified_by="a ranker that keeps finding wanted items deep in retrieval's list")
guard("07.15 LightGBM: gain 100->500 / gain 10->100", late_gain["LightGBM"], "<", 0,
      falsified_by="trees trained on candidates as deep as they serve (here: retrieval's top 200 only)")
guard("07.16 retrieval recall@500 / recall@10", recall_at_n[-1] / recall_at_n[0], ">", 3.5,
      falsified_by="tastes so narrow that retrieval's top 10 already holds most wanted items")
guard("07.17 top-10 when retrieved: largest ratio of one N to the one before", max(b / a for a, b in zip(in_top, in_top[1:])),
      "<", 1, falsified_by="a ranker that puts the newly retrieved wanted items at the top")
guard("07.18 top-10 when retrieved at 500 / at 20", in_top[-1] / in_top[1], "<", 0.5,
      falsified_by="a ranker that finds the wanted items among 500 candidates as well as among 20")

# %% [markdown]
# Read the left plot from N = 10 upwards. At 10 candidates the ranker can only reorder what retrieval
# chose, and most wanted items were never retrieved (red). Each step up moves red into orange and green,
# but mostly into orange: of the wanted items retrieved, a smaller share makes the top 10 at every step.
# Past about 100 candidates the logistic ranker's nDCG stops improving (the ratio printed above: what 400
# more candidates add against what the first 90 added); retrieving more only makes the ranker work longer
# (its cost is linear in N, section 1). LightGBM always loses from 100 to 500 candidates: its ratio is
# negative on every world of the margins table (`benchmarks/REPORT.md`). Its training rows came from
# retrieval's top 200; a candidate at rank 400 looks like nothing it was trained on, and trees, unlike a
# logistic regression, have no trend to extrapolate: train a ranker on the candidate depth it serves.
#
# So the two stages are tuned together. Retrieval recall@N is the ceiling any ranker can reach; "top 10
# when retrieved" is how much of it the ranker realises. Low recall at your N: improve retrieval (features,
# negatives, N); high recall but poor final quality: improve the ranker.
#
# ## 7. Scaling out
#
# **Training on several machines.** `harness.distributed` runs the same training with PyTorch
# `DistributedDataParallel`:
#
# ```bash
# torchrun --nproc_per_node 2 -m harness.distributed --dataset world --world-size default --out run.json
# ```
#
# Every process builds the same features; each epoch, all draw the same seeded permutation and each takes
# its own shard (every P-th example) and computes the in-batch softmax over *its own* part of the global
# batch; `backward()` averages the gradients, so all take the same step; rank 0 evaluates and saves. The
# same command scales to machines (`--nnodes 4 --rdzv_backend c10d --rdzv_endpoint host:29500`; NCCL on
# GPUs). One thing changes the model, not just the speed: each softmax sees B/P in-batch negatives, not B;
# to keep them, gather every process's item vectors (`all_gather`) and score each user against all. (README,
# "Scaling out"; `benchmarks/distributed.py` for measured throughput.)

# %%
epoch_order = np.random.default_rng(0).permutation(10)  # the same in every process
for rank in range(2):
    print(f"process {rank} of 2 trains on examples {shard(epoch_order, rank, 2).tolist()}")

# %% [markdown]
# **Serving a catalogue that does not fit one machine.** Split the item vectors into shards (by item id),
# search each shard for its own top k in parallel, and merge: the global top k is among the shards'
# top k, so the merge is exact. The towers, the ranker and everything else stay the same.

# %%
shards = np.array_split(np.arange(len(vectors)), 4)  # item ids held by each of 4 machines
local = [ExactIndex(vectors[held]).search(query_vectors, 50) for held in shards]  # each shard's top 50
merged_ids = np.hstack([held[local_ids] for held, (local_ids, _) in zip(shards, local)])  # (n_users, 4 x 50)
merged_scores = np.hstack([local_scores for _, local_scores in local])
sharded_top = np.take_along_axis(merged_ids, top_k(merged_scores, 50), axis=1)  # ties: lower id, as one index
whole_top, _ = pipeline.index_.search(query_vectors, 50)
agreement = recall_vs_exact(sharded_top, whole_top)
print(f"sharded search (4 shards) vs one index: {agreement:.4f} of the top 50 agree")
# A property: the merge of each shard's top k is the global top k (shards hold ascending id ranges)
check("sharded search = one index (share of the top 50 that agrees)", agreement, "==", 1.0)

# %% [markdown]
# ## Summary
#
# - A heavy model costs per pair: scoring every item does not fit a request's budget at catalogue scale;
#   retrieval of a few hundred candidates, then ranking, needs orders of magnitude fewer operations.
# - Serving exports the item vectors (offline) and the user tower (online); checkpoints are loaded safely.
# - Approximate indexes trade recall for speed through one knob; measure the recall against exact search.
# - Already-seen items are filtered after retrieval, as business logic, with over-fetching.
# - The ranker adds crossed, point-in-time features; impressions belong in its training data, and mixing
#   in retrieved-but-unshown candidates matches what it sees at serving time. A logistic regression is
#   the readable baseline; gradient-boosted trees (LightGBM LambdaRank) learn the order within a request
#   from the same rows and features. Compare them with paired intervals, not point values.
# - Two kinds of loss: retrieval misses (recall@N) and ranking misses; more candidates trade the first for
#   the second, and the final quality stops improving well before the ranker's cost does.
# - Training scales out with data parallelism (mind the in-batch negatives), serving with sharded indexes.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
