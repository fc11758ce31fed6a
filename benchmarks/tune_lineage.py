"""Tune the classic models (kNN, ALS, BPR, EASE, recent popularity) on a validation split carved
from train, never on test.

    python benchmarks/tune_lineage.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k
    python benchmarks/tune_lineage.py --dataset world --models itemknn,als
    python benchmarks/tune_lineage.py --dataset ml-100k --protocol temporal --models ease,recent-popularity

The outer split is the leaderboard's (by default ml-100k: per-item 75/25, seed 42; world: temporal
80/20, seed 42; `--protocol` picks another, with test fraction 0.25 for per-item and 0.2 otherwise,
and the winner is printed under the key "dataset/protocol", which `make_model(name, dataset,
protocol)` prefers). Its train part is split again with the same protocol (`lineage.splits.validation_split`,
`--fraction` of train, 0.25 for per-item so validation users have as many held-out items, relative
to their history, as test users do); every grid point is fitted on the inner train part and
scored on validation; on the time-ordered protocols (temporal, leave-last-out) validation is the
latest part of train, as test is the latest part of the data. The test part is never looked at. The script prints each grid, best first,
and the `TUNED` entry to paste into the model's module (with this command as its comment).

Grids are deliberately small (the suite runs on two shared CPU cores); each was narrowed from a
wider exploratory sweep around the values printed here.
"""
from __future__ import annotations

import argparse
import math
import time

from lineage.models.registry import MODELS
from lineage.splits import PROTOCOLS, split
from lineage.tuning import grid_search

OUTER = {  # dataset -> (protocol, test fraction) of the leaderboard split; seed 42 for both
    "ml-100k": ("per-item", 0.25),
    "world": ("temporal", 0.2),
}

GRIDS = {  # model -> dataset -> grid (config field -> values); fields not listed keep their defaults
    "itemknn": {
        "ml-100k": {"k_neighbours": [100, 300], "shrinkage": [10, 50], "binary": [True, False],
                    "weighting": ["none", "bm25"], "power": [1.0, 3.0], "normalize": [False, True]},
        "world": {"k_neighbours": [100, 300], "shrinkage": [10, 50], "binary": [True, False],
                  "weighting": ["none", "bm25"], "power": [1.0, 3.0], "normalize": [False, True]},
    },
    "userknn": {
        "ml-100k": {"k_neighbours": [50, 100, 200], "shrinkage": [10, 50], "binary": [True, False],
                    "weighting": ["none", "bm25"], "power": [1.0, 2.0]},
        "world": {"k_neighbours": [50, 100, 200], "shrinkage": [10, 50], "weighting": ["none", "bm25"],
                  "power": [1.0, 2.0]},
    },
    "als": {
        "ml-100k": {"factors": [64, 128], "regularization": [40.0, 60.0, 80.0], "alpha": [1.5, 2.0, 3.0],
                    "confidence": ["hkv", "implicit"], "binary": [False], "iterations": [15, 30]},
        "world": {"factors": [64, 128], "regularization": [30.0, 100.0, 300.0, 1000.0], "alpha": [4.0, 16.0, 64.0],
                  "confidence": ["hkv", "implicit"], "binary": [False]},
    },
    # the teaching ALS fits the same objective from the same initial draws as "als" and lands on the
    # same factors (tests/test_als.py), so it takes the "als" winner; this small grid confirms it
    "als-numpy": {
        "ml-100k": {"factors": [128], "regularization": [60.0, 80.0], "alpha": [2.0, 3.0], "confidence": ["hkv"],
                    "binary": [False], "iterations": [30]},
        "world": {"factors": [128], "regularization": [100.0], "alpha": [16.0], "confidence": ["hkv", "implicit"],
                  "binary": [False]},
    },
    "bpr": {
        "ml-100k": {"factors": [64, 128], "regularization": [0.01, 0.05], "iterations": [30, 50, 80]},
        "world": {"factors": [64, 128], "regularization": [0.01, 0.05], "iterations": [80, 120, 200]},
    },
    # lambda relative to the mean number of training events per item (see lineage/models/ease.py)
    "ease": {
        "ml-100k": {"regularization_scale": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]},
        "world": {"regularization_scale": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]},
    },
    # the window as a share of the training period, up to all of it (= all-time popularity)
    "recent-popularity": {
        "ml-100k": {"window_fraction": [0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]},
        "world": {"window_fraction": [0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0]},
    },
}


def load(dataset: str, data_dir: str | None):
    """The dataset through the suite's one dispatcher (the world: the default preset, seed 0)."""
    from lineage.datasets import load_dataset

    options = {"size": "default", "seed": 0} if dataset == "world" else {}
    return load_dataset(dataset, data_dir=data_dir, **options)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(OUTER), default="ml-100k")
    parser.add_argument("--data-dir", default=None, help="MovieLens folder (default: $TT_ML100K_DIR or data/ml-100k)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=None,
                        help="outer split protocol (default: the dataset's leaderboard protocol, see OUTER)")
    parser.add_argument("--models", default=",".join(GRIDS), help=f"comma-separated, from {','.join(GRIDS)}")
    parser.add_argument("--metric", default="ndcg@10", help="validation metric to maximise")
    parser.add_argument("--k", type=int, default=10, help="list length")
    parser.add_argument("--fraction", type=float, default=None,
                        help="share of train held out for validation (default: the outer test fraction)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the outer split (the leaderboard's)")
    parser.add_argument("--top", type=int, default=5, help="grid rows to print per model")
    args = parser.parse_args()

    protocol, test_fraction = OUTER[args.dataset]
    key = args.dataset  # the TUNED key: the dataset for its default protocol, else "dataset/protocol"
    if args.protocol is not None and args.protocol != protocol:
        protocol, test_fraction = args.protocol, (0.25 if args.protocol == "per-item" else 0.2)
        key = f"{args.dataset}/{protocol}"
    data = load(args.dataset, args.data_dir)
    train = split(data, protocol, test_fraction, args.seed).train  # the test part is dropped unread
    fraction = args.fraction or test_fraction
    print(f"{data!r}; {protocol} split seed {args.seed}: tuning on {len(train):,} train events, "
          f"validation = {fraction:.0%} of them ({protocol}), metric {args.metric}", flush=True)

    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        if name not in GRIDS:
            raise SystemExit(f"no grid for model {name!r}; expected some of {','.join(GRIDS)}")
        cls = MODELS[name]
        grid = GRIDS[name][args.dataset]
        print(f"\n== {name}: {math.prod(len(values) for values in grid.values())} grid points ==", flush=True)
        start = time.perf_counter()
        results = grid_search(lambda **p: cls(cls.config_class(**p)), grid, train, protocol, metric=args.metric,
                              k=args.k, fraction=fraction, seed=0, verbose=False)
        for params, scores in results[:args.top]:
            print(f"  {args.metric}={scores[args.metric]:.4f}  recall@{args.k}={scores[f'recall@{args.k}']:.4f}  "
                  f"fit {scores['fit_seconds']:.1f}s  {params}")
        best = results[0][0]
        print(f"  -> TUNED[{key!r}] = {best!r}   ({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
