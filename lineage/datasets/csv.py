"""Your own interaction log as delimited text (plus optional items and users files).

The format is documented in data/README.md and in `load_csv`'s docstring.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np

from lineage.data import DataError, Interactions, LoadReport, build_vocabulary
from lineage.datasets.parsing import (
    column, csv_rows, finish, floats, lookup, read_text, sep_name, strings, unique_ids,
)

__all__ = ["load_csv"]

# ---- your own CSV files ---------------------------------------------------------------------

def _normalise_sep(sep: str) -> str:
    named = {"\\t": "\t", "tab": "\t", "TAB": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    sep = named.get(sep, sep)
    if len(sep) != 1:
        raise ValueError(f"sep must be a single character (or 'tab', '\\t'), got {sep!r}")
    return sep


def _side_table(path: Path, sep: str, key: str, what: str, encoding: str,
                list_columns, list_sep: str) -> tuple[np.ndarray, dict, list[int]]:
    """Read an items or users file: (ids in file order, feature columns, lines)."""
    expected = (f"a {sep_name(sep)}-separated file with a header row holding the key column {key!r} "
                f"and any feature columns")
    text = read_text(path, expected, encoding)
    header, rows, lines = csv_rows(path, text, sep, (key,), expected)
    k = header.index(key)
    if isinstance(list_columns, str):
        list_columns = (list_columns,)
    ids = np.array(strings(path, column(rows, k), lines, f"{what} id ({key!r})", expected), dtype=str)
    unique_ids(path, ids, lines, f"{what} id")
    features: dict = {}
    for c, name in enumerate(header):
        if c == k:
            continue
        values = [row[c].strip() for row in rows]
        if list_columns is None:
            split = any(list_sep in v for v in values)
        else:
            split = name in list_columns
        if split:
            features[name] = [tuple(p.strip() for p in v.split(list_sep) if p.strip()) for v in values]
        else:
            features[name] = np.array(values, dtype=str)
    return ids, features, lines



def load_csv(interactions_path, items_path=None, users_path=None, user_col: str = "user",
             item_col: str = "item", time_col: str | None = "time", value_col: str | None = None,
             sep: str = ",", item_key: str | None = None, user_key: str | None = None, *,
             encoding: str = "utf-8", list_columns: Iterable[str] | None = None,
             list_sep: str = "|") -> Interactions:
    """Load your own interaction log (plus optional items and users files) from delimited text.

    interactions file: a header row, then one event per line; columns are found by name
      (any order, extra columns ignored): `user_col`, `item_col`, `time_col` (numeric seconds,
      e.g. unix time; convert dates to numbers first) and optionally `value_col` (a number,
      e.g. a rating; without it every event has value 1.0). Ids can be any non-empty string.
      ``time_col=None`` means the file has no time: events get times 0, 1, 2, ... in file order
      (a temporal split then splits by file order; the command line refuses the time protocols).
    items / users files (optional): a header row with the key column (`item_key` / `user_key`,
      default the same name as `item_col` / `user_col`); every other column becomes a feature.
      Feature columns are strings (str arrays: "01234" stays a zip code, convert numbers
      yourself), except list columns, which become tuples split on `list_sep` ("|"): by default a
      column is a list column when any of its values contains "|"; pass ``list_columns=["genres"]``
      to choose exactly (``list_columns=()`` never splits). Empty list values give ().
      With an items file the item vocabulary is its rows in file order and events of other
      items are dropped and counted ("unknown item id"); without one, the items of the log in
      order of first appearance. The same for users.

    Dropped rows are counted in ``data.report`` (nothing is dropped silently): events of unknown
    ids, and duplicate events. A duplicate is a row that repeats an earlier row's (user, item,
    time), whatever its value; without a time column, a row that repeats an earlier row's
    (user, item, value) exactly, or (user, item) without a value column. The first is kept.
    Ids holding a NUL byte, and files that are not regular files (a pipe from ``<(command)``),
    are refused.

    sep: one character (",", ";", "\\t"; "tab" and "\\\\t" are accepted for the command line);
    fields may be double-quoted. Lines may end in LF or CRLF. Files are read as `encoding`
    (UTF-8 by default; a byte-order mark is ignored). Name: the interactions file's stem.
    """
    sep = _normalise_sep(sep)
    path = Path(interactions_path)
    log = _read_log(path, sep, encoding, user_col, item_col, time_col, value_col)
    side = dict(sep=sep, encoding=encoding, list_columns=list_columns, list_sep=list_sep)
    items = _vocabulary(items_path, item_key or item_col, "item", log.items, **side)
    users = _vocabulary(users_path, user_key or user_col, "user", log.users, **side)
    report = LoadReport(rows_read=log.rows_read)
    user_index, item_index, times, values = finish(report, users.index, items.index, log.times, log.values,
                                                   users.known, items.known, timed=time_col is not None)
    return Interactions(users=user_index, items=item_index, times=times, values=values,
                        user_ids=np.asarray(users.ids, dtype=str), item_ids=np.asarray(items.ids, dtype=str),
                        user_features=users.features, item_features=items.features, name=path.stem, report=report)


class _Log(NamedTuple):
    """The interactions file as read: raw ids (str, file order), times and values."""

    users: list[str]
    items: list[str]
    times: np.ndarray  # (n,) float64; 0, 1, 2, ... without a time column
    values: np.ndarray  # (n,) float64; 1.0 without a value column
    rows_read: int


def _read_log(path: Path, sep: str, encoding: str, user_col: str, item_col: str, time_col: str | None,
              value_col: str | None) -> _Log:
    """Read and check the interactions file: the named columns must be in the header, ids non-empty,
    times and values numbers; at least one data row."""
    required = [user_col, item_col] + [c for c in (time_col, value_col) if c is not None]
    expected = (f"a {sep_name(sep)}-separated file with a header row holding the columns "
                f"{', '.join(repr(c) for c in required)} (e.g. '{sep.join(required)}')"
                + (f"; {time_col!r} in numeric seconds" if time_col is not None else ""))
    header, rows, lines = csv_rows(path, read_text(path, expected, encoding), sep, required, expected)
    if not rows:
        raise DataError(path, f"no data rows after the header; expected {expected}")
    col = {name: k for k, name in enumerate(header)}

    def numbers(name: str | None, what: str, default: np.ndarray) -> np.ndarray:
        if name is None:
            return default
        return floats(path, column(rows, col[name]), lines, f"{what} ({name!r})", expected)

    raw_users = strings(path, column(rows, col[user_col]), lines, f"user id ({user_col!r})", expected)
    raw_items = strings(path, column(rows, col[item_col]), lines, f"item id ({item_col!r})", expected)
    return _Log(users=raw_users, items=raw_items,
                times=numbers(time_col, "time", np.arange(len(rows), dtype=np.float64)),
                values=numbers(value_col, "value", np.ones(len(rows), dtype=np.float64)),
                rows_read=len(rows))


class _Vocabulary(NamedTuple):
    index: np.ndarray  # (n,) each event's index in `ids`
    known: np.ndarray  # (n,) bool: False for ids the side file does not list
    ids: np.ndarray  # the vocabulary
    features: dict  # side features, one row per id


def _vocabulary(side_path, key: str, kind: str, raw_ids, sep: str, encoding: str, list_columns,
                list_sep: str) -> _Vocabulary:
    """Map raw ids to indices: the vocabulary of the side file (its rows, in file order) when there
    is one, else of the log (ids in order of first appearance)."""
    if side_path is None:
        index, ids = build_vocabulary(np.array(raw_ids, dtype=str))
        return _Vocabulary(index, np.ones(len(index), dtype=bool), ids, {})
    ids, features, _ = _side_table(Path(side_path), sep, key, kind, encoding, list_columns, list_sep)
    index, known = lookup(ids, np.array(raw_ids, dtype=str))
    return _Vocabulary(index, known, ids, features)
