"""Checks and reference answers for the exercises of notebook 07 (serving and ranking):

    07 · 1: recall of approximate search vs exact
    07 · 2: where the wanted items are lost
    07 · 3: one feature of the gradient-boosted-tree ranker

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from lineage.data import Interactions
from twotower_mini.ranker_features import FEATURE_NAMES, RankingFeatures
from workshop.checking import NotAnswered, as_array, call_learner, diagnose, fail, first_difference, is_close, not_answered, ok


# ---- 07 · 1: recall of approximate search vs exact --------------------------------------------------
def reference_search_recall(approximate, exact) -> float:
    """Share of the exact top-k ids that the approximate search also returned, over all queries
    (twotower_mini.ann.recall_vs_exact; with full exact lists, the mean over queries of
    |approximate_q ∩ exact_q| / k). -1 slots never count."""
    from twotower_mini.ann import recall_vs_exact

    return recall_vs_exact(approximate, exact)


SEARCH_RECALL_CASES = [  # (approximate, exact, note)
    (np.array([[1, 2, 3], [4, 5, 6]]), np.array([[1, 2, 3], [4, 5, 6]]), "identical lists"),
    (np.array([[3, 1, 2], [6, 4, 5]]), np.array([[1, 2, 3], [4, 5, 6]]), "same items, another order"),
    (np.array([[1, 9, 8], [7, 4, 0]]), np.array([[1, 2, 3], [4, 5, 6]]), "partial overlap"),
    (np.array([[1, 2, -1], [-1, -1, -1]]), np.array([[1, 2, 3], [4, 5, 6]]), "padding (-1): fewer results"),
    (np.array([[2, 3, 1, 7, 8], [9, 9, 4, 5, 6]]), np.array([[1, 2, 3, 4, 5], [4, 5, 6, 0, 1]]), "k = 5"),
]


def check_search_recall(recall_vs_exact: Callable | None) -> bool:
    """Exercise 07 · 1: recall_vs_exact(approximate, exact) -> mean share of the exact top-k found."""
    hint = ("write recall_vs_exact(approximate, exact): for each query, the share of the exact top-k items that "
            "the approximate search also returned (order does not matter, -1 is an empty slot), averaged.")
    if recall_vs_exact is None:
        return not_answered(hint)
    for approximate, exact, note in SEARCH_RECALL_CASES:
        try:
            got = call_learner(recall_vs_exact, "recall_vs_exact", approximate.copy(), exact.copy())
        except NotAnswered:
            return not_answered(hint)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail(f"recall_vs_exact should return one number (the mean over queries); got {type(got).__name__}.")
        expected = reference_search_recall(approximate, exact)
        if abs(got - expected) < 1e-9:
            continue
        positional = float(np.mean(approximate == exact))
        valid = approximate >= 0
        per_returned = float(np.mean([len(set(a[v].tolist()) & set(e.tolist())) / max(v.sum(), 1)
                                      for a, e, v in zip(approximate, exact, valid)]))
        diagnosis = diagnose(np.array(got), [
            (np.array(positional), "You compared positions (approximate == exact); recall compares *sets*: an item "
                                   "of the exact top-k found anywhere in the approximate list counts."),
            (np.array(per_returned), "You divided by the number of results returned; divide by k: a search that "
                                     "returns fewer items has missed the others."),
        ])
        fail(f"recall_vs_exact on {note} returned {got:.4f}, expected {expected:.4f} "
              f"(approximate={approximate.tolist()}, exact={exact.tolist()}).{diagnosis}")
    return ok(f"recall_vs_exact is right on {len(SEARCH_RECALL_CASES)} cases (order ignored, padding never a hit).")


# ---- 07 · 2: where the wanted items are lost ----------------------------------------------------------
def reference_two_losses(candidates, final, wanted) -> tuple[float, float, float]:
    """(missed by retrieval, missed by ranking, found): shares of all wanted (user, item) pairs, each pair
    counted once (as twotower_mini.pipeline.two_losses). candidates: (U, N) retrieved ids; final: (U, k)
    the ranker's top k among them; wanted: one set of item ids per user."""
    total = retrieved = found = 0
    for retrieved_row, final_row, items in zip(np.asarray(candidates), np.asarray(final), wanted):
        items = set(int(i) for i in items)
        total += len(items)
        retrieved += len(items & set(retrieved_row[retrieved_row >= 0].tolist()))
        found += len(items & set(final_row[final_row >= 0].tolist()))
    if total == 0:
        raise ValueError("nobody wants anything: no wanted items to lose")
    return (total - retrieved) / total, (retrieved - found) / total, found / total


