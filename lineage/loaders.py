"""Loaders for real data: MovieLens 100K, MovieLens "latest" CSV, and your own CSV files.

Every loader returns one `Interactions` (see `lineage.data`) with

- users and items indexed 0..n-1, the original ids kept as str in `user_ids` / `item_ids`;
- `times` in seconds (unix time for MovieLens), `values` the rating (or 1.0);
- side information in `user_features` / `item_features`;
- `report`: a `LoadReport` with `rows_read` (data rows read from the interactions file) and a
  count for every row that was not kept as-is. Rows are dropped for three reasons only, and each
  dropped row is counted once, under the first reason that applies, in this order:
  "unknown user id" (not in the users file), "unknown item id" (not in the items file),
  "duplicate events" (same user, item and time as an earlier row; the first one is kept).
  So ``len(interactions) == report.rows_read - sum(report.counts.values())`` for the rating
  rows (tag rows of ml-latest are counted under their own "tags ..." reasons).

Loaders never print; a command line prints ``interactions.report.summary()``.

Bad input raises `DataError`, whose message names the file, the 1-based physical line when
there is one, and the expected format. Blank lines (anywhere, including at the end) carry no
data and are skipped. Events are kept in file order (use ``.sorted_by_time()`` for time order).

Entry points::

    load_movielens_100k(data_dir)                     # u.data, u.item, u.user (+ u.genre)
    load_movielens_latest(data_dir)                   # ratings.csv, movies.csv (+ tags.csv)
    load_csv(interactions_path, items_path=None, users_path=None, ...)
    load_dataset(name, data_dir=None, **options)      # "world", "ml-100k", "ml-latest", "csv"

data/README.md says where to download MovieLens (it may not be redistributed, so the
project never ships it) and documents the CSV format.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from lineage.data import DataError, Interactions, LoadReport, build_vocabulary

__all__ = [
    "ML100K_GENRES",
    "load_movielens_100k",
    "load_movielens_latest",
    "load_csv",
    "load_dataset",
    "DATASETS",
    "title_year",
    "title_words",
]

DATASETS = ("world", "ml-100k", "ml-latest", "csv")

# The 19 genres of MovieLens 100K in u.item's flag order (used when u.genre is absent).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)

_DOWNLOAD_HINT = "download it from https://grouplens.org/datasets/movielens/ (see data/README.md)"

_PROJECT_ROOT = Path(__file__).resolve().parent.parent

_U_DATA_FORMAT = ("4 tab-separated fields: user id, item id, rating, unix timestamp "
                  "(e.g. '196<TAB>242<TAB>3<TAB>881250949')")
_U_USER_FORMAT = "5 '|'-separated fields: user id|age|gender|occupation|zip (e.g. '1|24|M|technician|85711')"
_U_GENRE_FORMAT = "'|'-separated lines: genre name|index (e.g. 'Action|1')"


def _u_item_format(n_genres: int) -> str:
    return (f"{5 + n_genres} '|'-separated fields: item id|title|release date|video release date|"
            f"IMDb URL|{n_genres} genre flags (0 or 1)")


# ---- titles ---------------------------------------------------------------------------------

# "(1995)" or "(1975-1979)", possibly followed only by other parentheticals such as "(V)".
_YEAR_RE = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)(?=(?:\s*\([^()]*\))*\s*$)")
_WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_DATE_YEAR_RE = re.compile(r"(\d{4})\s*$")


def title_year(title: str) -> tuple[str, float]:
    """Split a MovieLens title into (title without the year, year or NaN).

    >>> title_year("Toy Story (1995)")
    ('Toy Story', 1995.0)
    >>> title_year("Land Before Time III: The Time of the Great Giving (1995) (V)")
    ('Land Before Time III: The Time of the Great Giving (V)', 1995.0)
    """
    match = _YEAR_RE.search(title)
    if match is None:
        return title.strip(), float("nan")
    stripped = (title[:match.start()] + title[match.end():]).strip()
    return stripped, float(match.group(1))


def title_words(title: str) -> tuple[str, ...]:
    """Lower-case word tokens of a title (letters and digits; "schindler's" stays one word)."""
    return tuple(_WORD_RE.findall(title.lower()))


# ---- reading files --------------------------------------------------------------------------

def _require_file(path: Path, expected: str) -> None:
    if not path.is_file():
        where = "is a directory, not a file" if path.is_dir() else "file not found"
        raise DataError(path, f"{where}; expected {expected}")


def _decode(path: Path, data: bytes, encoding: str = "utf-8", fallback: str | None = None,
            hint: str = "re-save it as UTF-8, or pass encoding=... (e.g. 'latin-1') to load_csv") -> str:
    """Decode bytes; with `fallback` (e.g. latin-1) use it when `encoding` fails, else raise a
    DataError naming the line and byte offset of the first undecodable byte."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        if fallback is not None:
            return data.decode(fallback)
        line = data.count(b"\n", 0, error.start) + 1
        line_start = data.rfind(b"\n", 0, error.start) + 1
        name = "UTF-8" if encoding.lower().replace("-", "").replace("_", "") == "utf8" else encoding
        raise DataError(
            path,
            f"byte 0x{data[error.start]:02x} at byte offset {error.start} (byte {error.start - line_start + 1} "
            f"of the line) is not valid {name}; expected a {name} text file ({hint})",
            line=line) from None
    if text.startswith("\ufeff"):  # a byte-order mark from spreadsheet exports
        text = text[1:]
    return text


