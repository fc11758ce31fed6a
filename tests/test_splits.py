"""Splits: each protocol against its definition, on small logs."""
import numpy as np
import pytest

from lineage.data import Interactions
from lineage.splits import PROTOCOLS, split, validation_split


def random_log(n_events=2000, n_users=60, n_items=40, seed=0):
    rng = np.random.default_rng(seed)
    return Interactions(
        users=rng.integers(0, n_users, n_events), items=rng.integers(0, n_items, n_events),
        times=rng.integers(0, 10_000, n_events).astype(float), values=np.ones(n_events),
        user_ids=np.array([f"u{i}" for i in range(n_users)]), item_ids=np.array([f"i{i}" for i in range(n_items)]),
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_event_lands_in_exactly_one_part(protocol):
    data = random_log()
    parts = split(data, protocol, 0.2, seed=3)
    assert len(parts.train) + len(parts.test) == len(data)
    pairs = lambda d: sorted(zip(d.users.tolist(), d.items.tolist(), d.times.tolist()))
    assert pairs(parts.train.concat(parts.test)) == pairs(data)
    assert parts.train.n_items == data.n_items and parts.test.n_users == data.n_users


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_seed_same_split_other_seed_other_split(protocol):
    data = random_log()
    a, b = split(data, protocol, 0.2, seed=1), split(data, protocol, 0.2, seed=1)
    assert np.array_equal(a.test.users, b.test.users) and np.array_equal(a.test.items, b.test.items)
    if protocol not in ("temporal", "leave-last-out"):  # these two use the seed only to break time ties
        c = split(data, protocol, 0.2, seed=2)
        assert not (np.array_equal(a.test.users, c.test.users) and np.array_equal(a.test.times, c.test.times))


def test_temporal_split_never_trains_on_the_future():
    data = random_log()
    parts = split(data, "temporal", 0.25)
    assert parts.train.times.max() < parts.test.times.min()
    assert abs(len(parts.test) / len(data) - 0.25) < 0.02


def test_leave_last_out_takes_each_users_latest_event():
    data = random_log()
    parts = split(data, "leave-last-out", seed=0)
    assert np.all(np.bincount(parts.test.users, minlength=data.n_users) <= 1)
    for u in np.unique(parts.test.users):
        assert parts.test.times[parts.test.users == u][0] >= parts.train.times[parts.train.users == u].max()


@pytest.mark.parametrize("protocol,group", [("per-user", "users"), ("per-item", "items")])
def test_per_group_splits_hold_out_the_fraction_of_every_group(protocol, group):
    data = random_log()
    parts = split(data, protocol, 0.25, seed=0)
    total = np.bincount(getattr(data, group))
    held_out = np.bincount(getattr(parts.test, group), minlength=len(total))
    expected = np.where(total > 0, total - np.maximum(np.round(0.75 * total), 1), 0)
    assert np.array_equal(held_out, expected.astype(int))


def test_validation_is_carved_from_train_only():
    data = random_log()
    parts = split(data, "temporal", 0.2)
    inner = validation_split(parts.train, "temporal", 0.1)
    assert len(inner.train) + len(inner.test) == len(parts.train)
    assert inner.test.times.max() <= parts.test.times.min()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown protocol"):
        split(random_log(), "sideways")
    with pytest.raises(ValueError, match="between 0 and 1"):
        split(random_log(), "random", 1.5)