TWO_LOSSES_CASES = [  # (candidates, final, wanted): users want different numbers of items
    (np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 1, 2, 3]]), np.array([[2, 1], [7, 5], [3, 9]]),
     [{1, 4, 10}, {8}, {2, 3, 11, 12, 13}]),
    (np.array([[4, 3, 2, 1, 0]]), np.array([[0, 1]]), [{0, 2, 9}]),
]


def check_two_losses(two_losses: Callable | None) -> bool:
    """Exercise 07 · 2: two_losses(candidates, final, wanted) -> (missed by retrieval, missed by ranking, found)."""
    hint = ("write two_losses(candidates, final, wanted) returning three shares of all wanted (user, item) "
            "pairs: not among the candidates, among them but not in the final list, in the final list.")
    if two_losses is None:
        return not_answered(hint)
    for candidates, final, wanted in TWO_LOSSES_CASES:
        try:
            got = call_learner(two_losses, "two_losses", candidates.copy(), final.copy(), [set(w) for w in wanted])
        except NotAnswered:
            return not_answered(hint)
        try:
            got = tuple(float(value) for value in got)
        except (TypeError, ValueError):
            fail(f"two_losses should return three numbers (missed by retrieval, missed by ranking, found); got "
                  f"{got!r}.")
        if len(got) != 3:
            fail(f"two_losses should return three numbers (missed by retrieval, missed by ranking, found); got {len(got)}.")
        expected = reference_two_losses(candidates, final, wanted)
        if is_close(got, expected, atol=1e-9):
            continue
        where = (f"on candidates={candidates.tolist()}, final={final.tolist()}, wanted={[sorted(w) for w in wanted]} "
                 f"two_losses returned {tuple(round(v, 4) for v in got)}, expected {tuple(round(v, 4) for v in expected)}")
        if abs(sum(got) - 1) > 1e-9:
            fail(f"{where}. The three shares must add up to 1: every wanted pair lands in exactly one bucket. "
                  "'Missed by ranking' counts only pairs that *were* retrieved but did not make the final list.")
        per_user = np.mean([reference_two_losses([c], [f], [w]) for c, f, w in zip(candidates, final, wanted)], axis=0)
        if is_close(got, per_user, atol=1e-9):
            fail(f"{where}. You averaged per-user shares; count every wanted (user, item) pair once instead "
                  "(sum the counts over users, then divide by the total number of wanted pairs), so that a user "
                  "who wants five items weighs five times as much as a user who wants one.")
        fail(f"{where}. Count, over all users: wanted pairs, those among the candidates, those in the final list.")
    return ok("two_losses splits every wanted (user, item) pair into exactly one of the three buckets.")


# ---- 07 · 3: one feature of the GBDT ranker -------------------------------------------------------
def reference_genre_affinity(train: Interactions, users, items, times) -> np.ndarray:
    """(n,) share of each user's views strictly before `times` in the item's genre (0 with no views)."""
    column = FEATURE_NAMES.index("genre_affinity")
    return RankingFeatures(train).compute(users, items, np.asarray(times, dtype=np.float64))[:, column].astype(np.float64)


def check_genre_affinity(answer, train: Interactions, users, items, times) -> bool:
    """Exercise 07 · 3: genre_affinity[j] = share of users[j]'s views before times[j] in items[j]'s genre."""
    if answer is None:
        return not_answered(f"genre_affinity should be a ({len(users)},) array of shares between 0 and 1.")
    answer = as_array(answer, "genre_affinity", (len(users),), "one share per row")
    expected = reference_genre_affinity(train, users, items, times)
    if is_close(answer, expected):
        return ok(f"genre_affinity matches twotower_mini.ranker_features for {len(users)} rows.")
    genre = np.asarray(train.item_features["genre"]).astype(str)
    times = np.asarray(times, dtype=np.float64)
    including = np.array([np.mean(genre[train.items[(train.users == u) & (train.times <= t)]] == genre[i])
                          if ((train.users == u) & (train.times <= t)).any() else 0.0
                          for u, i, t in zip(users, items, times)])
    everything = np.array([np.mean(genre[train.items[train.users == u]] == genre[i]) if (train.users == u).any() else 0.0
                           for u, i in zip(users, items)])
    if is_close(answer, everything):
        fail("You used every view of the user, the future included: count only views strictly before the row's time.")
    if is_close(answer, including):
        fail("You counted views at the row's own time (<= t): a feature must be known before the request, use < t.")
    if np.isnan(answer).any():
        fail("A user with no views before t has share 0, not NaN (0 / 0).")
    fail("Not yet: " + first_difference(answer, expected))
