"""Checks and reference answers for the exercises of notebook 08 (real data through time):

    08 · 1: choose the recency window on validation carved by time

The check never needs MovieLens: it calls the learner's function on a small synthetic log whose
popularity drifts (items are released over time and fade), built by `drifting_log`, so the
exercise can be checked on any machine. The notebook then applies the same function to MovieLens.

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from lineage.data import Interactions
from lineage.metrics import evaluate_lists, users_with_test_events
from lineage.models.popularity import Popularity, RecentPopularity, RecentPopularityConfig
from lineage.splits import Split, split, validation_split
from workshop.checking import NotAnswered, as_array, call_learner, fail, is_close, not_answered, ok

DAY = 86400.0
K = 10
VALIDATION_FRACTION = 0.2  # validation = the last 20% of the training events, by time (as benchmarks/tune_lineage.py)
CHECK_FRACTIONS = (0.05, 0.1, 0.2, 0.5, 1.0)  # the windows the check asks about (shares of the fit period)


# ---- 08 · 1: choose the recency window on validation carved by time ----------------------------------
def ndcg_by_window(fit: Interactions, held_out: Interactions, fractions: Sequence[float], k: int = K) -> np.ndarray:
    """(len(fractions),) nDCG@k on `held_out` of recent popularity fitted on `fit`, counting the last
    share f of the fit period, for each f (seen items excluded, every user with a held-out event)."""
    users = users_with_test_events(held_out)
    scores = []
    for fraction in fractions:
        model = RecentPopularity(RecentPopularityConfig(window_fraction=float(fraction))).fit(fit)
        scores.append(evaluate_lists(model.recommend(users, k), users, fit, held_out, k)[f"ndcg@{k}"])
    return np.array(scores)


def reference_window_scores(parts: Split, fractions: Sequence[float]) -> np.ndarray:
    """(len(fractions),) validation nDCG@10 of each window: validation = the last 20% of parts.train by
    time (lineage.splits.validation_split, "temporal"), recent popularity fitted on the part before it.
    parts.test is never read."""
    inner = validation_split(parts.train, "temporal", fraction=VALIDATION_FRACTION)
    return ndcg_by_window(inner.train, inner.test, fractions)


def drifting_log(seed: int = 0, n_users: int = 400, n_items: int = 60, days: float = 120.0) -> Interactions:
    """A small time-ordered log whose popularity drifts, like MovieLens: items are released one after
    another and fade over about two weeks; users arrive over the whole period, take a few items each
    (never the same one twice), each in proportion to its popularity at that moment."""
    rng = np.random.default_rng(seed)
    release = np.sort(rng.uniform(-10.0, days - 10.0, n_items))  # (n_items,) day of release
    appeal = rng.lognormal(0.0, 0.7, n_items)  # (n_items,) some releases are hits
    users, items, times = [], [], []
    for user in range(n_users):
        arrival = rng.uniform(0.0, days - 5.0)
        when = np.sort(np.minimum(arrival + rng.exponential(8.0, rng.integers(3, 12)), days - 1e-3))
        taken: set[int] = set()
        for t in when:
            age = t - release
            weight = np.where(age >= 0, appeal * (np.exp(-age / 15.0) + 0.03), 0.0)
            weight[list(taken)] = 0.0
            if weight.sum() <= 0:
                continue
            item = int(rng.choice(n_items, p=weight / weight.sum()))
            taken.add(item)
            users.append(user)
            items.append(item)
            times.append(t * DAY)
    return Interactions(users=np.array(users), items=np.array(items), times=np.array(times),
                        values=np.ones(len(users)), user_ids=np.arange(n_users).astype(str),
                        item_ids=np.arange(n_items).astype(str), name="drifting")


def drifting_split(seed: int = 0) -> Split:
    """The check's problem: `drifting_log(seed)` split by time, the last 20% of its events as test."""
    return split(drifting_log(seed), "temporal", test_fraction=0.2)


