"""The classic recommenders, all behind the `Recommender` interface of `lineage.models.base`."""
from lineage.models.als import ALS, ALSConfig
from lineage.models.base import Recommender, top_k
from lineage.models.covisit import CoVisitation, CoVisitConfig
from lineage.models.deepwalk import DeepWalk, DeepWalkConfig
from lineage.models.implicit_models import ImplicitALS, ImplicitALSConfig, ImplicitBPR, ImplicitBPRConfig
from lineage.models.knn import ItemKNN, ItemKNNConfig, UserKNN, UserKNNConfig
from lineage.models.popularity import Popularity, PopularityConfig

__all__ = ["Recommender", "top_k", "Popularity", "PopularityConfig", "UserKNN", "UserKNNConfig",
           "ItemKNN", "ItemKNNConfig", "ALS", "ALSConfig", "ImplicitALS", "ImplicitALSConfig",
           "ImplicitBPR", "ImplicitBPRConfig", "CoVisitation", "CoVisitConfig", "DeepWalk", "DeepWalkConfig"]
