"""Two-tower configurations chosen on validation splits (never test), one per dataset and protocol.

`preset(dataset, protocol)` is what the leaderboard, the `train` command and the benchmarks use;
`tfrs_tutorial_config()` is the TensorFlow Recommenders tutorial model, for the throughput comparison.
Each value carries a one-line reason; the measurements behind it, and the commands that produce them,
are in benchmarks/TUNING.md (one section per preset, named below), not here.
"""
from __future__ import annotations

from dataclasses import replace

from twotower_mini.config import (DenoisingUsers, FeatureConfig, SampledSoftmax, TimeSoftmax, TowerConfig, TrainConfig,
                                  TwoTowerConfig)

from lineage.splits import TIME_ORDERED  # protocols where "before" means something (one definition)
TUNED_THROUGH_TIME = ("ml-100k",)  # the datasets whose time-ordered settings were tuned (benchmarks/TUNING.md)
# When each user is served: everyone at the cut, or each right after their own last event (TwoTowerConfig.serve_at).
SERVE_AT = {"temporal": "now", "leave-last-out": "last-event"}
# How far before each training event its history stops: a temporal test asks for a visit days to weeks
# later; leave-last-out asks for the very next event (see benchmarks/TUNING.md#ml-100k-temporal).
HISTORY_GAP_FRACTION = {"temporal": 0.1, "leave-last-out": None}
# The last items as a bag of their own predict the very next event (benchmarks/TUNING.md#ml-100k-leave-last-out).
RECENT_LENGTH = {"temporal": 0, "leave-last-out": 5}
EPOCHS = {"temporal": 6, "leave-last-out": 15}  # chosen on validation (the two TUNING.md sections above)
# The history and the item id only: the other fields lowered nDCG@10 or changed nothing (TUNING.md#ml-100k-denoising).
_MOVIELENS_DROP = ("liked_history", "age", "gender", "occupation", "zip", "title_words", "year", "genres")


def _movielens(protocol: str) -> TwoTowerConfig:
    """Data without time order: a denoising two-tower over whole histories (Mult-DAE, Liang et al. 2018).

    The user is a bag of their other training items; training hides most of it and predicts the hidden
    items with a softmax over the catalogue. Evidence: benchmarks/TUNING.md#ml-100k-denoising, and
    #ml-100k-per-item, #ml-100k-random, #ml-100k-per-user for the protocol's own values."""
    tfrs = protocol == "random"  # the TFRS protocol: seen items stay candidates at evaluation
    per_item = protocol == "per-item"  # the Microsoft protocol: re-validated with a 25% validation part
    return TwoTowerConfig(
        features=FeatureConfig(
            history_mode="all-but-target",  # the user = every *other* training item (random splits have no "before")
            history_length=1000,  # the whole history (the heaviest ML-100K user has 737 ratings)
            recency_half_life_days=None,  # every past item weighs the same: these splits ignore time
            count_windows_days=(),  # no dynamic counts: a static benchmark
            drop=_MOVIELENS_DROP,  # the history and the item id only (see above)
        ),
        towers=TowerConfig(
            hidden=(),  # one linear layer per tower: an MLP overfit
            embedding_dim=256,  # narrower was worse, wider no better and slower
            output_dim=256,  # D: wide enough to rank 1,682 items almost freely
            l2_normalize=True,  # cosine scores, divided by the loss's temperature
        ),
        training=TrainConfig(
            loss=DenoisingUsers(  # batches of users, each history split into input and targets: better, faster;
                #   every one of the 1,682 movies is scored, so nothing is sampled and nothing to correct
                temperature=0.05,  # the cosines divided by 0.05
                history_negative_weight=30.0 if tfrs else 0.0 if per_item else 1.0,  # TFRS protocol: rank a
                #   user's own movies below the rest; per-item: seen movies are never listed, so they leave the softmax
            ),
            history_dropout=0.8 if per_item else 0.7,  # hide this share of each history and predict it
            batch_size=32,  # users a batch: more, smaller steps beat 64
            epochs=45 if tfrs else 30 if protocol in ("per-item", "per-user") else 15,  # chosen on validation
            learning_rate=3e-3,  # Adam
            lr_schedule="cosine",  # decays to 0: the last epoch is the steadiest, so no early stopping
            id_dropout=0.0,  # no cold items or new users to prepare for on these splits
            eval_metric="hitrate" if tfrs else "ndcg",  # used only if validation_fraction > 0
            eval_k=100 if tfrs else 10,
            eval_exclude_seen=not tfrs,
            progress=False,  # no progress bars in leaderboards and CI
        ),
        validation_protocol=protocol,
        validation_fraction=0.0,  # epochs chosen on validation once: no early-stopping run and refit per fit
        ensemble=4 if per_item else 1,  # per-item: 4 independently seeded tower pairs, vectors concatenated
    )


