"""Recompute top-k metrics from the files `leaderboard --save-recommendations DIR` writes.

    python scripts/recompute_metrics.py DIR [--k 10]

Independent of the project's code on purpose (only the csv and math modules and the textbook
definitions), so it checks the leaderboard rather than repeating it. test.csv holds the relevant
test events (user,item); each <model>.csv holds user,item,rank lists.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path


def recompute(directory: Path, model: str, k: int) -> dict[str, float]:
    relevant, events = defaultdict(set), []
    with open(directory / "test.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            relevant[row["user"]].add(row["item"])
            events.append((row["user"], row["item"]))
    lists = defaultdict(list)
    with open(directory / f"{model}.csv", newline="") as handle:
        for row in sorted(csv.DictReader(handle), key=lambda r: (r["user"], int(r["rank"]))):
            lists[row["user"]].append(row["item"])
    precision, recall, ndcg, average_precision = [], [], [], []
    for user, items in relevant.items():
        hits = [item in items for item in lists[user][:k]]
        precision.append(sum(hits) / k)
        recall.append(sum(hits) / len(items))
        dcg = sum(1 / math.log2(j + 2) for j, hit in enumerate(hits) if hit)
        ndcg.append(dcg / sum(1 / math.log2(j + 2) for j in range(min(len(items), k))))
        found, total = 0, 0.0
        for j, hit in enumerate(hits):
            if hit:
                found += 1
                total += found / (j + 1)
        average_precision.append(total / len(items))
    mean = lambda values: sum(values) / len(values)
    return {f"precision@{k}": mean(precision), f"recall@{k}": mean(recall), f"ndcg@{k}": mean(ndcg),
            f"map@{k}": mean(average_precision),
            f"hitrate@{k}": sum(item in lists[user][:k] for user, item in events) / len(events)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="the --save-recommendations folder")
    parser.add_argument("--k", type=int, default=10, help="list length used by the leaderboard")
    args = parser.parse_args()
    models = sorted(p.stem for p in args.directory.glob("*.csv") if p.stem != "test")
    for model in models:
        scores = recompute(args.directory, model, args.k)
        print(f"{model:<12} " + "  ".join(f"{name} {value:.4f}" for name, value in scores.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
