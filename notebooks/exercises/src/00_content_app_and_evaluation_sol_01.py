# %% [markdown]
# # 00 · Exercise 1: nDCG@k by hand
#
# **Goes with:** notebook 00, section 4 (the metrics). **Time:** about 15 minutes.
#
# nDCG@k rewards a list for putting the relevant items *near the top*. With binary gains (an item
# is relevant or not), for a ranked list $r_1, \dots, r_n$ and a set of relevant items $R$:
#
# $$\mathrm{DCG@}k = \sum_{j=1}^{k} \frac{[r_j \in R]}{\log_2(j + 1)}, \qquad
# \mathrm{IDCG@}k = \sum_{j=1}^{\min(|R|,\, k)} \frac{1}{\log_2(j + 1)}, \qquad
# \mathrm{nDCG@}k = \frac{\mathrm{DCG@}k}{\mathrm{IDCG@}k}$$
#
# (0 when $R$ is empty). The ideal list puts as many relevant items on top as it can: at most
# $k$, and at most $|R|$.
#
# **Your task.** Write `my_ndcg_at_k(ranked, relevant, k)`: `ranked` is a list of items, best
# first; `relevant` a set; return a float. Mind two traps: Python counts positions from 0, the
# formula from 1; and a user may have more relevant items than `k`.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import (evaluate_lists, generate_world, guard, seed_everything, split, users_with_test_events,
                     world_config)
from workshop.content_app_and_evaluation import check_ndcg, reference_ndcg

rng = seed_everything(0)

# %%
def my_ndcg_at_k(ranked, relevant, k):
    """nDCG@k with binary gains: the DCG of the first k items over the ideal DCG."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: a float between 0 and 1
    relevant = set(relevant)
    dcg = sum(1.0 / np.log2(rank + 1) for rank, item in enumerate(ranked[:k], start=1) if item in relevant)
    ideal = sum(1.0 / np.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal > 0 else 0.0
    # END SOLUTION


# %%
# Check: six small cases, each one built to catch a classic mistake.
passed = check_ndcg(my_ndcg_at_k)

# %% [markdown]
# ## Use it on the world
#
# The evaluation harness computes nDCG@10 for every test user at once, with vectorised code. Your
# function, applied user by user to popularity's lists on the honest temporal split, must give the
# same average. (If you have not answered yet, the reference function stands in for yours.)

# %%
ndcg = my_ndcg_at_k if passed else reference_ndcg
world = generate_world(world_config("tiny"))
parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
users = users_with_test_events(parts.test)
seen = parts.train.to_csr()  # (n_users, n_items) what each user had in training

# Popularity, written out: the most viewed training items, minus the ones each user has already seen.
most_viewed = np.argsort(-parts.train.item_counts(), kind="stable")
lists = np.array([most_viewed[~np.isin(most_viewed, seen[user].indices)][:10] for user in users])  # (n_users, 10)
per_user = []
for row, user in enumerate(users):
    relevant = set(parts.test.items[parts.test.users == user]) - set(seen[user].indices)  # seen items cannot be asked for
    if relevant:
        per_user.append(ndcg(list(lists[row]), relevant, 10))
by_hand = float(np.mean(per_user))
harness = evaluate_lists(lists, users, parts.train, parts.test, 10)["ndcg@10"]
print(f"popularity on the tiny world: nDCG@10 user by user {by_hand:.4f}, lineage.metrics {harness:.4f}")
guard("E1 nDCG@10 user by user = lineage.metrics (abs. difference)", abs(by_hand - harness), "<", 1e-9)

# %% [markdown]
# **To discuss.** Why does the harness leave out users whose only test items they had already seen
# in training? What would happen to popularity's nDCG if seen items were *not* excluded from the
# lists (notebook 00 mentions the TensorFlow Recommenders protocol, which does not exclude them)?
