"""The ranking stage's features: crossed, point-in-time features of (user, item, request time) pairs.

The ranker (`twotower_mini.ranker`: a logistic regression; `twotower_mini.gbdt_ranker`: LightGBM
LambdaRank) sees a few hundred retrieved candidates per request, so it can afford features that cross
the user and the item. Every count is taken over events strictly before the request time (lesson L6);
`FEATURE_NAMES` lists them (see the ranker module's docstring for what each one means).
`retrieval_features` adds what retrieval said about a logged pair as of its time (score and rank), and
draws the retrieved-but-unshown candidates used as extra negatives.
"""
from __future__ import annotations

import numpy as np

from lineage.data import Interactions, is_liked
from lineage.topk import top_k
from twotower_mini.features import DAY, EventIndex

FEATURE_NAMES = ("tower_score", "retrieval_rank", "item_views_1d", "item_views_7d", "item_views_28d",
                 "item_likes_7d", "item_age", "genre_affinity", "publisher_affinity", "language_affinity",
                 "language_match", "declared_genre", "times_skipped", "user_views")
TOWER_FEATURES = ("tower_score", "retrieval_rank")


def _distinct(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of `keys` (all in 0..size-1), ascending, and each key's position among them
    (np.unique(keys, return_inverse=True) without a sort)."""
    present = np.zeros(size, dtype=bool)
    present[keys] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[keys]


def _codes(column, n: int) -> np.ndarray | None:
    """A categorical side column -> (n,) int codes (multi-valued rows: their first value); None if absent."""
    if column is None:
        return None
    if isinstance(column, list):
        column = [row[0] if len(row) else "" for row in column]
    values = np.asarray(column).astype(str)
    if values.shape != (n,):
        return None
    return np.unique(values, return_inverse=True)[1].astype(np.int64)


class RankingFeatures:
    """Per-(user, item, time) ranking features from a training log and its impressions.

    train: the interactions (views) of the training period, with side information (world names:
    item "genre", "language", "publisher", "release_time"; user "languages", "declared_genres";
    missing columns give zero features). impressions: dict with "user", "item", "time", "chosen"
    (chosen impressions are views, so only the skipped ones are counted)."""

    def __init__(self, train: Interactions, impressions: dict | None = None):
        self.train = train
        n_users, n_items = train.n_users, train.n_items
        self.n_items = n_items
        items_side, users_side = train.item_features, train.user_features
        self.now = float(train.times.max()) + 1.0 if len(train) else 0.0
        self.views = EventIndex.counter(train.items, train.times)
        liked = is_liked(train.values)  # lineage.data's one definition of a like
        self.likes = EventIndex.counter(train.items[liked], train.times[liked])
        self.user_views = EventIndex.counter(train.users, train.times)
        self.groups = {}  # feature -> (item codes, number of codes, counter over (user, code))
        for feature, column in (("genre_affinity", "genre"), ("publisher_affinity", "publisher"),
                                ("language_affinity", "language")):
            codes = _codes(items_side.get(column), n_items)
            if codes is not None:
                n_codes = int(codes.max()) + 1
                pairs = train.users * n_codes + codes[train.items]  # (n,) (user, code) keys
                self.groups[feature] = (codes, n_codes, EventIndex.counter(pairs, train.times))
        release = items_side.get("release_time")
        self.release = None if release is None else np.asarray(release, dtype=np.float64)
        self.language_match = self._declared(users_side.get("languages"), items_side.get("language"), n_users)
        self.declared_genre = self._declared(users_side.get("declared_genres"), items_side.get("genre"), n_users)
        self.skips = None
        if impressions is not None:
            skipped = ~np.asarray(impressions["chosen"], dtype=bool)
            self.skips = EventIndex.counter(np.asarray(impressions["user"])[skipped] * n_items
                                            + np.asarray(impressions["item"])[skipped],
                                            np.asarray(impressions["time"])[skipped])

    @staticmethod
    def _declared(user_column, item_column, n_users):
        """A (user, item) -> bool test: the item's value is among the user's declared values."""
        if user_column is None or item_column is None:
            return None
        values, item_codes = np.unique(np.asarray(item_column).astype(str), return_inverse=True)
        index = {value: code for code, value in enumerate(values.tolist())}
        table = np.zeros((n_users, len(values)), dtype=bool)  # (n_users, distinct item values)
        for u, row in enumerate(user_column):
            for value in (row if isinstance(row, (tuple, list)) else (row,)):
                if str(value) in index:
                    table[u, index[str(value)]] = True
        return lambda users, items: table[users, item_codes[items]]

    def compute(self, users, items, times, tower_scores=None, ranks=None) -> np.ndarray:
        """(n, len(FEATURE_NAMES)) float32 features of the pairs (users[j], items[j]) as of times[j].

        times: (n,) or one time for all (serving: then each item, user and pair is counted once).
        tower_scores, ranks: (n,) the retrieval score and 0-based position of each pair (zeros if None)."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        n = len(users)
        out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
        column = {name: j for j, name in enumerate(FEATURE_NAMES)}
        if tower_scores is not None:
            out[:, column["tower_score"]] = tower_scores
        if ranks is not None:
            out[:, column["retrieval_rank"]] = np.log1p(ranks)
        if np.ndim(times) == 0:  # one request time: count per distinct item / user once, then spread
            t = float(times)
            item_keys, item_of = _distinct(items, self.n_items)
            user_keys, user_of = _distinct(users, self.train.n_users)
            item_t, user_t = np.full(len(item_keys), t), np.full(len(user_keys), t)
        else:
            item_keys, item_of, item_t = items, slice(None), np.asarray(times, dtype=np.float64)
            user_keys, user_of, user_t = users, slice(None), item_t
        for days in (1, 7, 28):
            views = self.views.count(item_keys, item_t - days * DAY, item_t)
            out[:, column[f"item_views_{days}d"]] = np.log1p(views)[item_of]
        out[:, column["item_likes_7d"]] = np.log1p(self.likes.count(item_keys, item_t - 7 * DAY, item_t))[item_of]
        if self.release is not None:
            age = np.maximum(item_t - self.release[item_keys], 0.0) / DAY
            out[:, column["item_age"]] = np.log1p(age)[item_of]
        past_views = self.user_views.count(user_keys, -np.inf, user_t)
        out[:, column["user_views"]] = np.log1p(past_views)[user_of]
        for feature, (codes, n_codes, counter) in self.groups.items():
            if np.ndim(times) == 0:  # a (distinct user, code) table
                table = counter.count((user_keys[:, None] * n_codes + np.arange(n_codes)).ravel(), -np.inf, t)
                share = (table.reshape(len(user_keys), n_codes) / np.maximum(past_views, 1.0)[:, None])
                out[:, column[feature]] = share[user_of, codes[items]]
            else:
                in_group = counter.count(users * n_codes + codes[items], -np.inf, user_t)
                out[:, column[feature]] = in_group / np.maximum(past_views, 1.0)
        if self.language_match is not None:
            out[:, column["language_match"]] = self.language_match(users, items)
        if self.declared_genre is not None:
            out[:, column["declared_genre"]] = self.declared_genre(users, items)
        if self.skips is not None:
            skipped = self.skips.count(users * self.n_items + items, -np.inf, times)
            out[:, column["times_skipped"]] = np.log1p(skipped)
        return out


# ---- retrieval scores as of a past time (for the ranker's training rows) --------------------------
class TowerScores:
    """Two-tower scores of users against the catalogue, as of given request times (point-in-time).

    User vectors use features as of each request time; item vectors use features as of the start of
    that day (one export per day, cached). Scores are raw dot products of the vectors, exactly what
    an index over the exported item vectors returns (no temperature)."""

    def __init__(self, towers):
        self.towers = towers  # FittedTowers
        self.n_items = towers.features.train.n_items
        self._items_by_day: dict[float, np.ndarray] = {}

    def item_vectors(self, day_start: float) -> np.ndarray:
        if day_start not in self._items_by_day:
            self._items_by_day[day_start] = self.towers.item_vectors(at_time=day_start)
        return self._items_by_day[day_start]

    def __call__(self, users, times) -> np.ndarray:
        """(n, n_items) float32 scores of each user as of their time."""
        users = np.asarray(users, dtype=np.int64)
        times = np.asarray(times, dtype=np.float64)
        out = np.empty((len(users), self.n_items), dtype=np.float32)
        days = np.floor(times / DAY) * DAY
        for day in np.unique(days):
            rows = np.flatnonzero(days == day)
            vectors = self.towers.user_vectors(users[rows], times[rows])  # (r, D)
            out[rows] = vectors @ self.item_vectors(float(day)).T
        return out


def distinct_requests(users, times):
    """Distinct (user, time) requests of some rows, and each row's request."""
    pairs = np.stack([np.asarray(users, dtype=np.float64), np.asarray(times, dtype=np.float64)], axis=1)
    requests, row_of = np.unique(pairs, axis=0, return_inverse=True)
    return requests[:, 0].astype(np.int64), requests[:, 1], row_of.ravel()


def _scored_requests(retrieval, train: Interactions, users, times, release=None, block: int = 2048):
    """Yield (first request, scores (b, n_items)) blocks: retrieval scores as of each request, with the
    items retrieval would not return then (not released yet, or seen by the user before) at -inf."""
    views = EventIndex(train.users, train.times, train.items, train.n_users)  # each user's views, by time
    for start in range(0, len(users), block):
        u, t = users[start:start + block], times[start:start + block]
        scores = np.asarray(retrieval(u, t), dtype=np.float32)  # (b, n_items)
        if release is not None:
            scores[release[None, :] > t[:, None]] = -np.inf
        rows, positions = views.events_before(u, t)  # every view of each request's user before its time
        scores[rows, views.values[positions]] = -np.inf
        yield start, scores


def retrieval_features(retrieval, train: Interactions, users, times, items, release=None, unshown: int = 0,
                       pool: int = 100, seed: int = 0):
    """What retrieval said about logged (user, item, time) rows, as of each row's time.

    Returns (scores, ranks, unshown_rows): the retrieval score of each pair and the item's 0-based rank
    among the items retrieval would return then (released by then, not seen by the user before then);
    with unshown > 0, also the items retrieval would have offered but the app did not show: per (user,
    time) request up to `unshown` items drawn from retrieval's top `pool`, minus the items shown in that
    request, as (users, items, times, scores, ranks) arrays (else None).

    retrieval: callable (users, times) -> (n, n_items) scores (e.g. TowerScores). Rows sharing
    (user, time), such as the impressions of one session, are scored once."""
    items = np.asarray(items, dtype=np.int64)
    request_users, request_times, row_of = distinct_requests(users, times)
    n_items = train.n_items
    pair_scores, ranks = np.empty(len(items), np.float32), np.empty(len(items), np.float64)
    by_request = np.argsort(row_of, kind="stable")
    bounds = np.searchsorted(row_of[by_request], np.arange(len(request_users) + 1))
    shown = np.unique(row_of * n_items + items)  # (request, item) keys of the logged rows
    rng = np.random.default_rng(seed)
    extra = ([], [], [], [], [])
    for start, scores in _scored_requests(retrieval, train, request_users, request_times, release):
        b = len(scores)
        rows = by_request[bounds[start]:bounds[start + b]]
        local = row_of[rows] - start
        own = scores[local, items[rows]]  # (r,)
        pair_scores[rows] = own
        ranks[rows] = (scores[local] > own[:, None]).sum(axis=1)
        if not unshown:
            continue
        top = top_k(scores, pool)  # (b, pool) best first; -1 where the score is -inf
        keys = (start + np.arange(b))[:, None] * n_items + top
        at = np.minimum(np.searchsorted(shown, keys), len(shown) - 1)
        top_scores = np.take_along_axis(scores, np.maximum(top, 0), axis=1)
        allowed = (top >= 0) & np.isfinite(top_scores) & (shown[at] != keys)
        lottery = np.where(allowed, rng.random(top.shape), -1.0)  # a random draw among allowed slots
        drawn = np.sort(top_k(lottery, unshown), axis=1)  # (b, m) ranks
        keep = np.take_along_axis(allowed, drawn, axis=1)
        drawn_rows = np.broadcast_to(np.arange(b)[:, None], drawn.shape)[keep]
        drawn_items = np.take_along_axis(top, drawn, axis=1)[keep]
        for values, column in zip(extra, (request_users[start + drawn_rows], drawn_items,
                                          request_times[start + drawn_rows], scores[drawn_rows, drawn_items],
                                          drawn[keep].astype(np.float64))):
            values.append(column)
    unshown_rows = tuple(np.concatenate(values) for values in extra) if unshown else None
    return pair_scores, ranks, unshown_rows
