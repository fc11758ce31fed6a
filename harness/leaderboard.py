"""The leaderboard: every model on one dataset, one split, one table.

This is a contract other tools rely on (README, "The leaderboard"): the JSON it writes has the shape

    {"dataset", "protocol", "k", "seed", "n_users", "n_items", "n_train", "n_test",
     "models": {name: {"precision@k", "recall@k", "ndcg@k", "map@k", "hitrate@k", "coverage@k",
                       "fit_seconds", ...}}}

and `--save-recommendations DIR` writes `test.csv` (user,item: the relevant test events) and one
`<model>.csv` (user,item,rank) per model, in the dataset's original ids, so anyone can recompute
the metrics with their own code.

Every model gets the same split, the same candidate set (the full catalogue) and the same
evaluation (`lineage.metrics.evaluate_lists`). Hyperparameters are the documented defaults tuned
on a validation split carved from train (`TUNED` in each model's module), never on test.
"""
from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lineage.data import Interactions
from lineage.metrics import METRIC_NAMES, evaluate_lists, segment_recall, test_users, true_recall_at_k
from lineage.models.registry import MODELS, make_model
from lineage.splits import PROTOCOLS, split

DEFAULT_TEST_FRACTION = {"per-item": 0.25}  # Microsoft Recommenders' 75/25; 0.2 for the others


@dataclass
class LeaderboardConfig:
    dataset: str = "world"  # world | ml-100k | ml-latest | csv
    protocol: str = "temporal"  # one of lineage.splits.PROTOCOLS
    models: tuple[str, ...] = ("popularity",)  # names from lineage.models.registry (and "twotower")
    k: int = 10  # list length for every metric
    seed: int = 42  # split seed (and model seeds)
    test_fraction: float | None = None  # None: 0.25 for per-item, 0.2 otherwise
    exclude_seen: bool = True  # hide each user's training items from their list
    data_dir: str | None = None  # where MovieLens files are (else env var / data/...)
    csv_options: dict = field(default_factory=dict)  # for dataset "csv": paths, column names, separator
    world_size: str = "default"  # preset of the synthetic world
    world_seed: int = 0  # the world itself; --seed only changes the split


def available_models() -> list[str]:
    return list(MODELS) + ["twotower"]


def load(config: LeaderboardConfig):
    """(interactions, world or None) for the configured dataset."""
    if config.dataset == "world":
        from lineage.world import WorldConfig, generate_world

        world = generate_world(WorldConfig.sized(config.world_size, seed=config.world_seed))
        return world.interactions(), world
    from lineage.loaders import load_dataset

    return load_dataset(config.dataset, data_dir=config.data_dir, **config.csv_options), None


def build_model(name: str, dataset: str, protocol: str = "temporal", world=None):
    """A fresh model with the defaults tuned for this dataset (and, for the two-tower, protocol)."""
    if name == "twotower":
        from twotower_mini.features import SideLog
        from twotower_mini.presets import preset
        from twotower_mini.recommender import TwoTowerRecommender

        return TwoTowerRecommender(preset(dataset, protocol), side=SideLog.from_world(world) if world else None)
    return make_model(name, dataset)


