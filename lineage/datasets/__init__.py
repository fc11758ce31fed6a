"""Datasets by name: the synthetic world, MovieLens 100K, MovieLens latest and your own CSV files.

One module per format (after the `datasets/` package of benfred/implicit), and one dispatcher:

    parsing.py     the toolkit every file loader shares (file/line errors, counted drops)
    folders.py     movielens_dir(name, given=None): where a MovieLens folder is (one rule for all)
    movielens.py   load_movielens_100k(data_dir), load_movielens_latest(data_dir)
    csv.py         load_csv(interactions_path, items_path=None, users_path=None, ...)
    world.py       load_world(size=None, **overrides): the synthetic content app

Every file loader returns one `Interactions` (see `lineage.data`) with

- users and items indexed 0..n-1, the original ids kept as str in `user_ids` / `item_ids`;
- `times` in seconds (unix time for MovieLens), `values` the rating (or 1.0);
- side information in `user_features` / `item_features`;
- `report`: a `LoadReport` with `rows_read` (data rows read from the interactions file) and a
  count for every row that was not kept as-is. Each dropped row is counted once, under the first
  reason that applies, in this order: (MovieLens only) "negative timestamp" and "rating outside
  the ... scale"; "unknown user id" (not in the users file), "unknown item id" (not in the items file),
  "duplicate events" (same user, item and time as an earlier row; the first one is kept).
  So ``len(interactions) == report.rows_read - sum(report.counts.values())`` for the rating
  rows (tag rows of ml-latest are counted under their own "tags ..." reasons).

Loaders never print; a command line prints ``interactions.report.summary()``.

Bad input raises `DataError`, whose message names the file, the 1-based physical line when
there is one, and the expected format. Blank lines (anywhere, including at the end) carry no
data and are skipped. Events are kept in file order (use ``.sorted_by_time()`` for time order).

data/README.md says where to download MovieLens (it may not be redistributed, so the project
never ships it) and documents the CSV format.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from lineage.data import DataError, Interactions
from lineage.datasets.csv import load_csv
from lineage.datasets.folders import MOVIELENS_FOLDERS, locate_movielens, movielens_dir
from lineage.datasets.movielens import (
    DOWNLOAD_HINT, ML100K_GENRES, load_movielens_100k, load_movielens_latest, title_words, title_year,
)
from lineage.datasets.world import load_world

__all__ = [
    "DATASETS",
    "Dataset",
    "ML100K_GENRES",
    "load_csv",
    "load_dataset",
    "load_movielens_100k",
    "load_movielens_latest",
    "input_files",
    "load_world",
    "movielens_dir",
    "open_dataset",
    "title_words",
    "title_year",
]

DATASETS = ("world", "ml-100k", "ml-latest", "csv")


class Dataset(NamedTuple):
    interactions: Interactions
    world: object | None  # the `World` for the synthetic dataset (its hidden truth), else None


def open_dataset(name: str, data_dir=None, **options) -> Dataset:
    """The one dispatcher: (interactions, world or None) for a dataset name.

    - "world": ``load_world(**options)`` (options: `size`, a preset name, and WorldConfig fields
      such as `seed`; data_dir is not used). The world itself is returned too.
    - "ml-100k": `load_movielens_100k` on `movielens_dir("ml-100k", data_dir)`: data_dir, else
      $TT_ML100K_DIR, else data/ml-100k (see `lineage.datasets.folders` for every place tried).
    - "ml-latest": `load_movielens_latest` on `movielens_dir("ml-latest", data_dir)`: data_dir,
      else $TT_MLLATEST_DIR, else data/ml-latest-small.
    - "csv": `load_csv(**options)`. Without `interactions_path`, data_dir must hold
      interactions.csv (and, when present, items.csv and users.csv are used).

    A missing MovieLens directory raises a DataError that says where to download the data.
    """
    if name == "world":
        world = load_world(**options)
        return Dataset(world.interactions(), world)
    if name in MOVIELENS_FOLDERS:
        return Dataset(_open_movielens(name, data_dir, options), None)
    if name == "csv":
        return Dataset(load_csv(**_csv_options(data_dir, options)), None)
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")


_MOVIELENS_LOADERS = {"ml-100k": ("MovieLens 100K", load_movielens_100k),
                      "ml-latest": ("MovieLens latest", load_movielens_latest)}


def _open_movielens(name: str, data_dir, options: dict) -> Interactions:
    """Load MovieLens `name` from its folder (`movielens_dir`), or say where to get it."""
    if options:
        raise TypeError(f"load_dataset({name!r}) takes no options, got {sorted(options)}")
    title, loader = _MOVIELENS_LOADERS[name]
    directory, origin = locate_movielens(name, data_dir)
    if not directory.is_dir():
        spec = MOVIELENS_FOLDERS[name]
        raise DataError(directory, f"{title} directory not found ({origin}); {DOWNLOAD_HINT} and unzip it "
                        f"to data/{spec.folder}/ or point ${spec.env} at it")
    return loader(directory)


def _csv_options(data_dir, options: dict) -> dict:
    """load_csv's keywords: `options`, with the files of folder `data_dir` when no interactions
    file is named (interactions.csv, and items.csv / users.csv when they are there)."""
    options = dict(options)
    if options.get("interactions_path") is not None:
        return options
    if data_dir is None:
        raise ValueError("load_dataset('csv') needs interactions_path=... (or data_dir holding interactions.csv)")
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataError(directory, "directory not found; expected a directory holding "
                        "interactions.csv (items.csv and users.csv optional)")
    options["interactions_path"] = directory / "interactions.csv"
    for key, file in (("items_path", "items.csv"), ("users_path", "users.csv")):
        if options.get(key) is None and (directory / file).is_file():
            options[key] = directory / file
    return options


_FILES = {"ml-100k": ("u.data", "u.item", "u.user", "u.genre", "u.info", "u.occupation"),
          "ml-latest": ("ratings.csv", "movies.csv", "tags.csv", "links.csv")}


def input_files(name: str, data_dir=None, **options) -> list[Path]:
    """The files `open_dataset(name, data_dir, **options)` reads (or would read: they need not
    exist), so that a command can refuse to write over them. The world reads none."""
    if name in _FILES:
        directory = movielens_dir(name, data_dir)
        return [directory / file for file in _FILES[name]]
    if name == "csv":
        paths = [options.get(key) for key in ("interactions_path", "items_path", "users_path")]
        if paths[0] is None and data_dir is not None:
            paths = [Path(data_dir) / file for file in ("interactions.csv", "items.csv", "users.csv")]
        return [Path(p) for p in paths if p is not None]
    return []


def load_dataset(name: str, data_dir=None, **options) -> Interactions:
    """The interactions of `open_dataset(name, data_dir, **options)`: "world", "ml-100k",
    "ml-latest" or "csv"."""
    return open_dataset(name, data_dir, **options).interactions
