"""The one data model every model in the suite reads: an interaction log with side information.

An `Interactions` object is a list of events (user, item, time, value) over a fixed vocabulary of
users and items. Users and items are dense integer indices 0..n-1; the original ids from the
source file are kept in `user_ids` / `item_ids` so results can be written back in them.

Splits (see `lineage.splits`) return `Interactions` over the *same* vocabulary, so an item that
only appears in the test part is still a valid index: it is simply "cold" for the model.

Side information lives in two `dict`s of columns, one row per user or item index:
- a scalar column is a numpy array of length n_users / n_items (numbers or strings);
- a multi-valued column (genres, languages, title words) is a list of tuples of strings.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp


class DataError(ValueError):
    """Bad input data. The message names the file, the line (when there is one) and what was expected."""

    def __init__(self, path, message: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


LIKE_VALUE = 2.0  # the value of a liked view in the world's log (a plain view is 1.0)
RATING_LIKE = 4.0  # on a rating scale (values above LIKE_VALUE, e.g. MovieLens' 1-5 stars): a like from 4 up


def is_liked(values: np.ndarray) -> np.ndarray:
    """(n,) bool: which events of a log are likes, the one definition every model and feature uses.

    A view log marks a like with a value above 1 (the world: LIKE_VALUE); a rating log (any value above
    LIKE_VALUE) counts ratings of RATING_LIKE or more."""
    values = np.asarray(values)
    if values.max(initial=0) > LIKE_VALUE:
        return values >= RATING_LIKE
    return values > 1.0


@dataclass
class LoadReport:
    """What a loader did not keep as-is, counted so nothing is dropped silently."""

    rows_read: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # reason -> number of rows

    def add(self, reason: str, n: int = 1) -> None:
        if n:
            self.counts[reason] = self.counts.get(reason, 0) + int(n)

    def summary(self) -> str:
        if not self.counts:
            return f"read {self.rows_read} rows, all kept"
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.counts.items()))
        return f"read {self.rows_read} rows; {parts}"


@dataclass
class Interactions:
    """An event log over a fixed user and item vocabulary."""

    users: np.ndarray  # (n,) int64, index into user_ids
    items: np.ndarray  # (n,) int64, index into item_ids
    times: np.ndarray  # (n,) float64, seconds (unix time for real data, world seconds for the world)
    values: np.ndarray  # (n,) float32, rating or 1.0 for a plain implicit event
    user_ids: np.ndarray  # (n_users,) original user ids, as str
    item_ids: np.ndarray  # (n_items,) original item ids, as str
    user_features: dict[str, Any] = field(default_factory=dict)
    item_features: dict[str, Any] = field(default_factory=dict)
    name: str = "interactions"
    report: LoadReport | None = None

    def __post_init__(self):
        self.users = np.asarray(self.users, dtype=np.int64)
        self.items = np.asarray(self.items, dtype=np.int64)
        self.times = np.asarray(self.times, dtype=np.float64)
        self.values = np.asarray(self.values, dtype=np.float32)
        n = len(self.users)
        for column in ("items", "times", "values"):
            if len(getattr(self, column)) != n:
                raise ValueError(f"Interactions: column {column!r} has {len(getattr(self, column))} rows, expected {n}")
        if n and (self.users.min() < 0 or self.users.max() >= self.n_users):
            raise ValueError("Interactions: a user index is outside 0..n_users-1")
        if n and (self.items.min() < 0 or self.items.max() >= self.n_items):
            raise ValueError("Interactions: an item index is outside 0..n_items-1")

    # ---- sizes -------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        return (f"Interactions({self.name!r}: {len(self):,} events, {self.n_users:,} users, "
                f"{self.n_items:,} items)")

    # ---- views -------------------------------------------------------------------------------
    def select(self, rows, name: str | None = None) -> "Interactions":
        """The events picked by a boolean mask or an index array, over the same vocabulary."""
        rows = np.asarray(rows)
        return replace(
            self,
            users=self.users[rows],
            items=self.items[rows],
            times=self.times[rows],
            values=self.values[rows],
            name=name or self.name,
            report=None,
        )

    def concat(self, other: "Interactions", name: str | None = None) -> "Interactions":
        """This log followed by another one over the same vocabulary (e.g. train + validation)."""
        if other.n_users != self.n_users or other.n_items != self.n_items:
            raise ValueError("concat: the two logs have different vocabularies")
        return replace(
            self,
            users=np.concatenate([self.users, other.users]),
            items=np.concatenate([self.items, other.items]),
            times=np.concatenate([self.times, other.times]),
            values=np.concatenate([self.values, other.values]),
            name=name or self.name,
            report=None,
        )

    def to_csr(self, binary: bool = True) -> sp.csr_matrix:
        """The user x item matrix. binary=True: 1 where the user touched the item at least once;
        binary=False: the sum of `values` over repeated events."""
        data = np.ones(len(self), dtype=np.float32) if binary else self.values
        matrix = sp.csr_matrix((data, (self.users, self.items)), shape=(self.n_users, self.n_items),
                               dtype=np.float32)
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix

    def item_counts(self) -> np.ndarray:
        """(n_items,) number of events per item."""
        return np.bincount(self.items, minlength=self.n_items)

    def user_counts(self) -> np.ndarray:
        """(n_users,) number of events per user."""
        return np.bincount(self.users, minlength=self.n_users)

    def sorted_by_time(self) -> "Interactions":
        """The same events in time order (stable, so ties keep file order)."""
        return self.select(np.argsort(self.times, kind="stable"))


def build_vocabulary(raw_ids) -> tuple[np.ndarray, np.ndarray]:
    """Map raw ids to dense indices in order of first appearance.

    Returns (index per row, vocabulary of original ids as str)."""
    raw = np.asarray(raw_ids).astype(str)
    vocab, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # vocabulary in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse].astype(np.int64), vocab[order]
