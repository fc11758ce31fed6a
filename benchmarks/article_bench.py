"""The negatives tables (notebook 05) and the ranker comparison (notebook 07), over world seeds.

    python benchmarks/article_bench.py --seeds 0,1,2 --parts negatives,feed_settings,rankers

Negatives: the five retrievers of notebook 05 (uniform N = B - 1 with and without log(N/|I|), in-batch
+ logQ, impressions only, in-batch + impressions) on the default world, temporal split, 2 epochs each;
logged recall@10, true recall@10 and the share of recommendations from a hated genre, mean and range over
seeds. Feed settings: notebook 05's sweep one setting at a time (the notebook changes them in three
groups, on half-size worlds), on full-size worlds: from the default world towards LIKED_GENRES_FEED, each
of the six settings alone, then all six; for each, the share of skipped impressions from a hated genre
and impressions-only / in-batch + logQ true recall@10.
Rankers: notebook 07's pipeline (towers trained on train minus its last 10%), then retrieval order, the
logistic ranker and the LightGBM LambdaRank ranker on the same 200 candidates per test user; logged
nDCG@10 and true recall@10. Results go to benchmarks/results/ and benchmarks/REPORT.md (report.py).
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
from lineage.metrics import evaluate_lists, users_with_test_events, true_recall_at_k  # noqa: E402
from lineage.negatives_study import WorldStudy, one_at_a_time  # noqa: E402
from lineage.splits import split  # noqa: E402
from lineage.world import LIKED_GENRES_FEED, generate_world  # noqa: E402
from twotower_mini.config import FeatureConfig, SampledSoftmax, TowerConfig, TrainConfig, TwoTowerConfig  # noqa: E402
from twotower_mini.features import SideLog  # noqa: E402
from twotower_mini.gbdt_ranker import GBDTRanker, GBDTRankerConfig  # noqa: E402
from twotower_mini.pipeline import PipelineConfig, TwoStagePipeline  # noqa: E402
from twotower_mini.recommender import TwoTowerRecommender  # noqa: E402

BATCH = 1024  # notebook 05's batch: B - 1 in-batch negatives per positive, and as many uniform ones
RETRIEVERS = {  # notebook 05's names -> the loss each trains with
    "uniform": SampledSoftmax(in_batch=False, uniform_negatives=BATCH - 1, logq="none"),
    "uniform + log(N/|I|)": SampledSoftmax(in_batch=False, uniform_negatives=BATCH - 1),
    "in-batch + logQ": SampledSoftmax(),
    "impressions only": SampledSoftmax(in_batch=False, impression_negatives=7),
    "in-batch + impressions": SampledSoftmax(impression_negatives=7, impression_weight=1.0),
}


def world_parts(seed: int):
    world = generate_world(world_config(seed=seed))
    parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
    users = users_with_test_events(parts.test)
    true_top = world.true_top_items(users, 10, released_before=parts.test.times.max() + 1, exclude=parts.train.to_csr())
    return world, parts, users, true_top


def towers(loss: SampledSoftmax) -> TwoTowerConfig:
    """Notebook 05's fast towers, trained with `loss`."""
    return TwoTowerConfig(features=FeatureConfig(history_length=20, drop=("counts",)),
                          towers=TowerConfig(embedding_dim=32, output_dim=32, hidden=(64,)),
                          training=TrainConfig(loss=loss, progress=False, epochs=2, batch_size=BATCH), refit=False)


def negatives(seed: int) -> dict[str, dict]:
    world, parts, users, true_top = world_parts(seed)
    side, genre, hated = SideLog.from_world(world), world.items["genre_index"], world.taste < -2.0
    out = {}
    for name, loss in RETRIEVERS.items():
        lists = TwoTowerRecommender(towers(loss), side=side).fit(parts.train).recommend(users, k=10)
        out[name] = {"recall@10": evaluate_lists(lists, users, parts.train, parts.test, 10)["recall@10"],
                     "true recall@10": true_recall_at_k(lists, true_top, 10),
                     "hated-genre share": float(hated[users[:, None], genre[lists]].mean())}
        print(f"seed {seed} {name:<28} " + "  ".join(f"{k} {v:.4f}" for k, v in out[name].items()), flush=True)
    return out


