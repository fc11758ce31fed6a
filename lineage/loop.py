"""The loop: your model makes tomorrow's data.

A deployed recommender chooses what users see; users can only react to what they see; the next
model is trained on those reactions. `run_loop` plays that loop on the synthetic world, round after
round: fit a model on the log so far, deploy it as the feed policy for K days (`World.run_days`),
append those days to the log, and fit again.

    from lineage.loop import run_loop, round_table
    from lineage.world import ModelPolicy
    fit = lambda log: make_model("als", "world").fit(log)
    exploit = run_loop(world, fit, lambda model: ModelPolicy(model), rounds=4, days=7, seed=0)
    explore = run_loop(world, fit, lambda model: ModelPolicy(model, temperature=0.5), rounds=4, days=7, seed=0)
    builtin = run_loop(world, fit, lambda model: None, rounds=4, days=7, seed=0)   # the app's own feed
    print(round_table([exploit, explore, builtin]))

Each arm works on its own `fork` of the world, so `world` itself is never changed and every arm
starts from the same state. `run_days` draws its sessions and the users' randomness from
(seed, first day, world seed), so with the same `seed` the arms meet the same users at the same
times; only what they show (and so what the users choose) differs.

Per round, `round_metrics` measures the deployed model and what its feed did (`ROUND_METRICS`):

- what users got: the mean true utility of the items chosen in the feed, likes and views per
  feed session (the online value `lineage.offpolicy.online_value` estimates with an interval),
  and `found`: the share of each served user's true top k (viewed or not) they have viewed so far;
- how good the deployed model is: true recall@k (its top k against the oracle's top k among
  released items the user had not viewed) and logged recall@k (against what the user viewed in
  the round: the only number a real team has, and it is measured on a log the model chose);
- what the feed exposed: the Gini of impressions over the catalogue (0 = every item shown equally,
  1 = one item gets everything), coverage (the share of items shown at least once) and the share
  of impressions from a genre the user strongly dislikes (hidden taste < `HATED_TASTE`, as in
  notebook 05).

Around the loop: `impressions_since` (a fork keeping only the loop's own feed impressions, to train
on the model's own skipped items), `effective_sample_size` and `clipped_estimates` (diagnostics of
importance weights for `lineage.offpolicy`), `per_user_true_recall` (for paired intervals).

References: Sculley et al. (2015), "Hidden technical debt in machine learning systems" (feedback
loops); Chaney, Stewart & Engelhardt (2018), "How algorithmic confounding in recommendation systems
increases homogeneity and decreases utility"; Jiang et al. (2019), "Degenerate feedback loops in
recommender systems"; Chen et al. (2019), "Top-K off-policy correction for a REINFORCE recommender
system" (exploration and logged propensities at YouTube).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from lineage.data import Interactions
from lineage.metrics import per_user_metrics, true_recall_at_k
from lineage.offpolicy import Estimate, clipped_ips, ratio_interval
from lineage.topk import mask_items, top_k
from lineage.world.policies import FeedPolicy
from lineage.world.simulation import LogPart
from lineage.world.truth import World

__all__ = ["HATED_TASTE", "ROUND_METRICS", "LoopRun", "Round", "catalogue_coverage", "clipped_estimates",
           "effective_sample_size", "exposure_gini", "fork", "found_share", "hated_share", "impressions_since",
           "logged_recall", "oracle_lists", "per_user_true_recall", "round_metrics", "round_table", "run_loop",
           "top_lists"]

HATED_TASTE = -2.0  # a genre the user strongly dislikes: hidden taste below this (notebook 05's rule)
ROUND_METRICS = ("chosen_utility", "likes_per_feed", "views_per_feed", "found", "true_recall", "logged_recall",
                 "gini", "coverage", "hated_share")


# ---- the world, forked ----------------------------------------------------------------------------
def fork(world: World) -> World:
    """A copy of `world` that `run_days(append=True)` can extend without changing `world`.

    Cheap: the side tables, the hidden truth and every log column are shared, not copied.
    `run_days` never writes into an existing column; it replaces each log table by a longer one,
    on the fork only."""
    twin = copy.copy(world)
    for name in ("sessions", "impressions", "views", "searches"):
        setattr(twin, name, dict(getattr(world, name)))
    return twin


# ---- measures of one round ------------------------------------------------------------------------
def exposure_gini(counts) -> float:
    """Gini coefficient of non-negative counts (impressions per item): 0 when every item has the
    same count, (n - 1) / n when one item has everything. Sorted formula:
    G = sum_i (2i - n - 1) x_(i) / (n sum x), x ascending, i = 1..n."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return 0.0
    return float(((2 * np.arange(1, n + 1) - n - 1) * x).sum() / (n * total))


