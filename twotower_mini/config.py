"""Every setting of the two-tower model in one place: what the towers see, how they are built, how
they are trained, and how they are fitted and served. Each config is frozen (change one with
`dataclasses.replace`) and validates its fields when it is built (`check_range`, the allowed values
of every `Literal` string, and one-line ValueErrors naming the field), so a bad value, typed in or
read from a checkpoint, is refused before anything is built from it.

The loss is one field, `TrainConfig.loss`, whose value carries its own settings: `SampledSoftmax`
(the default), `SnapshotSoftmax` (the same, with every negative as of its example's event),
`FullSoftmax`, `DenoisingUsers` or `TimeSoftmax`. A setting that only one loss uses
lives in that loss, so no combination of switches can contradict another.

    from dataclasses import replace
    from twotower_mini.config import FeatureConfig, SampledSoftmax, TowerConfig, TrainConfig, TwoTowerConfig
    config = TwoTowerConfig(features=FeatureConfig(history_length=20), towers=TowerConfig(output_dim=32),
                            training=TrainConfig(epochs=5, loss=SampledSoftmax(uniform_negatives=256)))
    shorter = replace(config, training=replace(config.training, epochs=2))
"""
from __future__ import annotations

import functools
import numbers
import reprlib
import typing
from dataclasses import dataclass, field, fields
from typing import Literal

from lineage.metrics import METRIC_NAMES
from lineage.splits import PROTOCOLS

__all__ = ["FeatureConfig", "TowerConfig", "TrainConfig", "TwoTowerConfig", "SampledSoftmax", "SnapshotSoftmax",
           "FullSoftmax", "DenoisingUsers", "TimeSoftmax", "Loss", "LOSSES", "logit_scale", "check_range",
           "check_choices", "SEED_MAX", "USER_SEGMENTS"]

# The string settings: each a Literal, so the allowed values are written once, in the type.
HistoryMode = Literal["before", "all-but-target"]
LogQ = Literal["none", "exact", "streaming"]
Optimiser = Literal["adam", "adamw", "adagrad"]
Schedule = Literal["constant", "cosine"]
Metric = Literal[METRIC_NAMES]  # lineage.metrics' names: recall, ndcg, hitrate, ...
SplitProtocol = Literal[PROTOCOLS]  # lineage.splits' protocols: temporal, leave-last-out, ...
ServeAt = Literal["now", "last-event"]

MAX_LENGTH = 100_000  # longest history / search bag: serving builds (8192, L) arrays per chunk of users
MAX_DAYS = 36_500.0  # longest time span a setting may name: 100 years
MAX_WINDOWS = 64  # most count windows
MAX_WIDTH = 65_536  # widest embedding, hidden layer or output vector
MAX_LAYERS = 32  # deepest MLP
SEED_MAX = 2**32 - 1  # numpy's legacy and torch's seeds are unsigned 32-bit
MAX_WEIGHT = 1e6  # largest loss weight or weight decay
MAX_TEMPERATURE = 1000.0  # highest softmax temperature


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


def check_choices(config) -> None:
    """Refuse a string setting that is not one of the values its `Literal[...]` type allows, in one line
    naming the field and the allowed values. Every config's __post_init__ calls it."""
    for name, allowed in _choices(type(config)).items():
        value = getattr(config, name)
        if not (isinstance(value, str) and value in allowed):
            raise ValueError(f"{type(config).__name__}.{name}: expected one of {', '.join(allowed)}, "
                             f"got {reprlib.repr(value)}")


@functools.cache
def _choices(cls) -> dict[str, tuple[str, ...]]:
    """{field name: its allowed values} for every field of `cls` typed Literal[...]."""
    hints = typing.get_type_hints(cls)
    return {f.name: typing.get_args(hints[f.name]) for f in fields(cls)
            if typing.get_origin(hints[f.name]) is Literal}