def _read_text(path: Path, expected: str, encoding: str = "utf-8", fallback: str | None = None,
               **hint) -> str:
    _require_file(path, expected)
    text = _decode(path, path.read_bytes(), encoding, fallback, **hint)
    if not text.strip():
        raise DataError(path, f"file is empty; expected {expected}")
    return text


def _split_lines(path: Path, text: str, sep: str, n_fields: int, expected: str
                 ) -> tuple[list[list[str]], list[int]]:
    """Split a separator-delimited file without quoting (the MovieLens 100K format) into columns.

    Returns the columns (n_fields lists of str) and the 1-based physical line number of each
    row; blank lines are skipped. Only "\\n" ends a line (so a latin-1 byte 0x85 is a character,
    not a line break). Fast: one split of the whole text, no list per line."""
    raw = text.replace("\r\n", "\n").split("\n")
    while raw and not raw[-1].strip():  # blank trailing lines
        raw.pop()
    counts = [line.count(sep) for line in raw]
    lines: Sequence[int] = range(1, len(raw) + 1)
    if counts.count(n_fields - 1) != len(counts):  # blank lines, or a bad line to report
        kept = []
        for number, (line, count) in enumerate(zip(raw, counts), start=1):
            if not line.strip():
                continue
            if count != n_fields - 1:
                raise DataError(path, f"expected {n_fields} fields, got {count + 1}; format: {expected}",
                                line=number)
            kept.append(number)
        raw = [raw[number - 1] for number in kept]
        lines = kept
    flat = sep.join(raw).split(sep) if raw else []
    return [flat[k::n_fields] for k in range(n_fields)], list(lines)


