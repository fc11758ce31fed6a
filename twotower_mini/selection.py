"""The time-ordered recipe's key settings, chosen on the data at hand: a small, budgeted search.

The ML-100K preset was tuned on ML-100K. On another log (your own CSV, another MovieLens release)
its settings may not carry, so before the final fit the recipe carves a validation part from train
by time (the test protocol's own carve: the last tenth of the training events for a temporal
split, each user's last training event for leave-last-out) and chooses, on that part only, never on test:

1. the **history gap** (how far before each training event its history stops, as a share of the
   training period) among a few candidates, and the **epochs**, read off each candidate's validation
   curve (one run per candidate, early-stopped on validation nDCG@10);
2. the **history weight** of the best candidate: a user's vector is the no-history vector (the learned
   constant: what is popular and new now, which users without history get) plus this share of what
   their history adds. At 0 every user gets the no-history answer; at 1 the model as trained. It is
   chosen on the validation users *with* history, so a history that is added badly cannot pull them
   below the answer the model already holds for everyone;
3. per **user segment** (users with training history, users without), whether the towers or recent
   popularity (the baseline the leaderboard compares with) served the segment's validation users
   better; a segment where recent popularity scored higher is served by it
   (`TwoTowerConfig.recent_popularity_for`). The gate of step 2 keeps a badly added history from
   pulling users below the towers' own no-history answer; this step keeps that answer itself from
   sitting below the simplest baseline on data where the towers learned "now" worse than counting did.

Then one final fit on all of train with what was chosen. `Selection.report` says what was tried, what
each scored, and what was chosen, for the leaderboard's output and JSON.

    selection = select_time_ordered(train, config, TimeOrderedSearch(), side)
    towers = fit_towers(train, selection.config, side)

Choosing among few candidates on a validation carve by time follows the "time-based validation"
practice of production recommenders (e.g. Covington et al. 2016 evaluate on held-out later data).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lineage.data import Interactions
from lineage.metrics import evaluate_lists
from lineage.splits import validation_split
from lineage.topk import top_k

from .config import TwoTowerConfig
from .features import FeatureBuilder, SideLog
from .fitted import FittedTowers, build_towers
from .train import train_towers

__all__ = ["Selection", "TimeOrderedSearch", "select_time_ordered"]

K = 10  # validation metric: nDCG@10, as the leaderboard reports


@dataclass(frozen=True)
class TimeOrderedSearch:
    """What the search tries; its budget is len(history_gap_fractions) runs of at most max_epochs, then the final fit
    (fit time against catalogue and log size: benchmarks/time_checks.py --parts fit-time, in REPORT)."""

    history_gap_fractions: tuple[float, ...] = (0.1, 0.02)  # ML-100K's tenth of the period, and a short gap
    max_epochs: int = 4  # each candidate's run stops at this, or earlier when validation stops improving
    patience: int = 2  # epochs without validation improvement before a candidate's run stops (1 stopped at
    #   the dip that often follows the first epoch, below recent popularity on a 10k-item log)
    learning_rate: float = 1e-2  # Adam's step for the candidates and the final fit: on the validation carves
    #   of three check logs (benchmarks/time_checks.py) nDCG@10 rose faster and higher than at the ML-100K
    #   preset's 3e-3, which needed more than 6 epochs on a 10k-item log
    history_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # the gate's candidates (see module docstring)
    validation_fraction: float = 0.1  # the last tenth of the training period is validation

    def __post_init__(self):
        if not self.history_gap_fractions or not all(0 <= g < 1 for g in self.history_gap_fractions):
            raise ValueError(f"TimeOrderedSearch.history_gap_fractions must be in [0, 1), got {self.history_gap_fractions}")
        if not self.history_weights or not all(0 <= w <= 1 for w in self.history_weights):
            raise ValueError(f"TimeOrderedSearch.history_weights must be in [0, 1], got {self.history_weights}")
        if self.max_epochs < 1 or self.patience < 1 or not 0 < self.validation_fraction < 1 or self.learning_rate <= 0:
            raise ValueError("TimeOrderedSearch: max_epochs and patience must be >= 1, validation_fraction in (0, 1), "
                             "learning_rate > 0")


    @classmethod
    def for_protocol(cls, protocol: str) -> "TimeOrderedSearch":
        """Leave-last-out asks for the very next event: its history runs up to the event (no gap to choose)."""
        return cls(history_gap_fractions=(0.0,)) if protocol == "leave-last-out" else cls()


@dataclass(frozen=True)
class Selection:
    """The chosen configuration (ready for the final fit) and the record of the search."""

    config: TwoTowerConfig
    report: dict = field(default_factory=dict)


def _candidate(config: TwoTowerConfig, gap: float, search: TimeOrderedSearch) -> TwoTowerConfig:
    """The config with one history gap, trained to validation nDCG@10 with early stopping."""
    training = replace(config.training, epochs=search.max_epochs, patience=search.patience, eval_metric="ndcg",
                       eval_k=K, learning_rate=search.learning_rate)
    return replace(config, features=replace(config.features, history_gap_fraction=gap), training=training,
                   select_on_validation=False, validation_fraction=search.validation_fraction, refit=False)


def _run(inner, candidate: TwoTowerConfig, side: SideLog | None) -> tuple[FittedTowers, float, int]:
    """Train one candidate on the inner train part; (towers, best validation nDCG@10, its epoch)."""
    features = FeatureBuilder(inner.train, candidate.features, side)
    run = train_towers(build_towers(features, candidate), features, candidate.training, validation=inner.test,
                       side=side)
    scores = [row["val_ndcg@10"] for row in run.history]
    return FittedTowers(candidate, run.model, features, run.history, run.best_epoch), max(scores), run.best_epoch


def history_weight_scores(towers: FittedTowers, validation: Interactions, weights) -> dict[float, float]:
    """Validation nDCG@10 of the users with history (in the towers' training part) at each history weight."""
    train = towers.features.train
    users = np.flatnonzero((validation.user_counts() > 0) & (train.user_counts() > 0))
    if not len(users):
        return {weight: float("nan") for weight in weights}
    own, items = towers.user_vectors(users), towers.item_vectors()  # (n, D), (n_items, D): once for every weight
    return {weight: evaluate_lists(_gated_lists(towers, users, own, items, weight), users, train, validation,
                                   K)[f"ndcg@{K}"] for weight in weights}


def _gated_lists(towers: FittedTowers, users: np.ndarray, own: np.ndarray, items: np.ndarray,
                 weight: float) -> np.ndarray:
    """(n, K) the towers' top K for these users (own: their vectors; items: the item vectors) at this history
    weight, seen items removed."""
    constant = towers.new_user_vector()  # (D,)
    vectors = constant + weight * (own - constant)  # (n, D): the gate on what the history adds
    logits = vectors @ items.T  # (n, n_items)
    logits[towers.features.train.to_csr(binary=True)[users].nonzero()] = -np.inf  # seen items are never recommended
    return top_k(logits, K)


def segment_scores(towers: FittedTowers, validation: Interactions, weight: float) -> dict[str, dict]:
    """Validation nDCG@10, per user segment (with and without history in the towers' training part), of the
    towers at this history weight and of recent popularity fitted on the same part: the choice of
    config.recent_popularity_for."""
    from lineage.models.popularity import RecentPopularity

    train = towers.features.train
    recent = RecentPopularity().fit(train)
    has_history = train.user_counts() > 0
    items = towers.item_vectors()  # (n_items, D)
    out = {}
    for segment, members in (("with_history", has_history), ("without_history", ~has_history)):
        users = np.flatnonzero((validation.user_counts() > 0) & members)
        if not len(users):
            continue
        scores = {"towers": _gated_lists(towers, users, towers.user_vectors(users), items, weight),
                  "recent-popularity": recent.recommend(users, k=K)}
        out[segment] = {name: evaluate_lists(lists, users, train, validation, K)[f"ndcg@{K}"]
                        for name, lists in scores.items()} | {"users": int(len(users))}
    return out


def select_time_ordered(train: Interactions, config: TwoTowerConfig, search: TimeOrderedSearch,
                        side: SideLog | None = None) -> Selection:
    """Choose the history gap, the epochs, the history weight and the segments served by recent popularity on a
    validation part carved by time."""
    inner = validation_split(train, config.validation_protocol, search.validation_fraction, config.training.seed)
    tried = []
    for gap in search.history_gap_fractions:
        towers, score, epoch = _run(inner, _candidate(config, gap, search), side)
        tried.append({"history_gap_fraction": gap, "validation ndcg@10": score, "best epoch": epoch,
                      "towers": towers})
    best = max(tried, key=lambda t: (t["validation ndcg@10"], -t["history_gap_fraction"]))  # ties: the shorter gap
    gate = history_weight_scores(best["towers"], inner.test, search.history_weights)
    weight = max(gate, key=lambda w: (np.nan_to_num(gate[w], nan=-1.0), w))  # ties: the larger weight
    segments = segment_scores(best["towers"], inner.test, weight)
    fallback = tuple(name for name, row in segments.items() if row["recent-popularity"] > row["towers"])
    chosen = replace(config, select_on_validation=False, history_weight=weight, recent_popularity_for=fallback,
                     features=replace(config.features, history_gap_fraction=best["history_gap_fraction"]),
                     training=replace(config.training, epochs=best["best epoch"], learning_rate=search.learning_rate))
    report = {"validation": f"{config.validation_protocol} carve, {search.validation_fraction:.0%} of train",
              "candidates": [{k: v for k, v in t.items() if k != "towers"} for t in tried],
              "history weight (validation ndcg@10, users with history)": {str(w): s for w, s in gate.items()},
              "segments (validation ndcg@10)": segments,
              "chosen": f"history_gap_fraction={best['history_gap_fraction']}, epochs={best['best epoch']}, "
                        f"history_weight={weight}, recent popularity for: {', '.join(fallback) or 'no segment'}"}
    return Selection(chosen, report)
