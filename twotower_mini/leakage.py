"""The point-in-time test: change only the future, and no feature as of t may move.

A feature "as of t" must be a function of events strictly before t. The direct test: build the
features twice, on the true log and on a log whose future (every event at or after t) was changed,
and compare them at t. How the future is changed matters. Shuffling the future events among
themselves keeps every total: each item's future count, each user's future count, the value sum.
A feature built from an all-time aggregate (an item's total views, the future included) would not
move, and the leak would pass. So `change_future` *removes* some future events and *adds* new ones
(random users, items, times and values), and adds future searches: every aggregate that reads the
future then changes with high probability.

What it leaves alone, on purpose: the vocabularies. Ids and search words are fitted on the whole
training log, as any model's are (an item first viewed after t still has its own id row). So the
change never makes a user, an item or a search word appear or vanish from the log: it removes only
future events whose user and item also occur before t, adds events of users and items the log
already has, adds copies of searches whose words all occur at least `min_token_count` times, and
keeps the latest event (the time scale of the log stays the same).

    from twotower_mini.leakage import change_future, fields_that_read_the_future
    leaking = fields_that_read_the_future(FeatureBuilder, data, config, side, t, users, items)   # set()

Reference: Kaufman et al. (2012), "Leakage in data mining: formulation, detection, and avoidance".
"""
from __future__ import annotations

import numpy as np

from lineage.data import Interactions
from twotower_mini.features import SideLog

__all__ = ["change_future", "fields_that_read_the_future"]

KEEP_SHARE = 0.5  # the share of future events kept; the rest are removed, and as many new ones added


def _new_times(rng: np.random.Generator, t: float, latest: float, n: int) -> np.ndarray:
    """n times at or after t (up to the latest time of the log, or t itself)."""
    return t + rng.random(n) * max(latest - t, 0.0)


def _changed_events(data: Interactions, t: float, rng: np.random.Generator) -> Interactions:
    """Events before t untouched; from t on, about half removed (where that keeps the vocabularies)
    and as many new ones added."""
    future = data.times >= t
    in_past = lambda index, n: np.bincount(index[~future], minlength=n) > 0  # noqa: E731
    removable = future & in_past(data.users, data.n_users)[data.users] & in_past(data.items, data.n_items)[data.items]
    removable &= data.times < data.times.max()  # the latest event stays: the log's time span is unchanged
    keep = ~removable | (rng.random(len(data)) < KEEP_SHARE)
    n_new = max(1, int(future.sum()))
    latest = float(data.times.max())
    return Interactions(
        users=np.r_[data.users[keep], rng.choice(data.users, n_new)],
        items=np.r_[data.items[keep], rng.choice(data.items, n_new)],
        times=np.r_[data.times[keep], _new_times(rng, t, latest, n_new)],
        values=np.r_[data.values[keep], rng.choice(data.values, n_new)].astype(data.values.dtype),
        user_ids=data.user_ids, item_ids=data.item_ids, user_features=data.user_features,
        item_features=data.item_features, name=f"{data.name} (future changed from t={t:g})")


def _changed_searches(side: SideLog | None, t: float, min_count: int, rng: np.random.Generator):
    """The searches with as many new ones at or after t, each a copy of a query whose words are all
    in the vocabulary already (so no word enters or leaves it)."""
    if side is None or side.search_times is None or not len(side.search_times):
        return side
    words = [str(query).split() for query in side.search_queries]  # as FeatureBuilder splits them
    tokens, counts = np.unique([w for row in words for w in row] or [""], return_counts=True)
    frequent = set(tokens[counts >= min_count].tolist())
    safe = [q for q, row in zip(side.search_queries, words) if row and set(row) <= frequent]
    if not safe:
        return side
    n_new = max(1, int((side.search_times >= t).sum()))
    latest = float(side.search_times.max())
    return SideLog(search_users=np.r_[side.search_users, rng.choice(side.search_users, n_new)],
                   search_times=np.r_[side.search_times, _new_times(rng, t, latest, n_new)],
                   search_queries=list(side.search_queries) + [safe[j] for j in rng.integers(0, len(safe), n_new)],
                   view_session=side.view_session, skipped_by_session=side.skipped_by_session)


def change_future(data: Interactions, t: float, seed: int = 0, side: SideLog | None = None, min_count: int = 2):
    """(data, side) with everything before t as it was, and the future changed (module docstring).
    min_count: the feature config's min_token_count (search words rarer than that are left alone)."""
    rng = np.random.default_rng(seed)
    return _changed_events(data, t, rng), _changed_searches(side, t, max(min_count, 1), rng)


def fields_that_read_the_future(builder_class, data: Interactions, config, side, t: float, users, items,
                                seeds=(0, 1, 2)) -> set[str]:
    """Names of the user and item fields whose value as of t moves when only the future changes
    (tried with a few changed futures, so a field that moves on one of them is caught)."""
    before = builder_class(data, config, side)
    now_users, now_items = before.user_features(users, t), before.item_features(items, t)
    moved = set()
    for seed in seeds:
        changed, changed_side = change_future(data, t, seed, side, config.min_token_count)
        after = builder_class(changed, config, changed_side)
        for now, later in ((now_users, after.user_features(users, t)), (now_items, after.item_features(items, t))):
            moved |= {name for name, values in now.items() if not np.array_equal(values, later[name])}
    return moved