def _mistakes(parts: Split, fractions: Sequence[float]) -> list[tuple[np.ndarray, str]]:
    """(scores, message) of the classic wrong ways to score the windows, first match wins."""
    train, test = parts.train, parts.test
    inner = validation_split(train, "temporal", fraction=VALIDATION_FRACTION)
    mistakes = [
        (ndcg_by_window(train, test, fractions),
         "Those are *test* scores: you fitted on parts.train and scored on parts.test. The test part is for one final "
         "measurement of the window you chose; a window chosen on it is tuned to the test set, and its test score is "
         "no longer an honest estimate. Carve the validation part out of parts.train, by time: "
         f"validation_split(parts.train, 'temporal', fraction={VALIDATION_FRACTION:g})."),
        (ndcg_by_window(inner.train, test, fractions),
         "You scored on parts.test: choosing the window on the test part tunes it to the test set. Score on the "
         "validation part (inner.test), the last 20% of the training events."),
    ]
    for carve in ("validation_split", "split"):
        for seed in (0, 1, 42):
            shuffled = (validation_split(train, "random", fraction=VALIDATION_FRACTION, seed=seed) if carve ==
                        "validation_split" else split(train, "random", VALIDATION_FRACTION, seed))
            mistakes.append((ndcg_by_window(shuffled.train, shuffled.test, fractions),
                             f"Your validation part was drawn at random ({carve}(..., 'random', ...)): its events are "
                             "spread over the whole training period, so the whole period predicts them best and the "
                             "recent windows look worse than they are, the very illusion notebook 08 section 1 shows "
                             "on the test split. Validate like you test, by time: the *last* 20% of the training "
                             "events (validation_split(parts.train, 'temporal', ...))."))
    users = users_with_test_events(inner.test)
    for exclude_seen in (True, False):
        leak = []
        for fraction in fractions:
            model = RecentPopularity(RecentPopularityConfig(window_fraction=float(fraction))).fit(train)
            lists = model.recommend(users, K, exclude_seen=exclude_seen)
            leak.append(evaluate_lists(lists, users, inner.train, inner.test, K)[f"ndcg@{K}"])
        mistakes.append((np.array(leak),
                         "You fitted recent popularity on the whole of parts.train, validation included: its window "
                         "ends at the last validation event, so it counts the events at and after the validation cut, "
                         "the very answers it is scored on"
                         + (" (and recommend() then drops each user's validation items as already seen)"
                            if exclude_seen else "") +
                         ". Fit on the part before the validation period (inner.train), score on the validation part "
                         "(inner.test)."))
    all_time = Popularity().fit(inner.train)
    mistakes.append((np.full(len(fractions), evaluate_lists(all_time.recommend(users, K), users, inner.train,
                                                            inner.test, K)[f"ndcg@{K}"]),
                     "Every window gave the same score, that of all-time popularity: count only the last share f "
                     "of the fit period, RecentPopularity(RecentPopularityConfig(window_fraction=f)), a new model "
                     "for each f."))
    return mistakes


def check_window_scores(window_scores: Callable | None, fractions: Sequence[float] = CHECK_FRACTIONS,
                        seed: int = 0) -> bool:
    """Exercise 08 · 1: window_scores(parts, fractions) -> the validation nDCG@10 of recent popularity
    for each window fraction, validation = the last 20% of parts.train by time; parts.test untouched.
    Called on `drifting_split(seed)`, a small synthetic log (no MovieLens needed)."""
    hint = ("write window_scores(parts, fractions): carve validation from parts.train by time "
            f"(validation_split(parts.train, 'temporal', fraction={VALIDATION_FRACTION:g})), fit "
            "RecentPopularity(RecentPopularityConfig(window_fraction=f)) on the part before it for each f, and "
            "return the validation nDCG@10 of each, one number per window.")
    if window_scores is None:
        return not_answered(hint)
    parts = drifting_split(seed)
    fractions = [float(f) for f in fractions]
    try:
        answer = call_learner(window_scores, "window_scores", parts, list(fractions))
    except NotAnswered:
        return not_answered(hint)
    answer = as_array(answer, "window_scores(parts, fractions)", (len(fractions),), "one validation nDCG@10 per window")
    expected = reference_window_scores(parts, fractions)
    table = "\n".join(f"    window {f:>5g}: expected {e:.4f}, got {a:.4f}" for f, e, a in zip(fractions, expected, answer))
    if is_close(answer, expected):
        best = fractions[int(np.argmax(expected))]
        return ok(f"validation nDCG@10 of {len(fractions)} windows on a synthetic drifting log, validation carved by "
                   f"time, test untouched (best window there: {best:g}).")
    if not np.all(np.isfinite(answer)):
        fail("window_scores returned NaN: no held-out user had an item left to find. That happens when the items "
              "of the part you score on are also in the log you passed to evaluate_lists as train (they are excluded "
              "as seen): fit and evaluate with the part *before* the validation period.\n" + table)
    where = f"On a synthetic drifting log, window_scores(parts, {fractions}) returned:\n{table}\n"
    for candidate, message in _mistakes(parts, fractions):
        if is_close(answer, candidate):
            fail(where + message)
    if np.ptp(answer) < 1e-9:
        fail(where + "Every window gave the same score: the window is not used. Fit a new "
              "RecentPopularity(RecentPopularityConfig(window_fraction=f)) for each f.")
    rising = bool(np.all(np.diff(answer) >= -1e-9)) and not bool(np.all(np.diff(expected) >= -1e-9))
    suspicion = ("Your scores grow with the window, as they do on a validation part drawn at random (events from the "
                 "whole period): is yours the *last* 20% of the training events? " if rising else "")
    fail(where + suspicion + "Validation: the last 20% of parts.train by time (validation_split(parts.train, "
          f"'temporal', fraction={VALIDATION_FRACTION:g})); fit on its .train, score nDCG@10 on its .test for the users "
          "with a validation event (evaluate_lists(model.recommend(users, 10), users, inner.train, inner.test, 10)).")
