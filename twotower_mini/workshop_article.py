"""Checks and reference answers for three exercises: mixing negatives (05 · 2), finding a leak inside a
model's features (06 · 3), and one feature of the gradient-boosted-tree ranker (07 · 3).

Same conventions as `twotower_mini.workshop`: a check returns True and says so when the answer is right,
stays quiet with a hint when there is no answer yet (None), and raises AssertionError with a message
that helps when the answer is wrong. Mixed negative sampling: Yang et al. (2020).
"""
from __future__ import annotations

import numpy as np

from lineage.data import Interactions
from twotower_mini.features import FeatureBuilder
from twotower_mini.ranker_features import FEATURE_NAMES, RankingFeatures
from twotower_mini.workshop import _array, _close, _fail, _first_difference, _not_answered, _ok


# ---- 05 · 2: mixing negatives ---------------------------------------------------------------------
def check_mixed_negatives(config) -> bool:
    """Exercise 05 · 2: a TrainConfig with in-batch negatives (logQ-corrected) *and* uniform catalogue ones."""
    if config is None:
        return _not_answered("mixed should be a TrainConfig with in-batch negatives and some uniform negatives.")
    for name in ("in_batch", "uniform_negatives", "logq", "impression_negatives"):
        if not hasattr(config, name):
            _fail(f"mixed should be a TrainConfig (twotower_mini.train), got {type(config).__name__}")
    if not config.in_batch:
        _fail("Mixed negative sampling keeps the in-batch negatives: in_batch=True.")
    if config.uniform_negatives <= 0:
        _fail("Add uniform catalogue negatives: uniform_negatives=N with N > 0 (a few hundred, say).")
    if config.logq == "none":
        _fail("The in-batch negatives are drawn by popularity: keep their logQ correction (logq='exact').")
    if config.impression_negatives:
        _fail("This exercise mixes in-batch and uniform negatives only: impression_negatives=0.")
    return _ok(f"in-batch negatives with logQ plus {config.uniform_negatives} uniform negatives per batch.")


# ---- 06 · 3: a leak inside a model's features -----------------------------------------------------
class MysteryFeatures(FeatureBuilder):
    """A feature builder with one field built from the whole log (the future included): find which."""

    def user_features(self, users, times, target_items=None):
        out = super().user_features(users, times, target_items)
        if "liked_history" in out:
            users = np.asarray(users, dtype=np.int64)
            times = np.broadcast_to(np.asarray(times, dtype=np.float64), users.shape)
            positions = self.user_likes.last_before(users, times, self.config.history_length, leaky=True)
            event = self.user_likes.take(positions, -1)
            out["liked_history"] = np.where(event >= 0, self.train.items[event] + 2, 0)
        return out


def scrambled_after(data: Interactions, t: float, seed: int = 0) -> Interactions:
    """The same log before t; from t on, who viewed what (and liked it) is shuffled."""
    rng = np.random.default_rng(seed)
    future = data.times >= t
    users, items, values = data.users.copy(), data.items.copy(), data.values.copy()
    order = rng.permutation(int(future.sum()))
    users[future], items[future] = users[future][order], rng.permutation(items[future])
    values[future] = rng.permutation(values[future])
    return Interactions(users=users, items=items, times=data.times, values=values, user_ids=data.user_ids,
                        item_ids=data.item_ids, user_features=data.user_features, item_features=data.item_features)


def reference_leaking_fields(builder_class, data: Interactions, config, side, t: float, users, items) -> set[str]:
    """Fields whose value as of t changes when only the log from t on changes: they read the future."""
    before = builder_class(data, config, side)
    after = builder_class(scrambled_after(data, t), config, side)
    leaking = set()
    for name, values in before.user_features(users, t).items():
        if not np.array_equal(values, after.user_features(users, t)[name]):
            leaking.add(name)
    for name, values in before.item_features(items, t).items():
        if not np.array_equal(values, after.item_features(items, t)[name]):
            leaking.add(name)
    return leaking


def check_leaking_fields(answer, builder_class, data, config, side, t, users, items) -> bool:
    """Exercise 06 · 3: the set of field names of `builder_class` that leak the future."""
    if answer is None:
        return _not_answered("leaking should be a set of field names, e.g. {'history'}: the fields whose value "
                             "as of t changes when only events after t change.")
    answer = {answer} if isinstance(answer, str) else set(answer)
    expected = reference_leaking_fields(builder_class, data, config, side, t, users, items)
    honest = reference_leaking_fields(FeatureBuilder, data, config, side, t, users, items)
    if answer == expected:
        return _ok(f"{sorted(expected)} reads the future; every other field is point-in-time "
                   f"(the honest builder has {len(honest)} leaking fields).")
    if "history_weights" in answer or "weights" in " ".join(answer):
        _fail("Weights follow their bag: name the bag field itself.")
    missing, extra = expected - answer, answer - expected
    if missing and not extra:
        _fail(f"Some leaking field is missing from your answer ({len(missing)} of them). Compare every user *and* "
              "item field as of t on the true log and on a log scrambled from t on.")
    _fail(f"{sorted(extra)} do(es) not change when only the future changes: "
          f"{'that field is point-in-time' if extra else ''}. Compare each field as of t on the two logs.")


# ---- 07 · 3: one feature of the GBDT ranker -------------------------------------------------------
def reference_genre_affinity(train: Interactions, users, items, times) -> np.ndarray:
    """(n,) share of each user's views strictly before `times` in the item's genre (0 with no views)."""
    column = FEATURE_NAMES.index("genre_affinity")
    return RankingFeatures(train).compute(users, items, np.asarray(times, dtype=np.float64))[:, column].astype(np.float64)


def check_genre_affinity(answer, train: Interactions, users, items, times) -> bool:
    """Exercise 07 · 3: genre_affinity[j] = share of users[j]'s views before times[j] in items[j]'s genre."""
    if answer is None:
        return _not_answered(f"genre_affinity should be a ({len(users)},) array of shares between 0 and 1.")
    answer = _array(answer, "genre_affinity", (len(users),), "one share per row")
    expected = reference_genre_affinity(train, users, items, times)
    if _close(answer, expected):
        return _ok(f"genre_affinity matches twotower_mini.ranker_features for {len(users)} rows.")
    genre = np.asarray(train.item_features["genre"]).astype(str)
    times = np.asarray(times, dtype=np.float64)
    including = np.array([np.mean(genre[train.items[(train.users == u) & (train.times <= t)]] == genre[i])
                          if ((train.users == u) & (train.times <= t)).any() else 0.0
                          for u, i, t in zip(users, items, times)])
    everything = np.array([np.mean(genre[train.items[train.users == u]] == genre[i]) if (train.users == u).any() else 0.0
                           for u, i in zip(users, items)])
    if _close(answer, everything):
        _fail("You used every view of the user, the future included: count only views strictly before the row's time.")
    if _close(answer, including):
        _fail("You counted views at the row's own time (<= t): a feature must be known before the request, use < t.")
    if np.isnan(answer).any():
        _fail("A user with no views before t has share 0, not NaN (0 / 0).")
    _fail("Not yet: " + _first_difference(answer, expected))