@dataclass(frozen=True)
class FeatureConfig:
    history_length: int = 50  # most recent items kept in the user's history bag
    history_mode: HistoryMode = "before"  # "before": events before t (point-in-time); "all-but-target": every
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
    history_gap_days: float = 0.0  # TimeSoftmax training only: an example at t sees the history before
    #   t - gap, so it learns to predict the next visit from earlier visits (as a split by time asks: the
    #   test events come after a break), not the next click of the same session; a user's first visit
    #   then trains the "new user". Serving always uses the whole history up to now
    item_age: bool = False  # an "item_age" input: log-days since the item's first event before t (0 and a
    #   "not seen yet" flag before it); new releases draw their audience early in their life
    liked_by_length: int = 0  # an item-side bag "liked_by": the last this many users who liked the item before t
    #   (their user-id rows; the item-side mirror of the user's liked history); 0 = off
    use_user_id: bool = False  # a user-id embedding: memorises, but new users have none
    use_item_id: bool = True  # an item-id embedding: memorises, but new items have none
    min_token_count: int = 2  # tokens seen fewer times in training become "unknown"
    drop: tuple[str, ...] = ()  # field names to leave out (ablations)
    leaky: bool = False  # DEMONSTRATION ONLY: compute features from the whole log, future included

    def __post_init__(self):
        """Refuse out-of-range settings when the config is built, naming the field."""
        check_choices(self)
        for name in ("history_length", "recent_length", "search_words", "liked_by_length"):
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


@dataclass(frozen=True)
class TowerConfig:
    embedding_dim: int = 64  # width of each field's embedding bag
    hidden: tuple[int, ...] = (128,)  # MLP hidden layers; () = a single linear map
    output_dim: int = 64  # D, the size of the vectors whose dot product is the score
    dropout: float = 0.0  # dropout after each hidden layer
    l2_normalize: bool = True  # unit-length outputs: the score becomes a cosine, which the loss's temperature
    #   sharpens (see logit_scale)
    linear_only: bool = False  # no MLP at all: output = sum of field embeddings (pure MF with ids)
    field_dims: dict = field(default_factory=dict)  # optional per-field embedding width overrides (read, never
    #   changed: a frozen config with a dict in it is unhashable, which is fine)
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


# ---- the losses: one of them is TrainConfig.loss, with the settings that loss uses ---------------------
@dataclass(frozen=True)
class SampledSoftmax:
    """Each user picks out their own item among sampled negatives, from up to three sources (batches.BatchLoss):
    the other positives of the batch, logQ-corrected (Yi et al. 2019, "Sampling-bias-corrected neural
    modeling"), items drawn uniformly from the catalogue (with in-batch ones: mixed negative sampling,
    Yang et al. 2020), and the items shown in the user's session and skipped (hard negatives)."""

    temperature: float = 0.05  # with L2-normalised towers, every score is divided by this (see logit_scale)
    in_batch: bool = True  # the other positives of the batch are negatives
    uniform_negatives: int = 0  # extra negatives drawn uniformly from the catalogue per batch, shared by its rows
    impression_negatives: int = 0  # up to this many skipped impressions per example as hard negatives
    impression_weight: float = 1.0  # their weight in the softmax denominator
    logq: LogQ = "exact"  # the sampling-bias correction: "none", "exact" (training frequencies) or "streaming"
    #   (Yi et al. 2019's estimate from the stream of batches)
    mask_accidental_hits: bool = True  # never treat the positive item itself as a negative

    def __post_init__(self):
        check_choices(self)
        check_range("SampledSoftmax", "temperature", self.temperature, 0, MAX_TEMPERATURE, low_open=True)
        check_range("SampledSoftmax", "uniform_negatives", self.uniform_negatives, 0, 10**7)
        check_range("SampledSoftmax", "impression_negatives", self.impression_negatives, 0, 10_000)
        check_range("SampledSoftmax", "impression_weight", self.impression_weight, 0, MAX_WEIGHT, low_open=True)
        if not (self.in_batch or self.uniform_negatives or self.impression_negatives):
            raise ValueError("SampledSoftmax.in_batch: no negatives at all: keep in_batch, or add uniform_negatives "
                             "or impression_negatives")


@dataclass(frozen=True)
class SnapshotSoftmax(SampledSoftmax):
    """The sampled softmax with the point-in-time rule applied to its negatives (batches.ItemSnapshots).

    In SampledSoftmax an in-batch negative keeps the time-dependent inputs (counts, ages) of its own
    example's event, another row's, and a uniform negative those of a random row's. Here every candidate
    of a row, its positive included, has them as of that row's event, as TimeSoftmax does for the whole
    catalogue: item inputs are precomputed on a grid of moments `snapshot_days` apart, and a row reads the
    latest moment at or before its event. Every setting of SampledSoftmax applies."""

    snapshot_days: float = 1.0  # the grid step: a row's candidates are at most this many days stale

    def __post_init__(self):
        super().__post_init__()
        check_range("SnapshotSoftmax", "snapshot_days", self.snapshot_days, 0, MAX_DAYS, low_open=True)


