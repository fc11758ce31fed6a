"""The classic recommenders, all behind the `Recommender` interface of `lineage.models.base`."""
from lineage.models.base import Recommender, top_k
from lineage.models.popularity import Popularity, PopularityConfig

__all__ = ["Recommender", "top_k", "Popularity", "PopularityConfig"]
