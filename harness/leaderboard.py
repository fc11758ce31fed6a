"""The leaderboard: every model on one dataset, one split, one table.

This is a contract other tools rely on (README, "The leaderboard"): the JSON it writes has the shape

    {"dataset", "protocol", "k", "seed", "n_users", "n_items", "n_train", "n_test",
     "models": {name: {"precision@k", "recall@k", "ndcg@k", "map@k", "hitrate@k", "coverage@k",
                       "fit_seconds", ...}}}

and `--save-recommendations DIR` writes `test.csv` (user,item: the relevant test events) and one
`<model>.csv` (user,item,rank) per model, in the dataset's original ids, so anyone can recompute
the metrics with their own code (`users.csv`, user,train_events, says which test users have a
training history, for the segments below).

Users without training history (most test users of a global time cut on MovieLens) are served by
the cold-user policy (`cold_users`, `lineage.models.cold_users`), the same for every model and
recorded in the JSON. Every metric is also reported per segment of users:

    "cold_users": "popularity",
    "models": {name: {..., "segments": {"with_history":    {"precision@k", ..., "n_eval_users"},
                                        "without_history": {"precision@k", ..., "n_eval_users"}}}}

On the time-ordered protocols (temporal, leave-last-out) every model is also compared with recent
popularity (fitted as the reference when it is not in the list): its nDCG@k minus the reference's,
with a paired bootstrap 95% interval over test users (`lineage.evidence`), for all users and per
segment, printed below the table and stored as

    "vs_recent-popularity": {"metric": "ndcg@10", "all": {"difference", "low", "high", "n_users"},
                             "with_history": {...}, "without_history": {...}}

Every model gets the same split, the same candidate set (the full catalogue) and the same
evaluation (`lineage.metrics.evaluate_lists`). Hyperparameters are the documented defaults tuned
on a validation split carved from train (`TUNED` in each model's module), never on test.
"""
from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lineage.data import Interactions
from lineage.datasets import open_dataset
from lineage.evidence import compare
from lineage.metrics import (METRIC_NAMES, evaluate_lists, per_user_metrics, relevance_matrix, segment_recall,
                             users_with_test_events, true_recall_at_k)
from lineage.models.cold_users import COLD_USER_POLICIES, DEFAULT_COLD_USER_POLICY, with_cold_user_policy
from lineage.models.registry import MODELS, make_model
from lineage.outputs import json_text, text_writer, write_files_atomic
from lineage.splits import PROTOCOLS, TIME_ORDERED, split

DEFAULT_TEST_FRACTION = {"per-item": 0.25}  # Microsoft Recommenders' 75/25; 0.2 for the others


@dataclass
class LeaderboardConfig:
    dataset: str = "world"  # world | ml-100k | ml-latest | csv
    protocol: str = "temporal"  # one of lineage.splits.PROTOCOLS
    models: tuple[str, ...] = ("popularity",)  # names from lineage.models.registry (and "twotower")
    k: int = 10  # list length for every metric
    seed: int = 42  # split seed (and model seeds)
    test_fraction: float | None = None  # None: 0.25 for per-item, 0.2 otherwise
    exclude_seen: bool = True  # hide each user's training items from their list
    data_dir: str | None = None  # where MovieLens files are (else env var / data/...)
    csv_options: dict = field(default_factory=dict)  # for dataset "csv": paths, column names, separator
    world_size: str = "default"  # preset of the synthetic world
    world_seed: int = 0  # the world itself; --seed only changes the split
    cold_users: str = DEFAULT_COLD_USER_POLICY  # who serves users without training history (COLD_USER_POLICIES)


def available_models() -> list[str]:
    return list(MODELS) + ["twotower"]


def load(config: LeaderboardConfig):
    """(interactions, world or None) for the configured dataset: `lineage.datasets.open_dataset`,
    the one dispatcher, with the options of the dataset (`dataset_options`)."""
    return open_dataset(config.dataset, data_dir=config.data_dir, **dataset_options(config))


