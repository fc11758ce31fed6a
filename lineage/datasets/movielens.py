"""MovieLens loaders: 100K (u.data, u.item, u.user, u.genre) and the "latest" CSV releases
(ratings.csv, movies.csv, tags.csv), plus the title helpers both use.

Harper and Konstan (2015), "The MovieLens Datasets: History and Context". The data may not be
redistributed: data/README.md says where to download it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lineage.data import DataError, Interactions, LoadReport
from lineage.datasets.parsing import (
    column, csv_rows, finish, floats, index_sorted, ints, read_text, split_lines, unique_ids,
)

__all__ = ["ML100K_GENRES", "load_movielens_100k", "load_movielens_latest", "title_year", "title_words",
           "DOWNLOAD_HINT"]

# The 19 genres of MovieLens 100K in u.item's flag order (used when u.genre is absent).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)


DOWNLOAD_HINT = "download it from https://grouplens.org/datasets/movielens/ (see data/README.md)"

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


# ---- MovieLens 100K -------------------------------------------------------------------------

def _ml100k_text(path: Path, expected: str) -> str:
    return read_text(path, expected, "utf-8", fallback="latin-1")


def _ml100k_genres(path: Path) -> tuple[str, ...]:
    text = _ml100k_text(path, _U_GENRE_FORMAT)
    columns, lines = split_lines(path, text, "|", 2, _U_GENRE_FORMAT)
    names = [name.strip() for name in columns[0]]
    index = ints(path, columns[1], lines, "genre index", _U_GENRE_FORMAT)
    if sorted(index.tolist()) != list(range(len(names))):
        raise DataError(path, f"genre indices {sorted(index.tolist())} are not 0..{len(names) - 1}; "
                        f"expected {_U_GENRE_FORMAT}")
    genres = [""] * len(names)
    for name, i in zip(names, index.tolist()):
        genres[i] = name
    return tuple(genres)


ML100K_RATINGS = (1.0, 5.0, 1.0)  # lowest, highest, step: whole stars 1 to 5
MLLATEST_RATINGS = (0.5, 5.0, 0.5)  # half stars 0.5 to 5


def _invalid_rows(times: np.ndarray, values: np.ndarray, scale: tuple[float, float, float]) -> list:
    """The rows a MovieLens file should never hold, as (reason, mask) pairs for `finish`: they are
    dropped and counted, like duplicates, never kept silently."""
    low, high, step = scale
    steps = (values - low) / step
    off_scale = (values < low) | (values > high) | (np.abs(steps - np.round(steps)) > 1e-9)
    return [("negative timestamp", times < 0),
            (f"rating outside the {low:g}-{high:g} scale (steps of {step:g})", off_scale)]


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
    Ids must be integers that fit in int64. Ratings for ids missing from u.user / u.item, with a
    negative timestamp, or outside the 1-5 whole-star scale are dropped and counted.
    """
    directory = Path(data_dir)
    _check_ml100k_files(directory)
    genre_path = directory / "u.genre"
    genres = _ml100k_genres(genre_path) if genre_path.is_file() else ML100K_GENRES
    item_vocab, item_features = _read_ml100k_items(directory / "u.item", genres)
    user_vocab, user_features = _read_ml100k_users(directory / "u.user")
    ratings = _read_ml100k_ratings(directory / "u.data")
    return _interactions(ratings, user_vocab, item_vocab, ML100K_RATINGS, "ml-100k",
                         user_features=user_features, item_features=item_features)


class _Ratings(NamedTuple):
    """The rating rows of a file, as read: raw (file) ids, not yet mapped to indices."""

    users: np.ndarray  # (n,) int64 raw user ids
    items: np.ndarray  # (n,) int64 raw item ids
    values: np.ndarray  # (n,) float64 ratings
    times: np.ndarray  # (n,) float64 unix times
    rows_read: int  # data rows read (for the LoadReport)


def _interactions(ratings: _Ratings, user_vocab: np.ndarray, item_vocab: np.ndarray,
                  scale: tuple[float, float, float], name: str, **features) -> Interactions:
    """Map raw ids to vocabulary indices, drop and count the rows that cannot be kept (unknown ids,
    invalid values, duplicates; `finish`), and build the Interactions with its LoadReport."""
    report = LoadReport(rows_read=ratings.rows_read)
    users, user_known = index_sorted(user_vocab, ratings.users)
    items, item_known = index_sorted(item_vocab, ratings.items)
    users, items, times, values = finish(report, users, items, ratings.times, ratings.values, user_known,
                                         item_known, invalid=_invalid_rows(ratings.times, ratings.values, scale))
    return Interactions(users=users, items=items, times=times, values=values,
                        user_ids=user_vocab.astype(str), item_ids=item_vocab.astype(str),
                        name=name, report=report, **features)


