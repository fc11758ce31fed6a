# %% [markdown]
# # 09 · The loop: your model makes tomorrow's data
#
# **Time:** about 45 minutes. **Prerequisites:** notebook 00 (logged vs true recall), 02 (ALS),
# 05 (skipped impressions, the hated-genre share).
#
# **You will learn to**
# 1. close the loop: fit a model on the log, deploy it as the app's feed, log a week of what users do
#    with it, fit again, and follow what that does, week after week, to the users, to the catalogue and
#    to the model;
# 2. see why a model measured on a log it chose itself looks as good as ever while it gets worse, and
#    why a model nobody retrains decays;
# 3. compare a feed that only **exploits** (its top items) with one that **explores** (Plackett-Luce
#    sampling), with the app's built-in feed as a reference;
# 4. estimate a new feed's value from another feed's log with known propensities (naive, IPS, SNIPS,
#    clipped IPS, direct method, doubly robust), check it against the truth from running the new feed,
#    and see the variance grow as the two feeds differ, what clipping trades, and where the
#    estimators' own assumption breaks;
# 5. decide whether the model's own skipped impressions make good negatives for its next version.

# %%
# Setup: seeds first, so every number below is the same on every run.
import time

import matplotlib.pyplot as plt
import numpy as np

from lineage import ModelPolicy, check, compare, generate_world, guard, make_model, seed_everything, world_config
from lineage.loop import (clipped_estimates, effective_sample_size, hated_share, impressions_since,
                          per_user_true_recall, round_table, run_loop, top_lists)
from lineage.offpolicy import evaluate, logged_feeds, off_policy_data, online_value
from lineage.world import DAY
from twotower_mini import (FeatureConfig, SampledSoftmax, SideLog, TowerConfig, TrainConfig, TwoTowerConfig,
                           TwoTowerRecommender)

rng = seed_everything(0)
NOTEBOOK_START = time.perf_counter()
WORLD = world_config()  # the default size, and the world seed from TT_WORLD_SEED (default 0)
print("world seed", WORLD.seed)

# %% [markdown]
# ## 1. Closing the loop
#
# Every model so far learned from a log written by someone else: the app's built-in feed, which
# mixes popular items with a noisy guess of each user's taste (notebook 00). Deploy a model, and it
# *becomes* the feed. Users can only choose among what it shows, so next week's log is made of its
# own choices, and the next model learns from that. This is the **feedback loop** (Sculley et al.
# 2015; Chaney et al. 2018; Jiang et al. 2019).
#
# The world can play it: `world.run_days(policy, days, seed)` continues the log for a few days with
# any feed policy, the same users behaving as before. `run_loop` repeats, for a number of rounds:
# fit a model on every view so far, deploy it, log K = 7 days, append them, fit again. Each arm
# plays on its own copy of the world, and `run_days` draws its sessions from (seed, day, world seed),
# so every arm meets **the same users at the same times**; only what it shows differs. Four arms,
# each four weeks long, all with ALS (notebook 02, the world's tuned settings):
#
# - **exploit**: the feed is the model's top 8 items (greedy);
# - **explore**: each slot is drawn by **Plackett-Luce** sampling from softmax(score / T), T = 0.5,
#   over the model's best 100 items: mostly near the top, sometimes further down. The feed records
#   each shown item's probability of being shown (its *propensity*): section 4 needs it;
# - **built-in**: the app's own feed, as in the first 60 days (a model is still fitted each week, to
#   be measured, but not deployed);
# - **stale**: greedy, fitted once at the start and never again.

# %%
world = generate_world(WORLD)
ROUNDS, DAYS, K = 4, 7, 10


def fit(log):
    """ALS with the world's tuned settings (notebook 02), on every view so far."""
    return make_model("als", "world").fit(log)


ARMS = {
    "exploit": dict(policy_for=lambda model: ModelPolicy(model)),
    "explore": dict(policy_for=lambda model: ModelPolicy(model, temperature=0.5)),
    "built-in": dict(policy_for=lambda model: None),  # None: the app's own feed
    "stale": dict(policy_for=lambda model: ModelPolicy(model), refit=False),
}
runs = {}
for name, options in ARMS.items():
    start = time.perf_counter()
    runs[name] = run_loop(world, fit, rounds=ROUNDS, days=DAYS, seed=0, name=name, k=K, **options)
    print(f"{name:<9} {ROUNDS} rounds of {DAYS} days: {time.perf_counter() - start:4.1f} s")