def catalogue_coverage(items, n_items: int, eligible=None) -> float:
    """Share of the catalogue (or of the `eligible` items, a bool mask) shown at least once in `items`."""
    shown = np.zeros(n_items, dtype=bool)
    shown[np.asarray(items, dtype=np.int64)] = True
    eligible = np.ones(n_items, dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    return float(shown[eligible].mean()) if eligible.any() else float("nan")


def hated_share(world: World, users, items) -> float:
    """Share of (user, item) pairs whose item is from a genre the user strongly dislikes."""
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    if len(users) == 0:
        return float("nan")
    return float((world.taste[users, world.items["genre_index"][items]] < HATED_TASTE).mean())


def top_lists(model, users, k: int, world: World | None = None, log: Interactions | None = None,
              released_before: float | None = None) -> np.ndarray:
    """(len(users), k) the model's top k for each user (`model.recommend(users, k)`, which leaves out
    the items of its own training log), also leaving out items viewed in `log` (a model deployed on
    a longer log than it was trained on never shows what the user has viewed since) and, given
    `world`, items not yet released at `released_before`."""
    users = np.asarray(users, dtype=np.int64)
    masks = []
    if log is not None:
        masks.append(log.to_csr(binary=True))
    if world is not None and released_before is not None:
        unreleased = world.items["release_time"] >= released_before
        if unreleased.any():
            masks.append(sp.csr_matrix(np.broadcast_to(unreleased, (world.n_users, world.n_items)).astype(np.float32)))
    exclude = sum(masks[1:], masks[0]).tocsr() if masks else None
    return model.recommend(users, k=k, exclude=exclude)


def per_user_true_recall(lists, truth, k: int) -> np.ndarray:
    """(n,) each user's true recall@k: |top k of `lists` among `truth`| / (columns of `truth`);
    the mean is `lineage.metrics.true_recall_at_k`. Per user, for paired intervals (`lineage.evidence`)."""
    lists, truth = np.asarray(lists)[:, :k], np.asarray(truth)
    hits = (lists[:, :, None] == truth[:, None, :]) & (lists[:, :, None] >= 0)
    return hits.any(axis=1).sum(axis=1) / truth.shape[1]


def logged_recall(lists, users, views_users, views_items, n_items: int, k: int) -> float:
    """Mean recall@k of `lists` (rows for `users`) against the items each user viewed in a log part,
    over users who viewed something there."""
    users, views_users = np.asarray(users, dtype=np.int64), np.asarray(views_users, dtype=np.int64)
    row_of = np.full(max(users.max(initial=-1), views_users.max(initial=-1)) + 1, -1, dtype=np.int64)
    row_of[users] = np.arange(len(users))
    rows = row_of[views_users]
    keep = rows >= 0
    relevant = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], np.asarray(views_items)[keep])),
                             shape=(len(users), n_items))
    relevant.data[:] = 1.0  # a user viewing an item twice (not in the world) counts once
    recall = per_user_metrics(np.asarray(lists), relevant, k)["recall"]
    return float(np.nanmean(recall)) if np.isfinite(recall).any() else float("nan")


def found_share(world: World, users, k: int, before: float, best: np.ndarray | None = None) -> float:
    """Mean over `users` of the share of their true top k (items released before `before`, viewed or
    not) that they have viewed before `before`, in `world`'s log: how much of the best of the
    catalogue each user has found so far. `best`: that top k if already computed."""
    users = np.asarray(users, dtype=np.int64)
    best = world.true_top_items(users, k, released_before=before) if best is None else best  # (n, k)
    v = world.views
    early = v["time"] < before
    viewed = np.unique(v["user"][early].astype(np.int64) * world.n_items + v["item"][early])
    keys = users[:, None] * world.n_items + best
    hit = np.isin(keys, viewed) & (best >= 0)
    return float(hit.mean()) if len(users) else float("nan")


