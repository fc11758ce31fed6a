"""The command line: `python -m twotower_mini --help`.

    python -m twotower_mini leaderboard --dataset world --protocol temporal --models popularity

Errors in the input (a malformed file, an unknown option value) end with a one-line message on
stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys

from lineage.data import DataError
from lineage.splits import PROTOCOLS

DATASETS = ("world", "ml-100k", "ml-latest", "csv")


def _add_leaderboard(sub) -> None:
    from twotower_mini.leaderboard import available_models

    p = sub.add_parser(
        "leaderboard",
        help="fit models on one split and print a table of top-k metrics",
        description="Fit every requested model on the same split of one dataset and report "
                    "precision, recall, nDCG, MAP, hit rate and coverage at k over the full catalogue.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", choices=DATASETS, default="world",
                   help="world = the embedded synthetic content app; ml-100k / ml-latest = MovieLens "
                        "(see data/README.md); csv = your own files (--interactions ...)")
    p.add_argument("--data-dir", help="folder with the MovieLens files (default: $TT_ML100K_DIR / "
                                      "$TT_MLLATEST_DIR, else data/ml-100k or data/ml-latest-small)")
    p.add_argument("--interactions", help="csv dataset: the interactions file (header row required)")
    p.add_argument("--items", help="csv dataset: optional items file (side information)")
    p.add_argument("--users", help="csv dataset: optional users file (side information)")
    p.add_argument("--user-col", default="user", help="csv dataset: user id column")
    p.add_argument("--item-col", default="item", help="csv dataset: item id column")
    p.add_argument("--time-col", default="time", help="csv dataset: timestamp column (numeric seconds)")
    p.add_argument("--sep", default=",", help="csv dataset: field separator (use '\\t' for tab)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="temporal",
                   help="how to split: temporal (global time cut), leave-last-out, per-user, "
                        "per-item (Microsoft Recommenders benchmark), random (TensorFlow Recommenders tutorial)")
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of events in test (default 0.25 for per-item, else 0.2; ignored by leave-last-out)")
    p.add_argument("--seed", type=int, default=42, help="seed of the split and of the models")
    p.add_argument("--models", default="popularity",
                   help=f"comma-separated, from: {','.join(available_models())}")
    p.add_argument("--k", type=int, default=10, help="length of each recommendation list")
    p.add_argument("--exclude-seen", action=argparse.BooleanOptionalAction, default=True,
                   help="hide items the user already has in train (the TFRS tutorial protocol does not)")
    p.add_argument("--world-size", default="default", help="world dataset: size preset (tiny, default, large)")
    p.add_argument("--world-seed", type=int, default=0, help="world dataset: the seed that generates the world")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to this file")
    p.add_argument("--save-recommendations", metavar="DIR",
                   help="write test.csv and <model>.csv (original ids) so the metrics can be recomputed")
    p.set_defaults(handler=_run_leaderboard)


def _run_leaderboard(args) -> int:
    from twotower_mini import leaderboard

    csv_options = {}
    if args.dataset == "csv":
        if not args.interactions:
            raise DataError("--interactions", "the csv dataset needs --interactions FILE")
        csv_options = dict(interactions_path=args.interactions, items_path=args.items, users_path=args.users,
                           user_col=args.user_col, item_col=args.item_col, time_col=args.time_col,
                           sep="\t" if args.sep in ("\\t", "tab") else args.sep)
    config = leaderboard.LeaderboardConfig(
        dataset=args.dataset, protocol=args.protocol,
        models=tuple(m.strip() for m in args.models.split(",") if m.strip()),
        k=args.k, seed=args.seed, test_fraction=args.test_fraction, exclude_seen=args.exclude_seen,
        data_dir=args.data_dir, csv_options=csv_options, world_size=args.world_size, world_seed=args.world_seed,
    )
    result = leaderboard.run(config, save_dir=args.save_recommendations,
                             log=lambda message: print(message, file=sys.stderr, flush=True))
    print(leaderboard.format_table(result))
    if args.json:
        leaderboard.write_json(result, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m twotower_mini",
        description="Two-tower retrieval, taught from the classics up. Run a subcommand with --help "
                    "for its options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_leaderboard(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (DataError, ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
