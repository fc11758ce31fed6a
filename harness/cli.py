"""The command line: `python -m twotower_mini --help`.

    python -m twotower_mini leaderboard --dataset world --protocol temporal --models popularity,twotower
    python -m twotower_mini train --dataset world --out runs/world.safetensors
    python -m twotower_mini evaluate --checkpoint runs/world.safetensors
    python -m twotower_mini recommend --checkpoint runs/world.safetensors --user u00017 --k 5

Errors in the input (a malformed file, an unknown option value, a foreign checkpoint) end with a
one-line message on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.options import (FORMATTER, SEED_MAX, add_exclude_seen, add_overwrite, input_files_of, add_data_options,
                             data_spec, int_in, leaderboard_config, model_list)
from lineage.data import DataError
from lineage.models.cold_users import COLD_USER_POLICIES, DEFAULT_COLD_USER_POLICY


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    add_exclude_seen(p, "hide items the user already has in train (the TFRS tutorial protocol does not)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to this file")
    p.add_argument("--save-recommendations", metavar="DIR",
                   help="write test.csv and <model>.csv (original ids) so the metrics can be recomputed")
    add_overwrite(p)
    p.set_defaults(handler=_run_leaderboard)


def _run_leaderboard(args) -> int:
    from harness import leaderboard

    from lineage.outputs import check_distinct, check_output, check_output_dir

    config = leaderboard_config(args, models=args.models, k=args.k, exclude_seen=args.exclude_seen,
                                cold_users=args.cold_users)
    leaderboard.check_models(config.models)
    # every output is checked before any loading or fitting, so no work is lost at the end
    inputs = input_files_of(config)
    if args.json is not None:
        check_output(args.json, "--json", inputs, args.overwrite)
    if args.save_recommendations is not None:
        names = leaderboard.output_files(config.models)
        check_output_dir(args.save_recommendations, "--save-recommendations", names, inputs, args.overwrite)
        check_distinct([("--save-recommendations", os.path.join(args.save_recommendations, name)) for name in names]
                       + ([("--json", args.json)] if args.json is not None else []))
    leaderboard.run(config, save_dir=args.save_recommendations, json_path=args.json, overwrite=args.overwrite,
                    log=_stderr, report=lambda result: print(leaderboard.format_table(result), flush=True))
    return 0


# ---- train / evaluate / recommend ---------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train the two-tower model on the training part of a split and save it",
                       description="Train the two-tower model (tuned preset for the dataset and protocol) on the "
                                   "training part of the split, early-stopping on a validation part carved from "
                                   "train, and save a checkpoint.", formatter_class=FORMATTER)
    add_data_options(p)
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. runs/world.safetensors)")
    add_overwrite(p)
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
    check_output(args.out, "--out", input_files_of(config), args.overwrite)  # before any training
    data, world, parts, _ = leaderboard.prepare(config, log=_stderr)
    model = leaderboard.build_model("twotower", config.dataset, config.protocol, world)
    epochs = model.config.training.epochs if args.epochs is None else args.epochs
    training = replace(model.config.training, progress=args.progress, epochs=epochs)
    model.config = replace(model.config, training=training)
    _stderr(f"training on {len(parts.train):,} interactions of {data.name} ...")
    model.fit(parts.train)
    checkpoint.save(args.out, model, data_spec(config), parts.train, overwrite=args.overwrite, option="--out")
    _stderr(f"saved {args.out}")
    return 0


def _moved_data(spec: dict, args, where: str) -> dict:
    """The checkpoint's data spec with --data-dir / --interactions applied where the data moved to;
    an option that does not apply to the checkpoint's dataset is refused in one line."""
    dataset = spec.get("dataset")
    if dataset == "world" and (args.data_dir is not None or args.interactions is not None):
        option = "--data-dir" if args.data_dir is not None else "--interactions"
        raise ValueError(f"{option}: {where} was trained on the synthetic world, which is generated from its "
                         f"seed and reads no files; remove {option}")
    if dataset != "csv":
        if args.interactions is not None:
            raise ValueError(f"--interactions: {where} was trained on the {dataset} dataset, not csv; "
                             f"use --data-dir for MovieLens")
        return {**spec, "data_dir": args.data_dir} if args.data_dir is not None else spec
    if args.data_dir is not None and args.interactions is not None:
        raise ValueError("--data-dir: give the folder the csv files moved to, or --interactions FILE, not both")
    options = dict(spec.get("csv_options") or {})
    if args.interactions is not None:
        options["interactions_path"] = args.interactions
    elif args.data_dir is not None:
        options = _moved_csv_files(options, Path(args.data_dir), where)
    return {**spec, "csv_options": options}


def _moved_csv_files(options: dict, folder: Path, where: str) -> dict:
    """Each csv file of the checkpoint looked up in `folder`: by its old name, else by the standard one."""
    if not folder.is_dir():
        raise ValueError(f"--data-dir {folder}: not a folder")
    moved = dict(options)
    for key, standard in (("interactions_path", "interactions.csv"), ("items_path", "items.csv"),
                          ("users_path", "users.csv")):
        if moved.get(key) is None and key != "interactions_path":
            continue
        old_name = Path(moved.get(key) or standard).name
        found = next((folder / name for name in (old_name, standard) if (folder / name).is_file()), None)
        if found is None:
            raise ValueError(f"--data-dir {folder}: holds neither {old_name} nor {standard}, the "
                             f"{key.removesuffix('_path')} file of {where}")
        moved[key] = str(found)
    return moved


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
    spec = _moved_data(spec, args, f"the checkpoint {args.checkpoint}")
    config = leaderboard.LeaderboardConfig(**spec)
    data, world, parts, _ = leaderboard.prepare(config, log=_stderr)
    try:
        model = checkpoint.restore(payload, parts.train, side=SideLog.from_world(world) if world else None)
    except checkpoint.CheckpointError as error:
        raise checkpoint.CheckpointError(f"{args.checkpoint}: {error}") from None
    return model, data, parts


def _add_checkpoint_data_options(p) -> None:
    p.add_argument("--data-dir", default=None,
                   help="where the checkpoint's data is now, if it moved (MovieLens folder; csv: the folder its "
                        "files moved to, under their old names or interactions.csv / items.csv / users.csv); "
                        "checked against the checkpoint's fingerprint")
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
    add_exclude_seen(p, "hide items the user already has in train")
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
    add_exclude_seen(p, "hide items the user already has in train")
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
    add_overwrite(r)
    r.set_defaults(handler=_run_bench_retrieval)


def _run_bench_retrieval(args) -> int:
    from lineage.outputs import check_output, json_text, write_text_atomic
    from twotower_mini.bench import run_retrieval

    if args.json is not None:
        check_output(args.json, "--json", (), args.overwrite)
    if args.approximate is not None:
        from twotower_mini.ann import import_faiss

        import_faiss()  # refused before the exact timing runs, not after
    result = run_retrieval(args.items, args.dim, args.users, args.k, repeats=args.repeats, seed=args.seed,
                           approximate=args.approximate, threads=args.threads, nlist=args.nlist,
                           clusters=args.clusters, log=_stderr)
    text = json_text(result)
    print(text, end="")
    if args.json is not None:
        write_text_atomic(args.json, text, overwrite=args.overwrite, option="--json")
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
