# %% [markdown]
# # 06 · Exercise 1: a point-in-time feature
#
# **Goes with:** notebook 06, section 4 (leakage). **Time:** about 20 minutes.
#
# The item tower likes *dynamic counts*: how many views an item got recently. For a training
# example (user, item, time $t$) the feature must be what the app knew **just before $t$**:
#
# $$\text{views}_{7d}(i, t) = \#\{\text{views of } i \text{ at a time } \tau \text{ with } t - 7\,\text{days} \le \tau < t\}$$
#
# Count the event itself, or anything after $t$, and every training example carries a piece of
# its own answer: offline metrics go up, production does not follow (lesson L6).
#
# **Your task.** For each of the 400 sampled events below, compute `counts`: the number of views
# of that event's item in the 7 days *before* the event, from the whole view log (`log_items`,
# `log_times`; times are in seconds). A loop over the events is fine.

# %%
# Setup: seeds first, so every number below is the same on every run.
import matplotlib.pyplot as plt
import numpy as np

from lineage import generate_world, seed_everything, world_config
from workshop.cold_start_side_information_leakage import (check_point_in_time_counts,
                                                          reference_point_in_time_counts)

rng = seed_everything(0)

# %%
world = generate_world(world_config("tiny"))
log_items, log_times = world.views["item"], world.views["time"]  # the whole view log, (n_views,) each
DAY = 86400.0
WINDOW_DAYS = 7.0

sample = np.sort(rng.choice(len(log_items), size=400, replace=False))
items, times = log_items[sample], log_times[sample]  # the events we need features for
print(f"{len(log_items):,} views over {(log_times.max() - log_times.min()) / DAY:.0f} days; features for {len(items)} of them")

# %%
# BEGIN SOLUTION
# STUB: counts = None  # YOUR CODE HERE: a (400,) array, one count per sampled event
counts = np.array([np.sum((log_items == item) & (log_times >= t - WINDOW_DAYS * DAY) & (log_times < t))
                   for item, t in zip(items, times)])
# END SOLUTION

# %%
passed = check_point_in_time_counts(counts, items, times, log_items, log_times, WINDOW_DAYS)

# %% [markdown]
# ## What a leaky version looks like
#
# Compare your feature with two leaky ones: "as of the log snapshot" (all views of the item, the
# future included), and "up to and including the event" ($\tau \le t$). The leaky snapshot is
# what you get by joining each event with *today's* item table.

# %%
point_in_time = counts if passed else reference_point_in_time_counts(items, times, log_items, log_times, WINDOW_DAYS)
snapshot = np.bincount(log_items, minlength=world.n_items)[items]  # every view, ever: future included
including_itself = point_in_time + 1  # each sampled event is itself one of the item's views

fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].scatter(point_in_time, snapshot, s=6, alpha=0.5)
axes[0].set(xlabel="views in the 7 days before t (honest)", ylabel="all views in the log (leaky)",
            title="The snapshot feature knows the future")
first_day = times < times.min() + 7 * DAY
axes[1].hist([point_in_time[first_day], point_in_time[~first_day]], bins=20, label=["first week", "later"])
axes[1].set(xlabel="honest 7-day count", title="Early events have little history: as in production")
axes[1].legend()
plt.tight_layout()
plt.show()
print(f"events whose honest count is 0: {np.mean(point_in_time == 0):.0%}; "
      f"with the event itself counted: {np.mean(including_itself == 0):.0%}")

# %% [markdown]
# **To discuss.** With the event itself counted, no positive example ever has a count of 0, but
# at serving time a brand-new item does: what would the model learn from that? Why does
# `twotower_mini` use counts over recent *windows* rather than all-time counts before $t$ (hint:
# compare the all-time count of an item at training time and at serving time, weeks later)?
