"""Time-ordered protocols: every leaderboard model on MovieLens 100K split by time, per user segment.

    python benchmarks/time_ordered.py                                   # every model, both protocols
    python benchmarks/time_ordered.py --models twotower                 # rerun some models, keep the other rows
    python benchmarks/time_ordered.py --data-dir ../shared/datasets/ml-100k --seed 42

Two protocols where no model may see the future: `temporal` (one global time cut, 80/20: most
test users arrive after the cut and have no training history) and `leave-last-out` (each user's
last event is test: every test user has a history). For each, one `harness.leaderboard.run` with
every model (so the numbers are exactly what `python -m twotower_mini leaderboard --dataset
ml-100k --protocol P --seed 42 --models ...` prints) and the default cold-user policy
(`--cold-users`, a non-personal fallback for users without history, the same for every model).
Each model's row gives nDCG@10 and recall@10 over all test users, over those with training
history and over those without.

Rerunning with `--models` replaces those models' rows in benchmarks/results/time_ordered.json and
keeps the others, with the command and commit of every run listed under the table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, commit, default_data_dir, record, write_report  # noqa: E402

from harness.leaderboard import LeaderboardConfig, available_models, run  # noqa: E402
from lineage.models.cold_users import COLD_USER_POLICIES, DEFAULT_COLD_USER_POLICY  # noqa: E402

NAME = "time_ordered"
TITLE = "Time-ordered protocols on MovieLens 100K: all users, with history, without history"
MODELS = ["popularity", "recent-popularity", "userknn", "itemknn", "als", "bpr", "ease", "deepwalk", "twotower"]
PROTOCOLS = ["temporal", "leave-last-out"]
K = 10
SEGMENTS = {"all": None, "with history": "with_history", "without history": "without_history"}


def rows_of(result: dict) -> list[dict]:
    """One row per model: nDCG and recall at K over every segment, users counted, fit seconds."""
    rows = []
    for name, scores in result["models"].items():
        row = {"protocol": result["protocol"], "model": name}
        for metric in (f"ndcg@{K}", f"recall@{K}"):
            for label, key in SEGMENTS.items():
                segment = scores if key is None else scores["segments"][key]
                row[f"{metric} {label}"] = float(segment.get(metric, float("nan")))
        for label, key in SEGMENTS.items():
            row[f"users {label}"] = (scores if key is None else scores["segments"][key])["n_eval_users"]
        row["fit seconds"] = float(scores["fit_seconds"])
        rows.append(row)
    return rows


def previous() -> tuple[list[dict], list[str]]:
    """Rows and run lines of an earlier result file, if any."""
    path = RESULTS / f"{NAME}.json"
    if not path.is_file():
        return [], []
    payload = json.loads(path.read_text())
    runs = [line for line in payload.get("notes", "").splitlines() if line.startswith("- `")]
    return payload["rows"], runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated leaderboard model names")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS), help="comma-separated, from temporal,leave-last-out")
    parser.add_argument("--seed", type=int, default=42, help="split seed (and model seeds)")
    parser.add_argument("--cold-users", choices=COLD_USER_POLICIES, default=DEFAULT_COLD_USER_POLICY,
                        help="the leaderboard's policy for test users without training history")
    parser.add_argument("--data-dir", default=None,
                        help="MovieLens 100K directory (default: $TT_ML100K_DIR, else ../shared/datasets/ml-100k)")
    parser.add_argument("--fresh", action="store_true", help="drop every earlier row instead of keeping the others")
    args = parser.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [m for m in models if m not in available_models()] + [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise SystemExit(f"error: unknown model or protocol {', '.join(unknown)}; models: "
                         f"{','.join(available_models())}; protocols: {','.join(PROTOCOLS)}")
    data_dir = default_data_dir(args.data_dir)
    if not (data_dir / "u.data").is_file():
        print(f"MovieLens 100K not found at {data_dir} (no u.data): nothing measured. Pass --data-dir or set "
              f"TT_ML100K_DIR; data/README.md says where to download it.")
        return 0

    command = "python benchmarks/time_ordered.py" + "".join(
        f" {flag}" for flag, on in [(f"--models {args.models}", models != MODELS),
                                    (f"--protocols {args.protocols}", protocols != PROTOCOLS),
                                    (f"--seed {args.seed}", args.seed != 42),
                                    (f"--cold-users {args.cold_users}", args.cold_users != DEFAULT_COLD_USER_POLICY)]
        if on)
    old_rows, runs = ([], []) if args.fresh else previous()
    new_rows = []
    for protocol in protocols:
        config = LeaderboardConfig(dataset="ml-100k", protocol=protocol, models=tuple(models), k=K, seed=args.seed,
                                   data_dir=str(data_dir), cold_users=args.cold_users)
        result = run(config, log=lambda message: print(message, flush=True))
        new_rows += rows_of(result)
    replaced = {(row["protocol"], row["model"]) for row in new_rows}
    rows = [row for row in old_rows if (row["protocol"], row["model"]) not in replaced] + new_rows
    rows.sort(key=lambda row: (PROTOCOLS.index(row["protocol"]) if row["protocol"] in PROTOCOLS else 99,
                               -row[f"ndcg@{K} all"]))
    runs.append(f"- `{command}` at commit `{commit()}`: {', '.join(models)} on {', '.join(protocols)}")
    notes = (f"ML-100K, split seed {args.seed}, k = {K}, seen items excluded, full-catalogue ranking, test 20% "
             f"(temporal: one global time cut; leave-last-out: each user's last event). Users without training "
             f"history are served by the cold-user policy `{args.cold_users}` (the leaderboard's `--cold-users`), the "
             f"same for every model; models that score them themselves (popularity, the two-tower) keep their own "
             f"answer. Hyperparameters: each model's tuned defaults for ml-100k and the protocol (chosen on "
             f"validation carved from train by time, never test). Each row is one "
             f"`python -m twotower_mini leaderboard --dataset ml-100k --protocol P --seed {args.seed} "
             f"--cold-users {args.cold_users} --models ...` run; the rows were measured by:\n" + "\n".join(runs))
    record(NAME, TITLE, command, rows, notes=notes)
    print(f"wrote {write_report()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