def prepare(config: LeaderboardConfig, log=print):
    """Load the dataset and split it: (data, world or None, split, test fraction)."""
    if config.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {config.protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    data, world = load(config)
    if data.report is not None and data.report.counts:
        log(f"{data.name}: {data.report.summary()}")
    fraction = config.test_fraction or DEFAULT_TEST_FRACTION.get(config.protocol, 0.2)
    return data, world, split(data, config.protocol, fraction, config.seed), fraction


def run(config: LeaderboardConfig, save_dir: str | None = None, log=print) -> dict:
    """Fit and evaluate every model; returns the JSON-ready result."""
    for name in config.models:
        if name not in available_models():
            raise ValueError(f"unknown model {name!r}; expected some of {','.join(available_models())}")
    data, world, parts, fraction = prepare(config, log)
    train, test = parts.train, parts.test
    users = test_users(test)
    log(f"{data.name}: {data.n_users:,} users, {data.n_items:,} items; {config.protocol} split "
        f"(test {fraction:.0%}, seed {config.seed}): {len(train):,} train, {len(test):,} test events, "
        f"{len(users):,} test users")
    k = config.k
    result = {
        "dataset": config.dataset, "protocol": config.protocol, "k": k, "seed": config.seed,
        "n_users": data.n_users, "n_items": data.n_items, "n_train": len(train), "n_test": len(test),
        "test_fraction": fraction, "exclude_seen": config.exclude_seen, "models": {},
    }
    cold_items, cold_users = parts.cold_items(), parts.cold_users()
    true_top = None
    if world is not None:
        # the oracle's best items, among those released by the end of the test period and, when
        # seen items are excluded from the lists, not already in the user's training history
        true_top = world.true_top_items(users, k, released_before=test.times.max() + 1,
                                        exclude=train.to_csr() if config.exclude_seen else None)
    recommendations = {}
    for name in config.models:
        log(f"  {name}: fitting ...")
        model = build_model(name, config.dataset, config.protocol, world)
        start = time.perf_counter()
        model.fit(train)
        fit_seconds = time.perf_counter() - start
        lists = model.recommend(users, k=k, exclude_seen=config.exclude_seen)  # (n_test_users, k)
        scores = evaluate_lists(lists, users, train, test, k, config.exclude_seen)
        scores["fit_seconds"] = round(fit_seconds, 3)
        if cold_items.any():
            scores[f"recall@{k}/cold-items"] = segment_recall(lists, users, train, test, k, cold_items,
                                                              config.exclude_seen)
            scores[f"recall@{k}/warm-items"] = segment_recall(lists, users, train, test, k, ~cold_items,
                                                              config.exclude_seen)
        if cold_users.any():
            warm_rows = ~cold_users[users]
            scores[f"ndcg@{k}/cold-users"] = evaluate_lists(lists[~warm_rows], users[~warm_rows], train, test, k,
                                                            config.exclude_seen)[f"ndcg@{k}"]
        if true_top is not None:
            scores[f"true_recall@{k}"] = true_recall_at_k(lists, true_top, k)
        result["models"][name] = scores
        recommendations[name] = lists
        log(f"  {name}: fitted in {fit_seconds:.1f} s, ndcg@{k}={scores[f'ndcg@{k}']:.4f}")
    if save_dir is not None:
        save_recommendations(save_dir, data, train, test, users, recommendations, config.exclude_seen)
    return result


def save_recommendations(directory: str, data: Interactions, train: Interactions, test: Interactions,
                         users: np.ndarray, recommendations: dict[str, np.ndarray], exclude_seen: bool) -> None:
    """test.csv: the relevant test events (user,item); <model>.csv: user,item,rank (rank 1 = best).

    With exclude_seen, test events of items the user already had in train are left out of test.csv,
    exactly as the metrics leave them out."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    keep = np.ones(len(test), dtype=bool)
    if exclude_seen:
        seen = train.to_csr(binary=True)
        keep = np.asarray(seen[test.users, test.items]).ravel() == 0
    with open(out / "test.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "item"])
        for u, i in zip(test.users[keep], test.items[keep]):
            writer.writerow([data.user_ids[u], data.item_ids[i]])
    for name, lists in recommendations.items():
        with open(out / f"{name}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["user", "item", "rank"])
            for u, row in zip(users, lists):
                for rank, i in enumerate(row[row >= 0], start=1):
                    writer.writerow([data.user_ids[u], data.item_ids[i], rank])


def format_table(result: dict) -> str:
    """The models as a fixed-width table, best nDCG first."""
    k = result["k"]
    columns = [f"{name}@{k}" for name in METRIC_NAMES]
    extra = sorted({c for scores in result["models"].values() for c in scores
                    if "/" in c or c.startswith("true_recall")})
    header = ["model"] + columns + extra + ["fit_seconds"]
    rows = sorted(result["models"].items(), key=lambda pair: -pair[1][f"ndcg@{k}"])
    widths = [max(len(h), 12) for h in header]
    lines = ["  ".join(h.rjust(w) if j else h.ljust(w) for j, (h, w) in enumerate(zip(header, widths)))]
    for name, scores in rows:
        cells = [name.ljust(widths[0])]
        for column, width in zip(header[1:], widths[1:]):
            value = scores.get(column, float("nan"))
            cells.append(f"{value:.1f}".rjust(width) if column == "fit_seconds" else f"{value:.4f}".rjust(width))
        lines.append("  ".join(cells))
    return "\n".join(lines)


def write_json(result: dict, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=False)
        handle.write("\n")
