"""Feed policies: what the app shows a user who opens the feed.

A policy turns a batch of feed requests (the users arriving, the time, what each has already
viewed) into feeds of `impressions_per_session` slots. The world calls it once per round of
sessions (each user at most once per batch), plays the users' choices and logs the result:

    class FeedPolicy:
        name: str
        def start_day(self, day: DayStart, rng) -> None        # optional, once a day before any feed
        def feed(self, requests: FeedRequests, rng) -> (items, propensities)
            # items: (n, slots) int64 item indices, -1 = empty slot
            # propensities: (n, slots) float64, P(item in this feed), or None when unknown
        def inclusion(self, requests, rng) -> (n, n_items)     # P(item in feed), for off-policy evaluation

    world.run_days(ModelPolicy(model, temperature=0.5), days=7, seed=0)   # log a week with a model

The policies here:

- `BuiltinFeed`, the app's own feed that generated the world's log: popular/trending slots mixed
  with personalised slots from a noisy estimate of each user's taste. Its propensities are not
  recorded (a mixture with replacement, repeats and viewed items skipped: no simple form).
- `ModelPolicy`, any fitted recommender as a feed: greedy top slots, Plackett-Luce sampling over
  its scores (`temperature`), or greedy slots with an `epsilon` share of uniform ones.
- `UniformFeed`, every allowed item equally likely: the ideal logger for off-policy evaluation.

Every policy must show distinct items, released before the request, that the user has not
viewed; the world checks each feed and refuses one that breaks these rules.

**The propensity a log records** (column `propensity` of `world.impressions`, for feed rows of days
logged with `World.run_days`) is the *marginal inclusion probability* of the shown item,

    pi(i in feed | request) = P(item i is one of the feed's shown slots),

over the policy's own randomness, given the request (user, time, items viewed before), whatever the
position and whatever else is shown. When the reward is per item (a like of item i), item-level
importance weighting needs exactly this: E_old[sum over shown i of r_i pi_new(i) / pi_old(i)] =
sum_i pi_new(i) E[r_i], the new policy's expected reward per feed, provided every item the new
policy can show has pi_old(i) > 0 and an item's reward does not depend on the rest of the feed.
This is the item-position-independent ("independent items") estimator of slate logging (Li, Kim &
Zitouni 2015, "Counterfactual estimation and optimization of click metrics in search engines";
Swaminathan et al. 2017, "Off-policy evaluation for slate recommendation", which treat the exact
slate propensity as hopeless: the probability of one ordered slate is a product of S small
factors and no other policy ever shows the same slate), and the per-item propensity of unbiased
learning-to-rank (Joachims, Swaminathan & Schnabel 2017). In *this* world the assumption is only
approximate: a user takes at most one or two items and compares them with each other, with
leaving, and with a position bias, so an item's chance of a like depends on its neighbours.

Plackett-Luce sampling (each slot draws an item with probability proportional to exp(score / T)
among those not yet drawn, i.e. the top S of score / T + Gumbel noise: Yellott 1977; Kool, van
Hoof & Welling 2019) has no closed form for the marginal inclusion of S slots. `ModelPolicy`
computes it exactly by enumerating the C!/(C-S)! ordered feeds when the shortlist C is small (at
most `EXACT_LIMIT`), and otherwise estimates it by conditional Monte Carlo with `draws` (D = 32)
Gumbel draws per request from the run's seeded policy stream (`plackett_luce_inclusion_mc`): the
estimate is unbiased for p and positive for every shortlisted item. Its error, measured against
exact enumeration and against D = 4096 (C = 100, S = 8): a relative standard error of about 6%
per item at D = 32 (4% at D = 64; counting how often an item appears in D + 1 = 33 feeds gives
30-110%), errors shared by a request's items (they share the draws), so a row of estimates sums
to S only on average (within about 5%, at most 16% on 100 rows); 1/p, the importance weight, is
biased up by about (relative error)^2, +0.5% to +3% measured. Exact policies (`UniformFeed`, the
epsilon and greedy `ModelPolicy`, Plackett-Luce on small shortlists) record exact values.
"""
from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from math import comb, perm
from typing import Any

import numpy as np

from lineage.topk import top_k
from lineage.world.config import DAY

