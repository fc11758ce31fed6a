# %% [markdown]
# # 07 · Exercise 1: what does approximate search cost in recall?
#
# **Goes with:** notebook 07, section 3 (exact and approximate search). **Time:** about 25 minutes.
#
# With millions of items, even the exact top-k of a dot product is too slow for every request, so
# serving uses an *approximate* nearest-neighbour index. It returns *most* of the true top k, much
# faster. Before trusting one, measure how much it misses: its **recall against exact search**,
# the share of the exact top-k items it also returned (in any order).
#
# **Your task.** Write `recall_vs_exact(approximate, exact)`: both are (n_queries, k) arrays of
# item ids, best first, where -1 marks an empty slot of the approximate search. Return one number:
# the share of the exact top-k items, over all queries, that the approximate lists contain.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time

import matplotlib.pyplot as plt
import numpy as np

from lineage import seed_everything
from twotower_mini import ExactIndex
from workshop.serving_and_ranking import check_search_recall, reference_search_recall

rng = seed_everything(0)

# %%
def recall_vs_exact(approximate, exact):
    """Share of the exact top-k ids found by the approximate search (order ignored, -1 = empty)."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: a float between 0 and 1
    found = sum(len(set(a[a >= 0].tolist()) & set(e.tolist())) for a, e in zip(approximate, exact))
    return found / exact.size
    # END SOLUTION


# %%
passed = check_search_recall(recall_vs_exact)

# %% [markdown]
# ## A deliberately approximate index: coarse quantisation
#
# The idea behind faiss's IVF index, in a few lines of numpy: cluster the item vectors into
# `N_CELLS` cells (k-means), and at query time score only the items of the `nprobe` cells whose
# centres best match the query. Fewer cells probed, fewer items scored, more misses. A synthetic
# catalogue of 20,000 unit vectors in 64 topics stands in for a trained item tower.

# %%
recall_of = recall_vs_exact if passed else reference_search_recall
n_items, dim, n_topics, N_CELLS, K = 20_000, 32, 64, 64, 10
topics = rng.normal(size=(n_topics, dim))


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


items = unit(topics[rng.integers(0, n_topics, n_items)] + 1.5 * rng.normal(size=(n_items, dim)))  # (20000, 32)
queries = unit(topics[rng.integers(0, n_topics, 100)] + 1.5 * rng.normal(size=(100, dim)))  # (100, 32)
exact_ids, _ = ExactIndex(items, threads=1).search(queries, k=K)  # (100, 10) the true top 10

centres = items[rng.choice(n_items, N_CELLS, replace=False)]  # k-means, 8 rounds, inner-product assignment
for _ in range(8):
    cell = np.argmax(items @ centres.T, axis=1)  # (n_items,) the cell of every item
    centres = unit(np.stack([items[cell == c].mean(axis=0) if np.any(cell == c) else centres[c]
                             for c in range(N_CELLS)]))
members = [np.flatnonzero(cell == c) for c in range(N_CELLS)]


def ivf_search(query, nprobe):
    """Top K ids among the items of the query's nprobe best cells; -1 pads if they hold fewer."""
    probe = np.argsort(-(centres @ query), kind="stable")[:nprobe]
    candidates = np.concatenate([members[c] for c in probe])
    scores = items[candidates] @ query
    best = candidates[np.argsort(-scores, kind="stable")[:K]]  # ties: lower position first, on every CPU
    return np.pad(best, (0, K - len(best)), constant_values=-1), len(candidates)


rows = []
for nprobe in [1, 2, 4, 8, 16, 32]:
    start = time.perf_counter()
    results = [ivf_search(q, nprobe) for q in queries]
    seconds = time.perf_counter() - start
    approx_ids = np.stack([ids for ids, _ in results])
    scored = np.mean([n for _, n in results]) / n_items
    rows.append((nprobe, scored, recall_of(approx_ids, exact_ids), seconds))
    print(f"nprobe {nprobe:>2}: scores {scored:6.1%} of the items, recall@{K} vs exact {rows[-1][2]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([r[1] for r in rows], [r[2] for r in rows], marker="o")
for nprobe, scored, recall, _ in rows:
    ax.annotate(f"nprobe {nprobe}", (scored, recall), textcoords="offset points", xytext=(5, -10), fontsize=8)
ax.set(xscale="log", xlabel="share of the catalogue scored per query", ylabel=f"recall@{K} vs exact",
       title="Coarse quantisation: recall for speed")
plt.show()

# %% [markdown]
# If `faiss-cpu` is installed (`pip install -e ".[ann]"`), `twotower_mini.ann.ApproximateIndex`
# builds the real thing; the same measurement applies.

# %%
try:
    from twotower_mini.ann import ApproximateIndex

    index = ApproximateIndex(items, method="ivf", nlist=N_CELLS, threads=1)
    for nprobe in [1, 4, 16]:
        faiss_ids, _ = index.search(queries, k=K, nprobe=nprobe)
        print(f"faiss IVF, nprobe {nprobe:>2}: recall@{K} vs exact {recall_of(faiss_ids, exact_ids):.3f}")
except ImportError as missing:  # faiss is an optional extra
    print(f"faiss is not installed, skipping: {missing}")

# %% [markdown]
# **To discuss.** Which `nprobe` would you ship, and what else would you measure before deciding
# (latency at the 99th percentile, the recall of the *whole pipeline* on held-out data rather than
# against exact search)? Why can a 95% recall against exact search cost almost nothing in the
# final metrics, and when can it cost a lot (think of the long tail of notebook 02)?
