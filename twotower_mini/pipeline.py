"""Retrieval, then ranking, and the two kinds of loss they make (lessons L1 and L2).

    pipeline = TwoStagePipeline(PipelineConfig(tower=..., ranker=...), side=side).fit(train, world.impressions)
    ids, scores = pipeline.retrieve(users, n=200)          # stage 1: the two towers + an exact index
    final = pipeline.ranker_.rerank(users, ids, scores)    # stage 2: the ranker reorders the candidates
    rows = two_losses(ids, scores, users, train, test, pipeline.ranker_.rerank, counts=(10, 50, 200))

A wanted test item can be lost in two places (lesson L2):

- **retrieval miss**: it is not among the N candidates at all. Measured by retrieval recall@N; no
  ranker can repair it;
- **ranking miss**: it is among the candidates, but the ranker puts it below the top k shown.

Every wanted item ends in exactly one of three places: missed by retrieval, missed by ranking, or found.
More candidates move items from the first to the other two: fewer retrieval misses, but a longer list
for the ranker to get right (and more time spent on it, lesson L1).

Training the two stages, honestly: the ranker uses the tower score as a feature, so it must learn from
events the towers did not train on (or it learns to over-trust a score that is only that good on its own
training data). `TwoStagePipeline.fit` trains the towers on the training log minus its last
`ranker_period`, and the ranker on the impressions of that last period. Both are then served with
features computed from the whole training log, as of its end.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lineage.data import Interactions
from lineage.metrics import evaluate_lists, hit_matrix, relevance_matrix
from lineage.splits import validation_split
from twotower_mini.features import SideLog
from twotower_mini.fitted import fit_towers
from twotower_mini.ranker import Ranker, RankerConfig
from twotower_mini.ranker_features import TowerScores
from twotower_mini.config import TwoTowerConfig
from twotower_mini.recommender import TwoTowerRecommender
from twotower_mini.retrieval import ExactIndex

CANDIDATE_COUNTS = (10, 20, 50, 100, 200, 500)


@dataclass
class PipelineConfig:
    tower: TwoTowerConfig = field(default_factory=TwoTowerConfig)  # the retrieval stage (its validation
    #   settings are replaced: the towers train for tower.training.epochs on the log before the ranker period)
    ranker: RankerConfig = field(default_factory=RankerConfig)  # the ranking stage
    ranker_period: float = 0.1  # the last share of training events: the ranker learns from the impressions of
    #   this period, the towers from the events before it


class TwoStagePipeline:
    """Two towers and an exact index retrieve candidates; a ranker reorders them."""

    def __init__(self, config: PipelineConfig | None = None, side: SideLog | None = None):
        self.config = config or PipelineConfig()
        self.side = side

    def fit(self, train: Interactions, impressions: dict, log=None) -> "TwoStagePipeline":
        """Both stages: `fit_retrieval`, then `fit_ranker`."""
        return self.fit_retrieval(train).fit_ranker(train, impressions, log=log)

    def fit_retrieval(self, train: Interactions) -> "TwoStagePipeline":
        """Train the towers on all but the last `ranker_period` of `train`; export the item vectors with
        features as of the end of `train` into an exact index."""
        tower = self.tower_config()
        held_out = validation_split(train, "temporal", self.config.ranker_period, tower.training.seed).test
        self.ranker_since_ = float(held_out.times.min())  # the ranker's period starts here
        self.towers_ = fit_towers(train, tower, self.side)  # served as of the end of train (fitted.py's rules)
        self.retriever_ = TwoTowerRecommender.serving(self.towers_, train, self.side)
        self.model_, self.features_ = self.towers_.model, self.towers_.features
        self.item_vectors_ = self.towers_.item_vectors()  # (n_items, D): the exported index
        self.index_ = ExactIndex(self.item_vectors_)
        self.seen_ = train.to_csr(binary=True)
        return self

    def tower_config(self) -> TwoTowerConfig:
        """The towers' config: trained for tower.training.epochs on the log before the ranker period (held
        out by time, never used to stop early), served with features to the end of train."""
        return replace(self.config.tower, validation_protocol="temporal", validation_fraction=self.config.ranker_period,
                       refit=False, early_stopping=False, serve_on_full_train=True)

    def fit_ranker(self, train: Interactions, impressions: dict, log=None) -> "TwoStagePipeline":
        """Train the ranker on the impressions of the last `ranker_period` of `train` (after fit_retrieval)."""
        self.ranker_ = Ranker(self.config.ranker).fit(train, impressions, retrieval=self.tower_scores(),
                                                      since=self.ranker_since_, log=log)
        return self

    def tower_scores(self) -> TowerScores:
        """The towers' scores as of any past time: the retrieval features of the ranker's training rows."""
        return TowerScores(self.towers_)

    def user_vectors(self, users) -> np.ndarray:
        return self.towers_.user_vectors(users)  # (U, D), as of the end of train

    def retrieve(self, users, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each (U, n): the top n unseen items of each user by the two towers."""
        users = np.asarray(users, dtype=np.int64)
        return self.index_.search(self.user_vectors(users), n, exclude=self.seen_[users])

    def recommend(self, users, k: int = 10, candidates: int = 200) -> np.ndarray:
        """(U, k) items: retrieve `candidates`, rerank, keep the first k."""
        ids, scores = self.retrieve(users, candidates)
        return self.ranker_.rerank(users, ids, scores)[:, :k]


def two_losses(candidate_ids: np.ndarray, candidate_scores: np.ndarray, users, train: Interactions,
               test: Interactions, rerank=None, counts=CANDIDATE_COUNTS, k: int = 10) -> list[dict]:
    """Where the wanted test items are lost, for each candidate count N in `counts`.

    candidate_ids, candidate_scores: (U, >= max(counts)) retrieved items of `users`, best first (seen
    items already removed); the first N of each row are the candidates at count N.
    rerank: callable (users, ids, scores) -> reordered ids (e.g. `Ranker.rerank`); None keeps retrieval's order.

    One row per N:
      recall@N               retrieval recall: share of each user's wanted items among the N candidates
      ndcg@k, recall@k       of the final top k (after reranking)
      top-k when retrieved   of the wanted items that were retrieved, the share that made the final top k
      missed by retrieval, missed by ranking, found
                             every wanted (user, item) pair, counted once: the three shares add up to 1
      rerank seconds         wall time of reranking N candidates for every user"""
    import time

    users = np.asarray(users, dtype=np.int64)
    relevant = relevance_matrix(test, users, train)  # (U, n_items) wanted, unseen test items
    wanted = relevant.nnz
    if wanted == 0:
        raise ValueError("the test users have no wanted (unseen) test items")
    rows = []
    for n in counts:
        ids, scores = candidate_ids[:, :n], candidate_scores[:, :n]
        start = time.perf_counter()
        final = ids if rerank is None else rerank(users, ids, scores)
        seconds = time.perf_counter() - start
        retrieved = int(hit_matrix(ids, relevant).sum())
        found = int(hit_matrix(final[:, :k], relevant).sum())
        top = evaluate_lists(final[:, :k], users, train, test, k)
        rows.append({
            "candidates": n,
            "recall@N": evaluate_lists(ids, users, train, test, n)[f"recall@{n}"],
            f"ndcg@{k}": top[f"ndcg@{k}"],
            f"recall@{k}": top[f"recall@{k}"],
            f"top-{k} when retrieved": found / max(retrieved, 1),
            "missed by retrieval": (wanted - retrieved) / wanted,
            "missed by ranking": (retrieved - found) / wanted,
            "found": found / wanted,
            "rerank seconds": seconds,
        })
    return rows
