"""Every setting of the two-tower model in one place: what the towers see, how they are built, how
they are trained, and how they are fitted and served. Each config validates its fields when it is
built (`check_range`, and one-line ValueErrors naming the field), so a bad value, typed in or read
from a checkpoint, is refused before anything is built from it.

    from twotower_mini.config import FeatureConfig, TowerConfig, TrainConfig, TwoTowerConfig
    config = TwoTowerConfig(features=FeatureConfig(history_length=20), towers=TowerConfig(output_dim=32),
                            training=TrainConfig(epochs=5))
"""
from __future__ import annotations

import numbers
import reprlib
from dataclasses import dataclass, field

from lineage.metrics import METRIC_NAMES
from lineage.splits import PROTOCOLS

__all__ = ["FeatureConfig", "TowerConfig", "TrainConfig", "TwoTowerConfig", "check_range", "SEED_MAX"]

HISTORY_MODES = ("before", "all-but-target")
MAX_LENGTH = 100_000  # longest history / search bag: serving builds (8192, L) arrays per chunk of users
MAX_DAYS = 36_500.0  # longest time span a setting may name: 100 years
MAX_WINDOWS = 64  # most count windows
MAX_WIDTH = 65_536  # widest embedding, hidden layer or output vector
MAX_LAYERS = 32  # deepest MLP
LOGQ_MODES = ("none", "exact", "streaming")
OPTIMIZERS = ("adam", "adamw", "adagrad")
LR_SCHEDULES = ("constant", "cosine")
SEED_MAX = 2**32 - 1  # numpy's legacy and torch's seeds are unsigned 32-bit
MAX_WEIGHT = 1e6  # largest loss weight or weight decay


def check_range(owner: str, name: str, value, low, high, *, low_open: bool = False, high_open: bool = False,
                optional: bool = False) -> None:
    """Refuse a setting outside [low, high] (an open end excludes that bound), or NaN, in one line
    naming `owner.name`; `optional` also allows None. Every config's __post_init__ calls it, so a
    bad value, typed in or read from a checkpoint, is refused before anything is built from it."""
    if value is None and optional:
        return
    fits = isinstance(value, numbers.Real) and (value > low if low_open else value >= low) and \
        (value < high if high_open else value <= high)  # NaN fails every comparison
    if not fits:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{owner}.{name}: expected a number in {interval}{' or None' if optional else ''}, "
                         f"got {reprlib.repr(value)}")


@dataclass
class FeatureConfig:
    history_length: int = 50  # most recent items kept in the user's history bag
    history_mode: str = "before"  # "before": events before t (point-in-time); "all-but-target": every
    #   training event except the example itself (only for random splits, where "before" has no meaning)
    recency_half_life_days: float | None = 14.0  # history weight halves every this many days before t
    #   (None: all history items weigh the same)
    recent_length: int = 0  # a second history bag, "recent_history": the last this many items before t, with
    #   embeddings of their own (what the user took just now, as against their taste); 0 = off
    search_words: int = 20  # most recent search words kept
    count_windows_days: tuple[float, ...] = (1.0, 7.0, 28.0)  # dynamic view/like count windows; () = none.
    #   Windows, not all-time counts: an all-time count grows with the log, so at serving time it
    #   would be far larger than any count seen in training (train/serve skew).
    count_windows_fraction: tuple[float, ...] = ()  # or: windows as shares of the training period (scale-free:
    #   the same setting fits a log of weeks or of years); overrides count_windows_days when given
    history_gap_fraction: float | None = None  # or: the gap below as a share of the training period
    history_gap_days: float = 0.0  # time_softmax training only: an example at t sees the history before
    #   t - gap, so it learns to predict the next visit from earlier visits (as a split by time asks: the
    #   test events come after a break), not the next click of the same session; a user's first visit
    #   then trains the "new user". Serving always uses the whole history up to now
    item_age: bool = False  # an "item_age" input: log-days since the item's first event before t (0 and a
    #   "not seen yet" flag before it); new releases draw their audience early in their life
    use_user_id: bool = False  # a user-id embedding: memorises, but new users have none
    use_item_id: bool = True  # an item-id embedding: memorises, but new items have none
    min_token_count: int = 2  # tokens seen fewer times in training become "unknown"
    drop: tuple[str, ...] = ()  # field names to leave out (ablations)
    leaky: bool = False  # DEMONSTRATION ONLY: compute features from the whole log, future included

    def __post_init__(self):
        """Refuse out-of-range settings when the config is built, naming the field."""
        if self.history_mode not in HISTORY_MODES:
            raise ValueError(f"FeatureConfig.history_mode: expected one of {', '.join(HISTORY_MODES)}, "
                             f"got {reprlib.repr(self.history_mode)}")
        for name in ("history_length", "recent_length", "search_words"):
            check_range("FeatureConfig", name, getattr(self, name), 0, MAX_LENGTH)
        check_range("FeatureConfig", "min_token_count", self.min_token_count, 0, 10**9)
        check_range("FeatureConfig", "recency_half_life_days", self.recency_half_life_days, 0, MAX_DAYS,
                    low_open=True, optional=True)
        check_range("FeatureConfig", "history_gap_days", self.history_gap_days, 0, MAX_DAYS)
        check_range("FeatureConfig", "history_gap_fraction", self.history_gap_fraction, 0, 1, high_open=True,
                    optional=True)
        for name, high in (("count_windows_days", MAX_DAYS), ("count_windows_fraction", 1.0)):
            windows = getattr(self, name)
            check_range("FeatureConfig", f"{name} (number of windows)", len(windows), 0, MAX_WINDOWS)
            for window in windows:
                check_range("FeatureConfig", name, window, 0, high, low_open=True)


