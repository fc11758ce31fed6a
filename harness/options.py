"""The command line's options: value types checked by argparse, and the options every subcommand shares.

Each type turns a bad value into argparse's one-line error that names the option and the allowed
range (`argument --k: expected an integer of at least 1, got 0`). The data options (`--dataset`,
`--protocol`, the CSV columns ...) are shared by the leaderboard, `train` and the DDP launcher;
`leaderboard_config` turns them into the leaderboard's config and `data_spec` into what a
checkpoint remembers of its data.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from lineage.data import DataError
from lineage.datasets import DATASETS
from lineage.splits import PROTOCOLS

FORMATTER = argparse.ArgumentDefaultsHelpFormatter


# ---- option values, checked by argparse (the error names the option and the allowed range) -------
SEED_MAX = 2**32 - 1  # numpy's and torch's seeds are unsigned 32-bit


def int_in(low: int, high: int | None = None):
    """An argparse type: an integer in [low, high] (high None: no upper bound)."""
    def parse(text: str) -> int:
        allowed = f"an integer from {low:,} to {high:,}" if high is not None else f"an integer of at least {low:,}"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {value:,}")
        return value
    parse.__name__ = "integer"
    return parse


def fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text}")
    return value


def encoding(text: str) -> str:
    """An argparse type: a text encoding Python knows (utf-8, latin-1, cp1252, ...)."""
    import codecs

    try:
        return codecs.lookup(text).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown text encoding {text!r}; expected e.g. utf-8, latin-1, "
                                         f"cp1252") from None


def optional_column(text: str) -> str | None:
    """A column name, or None for 'none' / '' (the file has no such column)."""
    return None if text.strip().lower() in ("", "none") else text


def model_list(text: str) -> tuple[str, ...]:
    """An argparse type: comma-separated model names (at least one)."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"no model names in {text!r}; expected comma-separated names")
    return names


def _add_overwrite(p) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that already exist (never an input file of the run)")


# ---- options shared by several subcommands ------------------------------------------------------
def _add_exclude_seen(p, help_text: str) -> None:
    p.add_argument("--exclude-seen", action=argparse.BooleanOptionalAction, default=True, help=help_text)


# ---- options shared by every subcommand that reads a dataset -------------------------------------
def add_data_options(p) -> None:
    group = p.add_argument_group("data")
    group.add_argument("--dataset", choices=DATASETS, default="world",
                       help="world = the embedded synthetic content app; ml-100k / ml-latest = MovieLens "
                            "(see data/README.md); csv = your own files (--interactions ...)")
    group.add_argument("--data-dir", help="folder with the MovieLens files (default: $TT_ML100K_DIR / "
                                          "$TT_MLLATEST_DIR, else data/ml-100k or data/ml-latest-small)")
    group.add_argument("--interactions", help="csv dataset: the interactions file (header row required)")
    group.add_argument("--items", help="csv dataset: optional items file (side information)")
    group.add_argument("--users", help="csv dataset: optional users file (side information)")
    group.add_argument("--user-col", default="user", help="csv dataset: user id column")
    group.add_argument("--item-col", default="item", help="csv dataset: item id column")
    group.add_argument("--time-col", type=optional_column, default="time",
                       help="csv dataset: timestamp column (numeric seconds); 'none' if the file has no time "
                            "(events keep file order; the temporal and leave-last-out protocols are then refused)")
    group.add_argument("--value-col", type=optional_column, default=None,
                       help="csv dataset: a numeric value column, e.g. a rating (default: every event counts 1)")
    group.add_argument("--sep", default=",", help="csv dataset: field separator (use '\\t' for tab)")
    group.add_argument("--encoding", type=encoding, default="utf-8",
                       help="csv dataset: text encoding of the files (e.g. latin-1, cp1252)")
    group.add_argument("--world-size", default="default", help="world dataset: size preset (tiny, default, large)")
    group.add_argument("--world-seed", type=int_in(0, SEED_MAX), default=0,
                       help=f"world dataset: the seed that generates the world (0 to {SEED_MAX})")
    split_group = p.add_argument_group("split")
    split_group.add_argument("--protocol", choices=PROTOCOLS, default="temporal",
                             help="how to split: temporal (global time cut), leave-last-out, per-user, per-item "
                                  "(Microsoft Recommenders benchmark), random (TensorFlow Recommenders tutorial)")
    split_group.add_argument("--test-fraction", type=fraction, default=None,
                             help="share of events in test, strictly between 0 and 1 (default 0.25 for per-item, "
                                  "else 0.2; ignored by leave-last-out)")
    split_group.add_argument("--seed", type=int_in(0, SEED_MAX), default=42,
                             help=f"seed of the split and of the models (0 to {SEED_MAX})")


def leaderboard_config(args, **overrides):
    from harness.leaderboard import LeaderboardConfig

    csv_options = {}
    if args.dataset == "csv":
        if not args.interactions:
            raise DataError("--interactions", "the csv dataset needs --interactions FILE")
        csv_options = dict(interactions_path=args.interactions, items_path=args.items, users_path=args.users,
                           user_col=args.user_col, item_col=args.item_col, time_col=args.time_col,
                           value_col=args.value_col, encoding=args.encoding,
                           sep="\t" if args.sep in ("\\t", "tab") else args.sep)
    return LeaderboardConfig(dataset=args.dataset, protocol=args.protocol, seed=args.seed,
                             test_fraction=args.test_fraction, data_dir=args.data_dir, csv_options=csv_options,
                             world_size=args.world_size, world_seed=args.world_seed, **overrides)


def data_spec(config) -> dict:
    """What a checkpoint must remember to rebuild the same training data; paths made absolute, so
    the checkpoint works from any folder (the fingerprint still refuses other data)."""
    from lineage.datasets import input_files

    data_dir = config.data_dir
    if config.dataset in ("ml-100k", "ml-latest"):
        data_dir = str(input_files(config.dataset, config.data_dir)[0].parent.resolve())
    elif data_dir is not None:
        data_dir = str(Path(data_dir).resolve())
    csv_options = {key: str(Path(value).resolve()) if key.endswith("_path") and value is not None else value
                   for key, value in config.csv_options.items()}
    return {"dataset": config.dataset, "protocol": config.protocol, "seed": config.seed,
            "test_fraction": config.test_fraction, "data_dir": data_dir, "csv_options": csv_options,
            "world_size": config.world_size, "world_seed": config.world_seed}


def _inputs(config) -> list:
    """The input files of a run (outputs must never overwrite them)."""
    from lineage.datasets import input_files

    return input_files(config.dataset, config.data_dir, **config.csv_options)
