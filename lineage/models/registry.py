"""Name -> model class, for the leaderboard and the benchmarks. Each class knows its tuned defaults.

Classes are imported when first asked for, so listing the names costs nothing.
"""
from __future__ import annotations

from importlib import import_module


class _Registry(dict):
    """A dict of name -> "module:Class" that imports the class on first access."""

    def __getitem__(self, name):
        value = super().__getitem__(name)
        if isinstance(value, str):
            module, cls = value.split(":")
            value = getattr(import_module(module), cls)
            super().__setitem__(name, value)
        return value

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]


MODELS = _Registry({
    "popularity": "lineage.models.popularity:Popularity",
    "recent-popularity": "lineage.models.popularity:RecentPopularity",  # counts over a recent window (the recency baseline)
    "userknn": "lineage.models.knn:UserKNN",
    "itemknn": "lineage.models.knn:ItemKNN",
    "als": "lineage.models.implicit_models:ImplicitALS",  # the production ALS (implicit); same objective as als-numpy, faster
    "als-numpy": "lineage.models.als:ALS",  # the from-scratch teaching ALS
    "bpr": "lineage.models.implicit_models:ImplicitBPR",
    "covisit": "lineage.models.covisit:CoVisitation",  # YouTube 2010 co-visitation graph + candidate expansion
    "deepwalk": "lineage.models.deepwalk:DeepWalk",  # random walks on the co-visitation graph + skip-gram (PyTorch)
    "ease": "lineage.models.ease:EASE",  # Steck 2019: closed-form item-item regression (dense inverse of the Gram matrix)
})


def make_model(name: str, dataset: str, protocol: str | None = None):
    """A fresh, unfitted model `name` with the defaults tuned for `dataset` (and `protocol`, when the
    model was tuned for it separately)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name].tuned(dataset, protocol)
