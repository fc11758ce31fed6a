"""Name -> model class, for the leaderboard and the benchmarks. Each class knows its tuned defaults."""
from __future__ import annotations

from lineage.models.als import ALS
from lineage.models.covisit import CoVisitation
from lineage.models.deepwalk import DeepWalk
from lineage.models.implicit_models import ImplicitALS, ImplicitBPR
from lineage.models.knn import ItemKNN, UserKNN
from lineage.models.popularity import Popularity

MODELS = {
    "popularity": Popularity,
    "userknn": UserKNN,
    "itemknn": ItemKNN,
    "als": ImplicitALS,  # the production ALS (implicit); same objective and factors as als-numpy, faster
    "als-numpy": ALS,  # the from-scratch teaching ALS
    "bpr": ImplicitBPR,
    "covisit": CoVisitation,  # YouTube 2010 co-visitation graph + candidate expansion
    "deepwalk": DeepWalk,  # random walks on the co-visitation graph + skip-gram (PyTorch)
}


def make_model(name: str, dataset: str):
    """A fresh, unfitted model `name` with the defaults tuned for `dataset`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name].tuned(dataset)
