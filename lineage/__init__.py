"""lineage: the data layer, splits, metrics and the classic recommenders of the teaching suite.

The foundation that `twotower_mini` stands on:

    lineage.data      the Interactions data model (one for every dataset and model)
    lineage.world     the synthetic "content app" world, the embedded default dataset
    lineage.datasets  datasets by name: the world, MovieLens 100K and latest, your own CSV files
    lineage.splits    temporal, leave-last-out, per-user, per-item and random splits
    lineage.metrics   precision, recall, nDCG, MAP, hit rate, coverage at k
    lineage.models    popularity, neighbours, matrix factorisation, graph walks
"""
from lineage.data import DataError, Interactions, LoadReport

__version__ = "0.1.0"
__all__ = ["DataError", "Interactions", "LoadReport", "__version__"]