def _csv_rows(path: Path, text: str, sep: str, required: Sequence[str], expected: str
              ) -> tuple[list[str], list[list[str]], list[int]]:
    """Parse a CSV text with a header row (quoted fields allowed).

    Returns (header, rows, 1-based physical line of each row). Checks that every column in
    `required` is in the header and that every row has as many fields as the header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next(reader)
        while not header or (len(header) == 1 and not header[0].strip()):
            header = next(reader)
    except StopIteration:
        raise DataError(path, f"file is empty; expected a header row and {expected}") from None
    except csv.Error as error:
        raise DataError(path, f"cannot parse the header ({error}); expected {expected}",
                        line=reader.line_num) from None
    header_line = reader.line_num
    header = [name.strip() for name in header]
    seen = set()
    for name in header:
        if name in seen:
            raise DataError(path, f"column {name!r} appears twice in the header "
                            f"{_sep_join(header, sep)!r}; expected {expected}", line=header_line)
        seen.add(name)
    missing = [name for name in required if name not in seen]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise DataError(path, f"missing column{'s' if len(missing) > 1 else ''} {names}; header found: "
                        f"{_sep_join(header, sep)!r}; expected {expected}", line=header_line)
    rows, lines = [], []
    n_fields = len(header)
    start = reader.line_num + 1
    try:
        for row in reader:
            if len(row) != n_fields:
                if not row or (len(row) == 1 and not row[0].strip()):
                    start = reader.line_num + 1
                    continue  # blank line
                spans = ""
                if reader.line_num > start:  # a quoted field ran over line ends
                    spans = (f"; this record runs from line {start} to line {reader.line_num}: "
                             f"is a double quote left open?")
                raise DataError(path, f"expected {n_fields} fields (the header has {n_fields}: "
                                f"{_sep_join(header, sep)!r}), got {len(row)}{spans}", line=start)
            rows.append(row)
            lines.append(start)  # a record is numbered by the line it starts on
            start = reader.line_num + 1
    except csv.Error as error:
        raise DataError(path, f"cannot parse the record ({error}); expected {expected}", line=start) from None
    return header, rows, lines


def _sep_join(fields: Iterable[str], sep: str) -> str:
    return sep.join(fields)


def _column(rows: list[list[str]], index: int) -> list[str]:
    return [row[index] for row in rows]


# ---- parsing columns (fast path with a slow path that finds the bad line) -------------------

def _parse(path: Path, values: list[str], lines: list[int], convert, what: str, expected: str) -> list:
    try:
        return list(map(convert, values))
    except (ValueError, TypeError, OverflowError):
        pass
    for value, line in zip(values, lines):
        try:
            convert(value)
        except (ValueError, TypeError, OverflowError):
            raise DataError(path, f"{what} {value!r} is not {expected}", line=line) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _ints(path, values, lines, what, fmt) -> np.ndarray:
    return np.array(_parse(path, values, lines, int, what, f"an integer; expected {fmt}"), dtype=np.int64)


def _floats(path, values, lines, what, fmt, allow_empty: bool = False) -> np.ndarray:
    """Parse numbers; NaN and infinity are refused (with allow_empty, an empty field gives NaN)."""
    def empty_as_nan(text: str) -> float:
        return float(text) if text.strip() else float("nan")

    convert = empty_as_nan if allow_empty else float

    array = np.array(_parse(path, values, lines, convert, what, f"a number; expected {fmt}"),
                     dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        for k in np.flatnonzero(bad).tolist():
            if not (allow_empty and not values[k].strip()):
                raise DataError(path, f"{what} {values[k]!r} is not a finite number; expected {fmt}",
                                line=lines[k])
    return array


def _strings(path, values, lines, what, fmt) -> list[str]:
    out = [value.strip() for value in values]
    for value, line in zip(out, lines):
        if not value:
            raise DataError(path, f"empty {what}; expected {fmt}", line=line)
    return out


def _unique_ids(path, ids: np.ndarray, lines: list[int], what: str) -> None:
    """Raise if an id is defined twice in a users/items file (names both lines)."""
    order = np.argsort(ids, kind="stable")
    same = ids[order][1:] == ids[order][:-1]
    if same.any():
        k = int(np.flatnonzero(same)[0])
        first, second = int(order[k]), int(order[k + 1])
        raise DataError(path, f"{what} {ids[second]!s} is defined twice (first on line {lines[first]}); "
                        f"expected one row per {what.split()[0]}", line=lines[second])


def _index_sorted(vocabulary: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each key in a sorted vocabulary, and a mask of the keys found."""
    if len(vocabulary) == 0:
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    position = np.searchsorted(vocabulary, keys)
    position = np.minimum(position, len(vocabulary) - 1)
    found = vocabulary[position] == keys
    return position.astype(np.int64), found