EXACT_LIMIT = 5040  # Plackett-Luce inclusion is enumerated exactly up to this many ordered feeds (C!/(C-S)!)


# ---- the requests a policy answers --------------------------------------------------------------
@dataclass(frozen=True)
class FeedRequests:
    """A batch of feed requests: one row per feed session, each user at most once.

    `viewed*` read the items each user had viewed before the request; `allowed_mask` is what a
    policy may show: released before the request and not viewed."""

    world: Any  # lineage.world.World (its observable tables; the built-in feed also reads hidden truth)
    users: np.ndarray  # (n,) int64 user indices
    times: np.ndarray  # (n,) float64 session start times
    sessions: np.ndarray  # (n,) int64 session ids (rows of world.sessions)
    n_slots: int  # feed slots to fill
    history: Any  # answers viewed(users, sessions, items) and viewed_mask(users, sessions)

    def __len__(self) -> int:
        return len(self.users)

    def viewed(self, items: np.ndarray) -> np.ndarray:
        """(n, k) items (-1 = none) -> (n, k) bool: the row's user viewed it before the request."""
        items = np.asarray(items)
        hit = self.history.viewed(np.broadcast_to(self.users[:, None], items.shape),
                                  np.broadcast_to(self.sessions[:, None], items.shape), np.maximum(items, 0))
        return hit & (items >= 0)

    def viewed_mask(self) -> np.ndarray:
        """(n, n_items) bool: items each user viewed before the request."""
        return self.history.viewed_mask(self.users, self.sessions)

    def released_mask(self) -> np.ndarray:
        """(n, n_items) bool: items released before the request."""
        return self.world.items["release_time"][None, :] < self.times[:, None]

    def allowed_mask(self) -> np.ndarray:
        """(n, n_items) bool: what a feed may show (released, not viewed)."""
        return self.released_mask() & ~self.viewed_mask()

    def subset(self, rows) -> "FeedRequests":
        return FeedRequests(self.world, self.users[rows], self.times[rows], self.sessions[rows],
                            self.n_slots, self.history)

    @classmethod
    def from_log(cls, world, sessions) -> "FeedRequests":
        """The requests of logged sessions, each seeing the views of the user's earlier sessions:
        exactly what the world's policy saw then (used to ask a new policy what it would have shown)."""
        sessions = np.asarray(sessions, dtype=np.int64)
        return cls(world, world.sessions["user"][sessions], world.sessions["time"][sessions], sessions,
                   world.config.impressions_per_session, _LoggedHistory(world))


