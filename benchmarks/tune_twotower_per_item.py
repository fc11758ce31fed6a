"""Validation runs behind the MovieLens 100K per-item two-tower preset (`twotower_mini.presets`), next to EASE.

    python benchmarks/tune_twotower_per_item.py                                   # the preset, 2 outer seeds
    python benchmarks/tune_twotower_per_item.py --set towers.temperature=0.07 --train-seeds 0 1
    python benchmarks/tune_twotower_per_item.py --members 4                      # ensembles of 1, 2, 4 towers

Never looks at test: for each outer split seed S, `outer = split(ml100k, "per-item", 0.25, S)` (the
leaderboard's split), `inner = validation_split(outer.train, "per-item", --fraction, seed=0)`; every model is
fitted on inner.train and scored on inner.test (nDCG@10, seen items excluded). The default fraction, 0.25,
gives validation users as many held-out items, relative to their history, as test users have (with 0.1 the
preset beat EASE on validation but not on test). EASE is scored at several lambdas on the same parts.

Ensembles: with --members M, M towers are trained with training seeds seed, seed+1, ...; an ensemble of
K of them scores the sum of their scores, which is what concatenated vectors give (TwoTowerConfig.ensemble).
Each line printed is one measurement (JSON), for the evidence table of the preset's docstring.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from lineage.datasets.movielens import load_movielens_100k
from lineage.metrics import evaluate_lists, test_users
from lineage.models.ease import EASE, EASEConfig
from lineage.splits import split, validation_split
from lineage.topk import mask_items, top_k
from twotower_mini.presets import preset
from twotower_mini.recommender import TwoTowerRecommender


def with_overrides(config, assignments: list[str]):
    """config with "part.field=value" assignments applied (value parsed as JSON, else a string)."""
    for assignment in assignments:
        path, _, text = assignment.partition("=")
        part, _, name = path.partition(".")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if isinstance(value, list):
            value = tuple(value)
        config = replace(config, **{part: replace(getattr(config, part), **{name: value})})
    return config


def ndcg(scores: np.ndarray, users: np.ndarray, train, test) -> float:
    scores = scores.copy()
    mask_items(scores, train.to_csr(binary=True)[users])
    return evaluate_lists(top_k(scores, 10), users, train, test, 10)["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("TT_ML100K_DIR", str(Path(__file__).resolve().parents[2]
                                                                                   / "shared" / "datasets" / "ml-100k")))
    parser.add_argument("--outer-seeds", type=int, nargs="+", default=[42, 1])
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--train-seeds", type=int, nargs="*", default=[0, 1], help="none: EASE only")
    parser.add_argument("--members", type=int, default=1, help="towers per training seed run, for ensembles")
    parser.add_argument("--ease-scales", type=float, nargs="*", default=[8.0, 16.0, 32.0])
    parser.add_argument("--set", action="append", default=[], help="config override, e.g. towers.temperature=0.07")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_movielens_100k(args.data_dir)
    for outer_seed in args.outer_seeds:
        outer = split(data, "per-item", 0.25, outer_seed)
        inner = validation_split(outer.train, "per-item", args.fraction, seed=0)
        users = test_users(inner.test)
        for scale in args.ease_scales:
            model = EASE(EASEConfig(regularization_scale=scale)).fit(inner.train)
            print(json.dumps({"outer": outer_seed, "fraction": args.fraction, "model": f"ease scale {scale:g}",
                              "ndcg@10": round(ndcg(model.score(users), users, inner.train, inner.test), 4)}), flush=True)
        for train_seed in args.train_seeds:
            summed, results = None, {}
            for member in range(args.members):
                config = with_overrides(preset("ml-100k", "per-item"), args.set)
                config = replace(config, training=replace(config.training, seed=train_seed * 100 + member, threads=1))
                start = time.perf_counter()
                model = TwoTowerRecommender(config).fit(inner.train)
                seconds = time.perf_counter() - start
                scores = model.score(users)
                summed = scores if summed is None else summed + scores
                results[member + 1] = ndcg(summed, users, inner.train, inner.test)
                print(json.dumps({"outer": outer_seed, "fraction": args.fraction, "model": "twotower",
                                  "set": args.set, "seed": train_seed * 100 + member, "members": member + 1,
                                  "ndcg@10 single": round(ndcg(scores, users, inner.train, inner.test), 4),
                                  "ndcg@10 ensemble": round(results[member + 1], 4),
                                  "fit_seconds": round(seconds, 1)}), flush=True)


if __name__ == "__main__":
    main()