@dataclass
class TowerConfig:
    embedding_dim: int = 64  # width of each field's embedding bag
    hidden: tuple[int, ...] = (128,)  # MLP hidden layers; () = a single linear map
    output_dim: int = 64  # D, the size of the vectors whose dot product is the score
    dropout: float = 0.0  # dropout after each hidden layer
    l2_normalize: bool = True  # unit-length outputs: the score becomes a cosine
    temperature: float = 0.05  # scores are divided by this (only used with l2_normalize)
    linear_only: bool = False  # no MLP at all: output = sum of field embeddings (pure MF with ids)
    field_dims: dict = field(default_factory=dict)  # optional per-field embedding width overrides
    bias: bool = False  # linear_only: add a learned constant vector to each tower's output. A user with no
    #   inputs at all (no history) then gets that vector instead of zero: the model's "new user"

    def __post_init__(self):
        """Refuse out-of-range sizes when the config is built, naming the field: a width of -5 or 10**12
        is one line here, never a failed (or enormous) allocation in torch."""
        for name in ("embedding_dim", "output_dim"):
            check_range("TowerConfig", name, getattr(self, name), 1, MAX_WIDTH)
        check_range("TowerConfig", "hidden (number of layers)", len(self.hidden), 0, MAX_LAYERS)
        for size in self.hidden:
            check_range("TowerConfig", "hidden", size, 1, MAX_WIDTH)
        for name, size in self.field_dims.items():
            if not isinstance(name, str) or isinstance(size, bool) or not isinstance(size, int):
                raise ValueError(f"TowerConfig.field_dims: expected field name -> int, got "
                                 f"{reprlib.repr(name)}: {reprlib.repr(size)}")
            check_range("TowerConfig", f"field_dims[{name!r}]", size, 1, MAX_WIDTH)
        check_range("TowerConfig", "dropout", self.dropout, 0, 1, high_open=True)
        check_range("TowerConfig", "temperature", self.temperature, 0, 1000, low_open=True)