class _LoggedHistory:
    """What each user had viewed before a given session: views of their sessions with a smaller id
    (session ids follow time, and a user's sessions are played in that order)."""

    def __init__(self, world):
        v = world.views
        self.n_items = world.n_items
        self.scale = int(v["session"].max()) + 2 if len(v["session"]) else 1  # key = user * scale + session
        order = np.lexsort((v["session"], v["user"]))
        self.item = v["item"][order]
        self.keys = v["user"][order] * self.scale + v["session"][order]  # sorted
        self.user_start = np.searchsorted(v["user"][order], np.arange(world.n_users + 1))

    def _ranges(self, users, sessions):
        """Rows [start, stop) of the sorted views that precede each (user, session)."""
        start = self.user_start[users]
        stop = np.searchsorted(self.keys, users.astype(np.int64) * self.scale + np.minimum(sessions, self.scale - 1))
        return start, stop

    def viewed_mask(self, users, sessions) -> np.ndarray:
        start, stop = self._ranges(np.asarray(users), np.asarray(sessions))
        counts = stop - start
        rows = np.repeat(np.arange(len(start)), counts)
        picks = np.repeat(start - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
        mask = np.zeros((len(start), self.n_items), dtype=bool)
        mask[rows, self.item[picks]] = True
        return mask

    def viewed(self, users, sessions, items) -> np.ndarray:
        users, sessions, items = (np.asarray(a) for a in (users, sessions, items))
        flat_u, flat_s = users.reshape(-1), np.minimum(sessions.reshape(-1), self.scale - 1)
        unique, inverse = np.unique(flat_u * self.scale + flat_s, return_inverse=True)
        mask = self.viewed_mask(unique // self.scale, unique % self.scale)
        return mask[inverse, items.reshape(-1)].reshape(items.shape)


@dataclass(frozen=True)
class DayStart:
    """What a policy may look at once a day, before the day's first feed."""

    world: Any
    day: int  # day index (0 = the log's first day)
    sessions: np.ndarray  # (b,) today's feed session ids, ascending
    users: np.ndarray  # (b,) their users
    views_per_day: np.ndarray  # (>= day, n_items) views of each item per earlier day (row d = day d)


# ---- the protocol -------------------------------------------------------------------------------
class FeedPolicy(ABC):
    """Base class of feed policies. Subclasses implement `feed` (and `inclusion` if they can)."""

    name = "policy"

    def start_day(self, day: DayStart, rng: np.random.Generator) -> None:
        """Called once per simulated day, before the day's first `feed`. Default: nothing."""

    @abstractmethod
    def feed(self, requests: FeedRequests, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """(items (n, n_slots) int64 with -1 for an empty slot, propensities (n, n_slots) or None).
        Every shown item must be distinct within its feed, released before the request and not
        viewed by the user (`requests.allowed_mask()`); the world refuses a feed that breaks this."""

    def inclusion(self, requests: FeedRequests, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, n_items) float64: P(item in the feed) for each request; rows sum to the feed size."""
        raise NotImplementedError(f"{type(self).__name__} cannot give its inclusion probabilities")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def fill_slots(candidates: np.ndarray, requests: FeedRequests, n_slots: int) -> np.ndarray:
    """Candidates (b, c) in preference order, -1 = none -> (b, n_slots) items, -1 = empty: the first
    n_slots candidates the user has not viewed, left-aligned."""
    b = len(candidates)
    valid = (candidates >= 0) & ~requests.history.viewed(requests.users[:, None], requests.sessions[:, None],
                                                         np.maximum(candidates, 0))
    slot = np.cumsum(valid, axis=1) - 1  # position each valid candidate takes
    keep = valid & (slot < n_slots)
    items = np.full((b, n_slots), -1, dtype=np.int64)
    r, col = np.nonzero(keep)
    items[r, slot[r, col]] = candidates[r, col]
    return items


# ---- the app's own feed -------------------------------------------------------------------------
class _Sampler:
    """Inverse-CDF sampling of items, globally or within a genre, from per-item weights."""

    def __init__(self, weights: np.ndarray, genre: np.ndarray, n_genres: int):
        self.total_cdf = np.cumsum(weights)
        self.order = np.argsort(genre, kind="stable")  # items grouped by genre
        self.cdf = np.cumsum(weights[self.order])
        ends = np.searchsorted(genre[self.order], np.arange(n_genres), side="right")
        starts = np.concatenate([[0], ends[:-1]])
        self.below = np.where(starts > 0, self.cdf[np.maximum(starts - 1, 0)], 0.0)  # mass before genre
        self.mass = np.where(ends > 0, self.cdf[np.maximum(ends - 1, 0)], 0.0) - self.below

    def anywhere(self, u: np.ndarray) -> np.ndarray:
        """u: uniforms in [0,1) -> item indices drawn proportionally to weight."""
        idx = np.searchsorted(self.total_cdf, u * self.total_cdf[-1], side="right")
        return np.minimum(idx, len(self.total_cdf) - 1)

    def in_genre(self, genre: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Items drawn within the given genres (same shape as u); -1 where a genre has no mass."""
        idx = np.searchsorted(self.cdf, self.below[genre] + u * self.mass[genre], side="right")
        items = self.order[np.minimum(idx, len(self.order) - 1)]
        return np.where(self.mass[genre] > 0, items, -1)


def first_occurrences(rows: np.ndarray) -> np.ndarray:
    """(b, c) -> bool mask, False where a value repeats an earlier one in the same row."""
    order = np.argsort(rows, axis=1, kind="stable")
    ordered = np.take_along_axis(rows, order, axis=1)
    repeat_sorted = np.zeros(rows.shape, dtype=bool)
    repeat_sorted[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
    repeat = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    return ~repeat


class BuiltinFeed(FeedPolicy):
    """The app's own feed (the logging policy of the generated log). Each slot is popular (buzz +
    last week's views + a boost for new releases) or, with probability `policy_personal_share`,
    personalised: a genre from a noisy estimate of the user's taste, then an item of that genre
    weighted by buzz and a noisy estimate of quality. Repeats and viewed items are skipped.

    `BuiltinFeed(world, rng)` draws the noisy estimates from rng (the generator does this first
    thing on its log stream); `BuiltinFeed.of(world)` rebuilds the very estimates the world's log
    was made with, to continue the log with the same app."""

    name = "builtin"

    def __init__(self, world, rng: np.random.Generator):
        cfg, items = world.config, world.items
        self.n_genres = len(world.genres)
        # the policy's fixed, noisy estimates (an earlier model's view of users and items)
        policy_taste = world.taste + rng.normal(0, cfg.policy_taste_noise, world.taste.shape)
        genre_logits = policy_taste / cfg.policy_temperature
        genre_probs = np.exp(genre_logits - genre_logits.max(axis=1, keepdims=True))
        self.genre_cdf = np.cumsum(genre_probs / genre_probs.sum(axis=1, keepdims=True), axis=1)  # (n_users, g)
        quality_estimate = items["quality"] + rng.normal(0, cfg.policy_quality_noise, world.n_items)
        self.personal_weight = items["buzz"] ** cfg.policy_buzz_exponent * np.exp(quality_estimate)
        self.buzz_share = items["buzz"] / items["buzz"].sum()
        self._sessions = np.empty(0, dtype=np.int64)
        self._candidates = np.empty((0, 0), dtype=np.int64)

    @classmethod
    def of(cls, world) -> "BuiltinFeed":
        """The built-in feed with the estimates it had while generating `world` (same seed stream)."""
        log_stream = np.random.SeedSequence(world.config.seed).spawn(4)[3]  # as in generate_world
        return cls(world, np.random.default_rng(log_stream))

    def start_day(self, day: DayStart, rng) -> None:
        """Draw every candidate of the day's feed sessions at once (viewed ones are skipped later)."""
        world, d = day.world, day.day
        cfg, items = world.config, world.items
        released = items["release_time"] < d * DAY
        age_days = d - items["release_time"] / DAY
        trending = day.views_per_day[max(0, d - cfg.trending_days):d].sum(axis=0)
        popular_weight = self.buzz_share + cfg.trending_weight * trending / max(1.0, trending.sum())
        popular_weight *= np.where(age_days < cfg.new_release_days, cfg.new_release_boost, 1.0)
        popular = _Sampler(popular_weight * released, items["genre_index"], self.n_genres)
        personal = _Sampler(self.personal_weight * released, items["genre_index"], self.n_genres)
        self._sessions = day.sessions
        self._candidates = self._draw_candidates(cfg, rng, day.users, popular, personal)

    def _draw_candidates(self, cfg, rng, users, popular: _Sampler, personal: _Sampler) -> np.ndarray:
        """(b, c) items in the order shown, -1 for a repeat. c > impressions_per_session leaves
        spares for already-viewed items."""
        k = cfg.impressions_per_session
        b, c = len(users), k + k // 2 + 2
        genre_cdf = self.genre_cdf
        from_popular = popular.anywhere(rng.random((b, c)))  # (b, c)
        genre = (rng.random((b, c, 1)) > genre_cdf[users][:, None, :]).sum(axis=2)  # (b, c) policy's genre
        from_personal = personal.in_genre(np.minimum(genre, genre_cdf.shape[1] - 1), rng.random((b, c)))
        personal_slot = (rng.random((b, c)) < cfg.policy_personal_share) & (from_personal >= 0)
        candidates = np.where(personal_slot, from_personal, from_popular)
        return np.where(first_occurrences(candidates), candidates, -1)

    def feed(self, requests: FeedRequests, rng) -> tuple[np.ndarray, None]:
        rows = np.searchsorted(self._sessions, requests.sessions)
        if len(rows) and not np.array_equal(self._sessions[np.minimum(rows, len(self._sessions) - 1)],
                                            requests.sessions):
            raise ValueError("BuiltinFeed.feed: a request is not one of today's feed sessions (start_day first)")
        return fill_slots(self._candidates[rows], requests, requests.n_slots), None


# ---- uniform ------------------------------------------------------------------------------------
class UniformFeed(FeedPolicy):
    """Every allowed item (released, not viewed) equally likely: propensity S / N exactly."""

    name = "uniform"

    def feed(self, requests: FeedRequests, rng) -> tuple[np.ndarray, np.ndarray]:
        allowed = requests.allowed_mask()
        keys = np.where(allowed, rng.random(allowed.shape), np.inf)
        few = min(requests.n_slots, keys.shape[1])
        items = np.argpartition(keys, few - 1, axis=1)[:, :few]  # the smallest keys, then in key order
        items = np.take_along_axis(items, np.argsort(np.take_along_axis(keys, items, axis=1), axis=1), axis=1)
        items = _pad(np.where(np.take_along_axis(allowed, items, axis=1), items, -1), requests.n_slots)
        p = np.minimum(1.0, requests.n_slots / np.maximum(allowed.sum(axis=1, keepdims=True), 1))
        return items, np.where(items >= 0, p, np.nan)

    def inclusion(self, requests: FeedRequests, rng=None) -> np.ndarray:
        allowed = requests.allowed_mask()
        return allowed * np.minimum(1.0, requests.n_slots / np.maximum(allowed.sum(axis=1, keepdims=True), 1))


# ---- a fitted recommender as a feed -------------------------------------------------------------
class ModelPolicy(FeedPolicy):
    """Any fitted recommender as a feed policy, with an exploration knob.

    model: has `score(users) -> (n, n_items)` (any `lineage.models` Recommender, the two-tower), or
        only `recommend(users, k, exclude_seen=False)`, whose ranks then serve as scores.
    temperature T > 0: Plackett-Luce, the feed is drawn without replacement from softmax(score / T)
        over the `shortlist` best allowed items (T in the model's score units; large T: uniform
        over the shortlist). Propensities: exact up to EXACT_LIMIT ordered feeds, else conditional
        Monte Carlo with `draws` Gumbel draws per request (see the module docstring).
    epsilon e > 0: each slot is, with probability e, a uniform draw among allowed items not
        otherwise shown (cold items included); the other slots take the best items in order.
        Propensities exact: the item ranked r among N allowed is in the feed with probability
        sum_k Binom(k; S, e) [r <= S - k  or else  k / (N - S + k)].
    both 0: greedy, the top S allowed items, propensity 1.

    Items the model cannot score (`scores_cold_items` False and no training events, as in
    `Recommender.recommend`) rank after all others and are never drawn by Plackett-Luce. Users it
    cannot score (`scores_cold_users` False, no training events) are scored by `fallback` if given."""

    def __init__(self, model, temperature: float = 0.0, epsilon: float = 0.0, shortlist: int = 100,
                 draws: int = 32, fallback=None, name: str | None = None, chunk_size: int = 1024):
        if temperature < 0 or not 0.0 <= epsilon <= 1.0:
            raise ValueError("ModelPolicy: temperature must be >= 0 and epsilon in [0, 1]")
        if temperature > 0 and epsilon > 0:
            raise ValueError("ModelPolicy: choose one exploration knob, temperature or epsilon")
        if shortlist < 1 or draws < 1:
            raise ValueError("ModelPolicy: shortlist and draws must be positive")
        self.model, self.fallback = model, fallback
        self.temperature, self.epsilon = float(temperature), float(epsilon)
        self.shortlist, self.draws, self.chunk_size = int(shortlist), int(draws), int(chunk_size)
        kind = (f"pl(T={temperature:g})" if temperature > 0 else f"eps={epsilon:g}" if epsilon > 0 else "greedy")
        self.name = name or f"{getattr(model, 'name', type(model).__name__)}-{kind}"

    # -- scores --
    def keys(self, requests: FeedRequests) -> np.ndarray:
        """(n, n_items) float64 ranking keys: the model's scores; UNSCORED (the lowest finite float)
        for allowed items it cannot score, so they rank last, by index; -inf for items the policy
        may not show (unreleased, viewed)."""
        n_items = requests.world.n_items
        users = requests.users
        keys = self._model_scores(self.model, users, n_items)
        if self.fallback is not None and not getattr(self.model, "scores_cold_users", True) \
                and hasattr(self.model, "known_users_"):
            cold = ~np.asarray(self.model.known_users_)[users]
            if cold.any():
                keys[cold] = self._model_scores(self.fallback, users[cold], n_items)
        keys[np.isnan(keys) | np.isneginf(keys)] = UNSCORED
        keys[~requests.allowed_mask()] = -np.inf
        return keys

    def _model_scores(self, model, users, n_items) -> np.ndarray:
        if hasattr(model, "score"):
            scores = np.array(model.score(users), dtype=np.float64)
        else:  # a ranking only: rank r scores -r
            top = np.asarray(model.recommend(users, k=n_items, exclude_seen=False))
            scores = np.full((len(users), n_items), -np.inf)
            rows, ranks = np.nonzero(top >= 0)
            scores[rows, top[rows, ranks]] = -ranks.astype(np.float64)
        if scores.shape != (len(users), n_items):
            raise ValueError(f"ModelPolicy: the model scores {scores.shape[-1]} items, the world has {n_items}")
        known = getattr(model, "known_items_", None)
        if known is not None and not getattr(model, "scores_cold_items", True):
            scores[:, ~np.asarray(known, dtype=bool)] = -np.inf
        return scores

    # -- feeds --
    def feed(self, requests: FeedRequests, rng) -> tuple[np.ndarray, np.ndarray]:
        parts = [self._feed_chunk(requests.subset(slice(s, s + self.chunk_size)), rng)
                 for s in range(0, len(requests), self.chunk_size)]
        if not parts:
            return np.empty((0, requests.n_slots), np.int64), np.empty((0, requests.n_slots))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _feed_chunk(self, requests, rng):
        keys, S = self.keys(requests), requests.n_slots
        if self.temperature > 0:
            shortlist, logits = self._shortlist(keys, S)
            picks = _pad(plackett_luce_sample(logits, S, rng), S)  # (n, S) columns of the shortlist, -1 = empty
            items = np.where(picks >= 0, np.take_along_axis(shortlist, np.maximum(picks, 0), axis=1), -1)
            p = np.take_along_axis(self._pl_inclusion(logits, S, rng), np.maximum(picks, 0), axis=1)
            return items, np.where(items >= 0, p, np.nan)
        top = _pad(top_k(keys, S), S)  # (n, S) the best allowed items, -1 = none
        if self.epsilon == 0:
            return top, np.where(top >= 0, 1.0, np.nan)
        return _epsilon_feed(keys, top, S, self.epsilon, rng)

    def inclusion(self, requests: FeedRequests, rng=None) -> np.ndarray:
        rng = rng if rng is not None else np.random.default_rng(0)
        out = []
        for s in range(0, len(requests), self.chunk_size):
            chunk = requests.subset(slice(s, s + self.chunk_size))
            keys, S = self.keys(chunk), chunk.n_slots
            if self.temperature > 0:
                shortlist, logits = self._shortlist(keys, S)
                p = np.zeros(keys.shape)
                rows, cols = np.nonzero(shortlist >= 0)
                p[rows, shortlist[rows, cols]] = self._pl_inclusion(logits, S, rng)[rows, cols]
            else:
                top = _pad(top_k(keys, S), S)
                n_allowed = np.isfinite(keys).sum(axis=1, keepdims=True)
                p = np.isfinite(keys) * epsilon_greedy_inclusion(S + 1, n_allowed, S, self.epsilon)  # below the top S
                rows, cols = np.nonzero(top >= 0)
                p[rows, top[rows, cols]] = epsilon_greedy_inclusion(cols + 1, n_allowed[rows, 0], S, self.epsilon)
            out.append(p)
        return np.concatenate(out) if out else np.zeros((0, requests.world.n_items))

    def _shortlist(self, keys, n_slots):
        """(n, C) the best items the model can score (-1 = none) and their logits score / T (-inf = none);
        C = max(shortlist, n_slots)."""
        shortlist = top_k(np.where(keys > UNSCORED, keys, -np.inf), max(self.shortlist, n_slots))
        top = np.where(shortlist >= 0, np.take_along_axis(keys, np.maximum(shortlist, 0), axis=1), -np.inf)
        best = top[:, :1] if top.shape[1] else np.zeros((len(top), 1))
        logits = np.where(shortlist >= 0, (top - np.where(np.isfinite(best), best, 0.0)) / self.temperature, -np.inf)
        return shortlist, logits

    def _pl_inclusion(self, logits, n_slots, rng):
        if perm(logits.shape[1], min(n_slots, logits.shape[1])) <= EXACT_LIMIT:
            return plackett_luce_inclusion_exact(logits, n_slots)
        return plackett_luce_inclusion_mc(logits, n_slots, rng, self.draws)


UNSCORED = np.finfo(np.float64).min  # ModelPolicy's key for an allowed item the model cannot score


def _pad(items: np.ndarray, n_slots: int) -> np.ndarray:
    """(n, <= n_slots) -> (n, n_slots), -1 in the missing slots (a catalogue smaller than a feed)."""
    missing = n_slots - items.shape[1]
    return np.pad(items, ((0, 0), (0, missing)), constant_values=-1) if missing > 0 else items


def _epsilon_feed(keys, top, n_slots, epsilon, rng):
    """Epsilon-greedy feeds, exact propensities. keys: (n, m) as ModelPolicy.keys; top: (n, S) the
    best allowed items. Each slot explores with probability epsilon; explored slots get a uniform
    draw (without replacement) among allowed items outside the greedy part, which is the top
    S - K items (K explored slots), shown in rank order in the other slots."""
    n, m = keys.shape
    S = n_slots
    allowed = np.isfinite(keys)
    n_allowed = allowed.sum(axis=1)
    size = np.minimum(S, n_allowed)  # (n,) slots that can be filled
    active = np.arange(S)[None, :] < size[:, None]
    explore = (rng.random((n, S)) < epsilon) & active
    greedy_count = size - explore.sum(axis=1)
    in_greedy = np.arange(S)[None, :] < greedy_count[:, None]
    pool = allowed.copy()  # uniform draws among allowed items not shown greedily
    rows, cols = np.nonzero(in_greedy)
    pool[rows, top[rows, cols]] = False
    u = np.where(pool, rng.random((n, m)), np.inf)
    few = min(S, m)
    drawn = np.argpartition(u, few - 1, axis=1)[:, :few]  # (n, few) the smallest keys, any order...
    drawn = np.take_along_axis(drawn, np.argsort(np.take_along_axis(u, drawn, axis=1), axis=1, kind="stable"), axis=1)
    greedy_slot = np.maximum(np.cumsum(active & ~explore, axis=1) - 1, 0)
    uniform_slot = np.maximum(np.cumsum(explore, axis=1) - 1, 0)
    items = np.where(explore, np.take_along_axis(drawn, uniform_slot, axis=1),
                     np.where(active, np.take_along_axis(top, greedy_slot, axis=1), -1))
    # rank of each shown item among the allowed ones: its place in `top`, or "below the top S"
    match = (items[:, :, None] == top[:, None, :]) & (items[:, :, None] >= 0)
    rank = np.where(match.any(axis=2), match.argmax(axis=2) + 1, S + 1)
    p = epsilon_greedy_inclusion(rank, n_allowed[:, None], S, epsilon)
    return items, np.where(active, p, np.nan)


def epsilon_greedy_inclusion(rank, n_allowed, n_slots: int, epsilon: float) -> np.ndarray:
    """P(the item ranked `rank` (1 = best) among n_allowed is in an epsilon-greedy feed of n_slots):
    K ~ Binom(S, e) slots explore, the top S - K ranks are shown, and K of the other N - S + K
    allowed items are drawn uniformly. Sums to S = min(n_slots, N) over the N allowed ranks."""
    rank, n_allowed = np.asarray(rank), np.asarray(n_allowed)
    size = np.minimum(n_slots, n_allowed)
    out = np.zeros(np.broadcast(rank, n_allowed).shape)
    for k in range(n_slots + 1):
        weight = np.where(k <= size, _binom_pmf(k, size, epsilon), 0.0)
        greedy = size - k
        rest = np.maximum(n_allowed - greedy, 1)
        out += weight * np.where(rank <= greedy, 1.0, k / rest)
    return np.where(rank <= n_allowed, out, 0.0)


def _binom_pmf(k: int, n, p: float) -> np.ndarray:
    """P(Binom(n, p) = k) for an array of n."""
    n = np.asarray(n)
    coef = np.array([comb(int(v), k) for v in np.ravel(n)], dtype=np.float64).reshape(n.shape)
    return np.where(k <= n, coef * p ** k * (1 - p) ** np.maximum(n - k, 0), 0.0)


# ---- Plackett-Luce ------------------------------------------------------------------------------
def plackett_luce_sample(logits: np.ndarray, n_slots: int, rng) -> np.ndarray:
    """(n, C) logits (-inf = not available) -> (n, S) column indices in draw order, -1 = empty.
    Sampling without replacement from softmax(logits) = the top S of logits + Gumbel noise."""
    keys = logits + rng.gumbel(size=logits.shape)
    order = np.argsort(-keys, axis=1, kind="stable")[:, :n_slots]
    return np.where(np.isfinite(np.take_along_axis(logits, order, axis=1)), order, -1)


def plackett_luce_inclusion_mc(logits: np.ndarray, n_slots: int, rng, draws: int) -> np.ndarray:
    """(n, C) conditional Monte Carlo estimate of P(column in the top S) under Plackett-Luce.

    Each of `draws` draws perturbs every logit with Gumbel noise; given the others' keys, item i
    is in the top S iff its own key beats t_i, the S-th best of the others (the S-th best overall
    if i is not in the top S, else the (S+1)-th), which happens with probability
    1 - exp(-exp(logit_i - t_i)). The estimate is the mean of that probability over the draws:
    unbiased, positive for every available item, and far less noisy than counting how often i is
    drawn (Rao-Blackwellisation)."""
    n, c = logits.shape
    finite = np.isfinite(logits)
    if n_slots >= c:
        return finite.astype(np.float64)
    out = np.zeros((n, c))
    block = max(1, 2_000_000 // (draws * c))  # requests per block: ~2M keys (8 MB) at a time
    for s in range(0, n, block):
        lg = logits[s:s + block].astype(np.float32)[:, None, :]  # (b, 1, C)
        u = rng.random((lg.shape[0], draws, c), dtype=np.float32)
        np.maximum(u, np.float32(1e-30), out=u)
        np.log(u, out=u)
        np.negative(u, out=u)
        np.log(u, out=u)  # u = -Gumbel
        keys = np.subtract(lg, u, out=u)  # (b, D, C) logit + Gumbel
        part = np.partition(keys, [c - n_slots - 1, c - n_slots], axis=2)
        kth, next_best = part[:, :, c - n_slots, None], part[:, :, c - n_slots - 1, None]
        threshold = np.where(keys >= kth, next_best, kth)  # the S-th best key among the others
        with np.errstate(invalid="ignore", over="ignore"):
            p = -np.expm1(-np.exp(lg - threshold))
        out[s:s + block] = np.where(finite[s:s + block, None, :], p, 0.0).mean(axis=1, dtype=np.float64)
    return out


def plackett_luce_inclusion_exact(logits: np.ndarray, n_slots: int) -> np.ndarray:
    """(n, C) exact P(column in the top S) of Plackett-Luce sampling, by enumerating every ordered
    feed (C!/(C-S)! of them): P(i1, ..., iS) = prod_k w_ik / (sum of w not yet drawn)."""
    n, c = logits.shape
    S = min(n_slots, c)
    finite = np.isfinite(logits)
    best = np.where(finite, logits, -np.inf).max(axis=1, keepdims=True) if c else np.zeros((n, 1))
    w = np.where(finite, np.exp(np.where(finite, logits - np.where(np.isfinite(best), best, 0.0), 0.0)), 0.0)
    feeds = np.array(list(itertools.permutations(range(c), S)), dtype=np.int64).reshape(-1, S)  # (T, S)
    prob = np.ones((n, len(feeds)))
    drawn = np.zeros((len(feeds), c))
    for k in range(S):
        remaining = w @ (1.0 - drawn).T  # (n, T) mass not yet drawn, summed directly (no cancellation)
        with np.errstate(invalid="ignore", divide="ignore"):
            prob *= np.nan_to_num(w[:, feeds[:, k]] / remaining)
        drawn[np.arange(len(feeds)), feeds[:, k]] = 1.0
    out = np.minimum(prob @ drawn, 1.0)  # (n, C): sum over the feeds holding each column (rounding: <= 1)
    few = finite.sum(axis=1) <= S  # everything available is shown
    out[few] = finite[few]
    return out
