"""Recompute top-k metrics from the files `leaderboard --save-recommendations DIR` writes.

    python scripts/recompute_metrics.py DIR [--k 10]

Independent of the project's code on purpose (only the csv and math modules and the textbook
definitions), so it checks the leaderboard rather than repeating it. test.csv holds the relevant
test events (user,item); each <model>.csv holds user,item,rank lists; users.csv (user,train_events),
when present, splits the users into those with a training history and those without, and each
model gets a line per segment too (the leaderboard JSON's "segments").
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path


FILES_THAT_ARE_NOT_MODELS = ("test", "users")


def users_with_history(directory: Path) -> set[str] | None:
    """Test users with at least one training event, from users.csv (None when the file is absent)."""
    path = directory / "users.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        return {row["user"] for row in csv.DictReader(handle) if int(row["train_events"]) > 0}


def recompute(directory: Path, model: str, k: int, only_users=None) -> dict[str, float]:
    """Metrics of <model>.csv at k, over every user of test.csv, or over those `only_users` accepts."""
    relevant, events = defaultdict(set), []
    with open(directory / "test.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if only_users is not None and not only_users(row["user"]):
                continue
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
    models = sorted(p.stem for p in args.directory.glob("*.csv") if p.stem not in FILES_THAT_ARE_NOT_MODELS)
    history = users_with_history(args.directory)
    segments = {"all": None}
    if history is not None:
        segments["with_history"] = lambda user: user in history
        segments["without_history"] = lambda user: user not in history
    for model in models:
        for segment, only_users in segments.items():
            try:
                scores = recompute(args.directory, model, args.k, only_users)
            except ZeroDivisionError:  # an empty segment
                continue
            print(f"{model:<18} {segment:<16} " + "  ".join(f"{name} {value:.4f}" for name, value in scores.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
