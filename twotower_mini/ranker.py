"""The ranking stage: reorder a few hundred retrieved candidates with richer features (lessons L1, L2, L7).

Retrieval (the two towers) must score the whole catalogue, so each item is one vector and the score
is one dot product. The ranker only sees the few hundred candidates retrieval hands over, so it can
afford features that *cross* the user and the item, computed as of the request time:

    tower_score          the two-tower score of the pair (what retrieval sorted by)
    retrieval_rank       log(1 + the candidate's position in the retrieved list)
    item_views_{w}d      log(1 + the item's views in the last w days)            (popularity, recency)
    item_likes_7d        log(1 + the item's likes in the last 7 days)
    item_age             log(1 + days since the item's release)
    genre_affinity       share of the user's past views in the item's genre
    publisher_affinity   share of the user's past views from the item's publisher
    language_affinity    share of the user's past views in the item's language
    language_match       the item's language is one the user declared
    declared_genre       the item's genre is one the user declared at sign-up
    times_skipped        log(1 + how often the item was shown to the user before and not chosen)
    user_views           log(1 + the user's past views): how much to trust the affinities

Every count is taken over events *strictly before* the request time (point-in-time, lesson L6), so a
feature can never contain the answer. A small MLP (or, with `hidden=()`, a logistic regression) maps
the standardised features to the log-odds that the user chooses the item (a logistic regression by
default: its weights can be read, one per feature).

Training data: the logged **impressions** (chosen = 1, shown but not chosen = 0). Lesson L7 says this
is where impressions belong: "of what was shown, what was chosen" is the ranker's question, while the
retrieval model must learn "what is worth showing at all" from the whole catalogue. The impressions
come from the training period only (and an impression whose outcome would only be known after the end
of training is left out: `label_window_seconds`).

Impressions alone teach P(chosen | shown). The logged test data, though, only holds items the app
*showed* and the user chose, so a ranker of P(chosen | shown) finds what users truly like (true recall
rises) yet can lose on logged metrics. `unshown_negatives` adds, per request, a few candidates that
retrieval would have offered but the app did not show, as negatives: the rows then look like what the
ranker meets at serving time (retrieved candidates), and it learns both questions. Notebook 07 measures
the two variants.

Stacking, honestly: the tower score is itself a model output. If the towers were trained on the same
events as the ranker, their scores on those events are too good (the chosen items were their training
positives), and the ranker learns to over-trust them. `twotower_mini.pipeline` therefore trains the
towers on the early part of the training period and the ranker on the impressions of the late part,
as production does (the ranker learns from logs the deployed retrieval model has not seen).

    ranker = Ranker(RankerConfig()).fit(train, world.impressions, retrieval=TowerScores(model, features),
                                        since=start_of_ranker_period)
    final_ids = ranker.rerank(users, candidate_ids, candidate_scores)   # (U, N), a permutation of each row

References: Covington et al. (2016) describe this two-stage split for YouTube (candidate generation,
then a ranking network over a few hundred candidates with impression-based training); McMahan et al.
(2013) logistic regression over crossed features for ads ranking.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from lineage.data import Interactions, is_liked
from twotower_mini.features import DAY, EventIndex

FEATURE_NAMES = ("tower_score", "retrieval_rank", "item_views_1d", "item_views_7d", "item_views_28d",
                 "item_likes_7d", "item_age", "genre_affinity", "publisher_affinity", "language_affinity",
                 "language_match", "declared_genre", "times_skipped", "user_views")
TOWER_FEATURES = ("tower_score", "retrieval_rank")


@dataclass
class RankerConfig:
    hidden: tuple[int, ...] = ()  # MLP hidden layers; () = logistic regression (on the world it ranks
    #   better than a (32,) MLP, which extrapolates poorly to candidates unlike its training rows)
    epochs: int = 6  # passes over the training impressions
    batch_size: int = 1024  # examples per Adam step
    learning_rate: float = 1e-2  # Adam
    weight_decay: float = 1e-5  # a little L2, the features are few and dense
    sources: tuple[str, ...] = ("feed",)  # impression sources to learn from: a search result was chosen
    #   for a query the ranker does not see, so by default only feed impressions teach it
    label_window_seconds: float = 3600.0  # a choice is logged within this long after the impression; later
    #   impressions (outcome not known by the end of training) are left out
    max_examples: int | None = 200_000  # at most this many impressions (a seeded sample)
    unshown_negatives: int = 16  # per request, also this many items retrieval offered (from its top
    #   `candidate_pool`) but the app did not show, as negatives: the ranker then learns to rank what
    #   retrieval hands it, not only "what is chosen once shown" (0 = impressions only; needs `retrieval`)
    candidate_pool: int = 200  # retrieval depth the unshown negatives are drawn from
    drop: tuple[str, ...] = ()  # feature names to leave out (ablations), from FEATURE_NAMES
    seed: int = 0  # sampling and torch seed: two fits give identical rankers
    threads: int = 1  # torch intra-op threads for the small MLP


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

    def __init__(self, model, features):
        self.model, self.features = model, features
        self._items_by_day: dict[float, np.ndarray] = {}

    def item_vectors(self, day_start: float) -> np.ndarray:
        from twotower_mini.train import item_vectors

        if day_start not in self._items_by_day:
            self._items_by_day[day_start] = item_vectors(self.model, self.features, at_time=day_start)
        return self._items_by_day[day_start]

    def __call__(self, users, times) -> np.ndarray:
        """(n, n_items) float32 scores of each user as of their time."""
        from twotower_mini.train import user_vectors

        users = np.asarray(users, dtype=np.int64)
        times = np.asarray(times, dtype=np.float64)
        out = np.empty((len(users), self.features.train.n_items), dtype=np.float32)
        days = np.floor(times / DAY) * DAY
        for day in np.unique(days):
            rows = np.flatnonzero(days == day)
            vectors = user_vectors(self.model, self.features, users[rows], times[rows])  # (r, D)
            out[rows] = vectors @ self.item_vectors(float(day)).T
        return out


def _requests(users, times):
    """Distinct (user, time) requests of some rows, and each row's request."""
    pairs = np.stack([np.asarray(users, dtype=np.float64), np.asarray(times, dtype=np.float64)], axis=1)
    requests, row_of = np.unique(pairs, axis=0, return_inverse=True)
    return requests[:, 0].astype(np.int64), requests[:, 1], row_of.ravel()