def _check_ml100k_files(directory: Path) -> None:
    """Refuse a missing directory or missing files in one line (with a hint when the files sit in
    an ml-100k folder inside the one given, as after unzipping into it)."""
    if not directory.is_dir():
        raise DataError(directory, "MovieLens 100K directory not found; expected a directory holding "
                        f"u.data, u.item and u.user; {DOWNLOAD_HINT}")
    missing = [name for name in ("u.data", "u.item", "u.user") if not (directory / name).is_file()]
    if missing:
        hint = ""
        if (directory / "ml-100k" / "u.data").is_file():
            hint = f" (they are in {directory / 'ml-100k'}: point at that directory)"
        raise DataError(directory / missing[0], f"file not found (missing: {', '.join(missing)}){hint}; "
                        f"expected the MovieLens 100K files u.data, u.item and u.user in {directory}; "
                        f"{DOWNLOAD_HINT}")


def _read_ml100k_items(path: Path, genres: tuple[str, ...]) -> tuple[np.ndarray, dict]:
    """u.item -> (item ids ascending, item_features in that order), genre flags checked."""
    fmt = _u_item_format(len(genres))
    columns, lines = split_lines(path, _ml100k_text(path, fmt), "|", 5 + len(genres), fmt)
    raw_ids = ints(path, columns[0], lines, "item id", fmt)
    unique_ids(path, raw_ids, lines, "item id")
    flags = np.char.strip(np.array(columns[5:], dtype=str).reshape(len(genres), len(lines)).T)
    bad = ~np.isin(flags, ["0", "1"])
    if bad.any():
        r, c = (int(x[0]) for x in np.nonzero(bad))
        raise DataError(path, f"genre flag {str(flags[r, c])!r} for {genres[c]!r} (field {6 + c}) is not 0 or 1; "
                        f"expected {fmt}", line=lines[r])
    order = np.argsort(raw_ids, kind="stable")
    titles, years = _ml100k_titles_and_years(columns[1], columns[2])
    item_genres = [tuple(g for g, on in zip(genres, row_flags) if on) for row_flags in (flags == "1").tolist()]
    titles_sorted = [titles[i] for i in order]
    return raw_ids[order], {
        "title": np.array(titles_sorted, dtype=str),
        "year": np.array(years, dtype=np.float64)[order],
        "genres": [item_genres[i] for i in order],
        "title_words": [title_words(t) for t in titles_sorted],
    }


def _ml100k_titles_and_years(raw_titles, release_dates) -> tuple[list[str], list[float]]:
    """Titles without their year, and the year: from the title, else from the release date
    (e.g. "01-Jan-1995"), else NaN."""
    titles, years = [], []
    for raw_title, release in zip(raw_titles, release_dates):
        title, year = title_year(raw_title)
        if year != year:  # NaN: fall back to the release date
            match = _DATE_YEAR_RE.search(release)
            year = float(match.group(1)) if match else year
        titles.append(title)
        years.append(year)
    return titles, years


def _read_ml100k_users(path: Path) -> tuple[np.ndarray, dict]:
    """u.user -> (user ids ascending, user_features in that order)."""
    columns, lines = split_lines(path, _ml100k_text(path, _U_USER_FORMAT), "|", 5, _U_USER_FORMAT)
    raw_users = ints(path, columns[0], lines, "user id", _U_USER_FORMAT)
    unique_ids(path, raw_users, lines, "user id")
    ages = floats(path, columns[1], lines, "age", _U_USER_FORMAT, allow_empty=True)
    order = np.argsort(raw_users, kind="stable")
    return raw_users[order], {
        "age": ages[order],
        "gender": np.char.strip(np.array(columns[2], dtype=str)[order]),
        "occupation": np.char.strip(np.array(columns[3], dtype=str)[order]),
        "zip": np.char.strip(np.array(columns[4], dtype=str)[order]),
    }