@dataclass(frozen=True)
class FullSoftmax:
    """The exact softmax: every catalogue item is a negative ((B, n_items) logits per batch, so for small
    catalogues), nothing is sampled and nothing needs a logQ correction (batches.BatchLoss)."""

    temperature: float = 0.05  # with L2-normalised towers, every score is divided by this (see logit_scale)

    def __post_init__(self):
        check_range("FullSoftmax", "temperature", self.temperature, 0, MAX_TEMPERATURE, low_open=True)


@dataclass(frozen=True)
class DenoisingUsers:
    """A batch is a set of users (batches.UserBatchLoss): each user's whole history is split at random into
    input and targets (TrainConfig.history_dropout is the share hidden), and every target is scored against
    the full catalogue: the two-tower form of Mult-DAE (Liang et al. 2018, "Variational autoencoders for
    collaborative filtering"). Ignores event times: for random splits only. An epoch is one pass over the
    users (TrainConfig.batch_size users a batch)."""

    temperature: float = 0.05  # with L2-normalised towers, every score is divided by this (see logit_scale)
    history_negative_weight: float = 1.0  # weight of the items left visible in the softmax denominator. > 1
    #   teaches the towers to rank a user's own history below other items: right where an item is consumed
    #   once (a movie is rated once) and the evaluation does not exclude seen items (TFRS); 0 leaves them out
    #   of the softmax, as serving leaves seen items out of the lists

    def __post_init__(self):
        check_range("DenoisingUsers", "temperature", self.temperature, 0, MAX_TEMPERATURE, low_open=True)
        check_range("DenoisingUsers", "history_negative_weight", self.history_negative_weight, 0, MAX_WEIGHT)


@dataclass(frozen=True)
class TimeSoftmax:
    """A softmax over the catalogue as it was at each event's time (time_softmax.TimeSoftmaxLoss), for
    time-ordered data with dynamic item inputs (Covington et al. 2016's full softmax with "example age").
    It needs additive, unnormalised towers, TowerConfig(linear_only=True, l2_normalize=False), so it has
    no temperature: the vectors learn their own scale."""

    snapshot_days: float | None = None  # item inputs precomputed every this many days (None: the shortest
    #   count window)
    sampled_above: int = 2048  # a catalogue larger than this is not scored whole: each batch shares `negatives`
    #   items drawn in proportion to (count + 1)^0.75, each corrected by log(negatives x q) (sampled softmax).
    #   Twice `negatives`: a whole catalogue below it costs at most twice a sample (fit time against catalogue
    #   size and the quality cost on ML-100K: benchmarks/time_checks.py, in REPORT)
    negatives: int = 1024  # items drawn per batch when the catalogue is sampled

    def __post_init__(self):
        check_range("TimeSoftmax", "snapshot_days", self.snapshot_days, 0, MAX_DAYS, low_open=True, optional=True)
        check_range("TimeSoftmax", "sampled_above", self.sampled_above, 0, 10**9)
        check_range("TimeSoftmax", "negatives", self.negatives, 1, 10**7)


Loss = SampledSoftmax | FullSoftmax | DenoisingUsers | TimeSoftmax | SnapshotSoftmax  # what TrainConfig.loss may be
LOSSES = typing.get_args(Loss)  # the loss classes, for isinstance


def logit_scale(loss: Loss, towers: TowerConfig) -> float:
    """The factor on every dot product, in the loss and in served scores: 1 / loss.temperature when the
    towers are L2-normalised, else 1. A cosine lies in [-1, 1], too narrow for a softmax over many items,
    so a temperature sharpens it (Yi et al. 2019; 0.05 turns it into a logit in [-20, 20]); unnormalised
    vectors learn their own lengths, and their scores are used as they are (TimeSoftmax needs those)."""
    return 1.0 / loss.temperature if towers.l2_normalize and not isinstance(loss, TimeSoftmax) else 1.0