def _scored_requests(retrieval, train: Interactions, users, times, release=None, block: int = 2048):
    """Yield (first request, scores (b, n_items)) blocks: retrieval scores as of each request, with the
    items retrieval would not return then (not released yet, or seen by the user before) at -inf."""
    order = np.lexsort((train.times, train.users))
    view_users, view_items, view_times = train.users[order], train.items[order], train.times[order]
    for start in range(0, len(users), block):
        u, t = users[start:start + block], times[start:start + block]
        scores = np.asarray(retrieval(u, t), dtype=np.float32)  # (b, n_items)
        if release is not None:
            scores[release[None, :] > t[:, None]] = -np.inf
        first, last = np.searchsorted(view_users, u, "left"), np.searchsorted(view_users, u, "right")
        for b, (lo, hi) in enumerate(zip(first, last)):
            scores[b, view_items[lo:hi][view_times[lo:hi] < t[b]]] = -np.inf
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
    request_users, request_times, row_of = _requests(users, times)
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
        top = np.argsort(-scores, axis=1, kind="stable")[:, :pool]  # (b, pool) best first
        keys = (start + np.arange(b))[:, None] * n_items + top
        at = np.minimum(np.searchsorted(shown, keys), len(shown) - 1)
        allowed = np.isfinite(np.take_along_axis(scores, top, axis=1)) & (shown[at] != keys)
        lottery = np.where(allowed, rng.random(top.shape), -1.0)  # a random draw among allowed slots
        drawn = np.sort(np.argsort(-lottery, axis=1, kind="stable")[:, :unshown], axis=1)  # (b, m) ranks
        keep = np.take_along_axis(allowed, drawn, axis=1)
        drawn_rows = np.broadcast_to(np.arange(b)[:, None], drawn.shape)[keep]
        drawn_items = np.take_along_axis(top, drawn, axis=1)[keep]
        for values, column in zip(extra, (request_users[start + drawn_rows], drawn_items,
                                          request_times[start + drawn_rows], scores[drawn_rows, drawn_items],
                                          drawn[keep].astype(np.float64))):
            values.append(column)
    unshown_rows = tuple(np.concatenate(values) for values in extra) if unshown else None
    return pair_scores, ranks, unshown_rows


