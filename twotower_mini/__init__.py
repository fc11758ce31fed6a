"""twotower_mini: a small PyTorch two-tower retrieval model, small enough to read in an afternoon.

It stands on `lineage` (data model, splits, metrics, top-k) and holds the model and its serving:

    twotower_mini.features      point-in-time features: every input as it was just before each event
    twotower_mini.towers        the user and item towers and their dot product
    twotower_mini.losses        in-batch softmax with logQ correction, extra negatives
    twotower_mini.train         the one training loop (single process or DDP), embedding export
    twotower_mini.recommender   the two-tower behind the shared `Recommender` interface
    twotower_mini.presets       configurations tuned on validation per dataset and protocol
    twotower_mini.checkpoint    safe checkpoints
    twotower_mini.retrieval     exact top-k in chunks, seen-item filtering, optional faiss index
    twotower_mini.ranker        the ranking stage over retrieved candidates (trained on impressions)
    twotower_mini.pipeline      retrieval then ranking, and the two kinds of loss

The leaderboard, the command line and the DDP launcher serve every model, classic or two-tower,
so they live one level up, in the `harness` package. `python -m twotower_mini` is that command
line, kept here because it is the name learners type.
"""
__version__ = "0.1.0"
