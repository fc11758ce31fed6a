"""Name -> model class, for the leaderboard and the benchmarks. Each class knows its tuned defaults."""
from __future__ import annotations

from lineage.models.popularity import Popularity

MODELS = {
    "popularity": Popularity,
}


def make_model(name: str, dataset: str):
    """A fresh, unfitted model `name` with the defaults tuned for `dataset`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name].tuned(dataset)
