"""The article's staged schedule, tested: random negatives until validation recall levels off, then a
short fine-tune with skipped impressions as hard negatives, at several weights (notebook 05).

    python benchmarks/staged_negatives.py --seeds 0,1 --weights 0,0.1,0.3,1

For each world (the default feed, and LIKED_GENRES_FEED, where every impression comes from the
user's liked genres) and each world seed: stage 1 trains notebook 05's fast towers with in-batch
negatives and the logQ correction, early-stopped on a validation part carved by time from train
(patience 1, at most 8 epochs). Stage 2 then runs one epoch from those weights, at a third of the
learning rate, once per weight: weight 0 keeps stage 1's loss (the same extra epoch without
impressions: equal budgets), a weight w > 0 adds up to 7 skipped impressions per example, each
weighing w in the softmax. Test: temporal split, logged recall@10, true recall@10 and the share of
recommendations from a hated genre; each weight minus weight 0 with a paired bootstrap 95% interval
over the test users (lineage.evidence). Results go to benchmarks/results/ and REPORT.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import record, write_report  # noqa: E402
from lineage.evidence import compare  # noqa: E402
from lineage.lessons import world_config  # noqa: E402
from lineage.metrics import per_user_metrics, relevance_matrix, true_recall_per_user, users_with_test_events  # noqa: E402
from lineage.splits import split  # noqa: E402
from lineage.world import LIKED_GENRES_FEED, generate_world  # noqa: E402
from twotower_mini.config import FeatureConfig, SampledSoftmax, TowerConfig, TrainConfig, TwoTowerConfig  # noqa: E402
from twotower_mini.features import SideLog  # noqa: E402
from twotower_mini.recommender import TwoTowerRecommender  # noqa: E402
from twotower_mini.staged import StagedSchedule, fine_tune, fit_stage_one  # noqa: E402

K = 10
WORLDS = {"default feed": {}, "LIKED_GENRES_FEED": LIKED_GENRES_FEED}
STAGE_ONE = TwoTowerConfig(  # notebook 05's fast towers; stage 1 stops when validation recall levels off
    features=FeatureConfig(history_length=20, drop=("counts",)),
    towers=TowerConfig(embedding_dim=32, output_dim=32, hidden=(64,)),
    training=TrainConfig(loss=SampledSoftmax(), progress=False, epochs=8, patience=1, batch_size=1024),
    refit=False)


def per_user_scores(world, parts, recommender) -> dict[str, np.ndarray]:
    """Per test user: logged recall@10, true recall@10, share of the list from a hated genre."""
    users = users_with_test_events(parts.test)
    lists = recommender.recommend(users, k=K)
    relevant = relevance_matrix(parts.test, users, parts.train)
    has_items = np.diff(relevant.indptr) > 0
    true_top = world.true_top_items(users, K, released_before=parts.test.times.max() + 1, exclude=parts.train.to_csr())
    hated = (world.taste < -2.0)[users[:, None], world.items["genre_index"][lists]]  # (n_users, K)
    recall = per_user_metrics(lists, relevant, K)["recall"]
    return {"logged": np.where(has_items, np.nan_to_num(recall), np.nan), "true": true_recall_per_user(lists, true_top, K),
            "hated": hated.mean(axis=1)}


def one_world(name: str, seed: int, weights: list[float]) -> list[dict]:
    world = generate_world(world_config(seed=seed, **WORLDS[name]))
    parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
    side = SideLog.from_world(world)
    first = fit_stage_one(parts.train, STAGE_ONE, side)
    scores = {}
    for weight in weights:
        fitted = fine_tune(first, STAGE_ONE, StagedSchedule(impression_weight=weight), side)
        scores[weight] = per_user_scores(world, parts, TwoTowerRecommender.serving(fitted, parts.train, side))
    rows, base = [], scores[weights[0]]
    for weight in weights:
        mine = scores[weight]
        logged_ok = ~np.isnan(mine["logged"])
        true_gain = compare(mine["true"], base["true"], f"w={weight}", f"w={weights[0]}")
        logged_gain = compare(mine["logged"][logged_ok], base["logged"][logged_ok], f"w={weight}", f"w={weights[0]}")
        rows.append({"world": name, "seed": seed, "stage-1 epochs": first.run.best_epoch, "weight": weight,
                     "logged recall@10": float(np.nanmean(mine["logged"])), "true recall@10": float(mine["true"].mean()),
                     "hated share@10": float(mine["hated"].mean()),
                     "true recall vs w=0 [95%]": f"{true_gain.estimate:+.4f} [{true_gain.low:+.4f}, {true_gain.high:+.4f}]",
                     "logged recall vs w=0 [95%]": f"{logged_gain.estimate:+.4f} [{logged_gain.low:+.4f}, "
                                                   f"{logged_gain.high:+.4f}]"})
        print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1", help="world seeds, comma-separated (default 0,1)")
    parser.add_argument("--weights", default="0,0.1,0.3,1", help="stage-2 impression weights; the first is the "
                                                                   "reference (default 0,0.1,0.3,1)")
    parser.add_argument("--no-report", action="store_true", help="print the rows, leave REPORT.md alone")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
        weights = [float(w) for w in args.weights.split(",")]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r} / --weights {args.weights!r}: expected comma-separated numbers")
    if len(weights) < 2 or weights[0] != 0 or min(weights) < 0:
        parser.error(f"--weights {args.weights!r}: expected 0 first (the reference), then at least one weight > 0")
    rows = [row for name in WORLDS for seed in seeds for row in one_world(name, seed, weights)]
    if not args.no_report:
        command = f"python benchmarks/staged_negatives.py --seeds {args.seeds} --weights {args.weights}"
        record("article_staged", "Staged negatives: random until validation levels off, then impressions "
               "(notebook 05)", command, rows,
               notes="Stage 1: in-batch + logQ, early-stopped on validation carved by time (patience 1, at most 8 "
                     "epochs). Stage 2: one epoch at a third of the learning rate; weight 0 keeps stage 1's loss "
                     "(equal budgets), w > 0 adds up to 7 skipped impressions per example at weight w. Differences "
                     "vs weight 0: paired bootstrap 95% intervals over test users (one world seed each).")
        write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
