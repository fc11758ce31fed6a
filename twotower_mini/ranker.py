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

    ranker = Ranker(RankerConfig()).fit(train, world.impressions, retrieval=TowerScores(towers),
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

from lineage.data import Interactions
from lineage.topk import ranking
from twotower_mini.ranker_features import (FEATURE_NAMES, TOWER_FEATURES, RankingFeatures,  # noqa: F401
                                           distinct_requests, retrieval_features)



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
        x, labels, _ = self.training_data(train, impressions, retrieval, since)
        self._fit_model(x, labels, log)
        return self

    def training_data(self, train: Interactions, impressions: dict, retrieval=None, since: float | None = None):
        """The ranker's training rows, point-in-time: (x (n, F) features, labels (n,), requests (n,)).

        Builds `features_` (from `train` and the impressions before its end) and `columns_`. requests:
        the row's (user, time) request as an integer, so that rows of one request can be grouped
        (listwise rankers). Rows with a non-finite feature are left out and counted in `dropped_rows_`."""
        cfg = self.config
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
            users, times = np.concatenate([users, extra[0]]), np.concatenate([times, extra[2]])
        requests = distinct_requests(users, times)[2]  # (n,) request of each row
        self.columns_ = np.array([j for j, name in enumerate(FEATURE_NAMES) if name not in cfg.drop
                                  and (self.uses_tower_ or name not in TOWER_FEATURES)])
        x = x[:, self.columns_]
        finite = np.isfinite(x).all(axis=1)  # a shown item retrieval would not return (seen before, not out yet)
        self.dropped_rows_ = int((~finite).sum())  # left out, counted
        return x[finite], labels[finite], requests[finite]

    def _fit_model(self, x: np.ndarray, labels: np.ndarray, log=None) -> None:
        """The logistic regression (or MLP) on standardised features, by Adam on the log loss."""
        cfg = self.config
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
        order = ranking(self.score(users, ids, candidate_scores, at_time))  # (U, N) best first, ties by slot
        return np.take_along_axis(ids, order, axis=1)
