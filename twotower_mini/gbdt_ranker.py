"""A gradient-boosted-tree ranker: LightGBM LambdaRank over the same candidates and features as `Ranker`.

The usual production stack is "retrieval with two towers, ranking with gradient-boosted trees". This
module is the second half. It learns from exactly the rows of the logistic ranker (`Ranker`): the
logged impressions of the ranker's period (chosen = 1, shown and skipped = 0) plus, per request, a few
candidates retrieval would have offered but the app did not show (0), all with the point-in-time
features of `twotower_mini.ranker_features`. What changes is the model and the loss:

- **trees** split on raw feature values, so they need no standardisation and capture interactions
  and thresholds ("a high genre affinity matters only for a user with enough history") that a
  logistic regression cannot express;
- **LambdaRank** (Burges 2010, "From RankNet to LambdaRank to LambdaMART") is listwise: the rows of
  one request (one user at one moment) form a group, and each gradient step swaps pairs of a group
  weighted by how much the swap changes its nDCG. The ranker is trained for the order within a
  request, which is what `rerank` uses, not for calibrated probabilities.

Ke et al. (2017), "LightGBM: a highly efficient gradient boosting decision tree", for the library.

    ranker = GBDTRanker(GBDTRankerConfig()).fit(train, world.impressions, retrieval=TowerScores(towers),
                                                 since=start_of_ranker_period)
    final_ids = ranker.rerank(users, candidate_ids, candidate_scores)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twotower_mini.ranker import Ranker, RankerConfig


@dataclass
class GBDTRankerConfig(RankerConfig):
    n_estimators: int = 200  # boosting rounds (trees)
    learning_rate: float = 0.05  # shrinkage of each tree's contribution
    num_leaves: int = 15  # leaves per tree: small trees, a few hundred of them
    min_child_samples: int = 50  # rows per leaf at least: no leaf fitted to a handful of requests
    subsample: float = 0.8  # share of rows each tree sees (bagging, redrawn for every tree)
    colsample_bytree: float = 0.8  # share of the features each tree may split on
    eval_at: tuple[int, ...] = field(default=(10,))  # nDCG cut-off LambdaRank optimises
    importance_type: str = "gain"  # "gain" (loss reduction from a feature's splits) or "split" (how often)


class GBDTRanker(Ranker):
    """LightGBM LambdaRank on the logistic ranker's training rows, grouped by request."""

    def __init__(self, config: GBDTRankerConfig | None = None):
        super().__init__(config or GBDTRankerConfig())

    def fit(self, train, impressions: dict, retrieval=None, since: float | None = None, log=None) -> "GBDTRanker":
        """Same arguments as `Ranker.fit`; the rows of one (user, time) request form one LambdaRank group."""
        import lightgbm

        cfg = self.config
        x, labels, requests = self.training_data(train, impressions, retrieval, since)
        order = np.argsort(requests, kind="stable")  # LightGBM wants the rows of a group contiguous
        x, labels, requests = x[order], labels[order], requests[order]
        _, group_sizes = np.unique(requests, return_counts=True)  # requests sorted: sizes in row order
        self.n_examples_, self.positive_rate_ = len(x), float(labels.mean())
        self.n_groups_ = len(group_sizes)
        params = {"objective": "lambdarank", "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
                  "min_data_in_leaf": cfg.min_child_samples, "bagging_fraction": cfg.subsample, "bagging_freq": 1,
                  "feature_fraction": cfg.colsample_bytree, "eval_at": list(cfg.eval_at), "seed": cfg.seed,
                  "num_threads": cfg.threads, "deterministic": True, "force_row_wise": True, "verbosity": -1}
        dataset = lightgbm.Dataset(x, labels.astype(np.int32), group=group_sizes, feature_name=self.feature_names)
        self.model_ = lightgbm.train(params, dataset, num_boost_round=cfg.n_estimators)
        if log is not None:
            log(f"GBDT ranker: {cfg.n_estimators} trees on {len(x):,} rows in {len(group_sizes):,} requests")
        return self

    @property
    def feature_importances(self) -> dict[str, float]:
        """Each feature's share of the total importance (gain by default), summing to 1."""
        raw = np.asarray(self.model_.feature_importance(importance_type=self.config.importance_type), dtype=np.float64)
        return dict(zip(self.feature_names, raw / max(raw.sum(), 1e-12)))

    def score_pairs(self, users, items, times, tower_scores=None, ranks=None) -> np.ndarray:
        """(n,) ranking scores of (user, item) pairs as of `times` (comparable within a request only)."""
        x = self.features_.compute(users, items, times, tower_scores, ranks)[:, self.columns_]
        return self.model_.predict(x).astype(np.float32)