def oracle_lists(world: World, users, k: int, log: Interactions, start: float, end: float,
                 chunk_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(unviewed, best), both (len(users), k), from one pass over the utility oracle: the true top k
    among items released before `start` that the user has not viewed in `log` (true recall's target;
    `world.true_top_items(users, k, start, exclude=log.to_csr())`), and among every item released
    before `end` (`world.true_top_items(users, k, end)`, the `found_share` target)."""
    users = np.asarray(users, dtype=np.int64)
    seen, release = log.to_csr(), world.items["release_time"]
    unviewed, best = np.full((len(users), k), -1, np.int64), np.full((len(users), k), -1, np.int64)
    for s in range(0, len(users), chunk_size):
        chunk = users[s:s + chunk_size]
        utility = world.utility(chunk)
        utility[:, release >= end] = -np.inf
        top = top_k(utility, k)
        best[s:s + len(chunk), :top.shape[1]] = top
        utility[:, release >= start] = -np.inf
        mask_items(utility, seen[chunk])
        top = top_k(utility, k)
        unviewed[s:s + len(chunk), :top.shape[1]] = top
    return unviewed, best


def round_metrics(world: World, model, log: Interactions, part: LogPart, k: int = 10) -> dict[str, float]:
    """The `ROUND_METRICS` of one round: `model` was fitted on `log` (every view before the round) and
    deployed for the days of `part`; `world` holds the round's days (and possibly later ones)."""
    feed_sessions = part.sessions["kind"] == "feed"
    users = np.unique(part.sessions["user"][feed_sessions])  # the users the deployed feed served
    imp, views = part.impressions, part.views
    feed_imp, feed_views = imp["source"] == "feed", views["source"] == "feed"
    released = world.items["release_time"] < part.end_time

    lists = top_lists(model, users, k, world=world, log=log, released_before=part.start_time)
    truth, best = oracle_lists(world, users, k, log, part.start_time, part.end_time)
    counts = np.bincount(imp["item"][feed_imp], minlength=world.n_items)[released]
    n_feeds = max(int(feed_sessions.sum()), 1)
    return {
        "chosen_utility": float(world.pair_utility(views["user"][feed_views], views["item"][feed_views]).mean())
        if feed_views.any() else float("nan"),
        "likes_per_feed": float(views["liked"][feed_views].sum() / n_feeds),
        "views_per_feed": float(feed_views.sum() / n_feeds),
        "found": found_share(world, users, k, part.end_time, best),
        "true_recall": true_recall_at_k(lists, truth, k),
        "logged_recall": logged_recall(lists, users, views["user"], views["item"], world.n_items, k),
        "gini": exposure_gini(counts),
        "coverage": catalogue_coverage(imp["item"][feed_imp], world.n_items, released),
        "hated_share": hated_share(world, imp["user"][feed_imp], imp["item"][feed_imp]),
    }


# ---- the loop -------------------------------------------------------------------------------------
@dataclass
class Round:
    """One round of the loop: the model fitted on the log before it, the policy it was deployed as,
    the days it logged, and its measures."""

    index: int
    model: Any  # fitted on every view before the round
    policy: str  # the feed policy's name
    part: LogPart  # the round's new rows (appended to the run's world)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of "fit", "log" (run_days), "measure"


@dataclass
class LoopRun:
    """One arm of the loop: its own world (the fork, every round appended) and its rounds."""

    name: str
    world: World
    rounds: list[Round]

    def series(self, metric: str) -> np.ndarray:
        """(rounds,) one measure, round by round."""
        return np.array([r.metrics[metric] for r in self.rounds])

    @property
    def start_time(self) -> float:
        """When the loop's first round began (the end of the world it forked)."""
        return self.rounds[0].part.start_time

    def served_users(self) -> np.ndarray:
        """Users with at least one session in some round, ascending."""
        return np.unique(np.concatenate([r.part.sessions["user"] for r in self.rounds]))

    def skipped_impressions(self) -> tuple[np.ndarray, np.ndarray]:
        """(users, items) of the loop's feed impressions that were not chosen, every round."""
        parts = [r.part.impressions for r in self.rounds]
        skipped = [~imp["chosen"] & (imp["source"] == "feed") for imp in parts]
        return (np.concatenate([imp["user"][s] for imp, s in zip(parts, skipped)]),
                np.concatenate([imp["item"][s] for imp, s in zip(parts, skipped)]))

    def rows(self) -> list[dict]:
        """One flat dict per round: arm, round, policy and every measure."""
        return [{"arm": self.name, "round": r.index, "policy": r.policy, **r.metrics} for r in self.rounds]


def run_loop(world: World, fit: Callable[[Interactions], Any], policy_for: Callable[[Any], FeedPolicy | None],
             rounds: int = 4, days: int = 7, seed: int = 0, name: str | None = None, refit: bool = True,
             k: int = 10, measure: bool = True) -> LoopRun:
    """Play the feedback loop on a fork of `world` (which stays as it was).

    Each round: `fit(log)` on every view so far (`world.interactions()` of the fork) returns a fitted
    recommender; `policy_for(model)` turns it into a feed policy (None: the app's built-in feed);
    `run_days(policy, days, seed)` logs the round's days and appends them. With refit=False the
    first model is deployed in every round (a model nobody retrains). `measure`: compute
    `round_metrics` for each round (else `Round.metrics` stays empty)."""
    if rounds < 1 or days < 1:
        raise ValueError(f"run_loop: rounds and days must be positive, got rounds={rounds}, days={days}")
    arm = fork(world)
    out, model = [], None
    for index in range(rounds):
        clock = time.perf_counter()
        log = arm.interactions()
        fitted = model is None or refit
        if fitted:
            model = fit(log)
        seconds = {"fit": time.perf_counter() - clock if fitted else 0.0}
        clock = time.perf_counter()
        part = arm.run_days(policy_for(model), days=days, seed=seed)
        seconds["log"] = time.perf_counter() - clock
        clock = time.perf_counter()
        metrics = round_metrics(arm, model, log, part, k) if measure else {}
        seconds["measure"] = time.perf_counter() - clock
        out.append(Round(index=index, model=model, policy=part.policy, part=part, metrics=metrics, seconds=seconds))
    return LoopRun(name=name or out[0].policy, world=arm, rounds=out)


def impressions_since(world: World, start: float) -> World:
    """A fork of `world` whose feed impressions before `start` are dropped (views, searches and
    search impressions kept): e.g. to train on the skipped impressions of a loop's own feeds only
    (`twotower_mini.features.SideLog.from_world(impressions_since(arm.world, loop_start))`)."""
    twin = fork(world)
    imp = world.impressions
    keep = (imp["source"] != "feed") | (imp["time"] >= start)
    twin.impressions = {name: column[keep] for name, column in imp.items()}
    return twin


# ---- off-policy diagnostics -----------------------------------------------------------------------
def effective_sample_size(weights) -> float:
    """Kish's effective sample size of importance weights, (sum w)^2 / sum w^2: n when every weight
    is equal, 1 when one weight carries everything. Divided by n, the share of the log that still
    counts once the weights are applied."""
    w = np.asarray(weights, dtype=np.float64)
    square = float((w ** 2).sum())
    return float(w.sum() ** 2 / square) if square > 0 else 0.0


def clipped_estimates(data, caps, resamples: int = 1000, seed: int = 0) -> list:
    """`lineage.offpolicy.clipped_ips` at each cap (np.inf: plain IPS), each an `Estimate` with its
    bootstrap interval over users: what clipping the weights trades (variance for a downward bias)."""
    out = []
    for cap in caps:
        numerator, denominator = clipped_ips(data, cap)
        value, low, high = ratio_interval(numerator, denominator, data.users, resamples=resamples, seed=seed)
        out.append(Estimate(f"clipped at {cap:g}", value, low, high, data.n_requests, len(np.unique(data.users))))
    return out


def round_table(runs: list[LoopRun], metrics=ROUND_METRICS) -> str:
    """The runs' measures as a text table, one line per (arm, round)."""
    header = f"{'arm':<14} {'round':>5} " + " ".join(f"{m:>14}" for m in metrics)
    lines = [header]
    for run in runs:
        for r in run.rounds:
            lines.append(f"{run.name:<14} {r.index:>5} " + " ".join(f"{r.metrics[m]:>14.4f}" for m in metrics))
    return "\n".join(lines)
