"""Hyperparameter search on a validation split carved from train (never on test).

    results = grid_search(lambda **p: ItemKNN(ItemKNNConfig(**p)), {"k_neighbours": [50, 100]},
                          train, protocol="per-item", metric="ndcg@10")

The training data is split again with the same protocol (`lineage.splits.validation_split`);
every combination is fitted on the inner train part and scored on the validation part.
The winners are written into each model's documented defaults (`TUNED` in its module), with the
command that found them.
"""
from __future__ import annotations

import itertools
import time
from typing import Callable

from lineage.data import Interactions
from lineage.metrics import evaluate
from lineage.splits import validation_split


def grid_search(make_model: Callable, grid: dict[str, list], train: Interactions, protocol: str,
                metric: str = "ndcg@10", k: int = 10, fraction: float = 0.1, seed: int = 0,
                verbose: bool = True) -> list[tuple[dict, dict]]:
    """Fit `make_model(**params)` for every combination in `grid`; best first by `metric`."""
    inner = validation_split(train, protocol, fraction, seed)
    names = list(grid)
    results = []
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values))
        start = time.perf_counter()
        model = make_model(**params).fit(inner.train)
        scores = evaluate(model, inner.train, inner.test, k=k)
        scores["fit_seconds"] = time.perf_counter() - start
        results.append((params, scores))
        if verbose:
            print(f"{params}  {metric}={scores[metric]:.4f}", flush=True)
    results.sort(key=lambda pair: -pair[1][metric])
    return results