# ---- the model ------------------------------------------------------------------------------------
class _MLP(nn.Module):
    def __init__(self, n_features: int, hidden: tuple[int, ...]):
        super().__init__()
        layers, width = [], n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, F) -> (B,) log-odds
        return self.net(x).squeeze(-1)


class Ranker:
    """A pointwise ranker over retrieved candidates, trained on logged impressions."""

    def __init__(self, config: RankerConfig | None = None):
        self.config = config or RankerConfig()

    # ---- training ---------------------------------------------------------------------------------
    def training_rows(self, impressions: dict, since: float | None = None) -> np.ndarray:
        """Indices of the impressions the ranker learns from: training period, chosen sources, sampled."""
        cfg = self.config
        times = np.asarray(impressions["time"], dtype=np.float64)
        keep = times + cfg.label_window_seconds < self.features_.now - 1.0  # outcome known by the end of training
        if since is not None:
            keep &= times >= since
        if "source" in impressions and cfg.sources:
            keep &= np.isin(np.asarray(impressions["source"]), cfg.sources)
        rows = np.flatnonzero(keep)
        if cfg.max_examples is not None and len(rows) > cfg.max_examples:
            rng = np.random.default_rng(cfg.seed)
            rows = np.sort(rng.choice(rows, cfg.max_examples, replace=False))
        return rows

    def fit(self, train: Interactions, impressions: dict, retrieval=None, since: float | None = None,
            log=None) -> "Ranker":
        """Learn which candidates are chosen, from the impressions of the training period (chosen = 1,
        shown and not chosen = 0) and, with `unshown_negatives`, retrieved candidates that were not shown (0).

        train: the training interactions (features are counted from them, point-in-time).
        impressions: dict of arrays "user", "item", "time", "chosen" (and optionally "source"), e.g.
            `world.impressions`; only those before the end of `train` are used, for features and labels.
        retrieval: callable (users, times) -> (n, n_items) retrieval scores (e.g. `TowerScores`), for
            the tower_score and retrieval_rank features; None leaves those two features out.
        since: learn only from impressions at or after this time (the period the towers did not train on)."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        end = float(train.times.max()) + 1.0 if len(train) else 0.0
        past = np.asarray(impressions["time"], dtype=np.float64) < end
        visible = {name: np.asarray(values)[past] for name, values in impressions.items()}
        self.features_ = RankingFeatures(train, visible)
        self.uses_tower_ = retrieval is not None
        rows = self.training_rows(visible, since)
        if len(rows) == 0:
            raise ValueError("no impressions to learn from: check `since`, `sources` and the impression times")
        users, items, times = visible["user"][rows], visible["item"][rows], visible["time"][rows]
        labels = visible["chosen"][rows].astype(np.float32)
        if not (labels.min() < 1 <= labels.max()):
            raise ValueError("the impressions need both chosen and not-chosen rows to learn from")
        scores = ranks = None
        if self.uses_tower_:
            scores, ranks, extra = retrieval_features(retrieval, train, users, times, items, self.features_.release,
                                                      cfg.unshown_negatives, cfg.candidate_pool, cfg.seed)
        x = self.features_.compute(users, items, times, scores, ranks)
        if self.uses_tower_ and cfg.unshown_negatives:  # retrieved but not shown: negatives too
            x = np.vstack([x, self.features_.compute(*extra)])
            labels = np.concatenate([labels, np.zeros(len(extra[0]), dtype=np.float32)])
        self.columns_ = np.array([j for j, name in enumerate(FEATURE_NAMES) if name not in cfg.drop
                                  and (self.uses_tower_ or name not in TOWER_FEATURES)])
        x = x[:, self.columns_]
        finite = np.isfinite(x).all(axis=1)  # a shown item retrieval would not return (seen before, not out yet)
        x, labels = x[finite], labels[finite]
        self.dropped_rows_ = int((~finite).sum())  # left out, counted
        self.mean_, self.std_ = x.mean(axis=0), x.std(axis=0) + 1e-6
        self.n_examples_, self.positive_rate_ = len(x), float(labels.mean())
        self.model_ = _MLP(len(self.columns_), cfg.hidden)
        with torch.no_grad():  # start at the base rate: the first steps need not learn the (large) bias
            self.model_.net[-1].bias.fill_(float(np.log(self.positive_rate_ / (1 - self.positive_rate_))))
        optimiser = torch.optim.Adam(self.model_.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        inputs = torch.from_numpy((x - self.mean_) / self.std_)
        targets = torch.from_numpy(labels)
        rng = np.random.default_rng(cfg.seed)
        self.history_ = []
        self.model_.train()
        for epoch in range(cfg.epochs):
            order = torch.from_numpy(rng.permutation(len(x)))
            total = 0.0
            for first in range(0, len(x), cfg.batch_size):
                batch = order[first:first + cfg.batch_size]
                loss = F.binary_cross_entropy_with_logits(self.model_(inputs[batch]), targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            self.history_.append({"epoch": epoch + 1, "loss": total / len(x)})
            if log is not None:
                log(f"ranker epoch {epoch + 1}: log loss {total / len(x):.4f}")
        self.model_.eval()
        return self

    @property
    def feature_names(self) -> list[str]:
        return [FEATURE_NAMES[j] for j in self.columns_]

    # ---- serving ----------------------------------------------------------------------------------
    def score_pairs(self, users, items, times, tower_scores=None, ranks=None) -> np.ndarray:
        """(n,) log-odds of choice for (user, item) pairs as of `times`."""
        x = self.features_.compute(users, items, times, tower_scores, ranks)[:, self.columns_]
        with torch.no_grad():
            return self.model_(torch.from_numpy((x - self.mean_) / self.std_)).numpy()

    def score(self, users, candidate_ids, candidate_scores=None, at_time: float | None = None) -> np.ndarray:
        """(U, N) ranker scores of each user's candidates; -inf in empty slots (id -1).

        users: (U,); candidate_ids: (U, N) retrieved ids, best first (-1 = empty slot);
        candidate_scores: (U, N) their retrieval scores; at_time: the request time (default: just
        after the training log, when the model is served)."""
        users = np.asarray(users, dtype=np.int64)
        ids = np.asarray(candidate_ids, dtype=np.int64)
        if ids.ndim != 2 or len(ids) != len(users):
            raise ValueError(f"candidate_ids must be (len(users), N), got {ids.shape} for {len(users)} users")
        if self.uses_tower_ and candidate_scores is None:
            raise ValueError("this ranker was trained with retrieval scores: pass candidate_scores")
        n_users, n = ids.shape
        valid = ids >= 0
        at = self.features_.now if at_time is None else float(at_time)
        flat_users = np.repeat(users, n)[valid.ravel()]
        flat_items = ids[valid]
        scores = ranks = None
        if self.uses_tower_:
            scores = np.asarray(candidate_scores, dtype=np.float32)[valid]
            ranks = np.broadcast_to(np.arange(n), ids.shape)[valid]
        out = np.full(ids.shape, -np.inf, dtype=np.float32)
        out[valid] = self.score_pairs(flat_users, flat_items, at, scores, ranks)
        return out

    def rerank(self, users, candidate_ids, candidate_scores=None, at_time: float | None = None) -> np.ndarray:
        """(U, N) the same candidates reordered by the ranker, best first; empty slots (-1) stay last.

        Ties keep retrieval's order (a stable sort), so the result is deterministic."""
        ids = np.asarray(candidate_ids, dtype=np.int64)
        order = np.argsort(-self.score(users, ids, candidate_scores, at_time), axis=1, kind="stable")
        return np.take_along_axis(ids, order, axis=1)
