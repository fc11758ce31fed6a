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
from lineage.world.config import WORLD_SIZES

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


def add_overwrite(p) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that already exist (never an input file of the run)")


# ---- options shared by several subcommands ------------------------------------------------------
def add_exclude_seen(p, help_text: str) -> None:
    p.add_argument("--exclude-seen", action=argparse.BooleanOptionalAction, default=True, help=help_text)


# ---- options shared by every subcommand that reads a dataset -------------------------------------
# Options that belong to one kind of dataset, with their defaults. They are parsed with no default
# (argparse.SUPPRESS), so `resolve_data_options` can tell "given" from "left out" and refuse an
# option the chosen dataset would silently ignore.
CSV_DEFAULTS = {"interactions": None, "items": None, "users": None, "user_col": "user", "item_col": "item",
                "time_col": "time", "value_col": None, "sep": ",", "encoding": "utf-8"}
WORLD_DEFAULTS = {"world_size": "default", "world_seed": 0}
DIR_DEFAULTS = {"data_dir": None}
APPLIES_TO = {"world": set(WORLD_DEFAULTS), "ml-100k": set(DIR_DEFAULTS), "ml-latest": set(DIR_DEFAULTS),
              "csv": set(CSV_DEFAULTS) | set(DIR_DEFAULTS)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _owners(name: str) -> str:
    return " or ".join(f"--dataset {d}" for d, names in APPLIES_TO.items() if name in names)


def resolve_data_options(args) -> dict:
    """The dataset options' values, defaults filled in; an option given for a dataset (or protocol)
    that does not use it is refused with one line naming both."""
    given = {name for name in {**CSV_DEFAULTS, **WORLD_DEFAULTS, **DIR_DEFAULTS} if hasattr(args, name)}
    for name in sorted(given - APPLIES_TO[args.dataset]):
        raise ValueError(f"{_flag(name)}: does not apply to --dataset {args.dataset} (it is for {_owners(name)}); "
                         f"remove it, or choose the dataset it belongs to")
    if args.dataset == "csv" and {"interactions", "data_dir"} <= given:
        raise ValueError("--data-dir: the csv dataset takes --interactions FILE or --data-dir FOLDER "
                         "(holding interactions.csv), not both")
    if args.protocol == "leave-last-out" and getattr(args, "test_fraction", None) is not None:
        raise ValueError("--test-fraction: does not apply to --protocol leave-last-out (each user's last "
                         "event is the test part); remove it")
    return {name: getattr(args, name, default)
            for name, default in {**CSV_DEFAULTS, **WORLD_DEFAULTS, **DIR_DEFAULTS}.items()}


def add_data_options(p) -> None:
    unset = argparse.SUPPRESS
    group = p.add_argument_group("data")
    group.add_argument("--dataset", choices=DATASETS, default="world",
                       help="world = the embedded synthetic content app; ml-100k / ml-latest = MovieLens "
                            "(see data/README.md); csv = your own files (--interactions ...)")
    group.add_argument("--data-dir", default=unset,
                       help="MovieLens: the folder with its files (default: $TT_ML100K_DIR / $TT_MLLATEST_DIR, "
                            "else data/ml-100k or data/ml-latest-small, else the same under ../shared/datasets; "
                            "lineage.datasets.movielens_dir); csv: a folder holding interactions.csv")
    group.add_argument("--interactions", default=unset, help="csv dataset: the interactions file (header row required)")
    group.add_argument("--items", default=unset, help="csv dataset: optional items file (side information)")
    group.add_argument("--users", default=unset, help="csv dataset: optional users file (side information)")
    group.add_argument("--user-col", default=unset, help="csv dataset: user id column (default: user)")
    group.add_argument("--item-col", default=unset, help="csv dataset: item id column (default: item)")
    group.add_argument("--time-col", type=optional_column, default=unset,
                       help="csv dataset: timestamp column (numeric seconds; default: time); 'none' if the file "
                            "has no time (events keep file order; the temporal and leave-last-out protocols are "
                            "then refused)")
    group.add_argument("--value-col", type=optional_column, default=unset,
                       help="csv dataset: a numeric value column, e.g. a rating (default: every event counts 1)")
    group.add_argument("--sep", default=unset, help="csv dataset: field separator (default ','; use '\\t' for tab)")
    group.add_argument("--encoding", type=encoding, default=unset,
                       help="csv dataset: text encoding of the files (default utf-8; e.g. latin-1, cp1252)")
    group.add_argument("--world-size", choices=tuple(WORLD_SIZES), default=unset,
                       help="world dataset: size preset (default: default)")
    group.add_argument("--world-seed", type=int_in(0, SEED_MAX), default=unset,
                       help=f"world dataset: the seed that generates the world (0 to {SEED_MAX}; default 0)")
    split_group = p.add_argument_group("split")
    split_group.add_argument("--protocol", choices=PROTOCOLS, default="temporal",
                             help="how to split: temporal (global time cut), leave-last-out, per-user, per-item "
                                  "(Microsoft Recommenders benchmark), random (TensorFlow Recommenders tutorial)")
    split_group.add_argument("--test-fraction", type=fraction, default=None,
                             help="share of events in test, strictly between 0 and 1 (default 0.25 for per-item, "
                                  "else 0.2; refused with leave-last-out)")
    split_group.add_argument("--seed", type=int_in(0, SEED_MAX), default=42,
                             help=f"seed of the split and of the models (0 to {SEED_MAX})")


def leaderboard_config(args, **overrides):
    from harness.leaderboard import LeaderboardConfig

    values = resolve_data_options(args)
    csv_options = {}
    if args.dataset == "csv":
        if values["interactions"] is None and values["data_dir"] is None:
            raise DataError("--interactions", "the csv dataset needs --interactions FILE (or --data-dir FOLDER "
                                              "holding interactions.csv)")
        csv_options = dict(interactions_path=values["interactions"], items_path=values["items"],
                           users_path=values["users"], user_col=values["user_col"], item_col=values["item_col"],
                           time_col=values["time_col"], value_col=values["value_col"],
                           encoding=values["encoding"],
                           sep="\t" if values["sep"] in ("\\t", "tab") else values["sep"])
    return LeaderboardConfig(dataset=args.dataset, protocol=args.protocol, seed=args.seed,
                             test_fraction=args.test_fraction, data_dir=values["data_dir"], csv_options=csv_options,
                             world_size=values["world_size"], world_seed=values["world_seed"], **overrides)


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


def input_files_of(config) -> list:
    """The input files of a run (outputs must never overwrite them)."""
    from lineage.datasets import input_files

    return input_files(config.dataset, config.data_dir, **config.csv_options)
