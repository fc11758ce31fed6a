"""Where a MovieLens folder is: one rule for the loaders, the command line, the benchmarks, the tests
and notebook 08.

    movielens_dir("ml-100k")                  # the folder to read MovieLens 100K from
    movielens_dir("ml-latest", given=folder)  # a folder the user named wins

The order (the first that applies wins):

1. `given` (a --data-dir option, a data_dir argument), as it is, even if it does not exist: the
   error then names the folder the user pointed at;
2. the environment variable, $TT_ML100K_DIR or $TT_MLLATEST_DIR, when it is set and not empty,
   also as it is;
3. the first of these folders that holds the dataset's ratings file (u.data, ratings.csv):
   data/<folder> under the current folder, data/<folder> under the project root, and
   ../shared/datasets/<folder> next to the project root (a workshop machine's shared copy);
4. else data/<folder> under the project root, where data/README.md says to unzip it (a loader
   then says the folder is missing and where to download the data).

<folder> is ml-100k for MovieLens 100K and ml-latest-small for MovieLens latest.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

__all__ = ["MOVIELENS_FOLDERS", "PROJECT_ROOT", "locate_movielens", "movielens_dir"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class MovieLensFolder(NamedTuple):
    env: str  # the environment variable that names the folder
    folder: str  # the folder's name under data/ (and under ../shared/datasets/)
    ratings_file: str  # the file that shows a folder holds the dataset


MOVIELENS_FOLDERS = {
    "ml-100k": MovieLensFolder("TT_ML100K_DIR", "ml-100k", "u.data"),
    "ml-latest": MovieLensFolder("TT_MLLATEST_DIR", "ml-latest-small", "ratings.csv"),
}


class Located(NamedTuple):
    path: Path  # the folder
    origin: str  # how it was chosen, for error messages


def _spec(name: str) -> MovieLensFolder:
    if name not in MOVIELENS_FOLDERS:
        raise ValueError(f"unknown MovieLens dataset {name!r}; expected one of {', '.join(MOVIELENS_FOLDERS)}")
    return MOVIELENS_FOLDERS[name]


def default_folders(name: str) -> list[Path]:
    """Step 3's folders, in the order they are tried: data/<folder> under the current folder, under
    the project root, then ../shared/datasets/<folder> next to the project root."""
    folder = _spec(name).folder
    return [Path("data") / folder, PROJECT_ROOT / "data" / folder,
            PROJECT_ROOT.parent / "shared" / "datasets" / folder]


def locate_movielens(name: str = "ml-100k", given=None) -> Located:
    """The folder of MovieLens `name` ("ml-100k" or "ml-latest") by the module's order, and how
    it was chosen ("given as data_dir", "from $TT_ML100K_DIR", "the default location")."""
    spec = _spec(name)
    if given is not None:
        return Located(Path(given), "given as data_dir")
    from_env = os.environ.get(spec.env)
    if from_env:
        return Located(Path(from_env).expanduser(), f"from ${spec.env}")
    for folder in default_folders(name):
        if (folder / spec.ratings_file).is_file():
            return Located(folder, "the default location")
    return Located(PROJECT_ROOT / "data" / spec.folder, "the default location")


def movielens_dir(name: str = "ml-100k", given=None) -> Path:
    """The folder to read MovieLens `name` ("ml-100k" or "ml-latest") from: `given`, else the
    environment variable, else the first default folder holding the data (see the module
    docstring for the whole order). The folder need not exist; callers check."""
    return locate_movielens(name, given).path
