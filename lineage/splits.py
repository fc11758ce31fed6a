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
# The protocols that split by event time: on them "before" means something (a model may use only the
# past of each test event), the recent-popularity reference applies, and the data needs event times.
TIME_ORDERED = ("temporal", "leave-last-out")


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
    """Split `data` into train and test with one of `PROTOCOLS`.

    Both parts must hold events: a split that leaves either one empty (too few events, one event
    per user, a fraction that rounds to nothing or to everything, every event at one moment) is
    refused with a one-line ValueError naming the protocol, the fraction and the counts, because
    an empty test part has no metrics and an empty train part trains nothing."""
    return _split(data, protocol, test_fraction, seed, held_out="test")


def validation_split(train: Interactions, protocol: str = "temporal", fraction: float = 0.1,
                     seed: int = 0) -> Split:
    """Carve a validation part out of a training set, with the same protocol (for tuning).

    Refused like `split` when either the fit part or the validation part would be empty."""
    inner = _split(train, protocol, fraction, seed + 1_000_003, held_out="validation")
    inner.train.name = f"{train.name}/fit"
    inner.test.name = f"{train.name}/validation"
    return inner


def _split(data: Interactions, protocol: str, test_fraction: float, seed: int, held_out: str) -> Split:
    """The split itself; `held_out` ("test" or "validation") names the held-out part in errors."""
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
    _refuse_empty_part(data, protocol, test_fraction, is_test, held_out)
    return Split(
        train=data.select(~is_test, name=f"{data.name}/train"),
        test=data.select(is_test, name=f"{data.name}/test"),
        protocol=protocol,
        seed=seed,
    )


def _refuse_empty_part(data: Interactions, protocol: str, fraction: float, is_test: np.ndarray,
                       held_out: str) -> None:
    """Raise a one-line ValueError if the train part or the held-out part of a split is empty.

    The message names the protocol and fraction (as the command line spells them for the test
    split), the counts of events, users and items, and what to change."""
    n_test = int(is_test.sum())
    if 0 < n_test < len(data):
        return
    train_empty = n_test == len(data) > 0
    fraction_text = "" if protocol == "leave-last-out" else f"{fraction:g}"  # leave-last-out ignores it
    if held_out == "test":
        settings = f"--protocol {protocol}" + (f" --test-fraction {fraction_text}" if fraction_text else "")
        option, empty = "--test-fraction", "train" if train_empty else "test"
    else:
        settings = (f"the validation split of the training part (--protocol {protocol}"
                    + (f", validation fraction {fraction_text})" if fraction_text else ")"))
        option, empty = "validation fraction", "fit" if train_empty else "validation"
    counts = f"{len(data):,} events, {len(np.unique(data.users)):,} users, {len(np.unique(data.items)):,} items"
    advice = _empty_part_advice(data, protocol, fraction, train_empty, option)
    raise ValueError(f"{settings}: the {empty} part is empty ({counts}); {advice}")


def _empty_part_advice(data: Interactions, protocol: str, fraction: float, train_empty: bool,
                       option: str) -> str:
    """Why a split left a part empty, and what to change (one clause for the error message)."""
    n = len(data)
    if n == 0:
        return "the log has no events to split"
    if protocol == "temporal":  # only the train part can be empty: ties at the cut all go to test
        first = data.times.min()
        at_first = int((data.times == first).sum())
        if at_first == n:
            return (f"every event has the same time ({first:g}), and ties at the cut all go to test; give distinct "
                    f"times or use a protocol that ignores time (per-user, random)")
        return (f"{at_first:,} of {n:,} events share the earliest time {first:g}, and ties at the cut all go to "
                f"test; use a smaller {option} or a protocol that ignores time (per-user, random)")
    if protocol == "random":
        fix = "smaller" if train_empty else "larger"
        return f"{fraction:g} of {n:,} events rounds to {round(fraction * n):,} test events; use a {fix} {option}"
    if protocol == "leave-last-out":
        return ("no user has two or more events, and a user's only event stays in train; use more events "
                "per user or --protocol random")
    group = "user" if protocol == "per-user" else "item"
    if np.bincount(data.users if group == "user" else data.items).max() == 1:
        return (f"every {group} has one event, and a {group}'s only event stays in train; use more events per "
                f"{group} or --protocol random")
    return (f"every {group} keeps round((1 - {fraction:g}) x its events), at least 1, in train, so none of "
            f"its events goes to test; use a larger {option}")


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
