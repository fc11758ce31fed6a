"""lineage: the data layer, splits, metrics and the classic recommenders of the teaching suite.

The foundation that `twotower_mini` stands on:

    lineage.data            the Interactions data model (one for every dataset and model)
    lineage.world           the synthetic "content app" world, the embedded default dataset, and
                            its feed policies (`World.run_days`: the loop of notebook 09)
    lineage.datasets        datasets by name: the world, MovieLens 100K and latest, your own CSV files
    lineage.splits          temporal, leave-last-out, per-user, per-item and random splits
    lineage.metrics         precision, recall, nDCG, MAP, hit rate, coverage at k
    lineage.topk            the one top-k (ties broken by the lower index)
    lineage.evidence        paired bootstrap intervals: how sure is a comparison?
    lineage.offpolicy       off-policy estimates of a feed policy from another policy's logs
    lineage.lessons         lesson guards and property checks, and the world seed of the notebooks
    lineage.outputs         safe outputs: checked before the work, published whole
    lineage.plots           the notebooks' figures (matplotlib only; each returns its Axes)
    lineage.models          popularity, neighbours, matrix factorisation, graph walks, EASE

The names a notebook uses are importable from the package itself (`from lineage import split,
evaluate_lists`); each is loaded on first use, so `import lineage` stays cheap.
"""
from importlib import import_module

from lineage.data import DataError, Interactions, LoadReport

__version__ = "0.1.0"

_HOMES = {  # public name -> the module that defines it
    "splits": ["PROTOCOLS", "TIME_ORDERED", "split", "validation_split"],
    "metrics": ["evaluate", "evaluate_lists", "hit_matrix", "per_user_metrics", "relevance_matrix",
                "per_user_scores", "segment_recall", "true_recall_at_k", "true_recall_per_user",
                "users_with_test_events"],
    "topk": ["rank_in_group", "ranking", "top_k"],
    "plots": ["grouped_bars", "plot_factors", "plot_neighbourhood"],
    "evidence": ["Comparison", "compare", "compare_to", "print_comparisons"],
    "lessons": ["check", "guard", "world_config", "world_seed"],
    "reproducibility": ["seed_everything", "single_blas_thread"],
    "datasets": ["load_dataset", "open_dataset"],
    "world": ["WorldConfig", "generate_world", "ModelPolicy", "UniformFeed", "BuiltinFeed"],
    "models.registry": ["make_model"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = ["DataError", "Interactions", "LoadReport", "__version__", *sorted(_HOME_OF)]


def __getattr__(name: str):
    """Load a public name from its home module on first use (PEP 562)."""
    if name in _HOME_OF:
        value = getattr(import_module(f"lineage.{_HOME_OF[name]}"), name)
        globals()[name] = value  # the next access is an ordinary attribute
        return value
    raise AttributeError(f"module 'lineage' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
