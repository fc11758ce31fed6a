# %% [markdown]
# # 08 · Exercise 1: choose the recency window on validation, by time
#
# **Goes with:** notebook 08, section 1 (the same data, split two ways). **Time:** about 20 minutes.
#
# Recent popularity counts each movie's users over the last share $f$ of the training period only:
# what is popular *now*. How recent? $f$ is a knob, and a knob is chosen on **validation**, never
# on test: the test part is for one final measurement of the choice. And on data split by time, the
# validation part must be carved **by time** too, the last events of the training part, or it
# will not look like the test it stands in for:
#
# ```
# parts.train (the first 80% of the log)                           parts.test (the last 20%)
# [------------ inner.train (fit) ------------|--- validation ---][---- test: hands off ----]
#                                              last 20% of train
# ```
#
# **Your task.** Write `window_scores(parts, fractions)`: for each window fraction $f$, the
# validation nDCG@10 of `RecentPopularity(RecentPopularityConfig(window_fraction=f))`, with
#
# - validation = the last 20% of `parts.train` by time, the share the test part takes of the
#   whole log: `inner = validation_split(parts.train, "temporal", fraction=0.2)`;
# - the model fitted on the part before it, `inner.train`, a new model for each $f$;
# - nDCG@10 for the users with a validation event (`users_with_test_events(inner.test)`):
#   `evaluate_lists(model.recommend(users, 10), users, inner.train, inner.test, 10)["ndcg@10"]`.
#
# Return one number per window, in the order of `fractions`. Never read `parts.test`. The check
# calls your function on a small synthetic log whose popularity drifts, so it works without
# MovieLens; the cells after it apply your function to MovieLens 100K when it is there.

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np

from lineage.datasets import load_movielens_100k, movielens_dir
from lineage import evaluate_lists, seed_everything, split, users_with_test_events, validation_split
from lineage.models.popularity import Popularity, RecentPopularity, RecentPopularityConfig
from workshop.real_data_through_time import check_window_scores, ndcg_by_window, reference_window_scores

rng = seed_everything(0)
K = 10
DATA_DIR = movielens_dir("ml-100k")  # the suite's one rule: $TT_ML100K_DIR, data/ml-100k, ../shared/datasets/ml-100k
HAVE_DATA = (DATA_DIR / "u.data").is_file()
if HAVE_DATA:
    ratings = load_movielens_100k(DATA_DIR)
    print(f"{ratings.n_users:,} users, {ratings.n_items:,} movies, {len(ratings):,} ratings from {DATA_DIR}")
else:
    print(f"MovieLens 100K was not found in {DATA_DIR} (the suite looks in $TT_ML100K_DIR when it is set,\n"
          "else in data/ml-100k and ../shared/datasets/ml-100k).\n"
          "Get it from https://grouplens.org/datasets/movielens/100k/ (ml-100k.zip, about 5 MB), unzip it\n"
          "into data/ml-100k, or let the suite do it (it checks the archive's checksum):\n"
          "    from lineage.datasets.download import download_movielens\n"
          "    download_movielens('ml-100k', 'data')\n"
          "You can still write and check window_scores below (the check uses a synthetic log);\n"
          "the MovieLens cells after the check are skipped until the data is there.")


# %%
def window_scores(parts, fractions):
    """(len(fractions),) validation nDCG@10 of recent popularity for each window fraction f;
    validation = the last 20% of parts.train by time. parts.test is never read."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: one validation nDCG@10 per window fraction
    inner = validation_split(parts.train, "temporal", fraction=0.2)  # fit part, then the last 20% by time
    users = users_with_test_events(inner.test)  # users with a validation event
    scores = []
    for f in fractions:
        model = RecentPopularity(RecentPopularityConfig(window_fraction=f)).fit(inner.train)
        scores.append(evaluate_lists(model.recommend(users, K), users, inner.train, inner.test, K)[f"ndcg@{K}"])
    return np.array(scores)
    # END SOLUTION


# %%
passed = check_window_scores(window_scores)

# %% [markdown]
# ## The window for MovieLens
#
# The split of notebook 08: the first 80% of the ratings (by time) are train, the last 20% test.
# Your function chooses the window on validation; the test part then measures the choice, once,
# next to all-time popularity.

# %%
FRACTIONS = [0.02, 0.05, 0.07, 0.1, 0.2, 0.5, 1.0]  # shares of the fit period; 1.0 = all of it
if HAVE_DATA:
    parts = split(ratings, "temporal", 0.2)
    scores_of = window_scores if passed else reference_window_scores
    validation = np.asarray(scores_of(parts, FRACTIONS), dtype=float)
    best = FRACTIONS[int(np.argmax(validation))]
    for f, score in zip(FRACTIONS, validation):
        print(f"window {f:4g} of the fit period: validation nDCG@10 {score:.4f}" + ("   <- chosen" if f == best else ""))
    tuned = RecentPopularity.TUNED["ml-100k/temporal"]["window_fraction"]  # benchmarks/tune_lineage.py, finer grid
    print(f"(the suite's tuned window for this split, chosen the same way on a finer grid: {tuned:g})")
    test_users = users_with_test_events(parts.test)
    final = {name: evaluate_lists(model.fit(parts.train).recommend(test_users, K), test_users, parts.train,
                                  parts.test, K)[f"ndcg@{K}"]
             for name, model in [(f"recent popularity, window {best:g}",
                                  RecentPopularity(RecentPopularityConfig(window_fraction=best))),
                                 ("all-time popularity", Popularity())]}
    print("\nthe one test measurement:")
    for name, score in final.items():
        print(f"  {name:<34} test nDCG@10 {score:.4f}")
else:
    print("MovieLens 100K not found: this cell is skipped (see the first cell for how to get it).")

# %% [markdown]
# ## What the wrong validation parts would have said
#
# For the lesson only, never for choosing: the same curve scored on the **test** part, and on a
# validation part drawn **at random** from train (what a random split would have given).

# %%
if HAVE_DATA:
    on_test = ndcg_by_window(parts.train, parts.test, FRACTIONS)  # looking at test: for the lesson only
    shuffled = validation_split(parts.train, "random", fraction=0.2)
    at_random = ndcg_by_window(shuffled.train, shuffled.test, FRACTIONS)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for curve, label, style in [(validation, "validation by time (yours)", "o-"),
                                (at_random, "validation drawn at random", "s--"),
                                (on_test, "test (for the lesson only)", "^:")]:
        ax.plot(FRACTIONS, curve, style, label=label)
    ax.set(xscale="log", xlabel="window: share of the training period counted", ylabel="nDCG@10",
           title="Which window? It depends on what you validate on")
    ax.legend()
    plt.show()
    print(f"window chosen by time: {best:g}; drawn at random: {FRACTIONS[int(np.argmax(at_random))]:g}; "
          f"best on test (never choose this way): {FRACTIONS[int(np.argmax(on_test))]:g}")
else:
    print("MovieLens 100K not found: this cell is skipped.")

# %% [markdown]
# **To discuss.** The random validation part prefers a wider window than the one chosen by time:
# why (where in time are its events)? Your validation period ends where the test period begins,
# so the window that wins there is tuned to a slightly older moment: what would you do before
# deploying (hint: refit on the whole training part with the chosen window, as the cell above
# does)? Why is the test curve above not a better way to choose, even though it is "the real
# thing"?