def feed_settings(seed: int) -> dict[str, dict]:
    """Notebook 05's sweep, one setting at a time on full-size worlds: each step's skipped impressions and the
    two models' true recall."""
    out = {}
    for step, changes in one_at_a_time(LIKED_GENRES_FEED).items():
        study = WorldStudy.of(world_config(seed=seed, **changes))
        side = SideLog.from_world(study.world)
        skipped = side.skipped_impressions(study.train.users, study.train.items, 7)
        recall = {name: study.score(TwoTowerRecommender(towers(RETRIEVERS[name]), side=side).fit(study.train)
                                    .recommend(study.users, k=10), 10)["true recall"]  # (n_users,)
                  for name in ("in-batch + logQ", "impressions only")}
        ratio = compare(recall["impressions only"], recall["in-batch + logQ"], ratio=True)  # paired over users
        out[f"{step} changed"] = {
            "hated share of skipped": study.hated_share(np.broadcast_to(study.train.users[:, None], skipped.shape),
                                                        skipped),
            "in-batch true recall@10": ratio.mean_b,
            "impressions-only true recall@10": ratio.mean_a,
            "impressions-only / in-batch": ratio.estimate,
            "ratio 95% low": ratio.low, "ratio 95% high": ratio.high}
        print(f"seed {seed} {step:<22} " + "  ".join(f"{k} {v:.4f}" for k, v in out[f"{step} changed"].items()),
              flush=True)
    return out


def rankers(seed: int) -> dict[str, dict]:
    world, parts, users, true_top = world_parts(seed)
    towers = TwoTowerConfig(features=FeatureConfig(history_length=20, drop=("counts",)),
                            towers=TowerConfig(embedding_dim=32, hidden=(64,), output_dim=32),
                            training=TrainConfig(epochs=3, batch_size=1024, progress=False))
    pipeline = TwoStagePipeline(PipelineConfig(tower=towers), side=SideLog.from_world(world))
    pipeline.fit(parts.train, world.impressions)
    gbdt = GBDTRanker(GBDTRankerConfig()).fit(parts.train, world.impressions, retrieval=pipeline.tower_scores(),
                                              since=pipeline.ranker_since_)
    ids, scores = pipeline.retrieve(users, 200)
    orders = {"retrieval order": ids, "logistic ranker": pipeline.ranker_.rerank(users, ids, scores),
              "LightGBM LambdaRank": gbdt.rerank(users, ids, scores)}
    out = {}
    for name, lists in orders.items():
        out[name] = {"ndcg@10": evaluate_lists(lists[:, :10], users, parts.train, parts.test, 10)["ndcg@10"],
                     "true recall@10": true_recall_at_k(lists[:, :10], true_top, 10)}
        print(f"seed {seed} {name:<22} " + "  ".join(f"{k} {v:.4f}" for k, v in out[name].items()), flush=True)
    return out


def summarise(per_seed: list[dict[str, dict]]) -> list[dict]:
    rows = []
    for name in per_seed[0]:
        row = {"model": name}
        for metric in per_seed[0][name]:
            values = np.array([result[name][metric] for result in per_seed])
            row[f"{metric} mean"] = float(values.mean())
            row[f"{metric} min-max"] = f"{values.min():.4f}-{values.max():.4f}"
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="world seeds, comma-separated (default 0,1,2)")
    parser.add_argument("--parts", default="negatives,feed_settings,rankers",
                        help="comma-separated: negatives, feed_settings, rankers (default all three)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    command = f"python benchmarks/article_bench.py --seeds {args.seeds} --parts {args.parts}"
    if "negatives" in args.parts:
        record("article_negatives", "Negatives on the world (notebook 05)", command,
               summarise([negatives(s) for s in seeds]),
               f"World seeds {args.seeds}, temporal 80/20 split, 2 epochs each, batch {BATCH}: uniform draws B - 1 "
               "negatives per batch, as many as in-batch; full-catalogue top 10, seen items removed; hated genre: "
               "taste < -2. Mean and min-max over the seeds.")
    if "feed_settings" in args.parts:
        record("article_feed_settings", "Which setting of the liked-genres feed flips impressions-only training "
               "(notebook 05)", command, summarise([feed_settings(s) for s in seeds]),
               f"World seeds {args.seeds}, the default world size (the notebook's sweep uses half the users and "
               "three groups of settings), from the default world towards LIKED_GENRES_FEED: none, each setting "
               "alone, then all; temporal 80/20 split, 2 epochs. Mean and min-max over the seeds; the ratio's 95% "
               "interval is a paired bootstrap over test users on each seed (lineage.evidence).")
    if "rankers" in args.parts:
        record("article_rankers", "Rankers over 200 retrieved candidates (notebook 07)", command,
               summarise([rankers(s) for s in seeds]),
               f"World seeds {args.seeds}; towers trained on train minus its last 10%, rankers on that period's "
               "impressions plus 16 unshown candidates per request; the same 200 candidates per test user.")
    write_report()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