print(round_table(list(runs.values()), ["likes_per_feed", "chosen_utility", "found", "true_recall", "logged_recall",
                                        "coverage"]))

# %%
# Properties: every arm starts from the same state and meets the same sessions; the world itself is untouched.
first = [run.rounds[0].model for run in runs.values()]
check("round-0 models of all arms: max abs. difference of item factors",
      max(np.abs(m.item_factors_ - first[0].item_factors_).max() for m in first), "==", 0)
sessions = [r.part.sessions["time"] for run in runs.values() for r in run.rounds]
reference = [r.part.sessions["time"] for r in runs["exploit"].rounds] * len(runs)
check("rounds whose sessions differ from the exploit arm's", sum(
    not np.array_equal(a, b) for a, b in zip(sessions, reference)), "==", 0)
check("days in the original world after the loop", world.end_time / DAY, "==", WORLD.n_days)

# %% [markdown]
# The table has one line per arm and week. What each measure says:
#
# - **likes per feed**: liked views per feed session, the value a product team watches;
# - **chosen utility**: the mean true utility of the items users chose in the feed;
# - **found**: the share of each served user's true top 10 (the oracle's, over the whole catalogue)
#   that they have viewed by the end of the week: how much of the best the app has led them to;
# - **true recall**: the deployed model's top 10 against the oracle's top 10 among the items the user
#   had not viewed yet (notebook 00);
# - **logged recall**: the same top 10 against what the user actually viewed that week: the only one
#   of the three a real team can compute;
# - **coverage**: the share of the catalogue the feed showed at least once that week.
#
# ## 2. What the loop does to users and to the catalogue

# %%
fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
colours = {"exploit": "tab:red", "explore": "tab:blue", "built-in": "grey", "stale": "tab:orange"}
weeks = np.arange(1, ROUNDS + 1)
panels = [("likes_per_feed", "likes per feed session"), ("found", "share of true top 10 found so far"),
          ("gini", "Gini of impressions over items"), ("hated_share", "impressions from a hated genre")]
for ax, (metric, title) in zip(axes, panels):
    for name, run in runs.items():
        ax.plot(weeks, run.series(metric), "o-", color=colours[name], label=name)
    ax.set(xlabel="week of the loop", title=title, xticks=weeks)
axes[3].set_yscale("symlog", linthresh=1e-3)  # logarithmic above 0.1%, linear below
axes[3].set_ylim(0, 0.2)
axes[0].legend()
plt.tight_layout()
plt.show()

# %%
# Lesson guards: exploiting wins the first week, exploring wins the fourth and has caught up on what users
# found; the greedy feed concentrates exposure on fewer items; the app's own feed shows hated genres far
# more than either model.
exploit, explore, builtin, stale = (runs[name] for name in ARMS)
likes = {name: run.series("likes_per_feed") for name, run in runs.items()}
found = {name: run.series("found") for name, run in runs.items()}
guard("09.1 exploit / explore likes per feed, week 1", likes["exploit"][0] / likes["explore"][0], ">", 1.02,
      falsified_by="a world where the model's top items are not what users like best")
guard("09.2 explore / exploit likes per feed, week 4", likes["explore"][-1] / likes["exploit"][-1], ">", 1.05,
      falsified_by="a longer catalogue tail, or users who view an item again")
guard("09.3 exploit / explore share of true top 10 found, week 1", found["exploit"][0] / found["explore"][0], ">", 1.0,
      falsified_by="a model whose top items are far from the users' best")
guard("09.4 explore / exploit share of true top 10 found, week 4", found["explore"][-1] / found["exploit"][-1],
      ">", 0.94, falsified_by="a shorter loop, or a catalogue that users never exhaust")
guard("09.5 exploit / explore catalogue coverage, week 4",
      exploit.series("coverage")[-1] / explore.series("coverage")[-1], "<", 0.85,
      falsified_by="a Plackett-Luce shortlist hardly longer than the feed")
guard("09.6 exploit - explore Gini of impressions, week 4", exploit.series("gini")[-1] - explore.series("gini")[-1],
      ">", 0.05, falsified_by="a catalogue whose items all suit every user alike")
