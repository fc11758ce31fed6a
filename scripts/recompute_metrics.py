"""Recompute top-k metrics from the files `leaderboard --save-recommendations DIR` writes.

    python scripts/recompute_metrics.py DIR [--k 10]

Independent of the project's code on purpose (only the csv and math modules and the textbook
definitions), so it checks the leaderboard rather than repeating it. test.csv holds the relevant
test events (user,item); each <model>.csv holds user,item,rank lists; users.csv (user,train_events),
when present, splits the users into those with a training history and those without, and each
model gets a line per segment too (the leaderboard JSON's "segments").

What it accepts. DIR must be a folder holding test.csv; --k must be a whole number from 1 (use the
leaderboard's --k). users.csv is always read as the segments file, never as a model. Every other
*.csv whose header has the columns user,item,rank is a model's lists. A csv with any other header
(or an empty one) was not written by the leaderboard: it is skipped, with one note on stderr naming
it, and the other models are still scored. It is an error (one line on stderr naming the file and,
when there is one, the line; exit 1) when DIR or test.csv is missing, when there is no model file
at all, or when a row of test.csv, users.csv or a model file is malformed (a missing field, a rank
that is not a whole number from 1, a rank or an item given twice for one user): metrics computed
from such a file would be wrong. A usage error (e.g. --k 0) is one line too, with exit 2.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

PROG = "recompute_metrics"
FILES_THAT_ARE_NOT_MODELS = ("test", "users")
TEST_COLUMNS = ("user", "item")
USERS_COLUMNS = ("user", "train_events")
MODEL_COLUMNS = ("user", "item", "rank")


class InputError(Exception):
    """A folder or file that cannot be used; the message is one line naming it."""


# ---- reading the csv files, strictly -----------------------------------------------------------
def open_csv(path: Path):
    """`path` opened for the csv module (UTF-8, a spreadsheet's byte-order mark tolerated)."""
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None


def read_header(path: Path) -> list[str] | None:
    """The column names on the first line of `path` (None for an empty file)."""
    with open_csv(path) as handle:
        try:
            return next(csv.reader(handle), None)
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
        except csv.Error as error:
            raise InputError(f"{path}, line 1: {error}") from None


def read_rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for every row of `path`, after checking that the header has `columns` and
    that every row has as many fields as the header and no empty value in `columns`."""
    rows = []
    with open_csv(path) as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None or not set(columns) <= set(header):
                raise InputError(f"{path}: the header must have the columns {','.join(columns)}, "
                                 f"found {','.join(header or []) or 'an empty file'}")
            for fields in reader:
                if not fields:  # a blank line
                    continue
                where = f"{path}, line {reader.line_num}"
                if len(fields) != len(header):
                    raise InputError(f"{where}: {len(fields)} fields, but the header has {len(header)}")
                row = dict(zip(header, fields))
                empty = [column for column in columns if not row[column].strip()]
                if empty:
                    raise InputError(f"{where}: empty {empty[0]}")
                rows.append((reader.line_num, row))
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
        except csv.Error as error:
            raise InputError(f"{path}, line {reader.line_num}: {error}") from None
    return rows


def whole_number(path: Path, line: int, text: str, column: str, minimum: int) -> int:
    """`text` as an int of at least `minimum`, or an InputError naming the file, line and column."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise InputError(f"{path}, line {line}: {column} must be a whole number from {minimum}, got {text!r}")
    return value


def read_test_events(path: Path) -> list[tuple[str, str]]:
    """The (user, item) test events of test.csv."""
    return [(row["user"], row["item"]) for _, row in read_rows(path, TEST_COLUMNS)]


def users_with_history(directory: Path) -> set[str] | None:
    """Test users with at least one training event, from users.csv (None when the file is absent)."""
    path = directory / "users.csv"
    if not path.exists():
        return None
    return {row["user"] for line, row in read_rows(path, USERS_COLUMNS)
            if whole_number(path, line, row["train_events"], "train_events", minimum=0) > 0}


def read_lists(path: Path) -> dict[str, list[str]]:
    """{user: [item, ...] best first} from a <model>.csv (user,item,rank; rank 1 = best)."""
    ranked, seen = defaultdict(dict), defaultdict(set)
    for line, row in read_rows(path, MODEL_COLUMNS):
        user, item = row["user"], row["item"]
        rank = whole_number(path, line, row["rank"], "rank", minimum=1)
        if rank in ranked[user] or item in seen[user]:
            twice = f"rank {rank}" if rank in ranked[user] else f"item {item!r}"
            raise InputError(f"{path}, line {line}: user {user!r} has {twice} twice")
        ranked[user][rank] = item
        seen[user].add(item)
    return {user: [ranks[rank] for rank in sorted(ranks)] for user, ranks in ranked.items()}


# ---- the metrics -------------------------------------------------------------------------------
def scores(events: list[tuple[str, str]], lists: dict[str, list[str]], k: int) -> dict[str, float] | None:
    """precision, recall, nDCG, MAP and hit rate at k of `lists` against the test `events`, by their
    textbook definitions, averaged over the users of `events` (None when there are no events)."""
    if not events:
        return None
    relevant = defaultdict(set)
    for user, item in events:
        relevant[user].add(item)
    precision, recall, ndcg, average_precision = [], [], [], []
    for user, items in relevant.items():
        hits = [item in items for item in lists.get(user, [])[:k]]
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
            f"hitrate@{k}": sum(item in lists.get(user, [])[:k] for user, item in events) / len(events)}