@dataclass(frozen=True)
class TrainConfig:
    loss: Loss = SampledSoftmax()  # what each batch is scored by, with that loss's own settings:
    #   SampledSoftmax(), SnapshotSoftmax(), FullSoftmax(), DenoisingUsers() or TimeSoftmax()
    epochs: int = 20  # upper bound; early stopping usually ends sooner
    batch_size: int = 512  # B: examples a batch (users, with DenoisingUsers); also the number of in-batch negatives
    learning_rate: float = 3e-3  # Adam
    weight_decay: float = 0.0  # L2 penalty on all weights (Adam's, coupled)
    id_dropout: float = 0.0  # share of examples whose user/item id is replaced by the "unknown" id, so
    #   the towers also learn to embed from features alone (what cold items and new users get)
    patience: int = 2  # epochs without validation improvement before stopping
    eval_k: int = 10  # validation metric: recall@eval_k ...
    eval_users: int = 2000  # ... over at most this many validation users (sampled once, seeded)
    seed: int = 0  # numpy and torch seeds
    threads: int = 1  # torch intra-op threads: small towers train fastest on one (no thread hand-offs)
    progress: bool = True  # show a progress bar
    history_dropout: float = 0.0  # share of each example's history / liked-history tokens dropped at random
    #   in every batch (denoising, as Mult-DAE, Liang et al. 2018); never at serving time. With DenoisingUsers
    #   the hidden items are the targets, so it must lie strictly between 0 and 1
    batch_features: bool = False  # build each batch's features when it is drawn (memory B x L) instead of
    #   every example's up front (memory n x L, faster for short histories); use it for long histories
    min_positive_value: float | None = None  # only events with value >= this are training positives
    #   (e.g. ratings >= 4); histories still hold every event. None: every event is a positive
    value_weights: bool = False  # weight each positive's loss by its value (e.g. its rating)
    optimiser: Optimiser = "adam"  # "adam", "adamw" (decoupled weight decay) or "adagrad" (the TFRS tutorial's)
    lr_schedule: Schedule = "constant"  # "constant", or "cosine": the learning rate decays to 0 over the run's
    #   epochs (a steadier last epoch; meant for a fixed number of epochs, validation_fraction=0)
    eval_metric: Metric = "recall"  # early-stopping metric at eval_k: "recall", "ndcg", "hitrate", ...
    eval_exclude_seen: bool = True  # validation lists exclude training items (False: the TFRS protocol)

    def __post_init__(self):
        """Refuse out-of-range settings, and the few that the chosen loss cannot honour, naming the field."""
        if not isinstance(self.loss, LOSSES):
            raise ValueError(f"TrainConfig.loss: expected one of {', '.join(c.__name__ for c in LOSSES)}, "
                             f"got {reprlib.repr(self.loss)}")
        check_choices(self)
        for name, high in (("epochs", 100_000), ("batch_size", 2**24), ("patience", 100_000), ("eval_k", 10**6),
                           ("eval_users", 10**9), ("threads", 1024)):
            check_range("TrainConfig", name, getattr(self, name), 1, high)
        for name in ("id_dropout", "history_dropout"):
            check_range("TrainConfig", name, getattr(self, name), 0, 1, high_open=True)
        check_range("TrainConfig", "weight_decay", self.weight_decay, 0, MAX_WEIGHT)
        check_range("TrainConfig", "learning_rate", self.learning_rate, 0, 100, low_open=True)
        check_range("TrainConfig", "seed", self.seed, 0, SEED_MAX)
        check_range("TrainConfig", "min_positive_value", self.min_positive_value, -1e12, 1e12, optional=True)
        if isinstance(self.loss, DenoisingUsers) and self.history_dropout == 0.0:
            raise ValueError("TrainConfig.history_dropout: DenoisingUsers predicts the hidden share of each history: "
                             "set 0 < history_dropout < 1")
        if self.id_dropout and isinstance(self.loss, SnapshotSoftmax):
            raise ValueError("TrainConfig.id_dropout: SnapshotSoftmax scores each distinct item of a batch once per "
                             "moment, and id dropout would make its copies differ")
        if isinstance(self.loss, (DenoisingUsers, TimeSoftmax)):  # every event of the log is an equal positive
            for name, is_set in (("min_positive_value", self.min_positive_value is not None),
                                 ("value_weights", self.value_weights)):
                if is_set:
                    raise ValueError(f"TrainConfig.{name}: {type(self.loss).__name__} takes every event as an "
                                     f"equal positive; {name} is for SampledSoftmax and FullSoftmax")


