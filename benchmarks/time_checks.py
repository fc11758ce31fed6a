"""Does the time-ordered two-tower recipe carry to data it was not tuned on? And how long does it fit?

    python benchmarks/time_checks.py --parts checks,fit-time,sampled
    python benchmarks/time_checks.py --parts checks --data-dir ../shared/datasets/ml-100k

checks: time-ordered datasets built from what is offline, each read through the generic CSV path
(`--dataset csv`: no side information, so no dataset-specific preset applies), temporal split 80/20,
seed 42; for each, the two-tower minus recent popularity on nDCG@10, for all test users and for
those with training history, with the leaderboard's paired bootstrap 95% interval:
- ML-100K cut at several points of its timeline (the log up to 50%, 70%, 85% of its events; each
  cut its own dataset; the whole log is notebook 08's, with its tuned preset);
- the synthetic world's default log, exported as user,item,time;
- a world with a catalogue of 16,000 items (the REPORT row counts those in its log: 5x ML-100K's 1,682).
sampled: the quality cost of the sampled softmax (the mode of catalogues above 2,048 items), on
ML-100K with its tuned preset, whole catalogue against forced sampling.
fit-time: the same recipe on synthetic logs of growing catalogue and size (worlds exported as CSV),
fit seconds against items and training events; the 10k-item, 80k-event log must fit in under 60 s
on 2 cores, its selection search included.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import default_data_dir, record, write_report  # noqa: E402

from harness.leaderboard import LeaderboardConfig, prepare, run  # noqa: E402
from lineage.evidence import compare  # noqa: E402
from lineage.metrics import per_user_scores, users_with_test_events  # noqa: E402
from twotower_mini.presets import preset  # noqa: E402
from twotower_mini.recommender import TwoTowerRecommender  # noqa: E402
from lineage.datasets import load_movielens_100k  # noqa: E402
from lineage.world import WorldConfig, generate_world  # noqa: E402

CUTS = (0.5, 0.7, 0.85)  # ML-100K: the log up to these shares of its events
FIT_TIME_SIZES = [(1_500, 1_000), (1_500, 3_000), (6_000, 3_000), (12_000, 3_600), (24_000, 3_600)]  # (catalogue,
#   users) of worlds; the last logs about 10,700 items and 80,000 training events: the 60 s case


def write_csv(path: Path, users, items, times) -> Path:
    """user,item,time: the generic CSV path's minimal log."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("user,item,time\n")
        for user, item, moment in zip(users, items, times):
            out.write(f"{user},{item},{moment:.0f}\n")
    return path


def movielens_cut(data_dir: Path, share: float, folder: Path) -> Path:
    """ML-100K's first `share` of events (by time) as a CSV."""
    ratings = load_movielens_100k(data_dir)
    order = np.argsort(ratings.times, kind="stable")[: int(share * len(ratings))]
    return write_csv(folder / f"ml-100k-first-{share:.0%}.csv", ratings.user_ids[ratings.users[order]],
                     ratings.item_ids[ratings.items[order]], ratings.times[order])


def world_csv(folder: Path, name: str, **sizes) -> Path:
    world = generate_world(WorldConfig.sized("default", seed=0, **sizes))
    log = world.interactions()
    return write_csv(folder / f"{name}.csv", log.user_ids[log.users], log.item_ids[log.items], log.times)


def leaderboard_on(path: Path) -> dict:
    config = LeaderboardConfig(dataset="csv", protocol="temporal", seed=42, models=("recent-popularity", "twotower"),
                               csv_options={"interactions_path": str(path)})
    return run(config, log=lambda line: print("   ", line, flush=True))


def interval(result: dict, segment: str) -> str:
    gap = result["models"]["twotower"]["vs_recent-popularity"][segment]
    return f"{gap['difference']:+.4f} [{gap['low']:+.4f}, {gap['high']:+.4f}]"


def check_row(name: str, path: Path) -> dict:
    result = leaderboard_on(path)
    twotower = result["models"]["twotower"]
    gaps = twotower["vs_recent-popularity"]
    significantly_below = any(gaps[s]["high"] < 0 for s in ("all", "with_history"))
    return {"dataset": name, "items": result["n_items"], "train events": result["n_train"],
            "test users": twotower["n_eval_users"], "with history": gaps["with_history"]["n_users"],
            "recent-popularity ndcg@10": result["models"]["recent-popularity"]["ndcg@10"],
            "twotower ndcg@10": twotower["ndcg@10"], "twotower - recent, all [95%]": interval(result, "all"),
            "twotower - recent, with history [95%]": interval(result, "with_history"),
            "significantly below": "yes" if significantly_below else "no",
            "fit seconds": twotower["fit_seconds"], "chosen": twotower.get("selection", {}).get("chosen", "")}


def checks(data_dir: Path, folder: Path) -> list[dict]:
    datasets = {}
    if (data_dir / "u.data").is_file():
        for share in CUTS:
            datasets[f"ML-100K, first {share:.0%} of the log"] = movielens_cut(data_dir, share, folder)
    else:
        print(f"MovieLens 100K not found in {data_dir}: its cuts are skipped")
    datasets["world log as CSV (1,500 items)"] = world_csv(folder, "world")
    datasets["large-catalogue world as CSV (16,000 items)"] = world_csv(folder, "world-16k", n_items=16_000,
                                                                        n_users=3_700, n_publishers=320)
    rows = []
    for name, path in datasets.items():
        rows.append(check_row(name, path))
        print(rows[-1], flush=True)
    return rows