def dataset_options(config: LeaderboardConfig) -> dict:
    """The keyword options open_dataset takes for the configured dataset: the world's size preset and
    seed, the csv files and columns, none for MovieLens (which reads data_dir)."""
    world_options = {"size": config.world_size, "seed": config.world_seed}
    return world_options if config.dataset == "world" else dict(config.csv_options)


def build_model(name: str, dataset: str, protocol: str = "temporal", world=None):
    """A fresh model with the defaults tuned for this dataset (and, for the two-tower, protocol)."""
    if name == "twotower":
        from twotower_mini.features import SideLog
        from twotower_mini.presets import preset
        from twotower_mini.recommender import TwoTowerRecommender

        return TwoTowerRecommender(preset(dataset, protocol), side=SideLog.from_world(world) if world else None)
    return make_model(name, dataset, protocol)


def prepare(config: LeaderboardConfig, log=print):
    """Load the dataset and split it: (data, world or None, split, test fraction)."""
    if config.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {config.protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if config.protocol in TIME_ORDERED and config.dataset == "csv" and config.csv_options.get("time_col", "time") is None:
        raise ValueError(f"--protocol {config.protocol} needs event times, and the csv dataset has no time column "
                         f"(--time-col none); use --protocol per-user, per-item or random, or name the time column")
    data, world = load(config)
    if data.report is not None and data.report.counts:
        log(f"{data.name}: {data.report.summary()}")
    fraction = config.test_fraction
    if fraction is None:  # only None means "the default": 0 is refused by split(), never replaced
        fraction = DEFAULT_TEST_FRACTION.get(config.protocol, 0.2)
    return data, world, split(data, config.protocol, fraction, config.seed), fraction


def check_models(models) -> None:
    """Refuse an empty, unknown or repeated model list before any work (a one-line ValueError)."""
    if not models:
        raise ValueError(f"--models: no model names given; expected some of {','.join(available_models())}")
    for position, name in enumerate(models):
        if name not in available_models():
            raise ValueError(f"--models: unknown model {name!r}; expected some of {','.join(available_models())}")
        if name in models[:position]:
            raise ValueError(f"--models: {name!r} is named twice; each model is fitted once, name it once")


def cap_k(k: int, n_items: int, log=print) -> int:
    """k, capped at the catalogue size (with a note): a list cannot be longer than the catalogue."""
    if k < 1:
        raise ValueError(f"--k must be at least 1, got {k}")
    if k > n_items:
        log(f"note: --k {k} is more than the {n_items:,} items of the catalogue; using k = {n_items:,}")
        return n_items
    return k


def load_report(data: Interactions) -> dict:
    """What the loader read and dropped, for the JSON: rows read, kept, and a count per reason."""
    report = data.report
    rows_read = report.rows_read if report is not None else len(data)
    return {"rows_read": rows_read, "rows_kept": len(data),
            "dropped": dict(sorted(report.counts.items())) if report is not None else {}}


def run(config: LeaderboardConfig, save_dir: str | None = None, log=print, json_path: str | None = None,
        overwrite: bool = False, report=None) -> dict:
    """Fit and evaluate every model; returns the JSON-ready result.

    `report(result)`, if given, is called before any file is written (the command line prints the
    table there, so a failed write never hides the results). Then the JSON (`json_path`) and the
    recommendation files (`save_dir`) are written together, all or nothing (lineage.outputs)."""
    check_models(config.models)
    if config.cold_users not in COLD_USER_POLICIES:
        raise ValueError(f"unknown cold-user policy {config.cold_users!r}; expected one of {', '.join(COLD_USER_POLICIES)}")
    data, world, parts, fraction = prepare(config, log)
    users = users_with_test_events(parts.test)
    has_history = parts.train.user_counts()[users] > 0  # (n_test_users,) users with at least one training event
    _log_split(data, config, parts, fraction, users, has_history, log)
    k = cap_k(config.k, data.n_items, log)
    result = _result_header(config, data, parts, fraction, k)
    recommendations = _evaluate_models(result, config, world, parts, users, has_history, k, log)
    if config.protocol in TIME_ORDERED:
        _compare_with_reference(result, recommendations, config, world, parts, users, has_history, k, log)
    if report is not None:
        report(result)
    files = {}
    if save_dir is not None:
        files.update(recommendation_files(save_dir, data, parts.train, parts.test, users, recommendations,
                                          config.exclude_seen))
    if json_path is not None:
        files[Path(json_path)] = ("--json", text_writer(json_text(result)))
    write_files_atomic(files, overwrite=overwrite)
    return result


def _log_split(data: Interactions, config: LeaderboardConfig, parts, fraction: float, users: np.ndarray,
               has_history: np.ndarray, log) -> None:
    """One line: the dataset, the split and its test users (how many without training history)."""
    log(f"{data.name}: {data.n_users:,} users, {data.n_items:,} items; {config.protocol} split "
        f"(test {fraction:.0%}, seed {config.seed}): {len(parts.train):,} train, {len(parts.test):,} test events, "
        f"{len(users):,} test users ({int((~has_history).sum()):,} without training history, "
        f"served by the {config.cold_users!r} cold-user policy)")


def _result_header(config: LeaderboardConfig, data: Interactions, parts, fraction: float, k: int) -> dict:
    """The JSON result before any model: what was run, on what (see the module docstring)."""
    return {
        "dataset": config.dataset, "protocol": config.protocol, "k": k, "seed": config.seed,
        "n_users": data.n_users, "n_items": data.n_items, "n_train": len(parts.train), "n_test": len(parts.test),
        "test_fraction": fraction, "exclude_seen": config.exclude_seen, "load_report": load_report(data),
        "cold_users": config.cold_users,
        "models": {},
    }


def _evaluate_models(result: dict, config: LeaderboardConfig, world, parts, users: np.ndarray,
                     has_history: np.ndarray, k: int, log) -> dict[str, np.ndarray]:
    """Fit every model, list k items per test user and score the lists into result["models"];
    returns the lists by model name."""
    train, test = parts.train, parts.test
    true_top = None
    if world is not None:
        # the oracle's best items, among those released by the end of the test period and, when
        # seen items are excluded from the lists, not already in the user's training history
        true_top = world.true_top_items(users, k, released_before=test.times.max() + 1,
                                        exclude=train.to_csr() if config.exclude_seen else None)
    recommendations = {}
    for name in config.models:
        lists, fit_seconds, selection = fit_and_recommend(name, config, world, train, users, k, log)
        scores = evaluate_lists(lists, users, train, test, k, config.exclude_seen)
        scores["fit_seconds"] = round(fit_seconds, 3)
        if selection is not None:
            scores["selection"] = selection
        scores.update(_item_and_user_segments(lists, users, parts, k, config.exclude_seen))
        if true_top is not None:
            scores[f"true_recall@{k}"] = true_recall_at_k(lists, true_top, k)
        scores["segments"] = user_segments(lists, users, has_history, train, test, k, config.exclude_seen)
        result["models"][name] = scores
        recommendations[name] = lists
        log(f"  {name}: fitted in {fit_seconds:.1f} s, ndcg@{k}={scores[f'ndcg@{k}']:.4f}")
    return recommendations


def _compare_with_reference(result: dict, recommendations: dict[str, np.ndarray], config: LeaderboardConfig, world,
                            parts, users: np.ndarray, has_history: np.ndarray, k: int, log) -> None:
    """Time-ordered protocols: each model's nDCG@k minus the reference's, with its interval, into
    result["models"][name]["vs_<reference>"] (the reference is fitted here if it was not listed)."""
    reference = recommendations.get(REFERENCE)
    if reference is None:
        reference, _, _ = fit_and_recommend(REFERENCE, config, world, parts.train, users, k, log,
                                          note=" (the reference)")
    for name, comparison in reference_intervals(recommendations, reference, users, has_history, parts.train,
                                                parts.test, k, config.exclude_seen).items():
        result["models"][name][f"vs_{REFERENCE}"] = comparison


REFERENCE = "recent-popularity"  # time-ordered protocols: every model is compared with this baseline


def fit_and_recommend(name: str, config: LeaderboardConfig, world, train: Interactions, users: np.ndarray,
                       k: int, log, note: str = "") -> tuple[np.ndarray, float, dict | None]:
    """Fit one model (with the cold-user policy) and list k items for each test user: (lists, seconds, what
    the model chose on validation before fitting, when it chose anything)."""
    log(f"  {name}: fitting{note} ...")
    model = with_cold_user_policy(build_model(name, config.dataset, config.protocol, world), config.cold_users,
                                  config.dataset, config.protocol)
    start = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - start
    selection = getattr(getattr(model, "model", model), "selection_", None)  # (inside the cold-user fallback)
    if selection is not None:
        log(f"  {name}: chose on validation: {selection.report['chosen']}")
    lists = model.recommend(users, k=k, exclude_seen=config.exclude_seen)  # (n_test_users, k)
    return lists, fit_seconds, None if selection is None else selection.report


def _item_and_user_segments(lists: np.ndarray, users: np.ndarray, parts, k: int, exclude_seen: bool) -> dict:
    """Recall on cold and warm items, and nDCG on cold users, where the split has them."""
    train, test = parts.train, parts.test
    cold_items, cold_users = parts.cold_items(), parts.cold_users()
    scores = {}
    if cold_items.any():
        scores[f"recall@{k}/cold-items"] = segment_recall(lists, users, train, test, k, cold_items, exclude_seen)
        scores[f"recall@{k}/warm-items"] = segment_recall(lists, users, train, test, k, ~cold_items, exclude_seen)
    if cold_users.any():
        cold_rows = cold_users[users]
        scores[f"ndcg@{k}/cold-users"] = evaluate_lists(lists[cold_rows], users[cold_rows], train, test, k,
                                                        exclude_seen)[f"ndcg@{k}"]
    return scores


def reference_intervals(recommendations: dict[str, np.ndarray], reference: np.ndarray, users: np.ndarray,
                        has_history: np.ndarray, train: Interactions, test: Interactions, k: int,
                        exclude_seen: bool) -> dict[str, dict]:
    """nDCG@k of each model minus the reference's, with a paired bootstrap 95% interval over test
    users (lineage.evidence), for all users and per segment: {model: {"all": {...}, "with_history": ...}}."""
    relevant = relevance_matrix(test, users, train if exclude_seen else None)
    scored = np.diff(relevant.indptr) > 0  # users with something to find
    baseline = per_user_metrics(reference, relevant, k)["ndcg"]
    out = {}
    for name, lists in recommendations.items():
        if name == REFERENCE:
            continue
        ndcg = per_user_metrics(lists, relevant, k)["ndcg"]
        out[name] = {"metric": f"ndcg@{k}"}
        for segment, rows in (("all", scored), ("with_history", scored & has_history),
                              ("without_history", scored & ~has_history)):
            if rows.any():
                c = compare(ndcg[rows], baseline[rows], name, REFERENCE)
                out[name][segment] = {"difference": c.estimate, "low": c.low, "high": c.high, "n_users": c.n_users}
    return out


SEGMENTS = ("with_history", "without_history")


def user_segments(lists: np.ndarray, users: np.ndarray, has_history: np.ndarray, train: Interactions,
                  test: Interactions, k: int, exclude_seen: bool) -> dict[str, dict]:
    """Every metric over test users with training history and over those without (an empty
    segment has n_eval_users 0 and no metrics). lists: (len(users), k); has_history: (len(users),) bool."""
    out = {}
    for segment, rows in zip(SEGMENTS, (has_history, ~has_history)):
        out[segment] = (evaluate_lists(lists[rows], users[rows], train, test, k, exclude_seen) if rows.any()
                        else {"n_eval_users": 0})
    return out


def _csv_text(header: list[str], rows) -> str:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def recommendation_files(directory: str, data: Interactions, train: Interactions, test: Interactions,
                         users: np.ndarray, recommendations: dict[str, np.ndarray], exclude_seen: bool) -> dict:
    """What `--save-recommendations DIR` writes, as {path: (option, writer)} for write_files_atomic:
    test.csv (user,item), users.csv (user,train_events) and <model>.csv (user,item,rank; 1 = best).

    With exclude_seen, test events of items the user already had in train are left out of test.csv,
    exactly as the metrics leave them out."""
    out = Path(directory)
    keep = np.ones(len(test), dtype=bool)
    if exclude_seen:
        seen = train.to_csr(binary=True)
        keep = np.asarray(seen[test.users, test.items]).ravel() == 0
    texts = {"test.csv": _csv_text(["user", "item"], ((data.user_ids[u], data.item_ids[i])
                                                       for u, i in zip(test.users[keep], test.items[keep])))}
    train_events = train.user_counts()  # which test users have a training history
    texts["users.csv"] = _csv_text(["user", "train_events"], ((data.user_ids[u], int(train_events[u])) for u in users))
    for name, lists in recommendations.items():
        texts[f"{name}.csv"] = _csv_text(["user", "item", "rank"], (
            (data.user_ids[u], data.item_ids[i], rank)
            for u, row in zip(users, lists) for rank, i in enumerate(row[row >= 0], start=1)))
    return {out / name: ("--save-recommendations", text_writer(text)) for name, text in texts.items()}




SEGMENT_LABELS = {"with_history": "with-hist", "without_history": "no-hist"}  # the table's column suffixes


def format_table(result: dict) -> str:
    """The models as a fixed-width table, best nDCG first, under a line naming the cold-user policy.

    Columns `ndcg@k with-hist` / `no-hist` (and recall) are the same metric over test users with
    and without training history (the JSON's "segments" hold every metric)."""
    k = result["k"]
    columns = [f"{name}@{k}" for name in METRIC_NAMES]
    extra = sorted({c for scores in result["models"].values() for c in scores
                    if "/" in c or c.startswith("true_recall")})
    segment_columns = [f"{metric}@{k} {label}" for metric in ("ndcg", "recall") for label in SEGMENT_LABELS.values()]
    header = ["model"] + columns + segment_columns + extra + ["fit_seconds"]
    rows = sorted(result["models"].items(), key=lambda pair: -pair[1][f"ndcg@{k}"])
    widths = [max(len(h), 12) for h in header]
    widths[0] = max([widths[0]] + [len(name) for name in result["models"]])
    lines = []
    counts = next((scores["segments"] for scores in result["models"].values() if "segments" in scores), None)
    if "cold_users" in result or counts:
        described = f"cold-user policy: {result.get('cold_users', 'unknown')}"
        if counts:
            described += (f"; with-hist: {counts['with_history']['n_eval_users']:,} test users with training "
                          f"history, no-hist: {counts['without_history']['n_eval_users']:,} without")
        lines.append(described)
    lines.append("  ".join(h.rjust(w) if j else h.ljust(w) for j, (h, w) in enumerate(zip(header, widths))))
    for name, scores in rows:
        flat = dict(scores)
        for segment, label in SEGMENT_LABELS.items():
            for metric, value in scores.get("segments", {}).get(segment, {}).items():
                flat[f"{metric} {label}"] = value
        cells = [name.ljust(widths[0])]
        for column, width in zip(header[1:], widths[1:]):
            value = flat.get(column, float("nan"))
            cells.append(f"{value:.1f}".rjust(width) if column == "fit_seconds" else f"{value:.4f}".rjust(width))
        lines.append("  ".join(cells))
    lines += _interval_lines(result)
    return "\n".join(lines)


def _interval_lines(result: dict) -> list[str]:
    """Below the table: each model's nDCG minus the reference's, with its paired 95% interval."""
    key = f"vs_{REFERENCE}"
    compared = {name: scores[key] for name, scores in result["models"].items() if key in scores}
    if not compared:
        return []
    lines = [f"{next(iter(compared.values()))['metric']} minus {REFERENCE}, paired bootstrap 95% interval over "
             f"test users (an interval holding 0: no difference we can measure here):"]
    width = max(len(name) for name in compared)
    for name, comparison in compared.items():
        cells = [f"{label} {c['difference']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]"
                 for segment, label in (("all", "all"), *SEGMENT_LABELS.items()) if (c := comparison.get(segment))]
        lines.append(f"  {name.ljust(width)}  " + "   ".join(cells))
    return lines




def output_files(models) -> list[str]:
    """The files `--save-recommendations DIR` writes in DIR."""
    return ["test.csv", "users.csv"] + [f"{name}.csv" for name in models]
