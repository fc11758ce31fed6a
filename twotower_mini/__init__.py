"""twotower_mini: a small PyTorch two-tower retrieval model, small enough to read in an afternoon.

It stands on `lineage` (data model, splits, metrics, top-k) and holds the model and its serving:

    twotower_mini.config        every setting: features, towers, the loss, training, fitting (frozen, validated)
    twotower_mini.features      point-in-time features: every input as it was just before each event
    twotower_mini.towers        the user and item towers, their dot product, and the vector export
    twotower_mini.losses        in-batch softmax with logQ correction, extra negatives
    twotower_mini.batches       the loss of one batch (interactions or users)
    twotower_mini.time_softmax  the softmax over the catalogue as of each event's time
    twotower_mini.train         the one training loop (one process, DDP, or DDP simulated in one)
    twotower_mini.fitted        fit_towers -> FittedTowers: the one fitted object every caller shares
    twotower_mini.recommender   the two-tower behind the shared `Recommender` interface
    twotower_mini.presets       configurations tuned on validation per dataset and protocol
    twotower_mini.checkpoint    safe checkpoints (safetensors + JSON; checkpoint_schema checks the JSON)
    twotower_mini.leakage       the point-in-time test: change the future, no feature may move
    twotower_mini.retrieval     exact top-k in chunks, seen-item filtering
    twotower_mini.ann           approximate search with faiss (IVF, HNSW) and its recall
    twotower_mini.bench         timing helpers for the retrieval benchmark
    twotower_mini.ranker        the ranking stage over retrieved candidates (trained on impressions)
    twotower_mini.ranker_features  the ranker's point-in-time features
    twotower_mini.gbdt_ranker   a LightGBM LambdaRank ranker
    twotower_mini.pipeline      retrieval then ranking, and the two kinds of loss

The names a notebook uses are importable from the package itself (`from twotower_mini import
TwoTowerRecommender, TwoTowerConfig`); each is loaded on first use, so `import twotower_mini` stays
cheap. The leaderboard, the command line and the DDP launcher serve every model, classic or
two-tower, so they live one level up, in the `harness` package. `python -m twotower_mini` is that
command line, kept here because it is the name learners type.
"""
from importlib import import_module

__version__ = "0.1.0"

_HOMES = {  # public name -> the module that defines it
    "config": ["FeatureConfig", "TowerConfig", "TrainConfig", "TwoTowerConfig", "SampledSoftmax", "SnapshotSoftmax",
               "FullSoftmax", "DenoisingUsers", "TimeSoftmax"],
    "features": ["DAY", "FeatureBuilder", "SideLog"],
    "towers": ["TwoTowerModel", "as_tensors", "item_vectors", "user_vectors"],
    "losses": ["StreamingFrequency", "in_batch_logits"],
    "train": ["DataParallel", "shard", "train_towers"],
    "fitted": ["FittedTowers", "fit_part", "fit_towers"],
    "recommender": ["TwoTowerRecommender"],
    "presets": ["preset", "tfrs_tutorial_config"],
    "leakage": ["change_future", "fields_that_read_the_future"],
    "retrieval": ["ExactIndex", "filter_seen"],
    "ann": ["ApproximateIndex", "recall_vs_exact"],
    "ranker": ["Ranker", "RankerConfig"],
    "gbdt_ranker": ["GBDTRanker", "GBDTRankerConfig"],
    "pipeline": ["PipelineConfig", "TwoStagePipeline", "two_losses"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = ["__version__", "checkpoint", *sorted(_HOME_OF)]


def __getattr__(name: str):
    """Load a public name (or the checkpoint module) from its home module on first use (PEP 562)."""
    if name == "checkpoint":
        return import_module("twotower_mini.checkpoint")
    if name in _HOME_OF:
        value = getattr(import_module(f"twotower_mini.{_HOME_OF[name]}"), name)
        globals()[name] = value  # the next access is an ordinary attribute
        return value
    raise AttributeError(f"module 'twotower_mini' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
