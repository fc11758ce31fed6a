# %% [markdown]
# # 05 · Exercise 1: negatives from skipped impressions
#
# **Goes with:** notebook 05, section 1. **Time:** about 20 minutes.
#
# Every session of the app shows a few items; the user chooses one or two, or none. For each
# positive (a view: the session it happened in, and the item), the **skipped impressions** are the
# items shown in *the same session* and *not chosen*. They are the "hard negatives" of notebook
# 05: plausible items that lost, this time.
#
# **Your task.** From the impression log (one row per item shown: its session, the item, whether it
# was chosen), build `negatives`, an (n_views, `MAX_NEGATIVES`) int array: row $r$ lists the items
# skipped in view $r$'s session, in the order they were shown, at most `MAX_NEGATIVES`, padded
# with -1. Beware: a session can have *two* chosen items, and neither is a negative. A dictionary
# from session to its skipped items, built in one pass, keeps this fast.

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np

from lineage import generate_world, seed_everything, world_config
from workshop.negatives import check_impression_negatives, reference_impression_negatives

rng = seed_everything(0)

# %%
world = generate_world(world_config("tiny"))
feed = world.impressions["source"] == "feed"  # feed sessions (search results are another story)
impression_sessions = world.impressions["session"][feed]  # (n_impressions,) in the order shown
impression_items = world.impressions["item"][feed]
impression_chosen = world.impressions["chosen"][feed]  # bool
view_sessions, view_items, view_users = world.views["session"], world.views["item"], world.views["user"]
MAX_NEGATIVES = 5
print(f"{len(view_items):,} views, {len(impression_items):,} feed impressions, "
      f"{impression_chosen.mean():.0%} of them chosen")

# %%
# BEGIN SOLUTION
# STUB: negatives = None  # YOUR CODE HERE: an (n_views, MAX_NEGATIVES) int array, -1 = empty slot
skipped_in = {}  # session -> items shown and not chosen, in order
for session, item, chosen in zip(impression_sessions, impression_items, impression_chosen):
    if not chosen:
        skipped_in.setdefault(session, []).append(item)
negatives = np.full((len(view_items), MAX_NEGATIVES), -1, dtype=np.int64)
for row, session in enumerate(view_sessions):
    shown = skipped_in.get(session, [])[:MAX_NEGATIVES]
    negatives[row, :len(shown)] = shown
# END SOLUTION

# %%
passed = check_impression_negatives(negatives, view_sessions, view_items, impression_sessions,
                                             impression_items, impression_chosen, MAX_NEGATIVES)

# %% [markdown]
# ## How bad is a skipped item, really?
#
# The world knows each user's true utility for every item. Compare three kinds of negatives for
# the same users: a random catalogue item, your skipped impressions, and, for scale, the positives.

# %%
hard = negatives if passed else reference_impression_negatives(
    view_sessions, view_items, impression_sessions, impression_items, impression_chosen, MAX_NEGATIVES)
has = hard >= 0
users_of_hard = np.broadcast_to(view_users[:, None], hard.shape)[has]
utility = {
    "random item": world.pair_utility(view_users, rng.integers(0, world.n_items, len(view_users))),
    "skipped impression": world.pair_utility(users_of_hard, hard[has]),
    "positive (chosen)": world.pair_utility(view_users, view_items),
}
fig, ax = plt.subplots(figsize=(7, 3))
for name, values in utility.items():
    ax.hist(values, bins=40, alpha=0.5, density=True, label=f"{name} (mean {values.mean():+.2f})")
ax.set(xlabel="the user's true utility for the item", title="Skipped impressions are good items that lost")
ax.legend(fontsize=8)
plt.show()
print(f"views with at least one skipped impression: {has.any(axis=1).mean():.0%}")

# %% [markdown]
# **To discuss.** Skipped items sit much closer to the positives than random ones. What does a
# retriever learn if these are its *only* negatives (notebook 05, section 2), and what does it
# never see? Where would you use them instead?