guard("09.7 built-in / explore hated-genre share of impressions", builtin.series("hated_share").mean()
      / explore.series("hated_share").mean(), ">", 5, falsified_by="a built-in feed with a better taste estimate")
print("hated-genre share of impressions, mean over the weeks:",
      ", ".join(f"{name} {run.series('hated_share').mean():.2%}" for name, run in runs.items()))

# %% [markdown]
# Read the panels left to right.
#
# - **Likes per feed fall in every arm, every week.** Part of that is not the model at all: a user
#   never views an item twice, so each week the best items left for them are a little worse. The
#   *found* panel shows the other side of it: how much of each user's true top 10 they have already
#   viewed.
# - **Exploiting wins the first week** (its feed is the model's best guess, eight times over) and
#   **loses by the fourth**: its likes fall faster. The greedy feed finds users' best items fast at
#   first (the *found* panel), and then stalls: by the fourth week the explorer has caught up (the
#   *found* column of the table above).
# - **The greedy feed concentrates exposure**: a higher Gini, a smaller share of the catalogue ever
#   shown. Items it never shows get no views, so the next model has no evidence for them.
# - **The models almost never show a hated genre** (note the logarithmic scale; the shares are printed
#   above). The built-in feed's popular slots do, many times more often.
#
# ## 3. The model's view of itself: logged vs true recall

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, metric, title in [(axes[0], "logged_recall", "logged recall@10 (this week's views)"),
                          (axes[1], "true_recall", "true recall@10 (the oracle)")]:
    for name, run in runs.items():
        ax.plot(weeks, run.series(metric), "o-", color=colours[name], label=name)
    ax.set(xlabel="week of the loop", title=title, xticks=weeks)
axes[0].legend()
plt.tight_layout()
plt.show()

# %%
# Lesson guards: the greedy model's logged recall stays high while its true recall falls; the explorer's
# true recall grows; retraining a greedy model on its own feed's data hardly slows its decay.
true, logged = exploit.series("true_recall"), exploit.series("logged_recall")
guard("09.8 exploit: logged / true recall, week 4", logged[-1] / true[-1], ">", 4,
      falsified_by="an evaluation log the model did not choose")
guard("09.9 exploit: true recall week 4 / week 1", true[-1] / true[0], "<", 0.8,
      falsified_by="a feed that shows items outside the model's top now and then")
guard("09.10 explore: true recall week 4 / week 1",
      explore.series("true_recall")[-1] / explore.series("true_recall")[0], ">", 1.0,
      falsified_by="exploration so wide that the choices say nothing")
guard("09.11 explore / exploit true recall, week 4", explore.series("true_recall")[-1] / true[-1], ">", 1.4,
      falsified_by="a greedy feed with fresh outside data each week")
guard("09.12 stale: true recall week 4 / week 1", stale.series("true_recall")[-1] / stale.series("true_recall")[0],
      "<", 0.8, falsified_by="a world where users' best items are never used up")
guard("09.13 retrained / stale greedy true recall, week 4", true[-1] / stale.series("true_recall")[-1], "<", 1.25,
      falsified_by="a greedy feed that also learns from data it did not choose")

# %% [markdown]
# This is the loop's trap, in two lines. The greedy model's **logged recall does not move**: week
# after week it predicts what users will view, because users can only view what it shows. Its
# **true recall falls** week after week (the table above). Its data hold reactions to its own top
# items only; items it ranks low are never shown, never viewed, and the next model has no evidence
# for them. Meanwhile users use up the items it does find, so what is left of their true top 10 is
# more and more what it misses. A team that reads only logged metrics sees a model as good as ever.
#
# The explorer's true recall **grows**: now and then it shows an item further down its list, and the
# user's choice among such items is evidence the next model learns from. Its logged recall is low
# because its feed is random around the top: logged recall measures agreement with the feed, not
# with the users.
#
# The **stale** model, fitted once and never again, decays too: each week users view its best items,
# and nothing tells it what comes next. But look at how close it stays to the greedy model retrained
# every week: retraining on data your own greedy feed chose adds little that the model did not
# already believe. Retraining is necessary (new items, new users, changing tastes); in a loop, it is
# not sufficient. New evidence comes from showing something the model is not sure about.
#
# ## 4. Off-policy evaluation: a new feed's value, from another feed's log
#
# Before deploying a new feed, we would like its value (likes per feed session) from logs we already
# have, not from a week of users. The explorer's first week is such a log: for every shown item it
# recorded its **propensity** pi_old(i), the probability that the feed shows item i to that request.
# Ask the new feed for its own probability pi_new(i) at the same requests, and weight each logged
# like by w = pi_new / pi_old: that is **IPS** (inverse propensity scoring), unbiased when every item
# the new feed shows could be shown by the old one, and when an item's reward does not depend on the
# rest of the feed. **SNIPS** divides by the weights' own sum instead of the number of feeds;
# **clipped IPS** caps each weight; the **direct method** asks a reward model (here each item's like
# rate); **doubly robust** combines the last with IPS; the **naive** estimate counts the logged likes of
# the items the new feed would also show, weighted by how often it would show them.
#
# The truth: run each new feed in the world on the same days and sessions, from the same state
# (`append=False`). For greedy, that run is the exploit arm's first week.

