"""The command line: `python -m twotower_mini --help`.

    python -m twotower_mini leaderboard --dataset world --protocol temporal --models popularity,twotower
    python -m twotower_mini train --dataset world --out runs/world.pt
    python -m twotower_mini evaluate --checkpoint runs/world.pt
    python -m twotower_mini recommend --checkpoint runs/world.pt --user u00017 --k 5

Errors in the input (a malformed file, an unknown option value, a foreign checkpoint) end with a
one-line message on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lineage.data import DataError
from lineage.datasets import DATASETS
from lineage.models.cold_users import COLD_USER_POLICIES, DEFAULT_COLD_USER_POLICY
from lineage.splits import PROTOCOLS

FORMATTER = argparse.ArgumentDefaultsHelpFormatter


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


# ---- leaderboard -------------------------------------------------------------------------------
def _add_leaderboard(sub) -> None:
    from harness.leaderboard import available_models

    p = sub.add_parser("leaderboard", help="fit models on one split and print a table of top-k metrics",
                       description="Fit every requested model on the same split of one dataset and report "
                                   "precision, recall, nDCG, MAP, hit rate and coverage at k over the full catalogue.",
                       formatter_class=FORMATTER)
    add_data_options(p)
    p.add_argument("--models", type=model_list, default=("popularity",),
                   help=f"comma-separated, from: {','.join(available_models())}")
    p.add_argument("--k", type=int_in(1), default=10,
                   help="length of each recommendation list (at least 1; capped at the catalogue size)")
    p.add_argument("--cold-users", choices=COLD_USER_POLICIES, default=DEFAULT_COLD_USER_POLICY,
                   help="who serves test users without training history, the same for every model: none = each "
                        "model alone (an empty list if it cannot score them), popularity = the all-time most "
                        "popular items (what a deployed system does), recent-popularity = the recently popular "
                        "ones; models that score such users themselves keep their own answer")
    _add_exclude_seen(p, "hide items the user already has in train (the TFRS tutorial protocol does not)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to this file")
    p.add_argument("--save-recommendations", metavar="DIR",
                   help="write test.csv and <model>.csv (original ids) so the metrics can be recomputed")
    _add_overwrite(p)
    p.set_defaults(handler=_run_leaderboard)


def _run_leaderboard(args) -> int:
    from harness import leaderboard

    from lineage.outputs import check_output, check_output_dir

    config = leaderboard_config(args, models=args.models, k=args.k, exclude_seen=args.exclude_seen,
                                cold_users=args.cold_users)
    leaderboard.check_models(config.models)
    # every output is checked before any loading or fitting, so no work is lost at the end
    inputs = _inputs(config)
    if args.json:
        check_output(args.json, "--json", inputs, args.overwrite)
    if args.save_recommendations:
        check_output_dir(args.save_recommendations, "--save-recommendations",
                         leaderboard.output_files(config.models), inputs, args.overwrite)
    result = leaderboard.run(config, save_dir=args.save_recommendations, log=_stderr)
    print(leaderboard.format_table(result))
    if args.json:
        leaderboard.write_json(result, args.json)
    return 0


# ---- train / evaluate / recommend ---------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train the two-tower model on the training part of a split and save it",
                       description="Train the two-tower model (tuned preset for the dataset and protocol) on the "
                                   "training part of the split, early-stopping on a validation part carved from "
                                   "train, and save a checkpoint.", formatter_class=FORMATTER)
    add_data_options(p)
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. runs/world.pt)")
    _add_overwrite(p)
    p.add_argument("--epochs", type=int_in(1), default=None,
                   help="override the preset's maximum number of epochs (at least 1)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show progress bars")
    p.set_defaults(handler=_run_train)


def _run_train(args) -> int:
    from dataclasses import replace

    from twotower_mini import checkpoint
    from harness import leaderboard

    from lineage.outputs import check_output

    config = leaderboard_config(args)
    check_output(args.out, "--out", _inputs(config), args.overwrite)  # before any training
    data, world, parts, _ = leaderboard.prepare(config, log=_stderr)
    model = leaderboard.build_model("twotower", config.dataset, config.protocol, world)
    epochs = model.config.training.epochs if args.epochs is None else args.epochs
    training = replace(model.config.training, progress=args.progress, epochs=epochs)
    model.config = replace(model.config, training=training)
    _stderr(f"training on {len(parts.train):,} interactions of {data.name} ...")
    model.fit(parts.train)
    checkpoint.save(args.out, model, data_spec(config), parts.train)
    _stderr(f"saved {args.out}")
    return 0


def _load_checkpoint(args):
    """(model, data, split) from --checkpoint, with the data found at --data-dir / --interactions
    when given (the fingerprint stored in the checkpoint refuses any other data)."""
    from twotower_mini import checkpoint
    from harness import leaderboard
    from twotower_mini.features import SideLog

    payload = checkpoint.load(args.checkpoint)
    spec = dict(payload["data"])
    spec.pop("fingerprint")
    spec = checkpoint.check_fields(leaderboard.LeaderboardConfig, spec, f"{args.checkpoint}: data")
    if args.data_dir is not None:
        spec["data_dir"] = args.data_dir
    if args.interactions is not None:
        if spec.get("dataset") != "csv":
            raise ValueError(f"--interactions: the checkpoint was trained on the {spec.get('dataset')} dataset, "
                             f"not csv; use --data-dir for MovieLens")
        spec["csv_options"] = {**spec.get("csv_options", {}), "interactions_path": args.interactions}
    config = leaderboard.LeaderboardConfig(**spec)
    data, world, parts, _ = leaderboard.prepare(config, log=_stderr)
    try:
        model = checkpoint.restore(payload, parts.train, side=SideLog.from_world(world) if world else None)
    except checkpoint.CheckpointError as error:
        raise checkpoint.CheckpointError(f"{args.checkpoint}: {error}") from None
    return model, data, parts


def _add_checkpoint_data_options(p) -> None:
    p.add_argument("--data-dir", default=None,
                   help="where the checkpoint's data is now, if it moved (MovieLens folder; csv: the folder of "
                        "interactions.csv); checked against the checkpoint's fingerprint")
    p.add_argument("--interactions", default=None,
                   help="csv dataset: where the interactions file is now, if it moved; checked against the "
                        "checkpoint's fingerprint")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a saved two-tower model on the test part of its split",
                       description="Rebuild the checkpoint's dataset and split, and report top-k metrics of the "
                                   "saved model on the test part.", formatter_class=FORMATTER)
    p.add_argument("--checkpoint", required=True, help="a file written by `train`")
    _add_checkpoint_data_options(p)
    p.add_argument("--k", type=int_in(1), default=10,
                   help="length of each recommendation list (at least 1; capped at the catalogue size)")
    _add_exclude_seen(p, "hide items the user already has in train")
    p.set_defaults(handler=_run_evaluate)


def _run_evaluate(args) -> int:
    from lineage.metrics import evaluate

    from harness.leaderboard import cap_k

    model, data, parts = _load_checkpoint(args)
    k = cap_k(args.k, data.n_items, _stderr)
    scores = evaluate(model, parts.train, parts.test, k=k, exclude_seen=args.exclude_seen)
    for name, value in scores.items():
        print(f"{name:<16} {value:.4f}" if isinstance(value, float) else f"{name:<16} {value}")
    return 0


def _add_recommend(sub) -> None:
    p = sub.add_parser("recommend", help="top-k items for some users from a saved two-tower model",
                       description="Print each user's top-k items (original ids, with titles when known). "
                                   "A user id the model has never seen is served as a new user with no history "
                                   "(the tower's average user), and said so on stderr.", formatter_class=FORMATTER)
    p.add_argument("--checkpoint", required=True, help="a file written by `train`")
    p.add_argument("--user", action="append", required=True, help="a user id as in the dataset (repeatable)")
    _add_checkpoint_data_options(p)
    p.add_argument("--k", type=int_in(1), default=10, help="number of items per user (at least 1; capped at the "
                                                          "catalogue size)")
    _add_exclude_seen(p, "hide items the user already has in train")
    p.set_defaults(handler=_run_recommend)


def _run_recommend(args) -> int:
    import numpy as np

    from harness.leaderboard import cap_k

    model, data, _ = _load_checkpoint(args)
    k = cap_k(args.k, data.n_items, _stderr)
    index = {user_id: u for u, user_id in enumerate(data.user_ids.tolist())}
    titles = data.item_features.get("title")
    for user_id in args.user:
        if user_id in index:
            lists = model.recommend(np.array([index[user_id]]), k=k, exclude_seen=args.exclude_seen)[0]
        else:
            _stderr(f"user {user_id!r} is not in the data: serving as a new user with no history")
            lists = model.recommend_new_user(k=k)
        print(f"{user_id}:")
        for rank, item in enumerate(lists[lists >= 0], start=1):
            title = f"  {titles[item]}" if titles is not None else ""
            print(f"  {rank:>3}. {data.item_ids[item]}{title}")
    return 0


# ---- bench ----------------------------------------------------------------------------------------
def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="time parts of the system (e.g. retrieval) on generated data",
                       description="Benchmarks on seeded random data. See benchmarks/ for the recorded runs.")
    kinds = p.add_subparsers(dest="bench", required=True, metavar="WHAT")
    r = kinds.add_parser("retrieval", help="exact top-k retrieval vs the plain matrix product",
                         description="Time exact top-k retrieval of U random users over N random items against "
                                     "the plain matrix product producing the (U, N) score matrix (best of "
                                     "--repeats after a warm-up, interleaved), and print/write {items, dim, "
                                     "users, k, seconds, gemm_seconds, ratio}.", formatter_class=FORMATTER)
    r.add_argument("--items", type=int_in(1), default=200_000, help="catalogue size N")
    r.add_argument("--dim", type=int_in(1), default=64, help="embedding dimension D")
    r.add_argument("--users", type=int_in(1), default=2048, help="number of queries U")
    r.add_argument("--k", type=int_in(1), default=100, help="length of each top-k list")
    r.add_argument("--repeats", type=int_in(1), default=5, help="timed runs of each; the best is kept")
    r.add_argument("--seed", type=int_in(0, SEED_MAX), default=0, help="seed of the random vectors")
    r.add_argument("--threads", type=int_in(1), default=None, help="worker threads of the exact search; None means every core")
    r.add_argument("--approximate", nargs="?", const="ivf", choices=("ivf", "hnsw"), default=None,
                   help="also sweep faiss's knob (ivf: nprobe, hnsw: efSearch) and report recall@k vs exact "
                        "and speed-up; needs `pip install faiss-cpu`")
    r.add_argument("--nlist", type=int_in(1), default=None, help="ivf: number of clusters; None means about 4 sqrt(N)")
    r.add_argument("--clusters", type=int_in(0), default=0,
                   help="0: plain normal vectors (no structure, the worst case for approximate search); "
                        "C > 0: a mixture around C centres, closer to trained embeddings")
    r.add_argument("--json", metavar="OUT", help="write the result as JSON to this file")
    _add_overwrite(r)
    r.set_defaults(handler=_run_bench_retrieval)


def _run_bench_retrieval(args) -> int:
    import json

    from lineage.outputs import check_output, write_text_atomic
    from twotower_mini.bench import run_retrieval

    if args.json:
        check_output(args.json, "--json", (), args.overwrite)
    result = run_retrieval(args.items, args.dim, args.users, args.k, repeats=args.repeats, seed=args.seed,
                           approximate=args.approximate, threads=args.threads, nlist=args.nlist,
                           clusters=args.clusters, log=_stderr)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        write_text_atomic(args.json, text + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m twotower_mini",
        description="Two-tower retrieval, taught from the classics up. Run a subcommand with --help for its options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_leaderboard(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_recommend(sub)
    _add_bench(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (DataError, ValueError, OSError) as error:  # CheckpointError and OutputError are ValueErrors
        lines = str(error).strip().splitlines() or [type(error).__name__]
        print(f"error: {lines[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