@dataclass
class TrainConfig:
    epochs: int = 20  # upper bound; early stopping usually ends sooner
    batch_size: int = 512  # B: also the number of in-batch negatives
    learning_rate: float = 3e-3  # Adam
    weight_decay: float = 0.0  # L2 penalty on all weights (Adam's, coupled)
    logq: str = "exact"  # "none", "exact" (training frequencies) or "streaming" (Yi et al. 2019 estimate)
    in_batch: bool = True  # use the other positives of the batch as negatives
    uniform_negatives: int = 0  # extra negatives drawn uniformly from the catalogue per batch (mixed if in_batch)
    impression_negatives: int = 0  # up to this many skipped impressions per example as hard negatives
    impression_weight: float = 1.0  # their weight in the softmax denominator
    mask_accidental_hits: bool = True  # never treat the positive item itself as a negative
    id_dropout: float = 0.0  # share of examples whose user/item id is replaced by the "unknown" id, so
    #   the towers also learn to embed from features alone (what cold items and new users get)
    patience: int = 2  # epochs without validation improvement before stopping
    eval_k: int = 10  # validation metric: recall@eval_k ...
    eval_users: int = 2000  # ... over at most this many validation users (sampled once, seeded)
    seed: int = 0  # numpy and torch seeds
    threads: int = 1  # torch intra-op threads: small towers train fastest on one (no thread hand-offs)
    progress: bool = True  # show a progress bar
    full_softmax: bool = False  # every catalogue item is a negative (the exact softmax, (B, n_items) logits;
    #   small catalogues only). Replaces in-batch and uniform negatives; needs no logQ correction.
    history_dropout: float = 0.0  # share of each example's history / liked-history tokens dropped at random
    #   in every batch (denoising, as Mult-DAE, Liang et al. 2018); never at serving time
    batch_features: bool = False  # build each batch's features when it is drawn (memory B x L) instead of
    #   every example's up front (memory n x L, faster for short histories); use it for long histories
    min_positive_value: float | None = None  # only events with value >= this are training positives
    #   (e.g. ratings >= 4); histories still hold every event. None: every event is a positive
    value_weights: bool = False  # weight each positive's loss by its value (e.g. its rating)
    optimizer: str = "adam"  # "adam", "adamw" (decoupled weight decay) or "adagrad" (the TFRS tutorial's)
    lr_schedule: str = "constant"  # "constant", or "cosine": the learning rate decays to 0 over the run's
    #   epochs (a steadier last epoch; meant for a fixed number of epochs, validation_fraction=0)
    eval_metric: str = "recall"  # early-stopping metric at eval_k: "recall", "ndcg", "hitrate", ...
    eval_exclude_seen: bool = True  # validation lists exclude training items (False: the TFRS protocol)
    user_batches: bool = False  # a batch is a set of users instead of interactions (see UserBatchLoss): each
    #   user's whole history is split at random into input and targets (a share history_dropout), and every
    #   target is scored against the full catalogue. Ignores event times: for random splits only. An epoch
    #   is then one pass over the users (batch_size users a batch)
    history_negative_weight: float = 1.0  # user_batches: weight of the items left visible in the softmax
    #   denominator. > 1 teaches the towers to rank a user's own history below other items: right where an
    #   item is consumed once (a movie is rated once) and the evaluation does not exclude seen items (TFRS);
    #   0 leaves them out of the softmax, as serving leaves seen items out of the lists
    time_softmax: bool = False  # softmax over the catalogue as of each event's time (time_softmax.py; additive
    #   linear item towers): for time-ordered data with dynamic item inputs
    snapshot_days: float | None = None  # time_softmax: item inputs precomputed every this many days (None: the
    #   shortest count window)

    def __post_init__(self):
        """Refuse settings that contradict each other when the config is built, naming the field."""
        for name, allowed in (("logq", LOGQ_MODES), ("optimizer", OPTIMIZERS), ("lr_schedule", LR_SCHEDULES),
                              ("eval_metric", METRIC_NAMES)):
            if getattr(self, name) not in allowed:
                _refuse(name, f"expected one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name, high in (("epochs", 100_000), ("batch_size", 2**24), ("patience", 100_000), ("eval_k", 10**6),
                           ("eval_users", 10**9), ("threads", 1024)):
            check_range("TrainConfig", name, getattr(self, name), 1, high)
        for name, high in (("uniform_negatives", 10**7), ("impression_negatives", 10_000)):
            check_range("TrainConfig", name, getattr(self, name), 0, high)
        for name in ("id_dropout", "history_dropout"):
            check_range("TrainConfig", name, getattr(self, name), 0, 1, high_open=True)
        if self.history_negative_weight < 0:
            _refuse("history_negative_weight", f"expected a weight >= 0, got {self.history_negative_weight}")
        for name in ("history_negative_weight", "weight_decay"):
            check_range("TrainConfig", name, getattr(self, name), 0, MAX_WEIGHT)
        check_range("TrainConfig", "impression_weight", self.impression_weight, 0, MAX_WEIGHT, low_open=True)
        check_range("TrainConfig", "learning_rate", self.learning_rate, 0, 100, low_open=True)
        check_range("TrainConfig", "seed", self.seed, 0, SEED_MAX)
        check_range("TrainConfig", "snapshot_days", self.snapshot_days, 0, MAX_DAYS, low_open=True, optional=True)
        check_range("TrainConfig", "min_positive_value", self.min_positive_value, -1e12, 1e12, optional=True)
        if self.user_batches:  # the denoising loss: a share of each history is the targets
            if self.history_dropout == 0.0:
                _refuse("history_dropout", "user_batches predicts the hidden share of each history: "
                                           "set 0 < history_dropout < 1")
            for name in ("min_positive_value", "value_weights", "impression_negatives"):
                if getattr(self, name):
                    _refuse(name, f"user_batches scores whole histories; {name} is for interaction batches only")
        elif self.history_negative_weight != 1.0:
            _refuse("history_negative_weight", "applies to user_batches only")
        elif self.full_softmax:
            for name in ("uniform_negatives", "impression_negatives"):
                if getattr(self, name):
                    _refuse(name, "full_softmax already scores every catalogue item: no extra negatives to add")
        elif not (self.in_batch or self.uniform_negatives or self.impression_negatives):
            _refuse("in_batch", "no negatives at all: keep in_batch, or add uniform_negatives or impression_negatives")