# %%
model0 = explore.rounds[0].model  # the model both feeds serve (the same in every arm)
log = logged_feeds(explore.world, explore.rounds[0].part)  # the explorer's first week, with propensities
targets = {"T=0.5 (the logger)": ModelPolicy(model0, temperature=0.5),
           "T=0.25": ModelPolicy(model0, temperature=0.25), "greedy": ModelPolicy(model0)}
truth = {"T=0.5 (the logger)": online_value(explore.rounds[0].part),
         "T=0.25": online_value(world.run_days(targets["T=0.25"], days=DAYS, seed=0, append=False)),
         "greedy": online_value(exploit.rounds[0].part)}
data = {name: off_policy_data(log, policy) for name, policy in targets.items()}
estimates = {name: evaluate(d, resamples=1000) for name, d in data.items()}
for name, d in data.items():
    weights = d.target / d.logging
    share = effective_sample_size(weights) / len(weights)
    print(f"{name}: max weight {weights.max():.1f}, effective sample {share:.0%} of the log\n    truth, {truth[name]}")
    for estimate in estimates[name].values():
        print("   ", estimate)

# %%
fig, ax = plt.subplots(figsize=(11, 4))
names = ["naive", "ips", "snips", "clipped_ips", "direct_method", "doubly_robust"]
for t, (target, found) in enumerate(estimates.items()):
    ax.axhspan(truth[target].low, truth[target].high, xmin=t / 3 + 0.01, xmax=(t + 1) / 3 - 0.01, color="tab:green",
               alpha=0.3, label="truth (online), 95%" if t == 0 else None)
    for j, name in enumerate(names):
        e = found[name]
        ax.errorbar(t + (j - 2.5) * 0.13, e.value, yerr=[[e.value - e.low], [e.high - e.value]], fmt="o",
                    color=plt.cm.tab10(j), label=name if t == 0 else None)
ax.set_xticks(range(3), list(estimates))
ax.set(xlim=(-0.5, 2.5), ylabel="likes per feed session", title="Off-policy estimates vs the truth, 95% intervals")
ax.legend(ncol=4, fontsize=8)
plt.show()

# %%
# Property: on its own log every weight is pi / pi = 1 up to the Monte Carlo noise of the propensities,
# so IPS recovers the truth. Lesson guards: the interval widens as the new feed moves away from the
# logger; naive is far too low; and for the greedy feed item-level IPS overestimates.
same, greedy = estimates["T=0.5 (the logger)"], estimates["greedy"]
check("logger on its own log: |IPS / truth - 1|", abs(same["ips"].value / truth["T=0.5 (the logger)"].value - 1), "<",
      0.02)
width = {name: estimates[name]["ips"].high - estimates[name]["ips"].low for name in targets}
guard("09.14 greedy / logger IPS interval width", width["greedy"] / width["T=0.5 (the logger)"], ">", 2,
      falsified_by="a logger that explores as widely as uniform")
guard("09.15 greedy: effective sample share of the log",
      effective_sample_size(data["greedy"].target / data["greedy"].logging) / len(data["greedy"].target), "<", 0.3,
      falsified_by="a logger close to greedy")