def fit_time(folder: Path) -> list[dict]:
    rows = []
    for n_items, n_users in FIT_TIME_SIZES:
        path = world_csv(folder, f"fit-{n_items}-{n_users}", n_items=n_items, n_users=n_users,
                         n_publishers=max(20, n_items // 50))
        start = time.perf_counter()
        result = leaderboard_on(path)
        twotower = result["models"]["twotower"]
        rows.append({"catalogue": n_items, "items in log": result["n_items"], "train events": result["n_train"],
                     "fit seconds (incl. selection)": twotower["fit_seconds"],
                     "leaderboard seconds": time.perf_counter() - start, "twotower ndcg@10": twotower["ndcg@10"],
                     "twotower - recent, all [95%]": interval(result, "all"),
                     "under 60 s": "yes" if twotower["fit_seconds"] < 60 else "no"})
        print(rows[-1], flush=True)
    return rows


def sampled_cost(data_dir: Path) -> list[dict]:
    """ML-100K temporal (seed 42, its tuned preset): the softmax over all 1,682 items at each event's time, and the
    same recipe forced to sample (TimeSoftmax.sampled_above=0: 1,024 items a batch, drawn by count^0.75 and
    logQ-corrected, the mode a catalogue above 2,048 items trains in); nDCG@10 and the paired difference."""
    config = LeaderboardConfig(dataset="ml-100k", data_dir=str(data_dir), protocol="temporal", seed=42)
    _, _, parts, _ = prepare(config, log=print)
    users = users_with_test_events(parts.test)
    full = preset("ml-100k", "temporal")
    sampled = replace(full, training=replace(full.training, loss=replace(full.training.loss, sampled_above=0)))
    scores, seconds = {}, {}
    for name, recipe in (("whole catalogue", full), ("sampled, 1,024 a batch", sampled)):
        start = time.perf_counter()
        model = TwoTowerRecommender(recipe).fit(parts.train)
        seconds[name] = time.perf_counter() - start
        scores[name] = per_user_scores(model, parts.train, parts.test, "ndcg", 10, users)
        print(f"  {name}: ndcg@10 {scores[name].mean():.4f}, fit {seconds[name]:.1f} s", flush=True)
    versus = compare(scores["sampled, 1,024 a batch"], scores["whole catalogue"], "sampled", "whole")
    print(f"  {versus}", flush=True)
    return [{"softmax": name, "ndcg@10": float(values.mean()), "fit seconds": seconds[name],
             "minus whole catalogue [95%]": "" if name == "whole catalogue" else
             f"{versus.estimate:+.4f} [{versus.low:+.4f}, {versus.high:+.4f}]"} for name, values in scores.items()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="checks,fit-time,sampled",
                        help="comma-separated: checks, fit-time, sampled (default all three)")
    parser.add_argument("--data-dir", help="MovieLens 100K folder (default $TT_ML100K_DIR or ../shared/datasets/ml-100k)")
    parser.add_argument("--no-report", action="store_true", help="print the rows, leave REPORT.md alone")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - {"checks", "fit-time", "sampled"}:
        parser.error(f"--parts {args.parts!r}: expected a comma-separated subset of checks, fit-time, sampled")
    command = f"python benchmarks/time_checks.py --parts {args.parts}"
    with tempfile.TemporaryDirectory(prefix="time-checks-") as folder:
        if "checks" in parts:
            rows = checks(default_data_dir(args.data_dir), Path(folder))
            if not args.no_report:
                record("time_checks", "The time-ordered two-tower on data it was not tuned on (temporal, CSV path)",
                       command, rows, notes="Temporal split 80/20, seed 42, nDCG@10; differences with paired "
                       "bootstrap 95% intervals over test users (harness.leaderboard); 'significantly below': the "
                       "interval of all users or of users with history lies below 0.")
        if "fit-time" in parts:
            rows = fit_time(Path(folder))
            if not args.no_report:
                record("time_fit", "Fit time of the time-ordered two-tower against catalogue and log size", command,
                       rows, notes="Worlds exported as user,item,time CSV; fit seconds include the selection search; "
                       "2 cores.")
    data_dir = default_data_dir(args.data_dir)
    if "sampled" in parts and (data_dir / "u.data").is_file():
        rows = sampled_cost(data_dir)
        if not args.no_report:
            record("time_sampled", "The time-ordered two-tower on ML-100K: whole-catalogue softmax against sampled",
                   command, rows, notes="Temporal 80/20, seed 42, the tuned ML-100K preset; sampled: "
                   "TimeSoftmax(sampled_above=0), 1,024 items a batch; paired bootstrap 95% interval over test users.")
    elif "sampled" in parts:
        print(f"MovieLens 100K not found in {data_dir}: the sampled part is skipped")
    if not args.no_report:
        write_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
