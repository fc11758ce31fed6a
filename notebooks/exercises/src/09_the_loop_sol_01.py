# %% [markdown]
# # 09 · Exercise 1: SNIPS and clipped IPS by hand
#
# **Goes with:** notebook 09, section 4 (off-policy evaluation). **Time:** about 20 minutes.
#
# A log of feeds gives, for every shown item $i$: its reward $r_i$ (1 for a like, else 0), its logged
# propensity $p^{old}_i$ (the probability that the old feed showed it, at that request) and, asked
# afterwards, the new feed's probability $p^{new}_i$ of showing it at the same request. With the
# importance weight $w_i = p^{new}_i / p^{old}_i$ and $n$ feed requests in the log, IPS estimates the new
# feed's likes per request as
#
# $$\hat V_{IPS} = \frac{1}{n} \sum_i w_i r_i .$$
#
# **SNIPS** (self-normalised IPS, Swaminathan & Joachims 2015) divides by the weights' own sum instead:
# the weights of one request add up, on average, to the number of items the new feed shows, $S$ (the
# `feed_size`), so
#
# $$\hat V_{SNIPS} = S \, \frac{\sum_i w_i r_i}{\sum_i w_i} .$$
#
# **Clipped IPS** (Bottou et al. 2013) caps every weight at $c$ before summing:
#
# $$\hat V_{clip} = \frac{1}{n} \sum_i \min(w_i, c)\, r_i .$$
#
# **Your task.** Write both, with numpy, from arrays of shown items: `reward`, `p_new`, `p_old` (one
# entry per shown item), `n_requests` (how many feeds the log holds), and `feed_size` or `cap`. Each
# returns one number, likes per feed. Traps: which probability goes on top; SNIPS needs *both* the
# weights' sum and the feed size; clipping caps the *weight* from *above*.

# %%
# Setup: seeds first, so every number below is the same on every run.
import numpy as np

from lineage import ModelPolicy, check, generate_world, make_model, seed_everything, world_config
from lineage.loop import fork
from lineage.offpolicy import clipped_ips, logged_feeds, off_policy_data, online_value, snips
from workshop.the_loop import check_clipped_ips, check_snips, reference_clipped_ips, reference_snips

rng = seed_everything(0)


# %%
def my_snips(reward, p_new, p_old, n_requests, feed_size):
    """Self-normalised IPS, likes per feed: feed_size * sum(r * w) / sum(w), with w = p_new / p_old."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: one number
    w = p_new / p_old
    return feed_size * np.sum(w * reward) / np.sum(w)
    # END SOLUTION


def my_clipped_ips(reward, p_new, p_old, n_requests, cap):
    """Clipped IPS, likes per feed: sum(r * min(w, cap)) / n_requests, with w = p_new / p_old."""
    # BEGIN SOLUTION
    # STUB: return None  # YOUR CODE HERE: one number
    w = np.minimum(p_new / p_old, cap)
    return np.sum(w * reward) / n_requests
    # END SOLUTION


# %%
# Check: three logs, a small one to follow by hand and two larger ones; each built to catch a classic mistake.
passed_snips = check_snips(my_snips)
passed_clipped = check_clipped_ips(my_clipped_ips)

# %% [markdown]
# ## Use them on the world
#
# A week logged by a Plackett-Luce feed (ALS scores, temperature 0.5, as in notebook 09) on the tiny
# world, and a new feed to evaluate: the greedy one, the same model's top items. Your estimators (or,
# if you have not answered yet, the reference ones) must agree with `lineage.offpolicy`; the truth
# comes from running the greedy feed on the same days and sessions.

# %%
estimate_snips = my_snips if passed_snips else reference_snips
estimate_clipped = my_clipped_ips if passed_clipped else reference_clipped_ips
world = generate_world(world_config("tiny"))
model = make_model("als", "world").fit(world.interactions())
logged = fork(world)  # the world itself stays as it was, for the truth below
part = logged.run_days(ModelPolicy(model, temperature=0.5), days=7, seed=0)
data = off_policy_data(logged_feeds(logged, part), ModelPolicy(model))  # the greedy feed, asked at every request
args = (data.reward, data.target, data.logging, data.n_requests)

yours = estimate_snips(*args, data.target_size.mean())
library = snips(data)[0].sum() / snips(data)[1].sum()
print(f"SNIPS: yours {yours:.4f}, lineage.offpolicy {library:.4f}")
for cap in (2, 5, 20):
    print(f"clipped IPS at {cap:>2}: yours {estimate_clipped(*args, cap):.4f}, "
          f"lineage.offpolicy {clipped_ips(data, cap)[0].sum() / data.n_requests:.4f}")
print("truth:", online_value(world.run_days(ModelPolicy(model), days=7, seed=0, append=False)))
check("E1 SNIPS yours = lineage.offpolicy (abs. difference)", abs(yours - library), "<", 1e-9)

# %% [markdown]
# **To discuss.** SNIPS needs the new feed's size; what would you use if the new feed's size varied
# from request to request and you only had the log? Clipping at 2 and at 20 give very different
# numbers here: which would you report, and what would you say about the other? Notebook 09 found
# item-level estimators overestimate a greedy feed in this world: would SNIPS or clipping fix that
# cause, or only hide it?