USER_SEGMENTS = ("with_history", "without_history")  # users with training events, and users without


@dataclass(frozen=True)
class TwoTowerConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)  # what each tower sees
    towers: TowerConfig = field(default_factory=TowerConfig)  # how wide and deep the towers are
    training: TrainConfig = field(default_factory=TrainConfig)  # the loss and its negatives, the schedule
    validation_protocol: SplitProtocol = "temporal"  # how to carve validation out of train (match the test protocol)
    validation_fraction: float = 0.1  # share of train used for early stopping
    refit: bool = True  # after early stopping, train again on all of train for the chosen epochs
    early_stopping: bool = True  # with a validation part: keep the best epoch on it. False (refit=False only):
    #   train for training.epochs on the rest and only hold the part out (the two-stage pipeline's ranker period)
    serve_at: ServeAt = "now"  # the moment each user is served: "now" (the end of training, as a live system) or
    #   "last-event" (just after the user's own last training event, with item inputs as of then: for
    #   leave-last-out, where each user's test event follows their own history, not the global cut)
    serve_on_full_train: bool = True  # refit=False: serve with features built on all of train (histories
    #   and counts up to its end, like every other model), not only on the part the towers were fitted on
    ensemble: int = 1  # K tower pairs trained independently (training seeds seed, seed+1, ...) and served as one,
    #   their vectors concatenated (towers.EnsembleModel: still one dot product); K times the fit time
    history_weight: float = 1.0  # serving: a user's vector is the no-history vector (the tower's learned constant)
    #   plus this share of what their inputs add; 1 = the towers as trained (twotower_mini.selection chooses it)
    recent_popularity_for: tuple[str, ...] = ()  # serving: user segments ("with_history": users with training
    #   events; "without_history") served by recent popularity (counts over the last tenth of the training period)
    #   instead of the towers; twotower_mini.selection names a segment when the towers scored lower there on validation
    select_on_validation: bool = False  # fit: first choose the time-ordered recipe's history gap, epochs,
    #   history_weight and recent_popularity_for on a validation part carved by time from train
    #   (twotower_mini.selection), then fit

    def __post_init__(self):
        check_choices(self)
        if not self.early_stopping and self.refit:
            raise ValueError("TwoTowerConfig.early_stopping=False needs refit=False (refit trains for the epochs "
                             "early stopping chose)")
        if self.ensemble < 1:
            raise ValueError(f"TwoTowerConfig.ensemble: expected at least 1 tower pair, got {self.ensemble}")
        check_range("TwoTowerConfig", "ensemble", self.ensemble, 1, 64)
        check_range("TwoTowerConfig", "validation_fraction", self.validation_fraction, 0, 1, high_open=True)
        check_range("TwoTowerConfig", "history_weight", self.history_weight, 0, 1)
        unknown = [segment for segment in self.recent_popularity_for if segment not in USER_SEGMENTS]
        if unknown or len(set(self.recent_popularity_for)) != len(self.recent_popularity_for):
            raise ValueError(f"TwoTowerConfig.recent_popularity_for: expected distinct segments among "
                             f"{', '.join(USER_SEGMENTS)}, got {list(self.recent_popularity_for)}")
        if self.features.liked_by_length and isinstance(self.training.loss, (TimeSoftmax, SnapshotSoftmax)):
            raise ValueError("TwoTowerConfig.features.liked_by_length: TimeSoftmax and SnapshotSoftmax take item bags "
                             "as fixed in time; the liked_by bag moves")
        additive = self.towers.linear_only and not self.towers.l2_normalize
        if isinstance(self.training.loss, TimeSoftmax) and not additive:
            raise ValueError("TwoTowerConfig.towers: TimeSoftmax needs additive towers: "
                             "TowerConfig(linear_only=True, l2_normalize=False)")

    @property
    def scale(self) -> float:
        """The factor on every dot product, in training and serving (logit_scale of the loss and the towers)."""
        return logit_scale(self.training.loss, self.towers)