def _duplicates(users: np.ndarray, items: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Mask of events that repeat an earlier (user, item, time); the first occurrence is kept."""
    n = len(users)
    if n < 2:
        return np.zeros(n, dtype=bool)
    order = np.lexsort((np.arange(n), times, items, users))
    u, i, t = users[order], items[order], times[order]
    same = (u[1:] == u[:-1]) & (i[1:] == i[:-1]) & (t[1:] == t[:-1])
    mask = np.zeros(n, dtype=bool)
    mask[order[1:][same]] = True
    return mask


def _finish(report: LoadReport, users, items, times, values, user_known, item_known):
    """Drop unknown ids and duplicates (counting each dropped row once) and return the kept arrays."""
    keep = user_known.copy()
    report.add("unknown user id", int((~user_known).sum()))
    report.add("unknown item id", int((keep & ~item_known).sum()))
    keep &= item_known
    if not keep.all():
        users, items, times, values = users[keep], items[keep], times[keep], values[keep]
    dup = _duplicates(users, items, times)
    report.add("duplicate events", int(dup.sum()))
    if dup.any():
        users, items, times, values = users[~dup], items[~dup], times[~dup], values[~dup]
    return users, items, times, values


# ---- MovieLens 100K -------------------------------------------------------------------------

def _ml100k_text(path: Path, expected: str) -> str:
    return _read_text(path, expected, "utf-8", fallback="latin-1")


def _ml100k_genres(path: Path) -> tuple[str, ...]:
    text = _ml100k_text(path, _U_GENRE_FORMAT)
    columns, lines = _split_lines(path, text, "|", 2, _U_GENRE_FORMAT)
    names = [name.strip() for name in columns[0]]
    index = _ints(path, columns[1], lines, "genre index", _U_GENRE_FORMAT)
    if sorted(index.tolist()) != list(range(len(names))):
        raise DataError(path, f"genre indices {sorted(index.tolist())} are not 0..{len(names) - 1}; "
                        f"expected {_U_GENRE_FORMAT}")
    genres = [""] * len(names)
    for name, i in zip(names, index.tolist()):
        genres[i] = name
    return tuple(genres)


def load_movielens_100k(data_dir) -> Interactions:
    """Load MovieLens 100K from a directory holding u.data, u.item and u.user (u.genre optional).

    - u.data: tab-separated user id, item id, rating, unix timestamp -> events, values = rating.
    - u.item: item id|title|release date|video release date|IMDb URL|19 genre flags.
      item_features: "title" (str array, year removed), "year" (float, from the title's
      "(1995)", else from the release date, else NaN), "genres" (list of tuples of genre names),
      "title_words" (list of tuples of lower-case words of the title without the year).
    - u.user: user id|age|gender|occupation|zip. user_features: "age" (float), "gender",
      "occupation", "zip" (str arrays; zip stays a string: some are not numbers).
    - u.genre (optional): genre name|index; gives the genre names and their number, else the
      standard 19 names.

    The vocabulary is every user of u.user and every item of u.item, ordered by numeric id
    (943 users and 1,682 items for the real data; items nobody rated are still in the catalogue).
    Files are decoded as UTF-8, falling back to latin-1 (the original distribution's encoding).
    Ids must be integers. Ratings for ids missing from u.user / u.item are dropped and counted.
    """
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataError(directory, "MovieLens 100K directory not found; expected a directory holding "
                        f"u.data, u.item and u.user; {_DOWNLOAD_HINT}")
    missing = [name for name in ("u.data", "u.item", "u.user") if not (directory / name).is_file()]
    if missing:
        hint = ""
        if (directory / "ml-100k" / "u.data").is_file():
            hint = f" (they are in {directory / 'ml-100k'}: point at that directory)"
        raise DataError(directory / missing[0], f"file not found (missing: {', '.join(missing)}){hint}; "
                        f"expected the MovieLens 100K files u.data, u.item and u.user in {directory}; "
                        f"{_DOWNLOAD_HINT}")

    genre_path = directory / "u.genre"
    genres = _ml100k_genres(genre_path) if genre_path.is_file() else ML100K_GENRES

    # u.item
    path = directory / "u.item"
    fmt = _u_item_format(len(genres))
    columns, lines = _split_lines(path, _ml100k_text(path, fmt), "|", 5 + len(genres), fmt)
    raw_ids = _ints(path, columns[0], lines, "item id", fmt)
    _unique_ids(path, raw_ids, lines, "item id")
    flags = np.char.strip(np.array(columns[5:], dtype=str).reshape(len(genres), len(lines)).T)
    bad = ~np.isin(flags, ["0", "1"])
    if bad.any():
        r, c = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(path, f"genre flag {str(flags[r, c])!r} for {genres[c]!r} (field {6 + c}) is not 0 or 1; "
                        f"expected {fmt}", line=lines[r])
    order = np.argsort(raw_ids, kind="stable")
    item_vocab = raw_ids[order]
    titles, years = [], []
    for raw_title, release in zip(columns[1], columns[2]):
        title, year = title_year(raw_title)
        if year != year:  # NaN: fall back to the release date, e.g. "01-Jan-1995"
            match = _DATE_YEAR_RE.search(release)
            year = float(match.group(1)) if match else year
        titles.append(title)
        years.append(year)
    is_genre = flags == "1"
    item_genres = [tuple(g for g, on in zip(genres, row_flags) if on) for row_flags in is_genre.tolist()]
    titles_sorted = [titles[i] for i in order]
    item_features = {
        "title": np.array(titles_sorted, dtype=str),
        "year": np.array(years, dtype=np.float64)[order],
        "genres": [item_genres[i] for i in order],
        "title_words": [title_words(t) for t in titles_sorted],
    }

    # u.user
    path = directory / "u.user"
    columns, lines = _split_lines(path, _ml100k_text(path, _U_USER_FORMAT), "|", 5, _U_USER_FORMAT)
    raw_users = _ints(path, columns[0], lines, "user id", _U_USER_FORMAT)
    _unique_ids(path, raw_users, lines, "user id")
    ages = _floats(path, columns[1], lines, "age", _U_USER_FORMAT, allow_empty=True)
    order = np.argsort(raw_users, kind="stable")
    user_vocab = raw_users[order]
    user_features = {
        "age": ages[order],
        "gender": np.char.strip(np.array(columns[2], dtype=str)[order]),
        "occupation": np.char.strip(np.array(columns[3], dtype=str)[order]),
        "zip": np.char.strip(np.array(columns[4], dtype=str)[order]),
    }

    # u.data
    path = directory / "u.data"
    columns, lines = _split_lines(path, _ml100k_text(path, _U_DATA_FORMAT), "\t", 4, _U_DATA_FORMAT)
    users = _ints(path, columns[0], lines, "user id", _U_DATA_FORMAT)
    items = _ints(path, columns[1], lines, "item id", _U_DATA_FORMAT)
    values = _floats(path, columns[2], lines, "rating", _U_DATA_FORMAT)
    times = _floats(path, columns[3], lines, "timestamp", _U_DATA_FORMAT)

    report = LoadReport(rows_read=len(lines))
    users, user_known = _index_sorted(user_vocab, users)
    items, item_known = _index_sorted(item_vocab, items)
    users, items, times, values = _finish(report, users, items, times, values, user_known, item_known)
    return Interactions(
        users=users, items=items, times=times, values=values,
        user_ids=user_vocab.astype(str), item_ids=item_vocab.astype(str),
        user_features=user_features, item_features=item_features,
        name="ml-100k", report=report,
    )


# ---- MovieLens latest (CSV) -----------------------------------------------------------------

_RATINGS_FORMAT = "a CSV file with the header userId,movieId,rating,timestamp (e.g. '1,1,4.0,964982703')"
_MOVIES_FORMAT = ("a CSV file with the header movieId,title,genres "
                  "(e.g. '1,Toy Story (1995),Adventure|Animation', titles with commas in double quotes)")
_ML_UTF8_HINT = "MovieLens CSV files are UTF-8: this one looks damaged or re-encoded; download it again"
_TAGS_FORMAT = "a CSV file with the header userId,movieId,tag,timestamp (e.g. '2,60756,funny,1445714994')"


def load_movielens_latest(data_dir) -> Interactions:
    """Load a MovieLens "latest" release (ml-latest-small, ml-latest, ml-25m, ...) from a
    directory holding ratings.csv and movies.csv (tags.csv optional). Files must be UTF-8.

    - ratings.csv (userId,movieId,rating,timestamp) -> events, values = rating.
    - movies.csv (movieId,title,genres): item_features "title" (year removed), "year" (float,
      NaN when the title has none), "genres" (tuples; "(no genres listed)" -> ()),
      "title_words". Quoted titles with commas are fine.
    - tags.csv (userId,movieId,tag,timestamp), if present: item_features "tags", the distinct
      lower-case tags of each item in order of first appearance. Note they are whole-history
      features: using them for a temporal split leaks tags written after the split time.

    Vocabulary: every movie of movies.csv and every user of ratings.csv, ordered by numeric id.
    Ratings of movies missing from movies.csv are dropped and counted ("unknown item id").
    """
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataError(directory, "MovieLens latest directory not found; expected a directory holding "
                        f"ratings.csv and movies.csv (tags.csv optional); {_DOWNLOAD_HINT}")
    missing = [name for name in ("ratings.csv", "movies.csv") if not (directory / name).is_file()]
    if missing:
        raise DataError(directory / missing[0], f"file not found (missing: {', '.join(missing)}); "
                        f"expected the MovieLens files ratings.csv and movies.csv in {directory}; "
                        f"{_DOWNLOAD_HINT}")

    # movies.csv
    path = directory / "movies.csv"
    header, rows, lines = _csv_rows(path, _read_text(path, _MOVIES_FORMAT, hint=_ML_UTF8_HINT), ",",
                                    ("movieId", "title", "genres"), _MOVIES_FORMAT)
    col = {name: k for k, name in enumerate(header)}
    raw_items = _ints(path, _column(rows, col["movieId"]), lines, "movieId", _MOVIES_FORMAT)
    _unique_ids(path, raw_items, lines, "movieId")
    order = np.argsort(raw_items, kind="stable")
    item_vocab = raw_items[order]
    titles, years, item_genres = [], [], []
    for k in order.tolist():
        title, year = title_year(rows[k][col["title"]])
        titles.append(title)
        years.append(year)
        field = rows[k][col["genres"]].strip()
        item_genres.append(() if field in ("", "(no genres listed)")
                           else tuple(g.strip() for g in field.split("|") if g.strip()))
    item_features = {
        "title": np.array(titles, dtype=str),
        "year": np.array(years, dtype=np.float64),
        "genres": item_genres,
        "title_words": [title_words(t) for t in titles],
    }

    # ratings.csv
    path = directory / "ratings.csv"
    header, rows, lines = _csv_rows(path, _read_text(path, _RATINGS_FORMAT, hint=_ML_UTF8_HINT), ",",
                                    ("userId", "movieId", "rating", "timestamp"), _RATINGS_FORMAT)
    if not rows:
        raise DataError(path, f"no data rows after the header; expected {_RATINGS_FORMAT}")
    col = {name: k for k, name in enumerate(header)}
    raw_users = _ints(path, _column(rows, col["userId"]), lines, "userId", _RATINGS_FORMAT)
    items = _ints(path, _column(rows, col["movieId"]), lines, "movieId", _RATINGS_FORMAT)
    values = _floats(path, _column(rows, col["rating"]), lines, "rating", _RATINGS_FORMAT)
    times = _floats(path, _column(rows, col["timestamp"]), lines, "timestamp", _RATINGS_FORMAT)
    user_vocab = np.unique(raw_users)
    users, user_known = _index_sorted(user_vocab, raw_users)
    items, item_known = _index_sorted(item_vocab, items)
    report = LoadReport(rows_read=len(rows))
    users, items, times, values = _finish(report, users, items, times, values, user_known, item_known)

    # tags.csv (optional)
    path = directory / "tags.csv"
    if path.is_file():
        header, rows, lines = _csv_rows(path, _read_text(path, _TAGS_FORMAT, hint=_ML_UTF8_HINT), ",",
                                        ("userId", "movieId", "tag", "timestamp"), _TAGS_FORMAT)
        col = {name: k for k, name in enumerate(header)}
        _ints(path, _column(rows, col["userId"]), lines, "userId", _TAGS_FORMAT)
        tag_items = _ints(path, _column(rows, col["movieId"]), lines, "movieId", _TAGS_FORMAT)
        _floats(path, _column(rows, col["timestamp"]), lines, "timestamp", _TAGS_FORMAT)
        position, known = _index_sorted(item_vocab, tag_items)
        report.add("tags for unknown item id", int((~known).sum()))
        tags: list[dict[str, None]] = [{} for _ in range(len(item_vocab))]
        empty = 0
        for row, k, ok in zip(rows, position.tolist(), known.tolist()):
            if not ok:
                continue
            tag = row[col["tag"]].strip().lower()
            if tag:
                tags[k][tag] = None  # a dict keeps the order of first appearance
            else:
                empty += 1
        report.add("empty tags", empty)
        item_features["tags"] = [tuple(t) for t in tags]

    return Interactions(
        users=users, items=items, times=times, values=values,
        user_ids=user_vocab.astype(str), item_ids=item_vocab.astype(str),
        user_features={}, item_features=item_features,
        name="ml-latest", report=report,
    )


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
    expected = (f"a {_sep_name(sep)}-separated file with a header row holding the key column {key!r} "
                f"and any feature columns")
    text = _read_text(path, expected, encoding)
    header, rows, lines = _csv_rows(path, text, sep, (key,), expected)
    k = header.index(key)
    if isinstance(list_columns, str):
        list_columns = (list_columns,)
    ids = np.array(_strings(path, _column(rows, k), lines, f"{what} id ({key!r})", expected), dtype=str)
    _unique_ids(path, ids, lines, f"{what} id")
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


def _sep_name(sep: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "'|'"}.get(sep, repr(sep))


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
      (a temporal split then splits by file order).
    items / users files (optional): a header row with the key column (`item_key` / `user_key`,
      default the same name as `item_col` / `user_col`); every other column becomes a feature.
      Feature columns are strings (str arrays: "01234" stays a zip code, convert numbers
      yourself), except list columns, which become tuples split on `list_sep` ("|"): by default a
      column is a list column when any of its values contains "|"; pass ``list_columns=["genres"]``
      to choose exactly (``list_columns=()`` never splits). Empty list values give ().
      With an items file the item vocabulary is its rows in file order and events of other
      items are dropped and counted ("unknown item id"); without one, the items of the log in
      order of first appearance. The same for users.

    sep: one character (",", ";", "\\t"; "tab" and "\\\\t" are accepted for the command line);
    fields may be double-quoted. Lines may end in LF or CRLF. Files are read as `encoding`
    (UTF-8 by default; a byte-order mark is ignored). Name: the interactions file's stem.
    """
    sep = _normalise_sep(sep)
    path = Path(interactions_path)
    required = [user_col, item_col] + [c for c in (time_col, value_col) if c is not None]
    example = sep.join(required)
    expected = (f"a {_sep_name(sep)}-separated file with a header row holding the columns "
                f"{', '.join(repr(c) for c in required)} (e.g. '{example}')"
                + (f"; {time_col!r} in numeric seconds" if time_col is not None else ""))
    text = _read_text(path, expected, encoding)
    header, rows, lines = _csv_rows(path, text, sep, required, expected)
    if not rows:
        raise DataError(path, f"no data rows after the header; expected {expected}")
    col = {name: k for k, name in enumerate(header)}
    raw_users = _strings(path, _column(rows, col[user_col]), lines, f"user id ({user_col!r})", expected)
    raw_items = _strings(path, _column(rows, col[item_col]), lines, f"item id ({item_col!r})", expected)
    if time_col is not None:
        times = _floats(path, _column(rows, col[time_col]), lines, f"time ({time_col!r})",
                        expected)
    else:
        times = np.arange(len(rows), dtype=np.float64)
    if value_col is not None:
        values = _floats(path, _column(rows, col[value_col]), lines, f"value ({value_col!r})", expected)
    else:
        values = np.ones(len(rows), dtype=np.float64)

    def vocabulary(side_path, key, kind, raw):
        """(index per row, known per row, ids, side features): from the side file, else from the log."""
        if side_path is None:
            index, ids = build_vocabulary(np.array(raw, dtype=str))
            return index, np.ones(len(index), dtype=bool), ids, {}
        ids, features, _ = _side_table(Path(side_path), sep, key, kind, encoding, list_columns, list_sep)
        index, known = _lookup(ids, np.array(raw, dtype=str))
        return index, known, ids, features

    items, item_known, item_ids, item_features = vocabulary(items_path, item_key or item_col, "item", raw_items)
    users, user_known, user_ids, user_features = vocabulary(users_path, user_key or user_col, "user", raw_users)

    report = LoadReport(rows_read=len(rows))
    users, items, times, values = _finish(report, users, items, times, values, user_known, item_known)
    return Interactions(
        users=users, items=items, times=times, values=values,
        user_ids=np.asarray(user_ids, dtype=str), item_ids=np.asarray(item_ids, dtype=str),
        user_features=user_features, item_features=item_features,
        name=path.stem, report=report,
    )


def _lookup(vocabulary: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each key in an unsorted vocabulary (file order), and a mask of the keys found."""
    order = np.argsort(vocabulary, kind="stable")
    position, found = _index_sorted(vocabulary[order], keys)
    return (order[position] if len(order) else position).astype(np.int64), found


# ---- one entry point ------------------------------------------------------------------------

def _default_dir(env: str, default: str) -> Path:
    """The directory from the environment variable, else `default` relative to the current
    directory if it exists there, else relative to the project root."""
    value = os.environ.get(env)
    if value:
        return Path(value).expanduser()
    here = Path(default)
    if here.is_dir():
        return here
    return _PROJECT_ROOT / default


def load_dataset(name: str, data_dir=None, **csv_options) -> Interactions:
    """Load a dataset by name: "world", "ml-100k", "ml-latest" or "csv".

    - "world": the synthetic content-app world, ``lineage.world.generate_world(**options)``
      (keyword options are passed as overrides; data_dir is not used).
    - "ml-100k": `load_movielens_100k` on data_dir, else $TT_ML100K_DIR, else data/ml-100k.
    - "ml-latest": `load_movielens_latest` on data_dir, else $TT_MLLATEST_DIR, else
      data/ml-latest-small.
    - "csv": `load_csv(**csv_options)`. Without `interactions_path`, data_dir must hold
      interactions.csv (and, when present, items.csv and users.csv are used).

    The default directories are looked up relative to the current directory, then to the
    project root. A missing directory raises a DataError that says where to download the data.
    """
    if name == "world":
        from lineage.world import generate_world  # imported lazily: the world is a separate module

        return generate_world(**csv_options).interactions()
    if name in ("ml-100k", "ml-latest"):
        if csv_options:
            raise TypeError(f"load_dataset({name!r}) takes no options, got {sorted(csv_options)}")
        env, default, title, loader = (
            ("TT_ML100K_DIR", "data/ml-100k", "MovieLens 100K", load_movielens_100k) if name == "ml-100k"
            else ("TT_MLLATEST_DIR", "data/ml-latest-small", "MovieLens latest", load_movielens_latest))
        directory = Path(data_dir) if data_dir is not None else _default_dir(env, default)
        if not directory.is_dir():
            source = ("given as data_dir" if data_dir is not None else f"from ${env}" if os.environ.get(env)
                      else "the default location")
            raise DataError(directory, f"{title} directory not found ({source}); "
                            f"{_DOWNLOAD_HINT} and unzip it to {default}/ or point ${env} at it")
        return loader(directory)
    if name == "csv":
        options = dict(csv_options)
        if options.get("interactions_path") is None:
            if data_dir is None:
                raise ValueError("load_dataset('csv') needs interactions_path=... "
                                 "(or data_dir holding interactions.csv)")
            directory = Path(data_dir)
            if not directory.is_dir():
                raise DataError(directory, "directory not found; expected a directory holding "
                                "interactions.csv (items.csv and users.csv optional)")
            options["interactions_path"] = directory / "interactions.csv"
            for key, file in (("items_path", "items.csv"), ("users_path", "users.csv")):
                if options.get(key) is None and (directory / file).is_file():
                    options[key] = directory / file
        return load_csv(**options)
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