guard("09.16 naive / truth, largest over the new feeds",
      max(estimates[n]["naive"].value / truth[n].value for n in targets), "<", 0.5,
      falsified_by="a naive estimate that reweights (it would be IPS)")
guard("09.17 greedy: IPS / truth", greedy["ips"].value / truth["greedy"].value, ">", 1.2,
      falsified_by="users who take every good item shown (rewards independent across the feed)")
guard("09.18 T=0.25 / greedy: IPS's relative error",
      (estimates["T=0.25"]["ips"].value / truth["T=0.25"].value - 1) / (greedy["ips"].value / truth["greedy"].value - 1),
      "<", 0.25, falsified_by="users whose choices do not compete more in a stronger feed")

# %% [markdown]
# Three things to see.
#
# - **On its own log, IPS gets the logger's value** (weights close to 1), and so does every reweighting
#   estimator. The naive estimate is far too low everywhere: it multiplies a logged like by the new
#   feed's probability of showing the item, with nothing to undo the old feed's choices.
# - **The interval widens as the feeds differ.** At T = 0.25 a few weights grow; for greedy, whose feed
#   is the model's top 8 with probability 1, the weight of a top item the logger showed rarely is large,
#   the effective sample shrinks to a small share of the log, and the interval is several times wider.
# - **For greedy, IPS is far above the truth, with an interval that does not reach it.** This is not
#   variance; it is the estimator's assumption failing. Item-level IPS credits each item of the greedy
#   feed with the like rate it had in the logger's feeds, and adds them up. But a user here takes one
#   item, sometimes two: in a feed of eight strong items, each one's chance is lower than it was among
#   weaker neighbours. The closer the new feed is to the logger, the less this matters (T = 0.25 is
#   off by much less; `benchmarks/REPORT.md` follows the new feed from T = 0.5 down to greedy on two
#   worlds, and IPS / truth grows step by step, from 1.00 to about 1.5). The direct method stays near the logger's value whatever the feed (its reward
#   model knows each item's overall like rate, nothing of the user), and doubly robust inherits IPS's
#   error. An estimator is as good as its assumptions: check them with a small online test before
#   trusting a large gap.
#
# ### What clipping trades
#
# Capping each weight at c lowers the variance and biases the estimate down (every reward is counted
# with a weight at most c). Here is the greedy feed's estimate, cap by cap.

# %%
CAPS = [1, 2, 5, 10, 20, np.inf]
clipped = clipped_estimates(data["greedy"], CAPS, resamples=1000)
for estimate in clipped:
    print(f"{estimate}   width {estimate.high - estimate.low:.4f}")
print(truth["greedy"])
values = [e.value for e in clipped]
check("clipped IPS never falls as the cap grows (smallest step)", np.diff(values).min(), ">=", 0)
guard("09.19 greedy: clipped IPS interval width at cap 2 / unclipped",
      (clipped[1].high - clipped[1].low) / (clipped[-1].high - clipped[-1].low), "<", 0.6,
      falsified_by="a logger whose weights are all below 2")

# %% [markdown]
# The cap moves the estimate down and narrows the interval. Here the downward bias cancels part of
# IPS's upward error, and somewhere between the smallest and the largest cap the estimate crosses the
# truth: luck, not a method. On a feed
# where IPS were right, the same cap would underestimate, and a team choosing the cap that "agrees with
# the truth" would need the truth first. Choose a cap for the variance you can afford, and report it.
#
# ## 5. The model's own impressions as negatives
#
# The greedy model's feed showed eight items a session and the user took one or two: the other six
# or seven are the model's own mistakes, items it ranked highest and the user passed over. Should the
# next model learn from them, as negatives? Notebook 05 found that skipped impressions are good items
# that lost to better ones, and that a retriever trained on them *alone* is confused when the feed never
# shows genres the user dislikes. Count what the loop's feed showed:

# %%
arm = exploit.world
skipped_users, skipped_items = exploit.skipped_impressions()
print(f"the greedy loop's skipped impressions: {len(skipped_items):,}, "
      f"{hated_share(arm, skipped_users, skipped_items):.2%} from a hated genre")
guard("09.20 exploit loop: hated share of skipped impressions", hated_share(arm, skipped_users, skipped_items),
      "<", 0.005, falsified_by="a feed that shows some items the user dislikes")

