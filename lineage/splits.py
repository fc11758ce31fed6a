"""Train/test splits, shared by every model in the suite.

Five protocols, because the split changes which model wins (a lesson of notebook 00):

- ``temporal``        global time cut: everything before a moment is train, after is test. The
                      honest default: no model may see the future (Meng et al. 2020, "Exploring
                      data splitting strategies for the evaluation of recommendation models").
- ``leave-last-out``  each user's last event is test (the classic NCF / SASRec protocol).
- ``per-user``        each user's events shuffled, a fraction of them goes to test.
- ``per-item``        each item's events shuffled, a fraction of them goes to test: the Microsoft
                      Recommenders benchmark protocol (`python_stratified_split(filter_by="item")`).
- ``random``          a plain random share of all events (the TensorFlow Recommenders tutorial).

Every split returns `Interactions` over the same vocabulary as its input, so users and items that
appear only in the test part keep their indices (they are "cold"). Tuning must never look at the
test part: `validation_split` carves a validation part out of train with the same protocol.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lineage.data import Interactions

PROTOCOLS = ("temporal", "leave-last-out", "per-user", "per-item", "random")


@dataclass
class Split:
    train: Interactions
    test: Interactions
    protocol: str
    seed: int

    def __repr__(self) -> str:
        return f"Split({self.protocol}, seed={self.seed}: train {len(self.train):,}, test {len(self.test):,})"

    def cold_items(self) -> np.ndarray:
        """(n_items,) bool: items with test events but no training events."""
        return (self.test.item_counts() > 0) & (self.train.item_counts() == 0)

    def cold_users(self) -> np.ndarray:
        """(n_users,) bool: users with test events but no training events."""
        return (self.test.user_counts() > 0) & (self.train.user_counts() == 0)


def split(data: Interactions, protocol: str = "temporal", test_fraction: float = 0.2,
          seed: int = 0) -> Split:
    """Split `data` into train and test with one of `PROTOCOLS`."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    if protocol == "temporal":
        is_test = _temporal(data, test_fraction)
    elif protocol == "leave-last-out":
        is_test = _leave_last_out(data, rng)
    elif protocol == "per-user":
        is_test = _per_group(data.users, test_fraction, rng)
    elif protocol == "per-item":
        is_test = _per_group(data.items, test_fraction, rng)
    elif protocol == "random":
        is_test = _random(len(data), test_fraction, rng)
    else:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return Split(
        train=data.select(~is_test, name=f"{data.name}/train"),
        test=data.select(is_test, name=f"{data.name}/test"),
        protocol=protocol,
        seed=seed,
    )


def validation_split(train: Interactions, protocol: str = "temporal", fraction: float = 0.1,
                     seed: int = 0) -> Split:
    """Carve a validation part out of a training set, with the same protocol (for tuning)."""
    inner = split(train, protocol, fraction, seed + 1_000_003)
    inner.train.name = f"{train.name}/fit"
    inner.test.name = f"{train.name}/validation"
    return inner


def _temporal(data: Interactions, test_fraction: float) -> np.ndarray:
    """Test = the latest `test_fraction` of events; ties at the cut all go to the same side."""
    if len(data) == 0:
        return np.zeros(0, dtype=bool)
    cut_time = np.quantile(data.times, 1.0 - test_fraction, method="higher")
    return data.times >= cut_time


def _leave_last_out(data: Interactions, rng: np.random.Generator) -> np.ndarray:
    """Each user's latest event (ties broken at random) is test; users with one event keep it in train."""
    jitter = rng.random(len(data))
    order = np.lexsort((jitter, data.times, data.users))  # by user, then time, then random tie-break
    is_last = np.zeros(len(data), dtype=bool)
    sorted_users = data.users[order]
    last_of_user = np.r_[sorted_users[1:] != sorted_users[:-1], True]
    is_last[order[last_of_user]] = True
    counts = data.user_counts()
    is_last &= counts[data.users] > 1
    return is_last


def _per_group(groups: np.ndarray, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Within each group (user or item) shuffle the events and send the last share to test.

    A group of n events keeps round((1 - test_fraction) * n) in train, as Microsoft Recommenders'
    stratified split does; a group of one event stays in train."""
    order = np.lexsort((rng.random(len(groups)), groups))  # grouped, shuffled inside each group
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(groups)])
    n_train = np.round((1.0 - test_fraction) * sizes).astype(np.int64)
    n_train = np.maximum(n_train, 1)
    position = np.arange(len(groups)) - np.repeat(starts, sizes)  # rank inside the group
    is_test = np.zeros(len(groups), dtype=bool)
    is_test[order] = position >= np.repeat(n_train, sizes)
    return is_test


def _random(n: int, test_fraction: float, rng: np.random.Generator) -> np.ndarray:
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.permutation(n)[: int(round(test_fraction * n))]] = True
    return is_test
