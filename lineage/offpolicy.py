"""Off-policy evaluation: what would a new feed policy have earned, judged only from the log of
another policy whose propensities the log recorded?

A log of feeds is logged bandit feedback: for each request (a user opening the feed) we see the
items the old policy showed and the reward of each (1 for a liked view), never the reward of what
it did not show. The estimators below work *per item in the feed* (item-level, or
"independent items", off-policy evaluation): each shown item i carries its marginal inclusion
probability under the old policy, pi_old(i) = P(i in feed | request) (`lineage.world.policies`
explains why this is the propensity the world logs), and the new policy is asked for
pi_new(i | request). The value of a policy is its expected reward per feed request,

    V(new) = mean over requests of sum_i pi_new(i | request) * E[reward of i | request, i shown],

which the item-level estimators recover as long as (1) every item the new policy may show had
pi_old > 0 (support), and (2) an item's reward does not depend on what else is in the feed. In the
world, (2) holds only roughly: a user takes at most one or two items, comparing them with each
other, with leaving, and with a position bias; `online_value` measures the truth by running the
new policy, for comparison.

    part = world.run_days(ModelPolicy(old, temperature=0.5), days=7, seed=0)   # a logged week
    log = logged_feeds(world, part)                     # requests, shown items, rewards, propensities
    data = off_policy_data(log, ModelPolicy(new), reward_model=ItemRewardRate().fit(log))
    for estimate in evaluate(data).values():
        print(estimate)                                 # ips: 0.3120 [0.2950, 0.3300] (95%, ...)
    print(online_value(world.run_days(ModelPolicy(new), days=7, seed=0, append=False)))

Each estimator maps the data to per-request numerators and denominators, the estimate being
sum(numerator) / sum(denominator) (for all but SNIPS the denominator counts requests). Intervals
resample users (all of a user's requests together, since they are correlated) with the percentile
bootstrap of `lineage.evidence` (a ratio of means).

References: Horvitz & Thompson (1952); Precup, Sutton & Singh (2000), "Eligibility traces for
off-policy policy evaluation"; Strehl, Langford, Li & Kakade (2010), "Learning from logged implicit
exploration data"; Bottou et al. (2013), "Counterfactual reasoning and learning systems";
Dudik, Langford & Li (2011), "Doubly robust policy evaluation and learning"; Swaminathan &
Joachims (2015), "The self-normalized estimator for counterfactual learning"; Li, Kim & Zitouni
(2015) and Swaminathan et al. (2017), "Off-policy evaluation for slate recommendation" (item-level
and slate estimators).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lineage.evidence import DEFAULT_LEVEL, DEFAULT_RESAMPLES, paired_bootstrap
from lineage.world.policies import FeedPolicy, FeedRequests

__all__ = ["Estimate", "ItemRewardRate", "LoggedFeeds", "OffPolicyData", "clipped_ips", "direct_method",
           "doubly_robust", "evaluate", "ips", "logged_feeds", "naive", "off_policy_data", "online_value",
           "ratio_interval", "snips"]

REWARDS = ("liked", "view")  # the reward of a shown item: a liked view, or any view


# ---- the log ------------------------------------------------------------------------------------
@dataclass
class LoggedFeeds:
    """Logged feeds: one row per shown item, and the requests they answer."""

    requests: FeedRequests  # the logged feed requests, each with the user's history at the time
    request: np.ndarray  # (m,) row of `requests` each shown item belongs to
    item: np.ndarray  # (m,) the shown item
    reward: np.ndarray  # (m,) float: 1.0 for a liked view (or a view), else 0.0
    propensity: np.ndarray  # (m,) pi_old(item in feed | request), as logged

    @property
    def n_requests(self) -> int:
        return len(self.requests)


def _session_rewards(sessions, items, views, n_items: int, reward: str) -> np.ndarray:
    """(m,) reward of each (session, item) shown pair from a views table."""
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    good = views["liked"] if reward == "liked" else np.ones(len(views["item"]), dtype=bool)
    rewarded = np.sort(views["session"][good].astype(np.int64) * n_items + views["item"][good])
    keys = np.asarray(sessions, dtype=np.int64) * n_items + items
    pos = np.minimum(np.searchsorted(rewarded, keys), max(len(rewarded) - 1, 0))
    return (rewarded[pos] == keys).astype(np.float64) if len(rewarded) else np.zeros(len(keys))


def logged_feeds(world, part=None, reward: str = "liked") -> LoggedFeeds:
    """The feed requests of `part` (a `LogPart` appended to `world` by `run_days`; default: every
    feed session since the first one with a logged propensity), their shown items, rewards and
    propensities. Refuses feeds without propensities (the built-in feed's)."""
    kind = world.sessions["kind"]
    if part is not None:
        sessions = part.session_ids[kind[part.session_ids] == "feed"]
        if len(sessions) and sessions[-1] >= len(kind):
            raise ValueError("logged_feeds: the part was not appended to this world (run_days(append=True))")
    else:
        imp = world.impressions
        if "propensity" not in imp:
            raise ValueError("logged_feeds: this world's log has no propensities (log days with world.run_days)")
        logged = np.unique(imp["session"][(imp["source"] == "feed") & np.isfinite(imp["propensity"])])
        first = logged.min() if len(logged) else len(kind)
        sessions = np.flatnonzero(kind == "feed")
        sessions = sessions[sessions >= first]
    imp = world.impressions
    propensity = imp.get("propensity", np.full(len(imp["session"]), np.nan))
    rows = np.flatnonzero(np.isin(imp["session"], sessions) & (imp["source"] == "feed"))
    if not np.all(np.isfinite(propensity[rows])):
        raise ValueError("logged_feeds: some shown items have no logged propensity "
                         "(the built-in feed does not record them); log with a policy that does")
    request = np.searchsorted(sessions, imp["session"][rows])
    item = imp["item"][rows]
    return LoggedFeeds(requests=FeedRequests.from_log(world, sessions), request=request, item=item,
                       reward=_session_rewards(imp["session"][rows], item, world.views, world.n_items, reward),
                       propensity=propensity[rows].astype(np.float64))


class ItemRewardRate:
    """A small reward model for the direct method: P(reward | item shown) per item, the logged
    reward rate shrunk towards the overall rate by `prior` pseudo-impressions (not personal)."""

    def __init__(self, prior: float = 20.0):
        self.prior = prior

    def fit(self, log: LoggedFeeds) -> "ItemRewardRate":
        n_items = log.requests.world.n_items
        shown = np.bincount(log.item, minlength=n_items)
        rewarded = np.bincount(log.item, weights=log.reward, minlength=n_items)
        overall = rewarded.sum() / max(1, shown.sum())
        self.rate_ = (rewarded + self.prior * overall) / (shown + self.prior)
        return self

    def predict(self, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) expected reward of each item if shown."""
        return np.broadcast_to(self.rate_, (len(users), len(self.rate_)))


# ---- what the estimators need -------------------------------------------------------------------
@dataclass
class OffPolicyData:
    """Per shown item: its request, reward, logged propensity pi_old, the new policy's inclusion
    probability pi_new and the reward model's prediction. Per request: its user, the direct
    method's value sum_i pi_new(i) * predicted(i), and the new feed's expected size sum_i pi_new(i)."""

    request: np.ndarray  # (m,) int, request of each shown item
    reward: np.ndarray  # (m,)
    logging: np.ndarray  # (m,) pi_old(item in feed | request)
    target: np.ndarray  # (m,) pi_new(item in feed | request)
    predicted: np.ndarray  # (m,) reward model's prediction for the shown item
    direct: np.ndarray  # (n,) sum over all items of pi_new * predicted
    target_size: np.ndarray  # (n,) sum over all items of pi_new (the new feed's expected size)
    users: np.ndarray  # (n,) user of each request (the bootstrap resamples users)

    @property
    def n_requests(self) -> int:
        return len(self.users)

    def per_request(self, values: np.ndarray) -> np.ndarray:
        """Sum per-item values over each request's shown items: (m,) -> (n,)."""
        return np.bincount(self.request, weights=values, minlength=self.n_requests)


def off_policy_data(log: LoggedFeeds, policy: FeedPolicy, reward_model=None, seed: int = 0,
                    chunk_size: int = 1024) -> OffPolicyData:
    """Ask `policy` for its inclusion probabilities at every logged request (with each user's
    history at the time) and `reward_model` (`predict(users) -> (n, n_items)`; default: an
    `ItemRewardRate` fitted on the log) for the expected reward of every item."""
    reward_model = reward_model if reward_model is not None else ItemRewardRate().fit(log)
    rng = np.random.default_rng(seed)
    n = log.n_requests
    target, predicted = np.zeros(len(log.item)), np.zeros(len(log.item))
    direct, size = np.zeros(n), np.zeros(n)
    order = np.argsort(log.request, kind="stable")
    bounds = np.searchsorted(log.request[order], np.arange(0, n + chunk_size, chunk_size))
    for c, start in enumerate(range(0, n, chunk_size)):
        rows = slice(start, min(n, start + chunk_size))
        p_new = policy.inclusion(log.requests.subset(rows), rng)  # (c, n_items)
        r_hat = np.asarray(reward_model.predict(log.requests.users[rows]), dtype=np.float64)
        direct[rows], size[rows] = (p_new * r_hat).sum(axis=1), p_new.sum(axis=1)
        mine = order[bounds[c]:bounds[c + 1]]  # shown items of these requests
        local = log.request[mine] - start
        target[mine], predicted[mine] = p_new[local, log.item[mine]], r_hat[local, log.item[mine]]
    return OffPolicyData(request=log.request, reward=log.reward, logging=log.propensity, target=target,
                         predicted=predicted, direct=direct, target_size=size, users=log.requests.users)


# ---- the estimators: each returns per-request (numerator, denominator) ------------------------------
def naive(d: OffPolicyData):
    """The new policy's hits on the old log: the logged rewards of items it would also show (each
    counted with the probability it would show it), per feed. No correction for what the old
    policy chose to show: it favours policies that agree with the logger and undercounts the rest."""
    return d.per_request(d.reward * d.target), np.ones(d.n_requests)


def ips(d: OffPolicyData):
    """Inverse propensity scoring (Horvitz-Thompson; Precup et al. 2000; Strehl et al. 2010): each
    logged reward weighted by w = pi_new / pi_old. Unbiased when pi_old > 0 wherever pi_new > 0."""
    w = d.target / d.logging
    return d.per_request(d.reward * w), np.ones(d.n_requests)


def snips(d: OffPolicyData):
    """Self-normalised IPS (Swaminathan & Joachims 2015): divide by the weights' own sum, whose
    expectation per request is the new feed's size E[sum of w] = sum_i pi_new(i), instead of by the
    number of requests. V = (mean feed size) * sum(r * w) / sum(w): slightly biased, much less
    variance when some weights are large. (Here the feed size is known, not estimated.)"""
    w = d.target / d.logging
    return d.per_request(d.reward * w), d.per_request(w) / d.target_size.mean()


def clipped_ips(d: OffPolicyData, cap: float = 10.0):
    """IPS with every weight capped at `cap` (Bottou et al. 2013): less variance, biased down."""
    w = np.minimum(d.target / d.logging, cap)
    return d.per_request(d.reward * w), np.ones(d.n_requests)


def direct_method(d: OffPolicyData):
    """The direct method: the reward model's prediction of what the new feed earns (no weights;
    as good as the reward model)."""
    return d.direct, np.ones(d.n_requests)


def doubly_robust(d: OffPolicyData):
    """Doubly robust (Dudik, Langford & Li 2011): the direct method plus IPS on its errors,
    sum_i pi_new(i) r_hat(i) + sum over shown i of w (r - r_hat(i)). Unbiased if the propensities
    are right; low variance if the reward model is good."""
    w = d.target / d.logging
    return d.direct + d.per_request(w * (d.reward - d.predicted)), np.ones(d.n_requests)


ESTIMATORS = {"naive": naive, "ips": ips, "snips": snips, "clipped_ips": clipped_ips,
              "direct_method": direct_method, "doubly_robust": doubly_robust}


# ---- estimates with intervals -------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A policy value (reward per feed request) with a bootstrap interval over users."""

    name: str
    value: float
    low: float
    high: float
    n_requests: int
    n_users: int
    level: float = DEFAULT_LEVEL

    def __str__(self) -> str:
        return (f"{self.name}: {self.value:.4f} [{self.low:.4f}, {self.high:.4f}] ({self.level:.0%}, "
                f"{self.n_requests:,} feeds, {self.n_users:,} users)")


def ratio_interval(numerator, denominator, groups=None, resamples: int = DEFAULT_RESAMPLES,
                   level: float = DEFAULT_LEVEL, seed: int = 0) -> tuple[float, float, float]:
    """(sum(numerator) / sum(denominator), low, high), resampling `groups` (e.g. users: each
    group's rows together; default: every row its own group) with `lineage.evidence`'s percentile
    bootstrap of a ratio of means. With denominator = 1 per row it is a plain mean's interval."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    if groups is not None:
        _, groups = np.unique(groups, return_inverse=True)
        numerator, denominator = np.bincount(groups, numerator), np.bincount(groups, denominator)
    try:
        return paired_bootstrap(numerator, denominator, resamples=resamples, level=level, seed=seed, ratio=True)
    except ValueError:  # a denominator of 0 (no overlap between the policies): no estimate
        return float("nan"), float("nan"), float("nan")


def evaluate(d: OffPolicyData, cap: float = 10.0, resamples: int = DEFAULT_RESAMPLES,
             level: float = DEFAULT_LEVEL, seed: int = 0) -> dict[str, Estimate]:
    """Every estimator on the same data, each with a bootstrap interval over users."""
    out = {}
    for name, estimator in ESTIMATORS.items():
        num, den = estimator(d, cap) if estimator is clipped_ips else estimator(d)
        value, low, high = ratio_interval(num, den, d.users, resamples, level, seed)
        out[name] = Estimate(name, value, low, high, d.n_requests, len(np.unique(d.users)), level)
    return out


def online_value(part, reward: str = "liked", resamples: int = DEFAULT_RESAMPLES,
                 level: float = DEFAULT_LEVEL, seed: int = 0) -> Estimate:
    """The truth an estimate aims at: a policy's reward per feed request, measured by running it
    (`part = world.run_days(policy, days, seed, append=False)`), with an interval over users."""
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    feed = part.sessions["kind"] == "feed"
    sessions, users = part.session_ids[feed], part.sessions["user"][feed]
    v = part.views
    good = (v["source"] == "feed") & (v["liked"] if reward == "liked" else True)
    per_session = np.bincount(np.searchsorted(sessions, v["session"][good]), minlength=len(sessions))
    value, low, high = ratio_interval(per_session, np.ones(len(sessions)), users, resamples, level, seed)
    return Estimate(f"online ({part.policy})", value, low, high, len(sessions), len(np.unique(users)), level)
