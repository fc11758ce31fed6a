# %% [markdown]
# # 07 · Exercise 2: where are the wanted items lost?
#
# **Goes with:** notebook 07, section 6 (two kinds of loss). **Time:** about 20 minutes.
#
# Retrieval hands N candidates to the ranker; the ranker shows its top k. A wanted test item (one
# the user took in the test period, not seen in training) ends in exactly one of three places:
#
# - **missed by retrieval**: not among the N candidates; no ranker can repair that;
# - **missed by ranking**: among the candidates, but not in the final top k;
# - **found**: in the final top k.
#
# **Your task.** Write `two_losses(candidates, final, wanted)`: `candidates` (U, N) and `final`
# (U, k) are item ids per user (the final list is a reordering of some candidates), `wanted` is a
# list of U sets. Return the three shares *of all wanted (user, item) pairs*, in the order above.
# They add up to 1.

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np

from lineage import generate_world, make_model, seed_everything, split, users_with_test_events, world_config
from workshop.serving_and_ranking import check_two_losses, reference_two_losses

rng = seed_everything(0)

# %%
def two_losses(candidates, final, wanted):
    """(missed by retrieval, missed by ranking, found), as shares of all wanted (user, item) pairs."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: three floats that add up to 1
    total = retrieved = found = 0
    for candidate_row, final_row, items in zip(candidates, final, wanted):
        total += len(items)
        retrieved += len(items & set(candidate_row.tolist()))
        found += len(items & set(final_row.tolist()))
    return (total - retrieved) / total, (retrieved - found) / total, found / total
    # END SOLUTION


# %%
passed = check_two_losses(two_losses)

# %% [markdown]
# ## A cheap retriever, a personal ranker
#
# On the world: retrieval is notebook 00's "popular in your genres" (cheap: one matrix product);
# the ranker reorders the candidates with the item-kNN scores of notebook 01 (more personal, and
# more expensive to compute for every item). Vary N, the number of candidates, and see where the
# wanted items go.

# %%
losses_of = two_losses if passed else reference_two_losses
world = generate_world(world_config())
parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
train, test = parts.train, parts.test
users = users_with_test_events(test)[:1000]  # a sample of test users keeps this quick
seen = train.to_csr()
wanted = [set(test.items[test.users == u].tolist()) - set(seen[u].indices.tolist()) for u in users]
keep = np.array([len(w) > 0 for w in wanted])
users, wanted = users[keep], [w for w, k in zip(wanted, keep) if k]

genre_one_hot = np.eye(len(world.genres))[world.items["genre_index"]]  # (n_items, n_genres)
genre_views = seen[users] @ genre_one_hot  # (U, n_genres)
share = genre_views / np.maximum(genre_views.sum(axis=1, keepdims=True), 1)
retrieval_scores = (share @ genre_one_hot.T + 1e-3) * train.item_counts()[None, :]  # (U, n_items)
retrieval_scores[seen[users].nonzero()] = -np.inf  # seen items are never candidates
ranked = np.argsort(-retrieval_scores, axis=1, kind="stable")
ranker_scores = make_model("itemknn", "world").fit(train).score(users)  # (U, n_items) the ranker's scores

rows = []
for N in [10, 20, 50, 100, 200]:
    candidates = ranked[:, :N]  # (U, N) stage 1
    order = np.argsort(-np.take_along_axis(ranker_scores, candidates, axis=1), axis=1, kind="stable")
    final = np.take_along_axis(candidates, order, axis=1)[:, :10]  # (U, 10) stage 2: the ranker's top 10
    rows.append((N, *losses_of(candidates, final, wanted)))
    print(f"N {N:>3}: missed by retrieval {rows[-1][1]:.3f}   missed by ranking {rows[-1][2]:.3f}   found {rows[-1][3]:.3f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
x = np.arange(len(rows))
found, ranking_miss, retrieval_miss = (np.array([r[i] for r in rows]) for i in (3, 2, 1))
ax.bar(x, found, color="tab:green", label="found")
ax.bar(x, ranking_miss, bottom=found, color="tab:orange", label="missed by ranking")
ax.bar(x, retrieval_miss, bottom=found + ranking_miss, color="tab:red", label="missed by retrieval")
ax.set_xticks(x, [r[0] for r in rows])
ax.set(xlabel="candidates N", ylabel="share of wanted items", title="Where the wanted items are lost")
ax.legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# **To discuss.** Which bucket dominates at N = 10, and at N = 200? Past some N the green bar stops
# growing: what does that say about where to work next, the retriever or the ranker? Why do real
# systems not simply hand the ranker 10,000 candidates (notebook 07, section 1)?