def _read_ml100k_ratings(path: Path) -> _Ratings:
    """u.data -> its rating rows, raw ids."""
    columns, lines = split_lines(path, _ml100k_text(path, _U_DATA_FORMAT), "\t", 4, _U_DATA_FORMAT)
    return _Ratings(users=ints(path, columns[0], lines, "user id", _U_DATA_FORMAT),
                    items=ints(path, columns[1], lines, "item id", _U_DATA_FORMAT),
                    values=floats(path, columns[2], lines, "rating", _U_DATA_FORMAT),
                    times=floats(path, columns[3], lines, "timestamp", _U_DATA_FORMAT),
                    rows_read=len(lines))


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
    Ratings of movies missing from movies.csv ("unknown item id"), with a negative timestamp, or
    outside the 0.5-5 half-star scale are dropped and counted.
    """
    directory = Path(data_dir)
    _check_latest_files(directory)
    item_vocab, item_features = _read_latest_movies(directory / "movies.csv")
    ratings = _read_latest_ratings(directory / "ratings.csv")
    data = _interactions(ratings, np.unique(ratings.users), item_vocab, MLLATEST_RATINGS, "ml-latest",
                         user_features={}, item_features=item_features)
    if (directory / "tags.csv").is_file():  # read last: its counts come after the ratings' in the report
        data.item_features["tags"] = _read_latest_tags(directory / "tags.csv", item_vocab, data.report)
    return data


def _check_latest_files(directory: Path) -> None:
    """Refuse a missing directory, ratings.csv or movies.csv in one line."""
    if not directory.is_dir():
        raise DataError(directory, "MovieLens latest directory not found; expected a directory holding "
                        f"ratings.csv and movies.csv (tags.csv optional); {DOWNLOAD_HINT}")
    missing = [name for name in ("ratings.csv", "movies.csv") if not (directory / name).is_file()]
    if missing:
        raise DataError(directory / missing[0], f"file not found (missing: {', '.join(missing)}); "
                        f"expected the MovieLens files ratings.csv and movies.csv in {directory}; "
                        f"{DOWNLOAD_HINT}")


def _latest_csv(path: Path, columns: tuple[str, ...], expected: str):
    """(column index by name, rows, lines) of a MovieLens latest CSV file with these columns."""
    header, rows, lines = csv_rows(path, read_text(path, expected, hint=_ML_UTF8_HINT), ",", columns, expected)
    return {name: k for k, name in enumerate(header)}, rows, lines


def _read_latest_movies(path: Path) -> tuple[np.ndarray, dict]:
    """movies.csv -> (movie ids ascending, item_features in that order)."""
    col, rows, lines = _latest_csv(path, ("movieId", "title", "genres"), _MOVIES_FORMAT)
    raw_items = ints(path, column(rows, col["movieId"]), lines, "movieId", _MOVIES_FORMAT)
    unique_ids(path, raw_items, lines, "movieId")
    order = np.argsort(raw_items, kind="stable")
    titles, years, item_genres = [], [], []
    for k in order.tolist():
        title, year = title_year(rows[k][col["title"]])
        titles.append(title)
        years.append(year)
        field = rows[k][col["genres"]].strip()
        item_genres.append(() if field in ("", "(no genres listed)")
                           else tuple(g.strip() for g in field.split("|") if g.strip()))
    return raw_items[order], {
        "title": np.array(titles, dtype=str),
        "year": np.array(years, dtype=np.float64),
        "genres": item_genres,
        "title_words": [title_words(t) for t in titles],
    }


def _read_latest_ratings(path: Path) -> _Ratings:
    """ratings.csv -> its rating rows, raw ids (a file with no data rows is refused)."""
    col, rows, lines = _latest_csv(path, ("userId", "movieId", "rating", "timestamp"), _RATINGS_FORMAT)
    if not rows:
        raise DataError(path, f"no data rows after the header; expected {_RATINGS_FORMAT}")
    return _Ratings(users=ints(path, column(rows, col["userId"]), lines, "userId", _RATINGS_FORMAT),
                    items=ints(path, column(rows, col["movieId"]), lines, "movieId", _RATINGS_FORMAT),
                    values=floats(path, column(rows, col["rating"]), lines, "rating", _RATINGS_FORMAT),
                    times=floats(path, column(rows, col["timestamp"]), lines, "timestamp", _RATINGS_FORMAT),
                    rows_read=len(rows))


def _read_latest_tags(path: Path, item_vocab: np.ndarray, report: LoadReport) -> list[tuple[str, ...]]:
    """tags.csv -> each item's distinct lower-case tags in order of first appearance; tags of unknown
    movies and empty tags are counted in `report`."""
    col, rows, lines = _latest_csv(path, ("userId", "movieId", "tag", "timestamp"), _TAGS_FORMAT)
    ints(path, column(rows, col["userId"]), lines, "userId", _TAGS_FORMAT)  # checked, not kept
    tag_items = ints(path, column(rows, col["movieId"]), lines, "movieId", _TAGS_FORMAT)
    floats(path, column(rows, col["timestamp"]), lines, "timestamp", _TAGS_FORMAT)  # checked, not kept
    position, known = index_sorted(item_vocab, tag_items)
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
    return [tuple(t) for t in tags]