# %% [markdown]
# Almost none: the loop has built notebook 05's liked-genres feed by itself, the case where impressions
# alone confuse a retriever (`benchmarks/REPORT.md`, the loop's impressions table, measures it here
# too). So we ask the practical question: **added** to the in-batch negatives, do the model's own
# skipped impressions help the next model? Retrain on the loop's log with the two-tower of notebook 05
# (twotower_mini has no warm start, so each variant trains from scratch, 2 epochs): in-batch negatives
# with logQ, and the same plus up to 7 of the loop's own skipped impressions per view. True recall on
# the users the loop served, after its fourth week, with a paired interval.

# %%
def towers(**negatives):
    """Notebook 05's fast two-tower, with the negatives given (SampledSoftmax: in-batch + logQ by default)."""
    return TwoTowerConfig(features=FeatureConfig(history_length=20, drop=("counts",)),
                          towers=TowerConfig(embedding_dim=32, output_dim=32, hidden=(64,)), refit=False,
                          training=TrainConfig(loss=SampledSoftmax(**negatives), progress=False, epochs=2,
                                               batch_size=1024))


loop_log, served = arm.interactions(), exploit.served_users()
own = SideLog.from_world(impressions_since(arm, exploit.start_time))  # searches, and the loop's feeds only
top_true = arm.true_top_items(served, K, released_before=arm.end_time, exclude=loop_log.to_csr())
variants = {"ALS (deployed)": None, "in-batch + logQ": towers(), "+ own impressions": towers(impression_negatives=7)}
recall, hated = {}, {}
for name, config in variants.items():
    start = time.perf_counter()
    model = fit(loop_log) if config is None else TwoTowerRecommender(config, side=own).fit(loop_log)
    lists = top_lists(model, served, K)
    recall[name] = per_user_true_recall(lists, top_true, K)
    hated[name] = hated_share(arm, np.repeat(served, K), lists.ravel())
    print(f"{name:<18} true recall@10 {recall[name].mean():.3f}  hated genre {hated[name]:.2%}  "
          f"({time.perf_counter() - start:.1f} s)")
mixed = compare(recall["+ own impressions"], recall["in-batch + logQ"], "+ own impressions", "in-batch + logQ")
print(mixed, "->", mixed.verdict())

# %%
# Lesson guard: added to in-batch negatives, the loop's own skipped impressions change true recall by little.
guard("09.21 + own impressions / in-batch true recall, distance from 1", abs(mixed.mean_a / mixed.mean_b - 1), "<", 0.1,
      falsified_by="a much larger impression weight, or a feed that shows hated genres")

# %% [markdown]
# Added to the in-batch negatives as a handful of extra ones per view, the model's own mistakes change
# true recall by a few percent at most (the paired interval above says how much, and which way, on
# this world). They tell the next model which of *its favourites* lost; they carry no news about items
# the feed never showed. Alone, they would teach it to split hairs among its favourites and never that
# a hated genre is worse: the confused case of notebook 05, made by the loop itself. The way out of the
# loop is not a cleverer use of the loop's own log; it is showing something new: exploration.
#
# ## Summary
#
# - A deployed model writes its own training data. Exploiting alone wins the first week and then
#   falls behind: its exposure narrows, and its true recall decays while its **logged recall stays
#   high**, because it is measured on what it chose to show.
# - A little exploration (Plackett-Luce sampling near the top) keeps the model learning: its true
#   recall grows week by week, and by the fourth week it earns more likes per feed. Retraining a greedy
#   model on its own feed's data hardly slows its decay.
# - Exploration with logged propensities also makes **off-policy evaluation** possible. Reweighting
#   (IPS, SNIPS, DR) recovers the logger's value; its interval widens as the new feed moves away, and
#   clipping trades that variance for a downward bias. Item-level estimators assume an item's reward
#   does not depend on its neighbours; where users compare items, a concentrated feed is overestimated.
#   Report intervals, and confirm a large predicted gain online.
# - The model's own skipped impressions are not the way out: alone they confuse the retriever, mixed in
#   they change little. New evidence comes from showing new things.
#
# Exercise 09 · 1 implements SNIPS and clipped IPS and checks them against `lineage.offpolicy`.

# %%
elapsed = time.perf_counter() - NOTEBOOK_START
print(f"notebook ran in {elapsed:.1f} s")
