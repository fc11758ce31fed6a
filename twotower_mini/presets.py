"""Two-tower configurations tuned on validation splits, one per dataset and protocol.

`preset(dataset, protocol)` is what the leaderboard, the `train` command and the benchmarks use.
Every choice was made on a validation split carved from train with the same protocol
(TwoTowerRecommender does the carving), never on test; test was measured once, afterwards, by
benchmarks/twotower_bench.py.

MovieLens 100K (per-item and random protocols): the user is a bag of their *other* training items
("all-but-target" history, as in a denoising autoencoder: Mult-DAE, Liang et al. 2018), 70% of it
dropped at random per example, one linear layer per tower (256-d), the exact softmax over the
1,682 movies (small enough to score every item), batches of 32 users, Adam with a cosine schedule.
The random and per-item splits have no honest "before" for a test rating, so recency and dynamic
counts are off; demographics and title words did not help on validation and are dropped.

The world (temporal protocol): point-in-time history, searches, profile and item side features
with an id embedding; the dynamic counts are off because they lowered validation recall (their
values at serving time sit outside what training saw; notebook 06 shows the ablations).

`tfrs_tutorial_config()` is the TensorFlow Recommenders basic-retrieval model (id-only 32-d towers,
batch 8192, plain in-batch softmax), used only to compare training throughput.
"""
from __future__ import annotations

from twotower_mini.features import FeatureConfig
from twotower_mini.recommender import TwoTowerConfig
from twotower_mini.towers import TowerConfig
from twotower_mini.train import TrainConfig

_MOVIELENS_DROP = ("liked_history", "age", "gender", "occupation", "title_words")


def _movielens(protocol: str) -> TwoTowerConfig:
    drop = _MOVIELENS_DROP + (("year", "genres") if protocol == "random" else ())
    return TwoTowerConfig(
        features=FeatureConfig(history_mode="all-but-target", count_windows_days=(), recency_half_life_days=None,
                               history_length=1000, drop=drop),
        towers=TowerConfig(hidden=(), embedding_dim=256, output_dim=256, temperature=0.05),
        training=TrainConfig(user_batches=True, full_softmax=True, logq="none", lr_schedule="cosine",
                             batch_size=32, history_dropout=0.7, epochs=30, patience=100,
                             learning_rate=0.003 if protocol == "random" else 0.002,
                             eval_metric="hitrate" if protocol == "random" else "recall",
                             eval_exclude_seen=protocol != "random", eval_k=100 if protocol == "random" else 10,
                             progress=False),
        validation_protocol=protocol,
    )


def _world() -> TwoTowerConfig:
    return TwoTowerConfig(
        features=FeatureConfig(history_length=20, drop=("counts",)),
        towers=TowerConfig(embedding_dim=32, hidden=(64,), output_dim=32),
        training=TrainConfig(epochs=6, batch_size=1024, patience=2, progress=False),
        validation_protocol="temporal",
    )


def preset(dataset: str, protocol: str = "temporal") -> TwoTowerConfig:
    """The tuned configuration for a dataset ("world", "ml-100k", ...) and split protocol.

    Other data (your own CSV) gets the MovieLens recipe on random splits and the world's recipe on
    time-ordered ones: sensible starting points, to be validated on your own split."""
    if dataset in ("ml-100k", "ml-latest") or (dataset != "world" and protocol in ("per-item", "per-user", "random")):
        return _movielens("random" if protocol == "random" else "per-item")
    config = _world()
    if dataset != "world":
        config.validation_protocol = "temporal"
    return config


def tfrs_tutorial_config() -> TwoTowerConfig:
    """The TFRS basic-retrieval tutorial model: id-only 32-d towers, batch 8192, plain in-batch softmax."""
    keep_ids_only = ("history", "liked_history", "search_words", "age", "gender", "occupation", "zip",
                     "title", "title_words", "genres", "year", "counts")
    return TwoTowerConfig(
        features=FeatureConfig(use_user_id=True, count_windows_days=(), drop=keep_ids_only),
        towers=TowerConfig(linear_only=True, output_dim=32, l2_normalize=False),
        training=TrainConfig(batch_size=8192, epochs=3, logq="none", id_dropout=0.0, optimizer="adagrad",
                             mask_accidental_hits=False,  # as the tutorial (TFRS does not remove them by default)
                             learning_rate=0.1, progress=False),
        validation_fraction=0.0,
    )
