"""Checks and reference answers for the exercises of notebook 06 (cold start, side information and leakage):

    06 · 1: a point-in-time count feature
    06 · 2: a genre profile that embeds new items
    06 · 3: a leak inside a model's features

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

import numpy as np

from lineage.data import Interactions
from twotower_mini.features import FeatureBuilder
from workshop.checking import as_array, diagnose, fail, first_difference, is_close, not_answered, ok

DAY = 86400.0


# ---- 06 · 1: a point-in-time count feature ------------------------------------------------------
def reference_point_in_time_counts(items, times, log_items, log_times, window_days: float) -> np.ndarray:
    """(n,) views of items[e] in the log with times[e] - window <= time < times[e]
    (twotower_mini.features.EventIndex.count_between)."""
    from twotower_mini.features import EventIndex

    log_items = np.asarray(log_items, dtype=np.int64)
    log_times = np.asarray(log_times, dtype=np.float64)
    n_items = int(max(log_items.max(initial=0), np.max(items, initial=0))) + 1
    index = EventIndex(log_items, log_times, np.zeros(len(log_items)), n_items)
    times = np.asarray(times, dtype=np.float64)
    return index.count_between(np.asarray(items, dtype=np.int64), times - window_days * DAY, times)


def check_point_in_time_counts(counts, items, times, log_items, log_times, window_days: float) -> bool:
    """Exercise 06 · 1: counts[e] = views of items[e] in [times[e] - window, times[e])."""
    items, times = np.asarray(items), np.asarray(times, dtype=np.float64)
    log_items, log_times = np.asarray(log_items), np.asarray(log_times, dtype=np.float64)
    if counts is None:
        return not_answered(f"counts should be a ({len(items)},) array: for each event, the views of its item in "
                             f"the {window_days:g} days *before* the event's time.")
    answer = as_array(counts, "counts", (len(items),), "one count per event")
    expected = reference_point_in_time_counts(items, times, log_items, log_times, window_days)
    if is_close(answer, expected):
        return ok(f"point-in-time {window_days:g}-day view counts match twotower_mini.features for {len(items)} events.")
    window = window_days * DAY

    def count(keep) -> np.ndarray:
        return np.array([np.sum((log_items == i) & keep(t)) for i, t in zip(items, times)], dtype=np.float64)

    diagnosis = diagnose(answer, [
        (count(lambda t: (log_times <= t) & (log_times >= t - window)),
         "You counted the event itself (time <= t). A feature must be known *before* the event: use time < t, "
         "otherwise every example carries its own answer."),
        (count(lambda t: np.ones_like(log_times, dtype=bool)),
         "You counted every view of the item in the whole log, the future included: that is leakage. Count only "
         "views before t."),
        (count(lambda t: (log_times >= t - window) & (log_times < t + window)),
         "Your window reaches into the future (after t): count only views before t."),
        (count(lambda t: log_times < t),
         f"Those are all views before t; keep only the last {window_days:g} days: t - window <= time < t, with "
         f"the window in seconds ({window_days:g} * 86400)."),
        (count(lambda t: (log_times >= t - window_days) & (log_times < t)),
         "Times are in seconds: the window is window_days * 86400 seconds."),
    ])
    fail(f"counts differ from the point-in-time counts ({first_difference(answer, expected)}).{diagnosis}")


# ---- 06 · 2: a genre profile that embeds new items --------------------------------------------------
def reference_genre_profile(train_users, train_items, item_genre, n_users: int, n_genres: int) -> np.ndarray:
    """(n_users, n_genres) share of each user's training views in each genre; 0 rows without views."""
    genre = np.asarray(item_genre)[np.asarray(train_items)]
    counts = np.zeros((n_users, n_genres))
    np.add.at(counts, (np.asarray(train_users), genre), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def check_genre_profile(profile, train, item_genre, n_genres: int, full_log=None) -> bool:
    """Exercise 06 · 2: profile[u, g] = share of u's *training* views in genre g (rows sum to 1, or 0)."""
    n_users = train.n_users
    if profile is None:
        return not_answered(f"profile should be an ({n_users}, {n_genres}) array: for each user, the share of their "
                             "training views in each genre.")
    answer = as_array(profile, "profile", (n_users, n_genres), "one share per user and genre")
    expected = reference_genre_profile(train.users, train.items, item_genre, n_users, n_genres)
    if is_close(answer, expected):
        return ok("the genre profile matches: shares of training views, 0 for users without training views.")
    if np.any(~np.isfinite(answer)):
        fail("profile has NaN or inf values: users with no training views divide 0 by 0. Give them a row of "
              "zeros (np.divide(..., where=totals > 0), or np.maximum(totals, 1)).")
    counts = np.zeros((n_users, n_genres))
    np.add.at(counts, (train.users, np.asarray(item_genre)[train.items]), 1.0)
    mistakes = [
        (counts, "Those are counts; divide each row by the user's number of training views so rows sum to 1."),
        (counts / np.maximum(counts.sum(axis=0, keepdims=True), 1), "You normalised each genre (column); normalise "
                                                                     "each user (row)."),
    ]
    if full_log is not None:
        mistakes.insert(0, (reference_genre_profile(full_log.users, full_log.items, item_genre, n_users, n_genres),
                            "You used the whole log, test period included: the profile must be built from training "
                            "events only, or it leaks the answers into the features."))
    fail(f"profile differs from the training genre shares ({first_difference(answer, expected)})."
          f"{diagnose(answer, mistakes)}")


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


def reference_leaking_fields(builder_class, data: Interactions, config, side, t: float, users, items) -> set[str]:
    """Fields whose value as of t changes when only the log from t on changes: they read the future."""
    from twotower_mini.leakage import fields_that_read_the_future

    return fields_that_read_the_future(builder_class, data, config, side, t, users, items, seeds=(0,))


def check_leaking_fields(answer, builder_class, data, config, side, t, users, items) -> bool:
    """Exercise 06 · 3: the set of field names of `builder_class` that leak the future."""
    if answer is None:
        return not_answered("leaking should be a set of field names, e.g. {'history'}: the fields whose value "
                             "as of t changes when only events after t change.")
    answer = {answer} if isinstance(answer, str) else set(answer)
    expected = reference_leaking_fields(builder_class, data, config, side, t, users, items)
    honest = reference_leaking_fields(FeatureBuilder, data, config, side, t, users, items)
    if answer == expected:
        return ok(f"{sorted(expected)} reads the future; every other field is point-in-time "
                   f"(the honest builder has {len(honest)} leaking fields).")
    if "history_weights" in answer or "weights" in " ".join(answer):
        fail("Weights follow their bag: name the bag field itself.")
    missing, extra = expected - answer, answer - expected
    if missing and not extra:
        fail(f"Some leaking field is missing from your answer ({len(missing)} of them). Compare every user *and* "
              "item field as of t on the true log and on a log whose future was changed (change_future).")
    fail(f"{sorted(extra)} do(es) not change when only the future changes: "
          f"{'that field is point-in-time' if extra else ''}. Compare each field as of t on the two logs.")