def _through_time(protocol: str) -> TwoTowerConfig:
    """Real data split by time: the time-aware two-tower, every input as of the example's time.

    Evidence: benchmarks/TUNING.md#ml-100k-temporal and #ml-100k-leave-last-out."""
    return TwoTowerConfig(
        features=FeatureConfig(
            history_mode="before",  # point-in-time: each example sees only what came before it
            history_length=100,  # the 100 most recent items
            recency_half_life_days=None,  # every earlier item weighs the same (a half-life was no better)
            history_gap_fraction=HISTORY_GAP_FRACTION[protocol],  # temporal: predict a later visit from the
            #   history up to a tenth of the training period before it, not the next click of the session
            recent_length=RECENT_LENGTH[protocol],  # leave-last-out: the last 5 items, embedded apart
            count_windows_fraction=(0.01, 0.03, 0.1, 0.3),  # events (and likes) in windows of these shares of
            #   the training period before each event: scale-free, from "today" to "this season"
            item_age=True,  # days since the item's first event: new releases
            drop=_MOVIELENS_DROP,  # history and item id (+ the dynamic inputs above)
        ),
        towers=TowerConfig(
            linear_only=True,  # additive towers: the softmax over the catalogue at every moment stays cheap
            l2_normalize=False,  # (an L2 norm would mix the static and dynamic parts)
            output_dim=64,  # D
            bias=True,  # the user tower's constant: what a user with no history gets
        ),
        training=TrainConfig(
            loss=TimeSoftmax(),  # softmax over the catalogue as of each event: every item is a negative, nothing
            #   to correct; item inputs refreshed every shortest count window
            batch_size=512,  # events a batch
            epochs=EPOCHS[protocol],  # fixed, chosen on validation (cosine schedule, no early stopping)
            learning_rate=3e-3,  # Adam
            lr_schedule="cosine",
            progress=False,
        ),
        validation_protocol=protocol,
        validation_fraction=0.0,  # the epochs were chosen on validation once
        serve_at=SERVE_AT[protocol],
    )


def _world() -> TwoTowerConfig:
    """The world: side features, no dynamic counts (tuned by the lead: benchmarks/TUNING.md#world)."""
    return TwoTowerConfig(
        features=FeatureConfig(history_length=20, drop=("counts",)),
        towers=TowerConfig(embedding_dim=32, hidden=(64,), output_dim=32),
        training=TrainConfig(epochs=6, batch_size=1024, patience=2, progress=False),
        validation_protocol="temporal",
    )


def preset(dataset: str, protocol: str = "temporal") -> TwoTowerConfig:
    """The tuned configuration for a dataset ("world", "ml-100k", ...) and split protocol.

    Real data (ml-100k, ml-latest, your own CSV): the time-aware recipe on the time-ordered protocols
    (temporal, leave-last-out), the denoising recipe on the others; tuned on ml-100k, with every time
    setting a share of the training period so that it carries to logs of another time scale. On
    time-ordered protocols of any other dataset, the recipe's history gap, epochs and history weight
    are chosen on a validation part carved by time from train (twotower_mini.selection)."""
    if dataset != "world" and protocol in TIME_ORDERED:  # tuned on ML-100K; anywhere else, chosen on validation
        return replace(_through_time(protocol), select_on_validation=dataset not in TUNED_THROUGH_TIME)
    if dataset != "world":
        return _movielens(protocol)
    return _world()


def tfrs_tutorial_config() -> TwoTowerConfig:
    """The TFRS basic-retrieval tutorial model: id-only 32-d towers, batch 8192, plain in-batch softmax.

    Same model, loss and optimiser as the tutorial (Adagrad, learning rate 0.1, 3 epochs, accidental hits not
    removed), for the throughput comparison (benchmarks/twotower_bench.py); not tuned (TUNING.md#tfrs-tutorial).
    The in-batch softmax scores each distinct movie of a batch once (batches.distinct_in_batch_logits: the same
    loss), which is where most of the speed comes from."""
    keep_ids_only = ("history", "liked_history", "search_words", "age", "gender", "occupation", "zip",
                     "title", "title_words", "genres", "year", "counts")
    return TwoTowerConfig(
        features=FeatureConfig(use_user_id=True, count_windows_days=(), drop=keep_ids_only),
        towers=TowerConfig(linear_only=True, output_dim=32, l2_normalize=False),
        training=TrainConfig(loss=SampledSoftmax(logq="none",  # the plain in-batch softmax
                                                 mask_accidental_hits=False),  # as the tutorial (TFRS keeps them)
                             batch_size=8192, epochs=3, id_dropout=0.0, optimiser="adagrad", learning_rate=0.1,
                             progress=False),
        validation_fraction=0.0,
    )