def _refuse(name: str, message: str):
    raise ValueError(f"TrainConfig.{name}: {message}")


@dataclass
class TwoTowerConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)  # what each tower sees
    towers: TowerConfig = field(default_factory=TowerConfig)  # how wide and deep the towers are
    training: TrainConfig = field(default_factory=TrainConfig)  # loss, negatives, schedule
    validation_protocol: str = "temporal"  # how to carve validation out of train (match the test protocol)
    validation_fraction: float = 0.1  # share of train used for early stopping
    refit: bool = True  # after early stopping, train again on all of train for the chosen epochs
    early_stopping: bool = True  # with a validation part: keep the best epoch on it. False (refit=False only):
    #   train for training.epochs on the rest and only hold the part out (the two-stage pipeline's ranker period)
    serve_at: str = "now"  # the moment each user is served: "now" (the end of training, as a live system) or
    #   "last-event" (just after the user's own last training event, with item inputs as of then: for
    #   leave-last-out, where each user's test event follows their own history, not the global cut)
    serve_on_full_train: bool = True  # refit=False: serve with features built on all of train (histories
    #   and counts up to its end, like every other model), not only on the part the towers were fitted on
    ensemble: int = 1  # K tower pairs trained independently (training seeds seed, seed+1, ...) and served as one,
    #   their vectors concatenated (towers.EnsembleModel: still one dot product); K times the fit time

    def __post_init__(self):
        if self.serve_at not in ("now", "last-event"):
            raise ValueError(f"TwoTowerConfig.serve_at: expected 'now' or 'last-event', got {self.serve_at!r}")
        if not self.early_stopping and self.refit:
            raise ValueError("TwoTowerConfig.early_stopping=False needs refit=False (refit trains for the epochs "
                             "early stopping chose)")
        if self.ensemble < 1:
            raise ValueError(f"TwoTowerConfig.ensemble: expected at least 1 tower pair, got {self.ensemble}")
        check_range("TwoTowerConfig", "ensemble", self.ensemble, 1, 64)
        check_range("TwoTowerConfig", "validation_fraction", self.validation_fraction, 0, 1, high_open=True)
        if self.validation_protocol not in PROTOCOLS:
            raise ValueError(f"TwoTowerConfig.validation_protocol: expected one of {', '.join(PROTOCOLS)}, "
                             f"got {reprlib.repr(self.validation_protocol)}")
