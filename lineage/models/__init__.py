"""The classic recommenders, all behind the `Recommender` interface of `lineage.models.base`.

Names are imported lazily (PEP 562), so `from lineage.models import Popularity` does not pay for
importing PyTorch (DeepWalk) or implicit when they are not used.
"""
from importlib import import_module

from lineage.models.base import Recommender, top_k

_WHERE = {
    "Popularity": "popularity", "PopularityConfig": "popularity",
    "RecentPopularity": "popularity", "RecentPopularityConfig": "popularity",
    "ColdUserFallback": "cold_users",
    "UserKNN": "knn", "UserKNNConfig": "knn", "ItemKNN": "knn", "ItemKNNConfig": "knn",
    "ALS": "als", "ALSConfig": "als",
    "ImplicitALS": "implicit_models", "ImplicitALSConfig": "implicit_models",
    "ImplicitBPR": "implicit_models", "ImplicitBPRConfig": "implicit_models",
    "CoVisitation": "covisit", "CoVisitConfig": "covisit",
    "DeepWalk": "deepwalk", "DeepWalkConfig": "deepwalk",
    "EASE": "ease", "EASEConfig": "ease",
}

__all__ = ["Recommender", "top_k", *_WHERE]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"lineage.models.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'lineage.models' has no attribute {name!r}")
