"""twotower_mini: a small PyTorch two-tower retrieval model, small enough to read in an afternoon.

It stands on `lineage` (data model, splits, metrics, classic baselines) and adds:

    twotower_mini.leaderboard   every model on one split, one table (the contract other tools use)
    twotower_mini.cli           `python -m twotower_mini --help`
    twotower_mini.ranker        the ranking stage over retrieved candidates (trained on impressions)
    twotower_mini.pipeline      retrieval then ranking, and the two kinds of loss
    twotower_mini.distributed   data-parallel training with DDP (`torchrun ... -m twotower_mini.distributed`)
"""
__version__ = "0.1.0"