def recompute(directory: Path, model: str, k: int, only_users=None) -> dict[str, float] | None:
    """Metrics of <model>.csv at k, over every user of test.csv, or over those `only_users` accepts
    (None when no test user is left)."""
    events = read_test_events(Path(directory) / "test.csv")
    if only_users is not None:
        events = [(user, item) for user, item in events if only_users(user)]
    return scores(events, read_lists(Path(directory) / f"{model}.csv"), k)


# ---- the command -------------------------------------------------------------------------------
def find_models(directory: Path) -> list[str]:
    """The models of `directory` (each *.csv with columns user,item,rank, but test and users); a note
    on stderr for each other csv, which is skipped. An InputError when there is no model at all."""
    models = []
    for path in sorted(directory.glob("*.csv")):
        if path.stem in FILES_THAT_ARE_NOT_MODELS:
            continue
        header = read_header(path)
        if header is not None and set(MODEL_COLUMNS) <= set(header):
            models.append(path.stem)
        else:
            found = ",".join(header) if header else "nothing"
            print(f"{PROG}: note: skipping {path}: not a recommendations file (its header is {found}, "
                  f"not {','.join(MODEL_COLUMNS)})", file=sys.stderr)
    if not models:
        raise InputError(f"{directory}: no recommendations file (<model>.csv with columns "
                         f"{','.join(MODEL_COLUMNS)}); is it a --save-recommendations folder?")
    return models


def recompute_folder(directory: Path, k: int) -> list[str]:
    """One printable line per model and user segment, for the --save-recommendations `directory`."""
    if not directory.is_dir():
        problem = "not a folder" if directory.exists() else "no such folder"
        raise InputError(f"{directory}: {problem}; pass the --save-recommendations folder")
    test_path = directory / "test.csv"
    if not test_path.exists():
        raise InputError(f"{test_path}: missing; is {directory} a --save-recommendations folder?")
    events = read_test_events(test_path)
    if not events:
        raise InputError(f"{test_path}: no test events, so there is nothing to score")
    segments = {"all": events}
    history = users_with_history(directory)
    if history is not None:
        segments["with_history"] = [event for event in events if event[0] in history]
        segments["without_history"] = [event for event in events if event[0] not in history]
    lines = []
    for model in find_models(directory):
        lists = read_lists(directory / f"{model}.csv")
        for segment, segment_events in segments.items():
            values = scores(segment_events, lists, k)
            if values is not None:  # None: an empty segment
                lines.append(f"{model:<18} {segment:<16} "
                             + "  ".join(f"{name} {value:.4f}" for name, value in values.items()))
    return lines


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line on stderr (argparse prints the usage too)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    """The argparse type of --k: a whole number from 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1, got {text!r}")
    return value


def main(argv=None) -> int:
    """Print the metrics of every model of the folder; 0 on success, 1 for unusable input files."""
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="the --save-recommendations folder")
    parser.add_argument("--k", type=positive_int, default=10, help="list length used by the leaderboard")
    args = parser.parse_args(argv)
    try:
        lines = recompute_folder(args.directory, args.k)
    except InputError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
