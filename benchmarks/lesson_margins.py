"""Lesson margins: run every walkthrough on many samples of the world and see how far each lesson
guard is from failing.

    python benchmarks/lesson_margins.py --seeds 0-9                 # every walkthrough, worlds 0..9
    python benchmarks/lesson_margins.py --seeds 0,3,7 --notebooks 00,01
    python benchmarks/lesson_margins.py --seeds 0-9 --jobs 1        # one notebook at a time

Each walkthrough (notebooks/NN_*.ipynb, whatever exists when the script runs) is executed once per
world seed, in a fresh kernel in its own process (nbclient, as nbval does in CI), with
TT_WORLD_SEED set to the seed, TT_NOTEBOOK to the notebook's name and TT_GUARD_LOG to a private
file. Every `lineage.lessons.guard(name, value, op, threshold)` call appends a record there (the
lesson, the measured value, the threshold, whether it held). The table written to
benchmarks/REPORT.md has one row per guard: min / median / max of the value over the seeds, the
worst margin (relative to the threshold, positive when the guard holds: (value - threshold) /
|threshold| for > and >=, the opposite for < and <=, 0 for an exact ==), and the seeds where it
failed. A notebook that stops on anything other than a failed lesson (an exception that is not
LessonFailed) is reported as an error with its message. A notebook that never builds the world
(notebook 08, on MovieLens) gives the same numbers on every world seed: it runs once, with the first.

Exit status: 0 when every guard held on every seed and every notebook ran; 1 otherwise, with the
failures listed. Thresholds in the notebooks are set from this table, with room to spare.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, RESULTS, record, write_report  # noqa: E402

from lineage.lessons import (GUARD_LOG_VARIABLE, KEEP_GOING_VARIABLE, NOTEBOOK_VARIABLE,  # noqa: E402
                             WORLD_SEED_VARIABLE)

NAME = "lesson_margins"
PROPERTIES = "lesson_properties"  # the property checks, a section of their own
EXACT = "=="


# ---- arguments ------------------------------------------------------------------------------------
def parse_seeds(text: str) -> list[int]:
    """'0-9' -> [0, ..., 9]; '0,3,7' -> [0, 3, 7]; '0-2,5' -> [0, 1, 2, 5]. Sorted, no repeats."""
    seeds: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                if low > high:
                    raise ValueError
                seeds.update(range(low, high + 1))
            else:
                seeds.add(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--seeds {text!r}: expected non-negative integers like 0-9 or 0,3,7 (bad part {part!r})") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: expected non-negative integers like 0-9 or 0,3,7")
    return sorted(seeds)


def parse_prefixes(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def walkthroughs(prefixes: list[str] | None) -> list[Path]:
    """The walkthrough notebooks (not the exercises), optionally those whose name starts with a prefix."""
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in prefixes)]
    return paths


# ---- running one notebook on one world ------------------------------------------------------------
def uses_world(path: Path) -> bool:
    """True when the notebook builds the synthetic world (so its numbers change with TT_WORLD_SEED)."""
    return "world_config(" in path.read_text(encoding="utf-8")


def execute_notebook(path: str, timeout: int) -> dict:
    """Run in the child process: execute the notebook, return its status (ok, lesson-failed or error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        status = "lesson-failed" if error.ename == "LessonFailed" else "error"
        return {"status": status, "error": f"{error.ename}: {error.evalue}".strip()[:300]}
    except CellTimeoutError as error:
        return {"status": "error", "error": f"timeout: {str(error).splitlines()[0][:300]}"}
    return {"status": "ok", "error": ""}


def run_one(path: Path, seed: int, log_dir: Path, timeout: int) -> tuple[dict, list[dict]]:
    """Execute `path` on world `seed` in a child process; (run status, guard records)."""
    log = log_dir / f"{path.stem}.seed{seed}.jsonl"
    # keep going past a failed guard: every guard of the notebook is measured on every seed, and the
    # failures are counted from the records
    env = dict(os.environ, **{WORLD_SEED_VARIABLE: str(seed), GUARD_LOG_VARIABLE: str(log),
                              NOTEBOOK_VARIABLE: path.stem, KEEP_GOING_VARIABLE: "1"})
    child = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--execute-one", str(path),
                            "--timeout", str(timeout)], capture_output=True, text=True, env=env)
    run = {"notebook": path.stem, "seed": seed}
    lines = child.stdout.strip().splitlines()
    try:
        run.update(json.loads(lines[-1]))
    except (IndexError, json.JSONDecodeError):
        tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
        run.update(status="error", error=f"runner exited with {child.returncode}: {tail[:300]}")
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    failed = [r for r in records if not r["holds"]]
    if failed and run["status"] == "ok":  # it kept going past them (TT_GUARD_KEEP_GOING)
        first = failed[0]
        run.update(status="lesson-failed", error=f"LessonFailed: lesson {first['lesson']!r} does not hold: "
                                                 f"{first['value']:.6g} {first['op']} {first['threshold']:.6g}")
    return run, records


# ---- the table ------------------------------------------------------------------------------------
def margin(value: float, op: str, threshold: float) -> float:
    """How far `value` is from failing `op threshold`, relative to |threshold| (absolute when the
    threshold is 0); positive when the guard holds. An exact == scores 0 when it holds and
    -|value - threshold| (relative) when it does not."""
    scale = abs(threshold) if threshold != 0 else 1.0
    if op in (">", ">="):
        return (value - threshold) / scale
    if op in ("<", "<="):
        return (threshold - value) / scale
    if op == EXACT:
        return 0.0 if value == threshold else -abs(value - threshold) / scale
    raise ValueError(f"unknown op {op!r}")


def _number(value: float) -> str:
    return f"{value:.4g}"


def summarise(records: list[dict], runs: list[dict]) -> tuple[list[dict], list[str]]:
    """(table rows, failure lines) from guard records and run statuses.

    One row per (notebook, guard), in the order guards first appear; a guard called several
    times in one run counts each call. `failed seeds` lists the seeds where some call failed;
    `seeds` says on how many seeds the guard was reached at all (a notebook stopped by an
    earlier failure or an error never reaches the guards after it)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["notebook"], r["lesson"]), []).append(r)
    seeds_of = {}
    for run in runs:
        seeds_of.setdefault(run["notebook"], set()).add(run["seed"])
    rows, failures = [], []
    for (notebook, lesson), group in groups.items():
        checks = {(r["op"], r["threshold"]) for r in group}
        op, threshold = group[0]["op"], group[0]["threshold"]
        values = [r["value"] for r in group]
        failed = sorted({r["world_seed"] for r in group if not r["holds"]})
        reached = {r["world_seed"] for r in group}
        worst = min(margin(r["value"], r["op"], r["threshold"]) for r in group)
        rows.append({
            "kind": group[0].get("kind", "lesson"), "notebook": notebook, "guard": lesson,
            "falsified by": group[0].get("falsified_by") or "",
            "check": " / ".join(f"{o} {_number(t)}" for o, t in sorted(checks)),
            "min": _number(min(values)), "median": _number(statistics.median(values)), "max": _number(max(values)),
            "worst margin": "exact" if op == EXACT and not failed else ">+999%" if worst > 9.99 else f"{worst:+.0%}",
            "seeds": f"{len(reached)}/{len(seeds_of.get(notebook, reached))}",
            "failed seeds": ",".join(map(str, failed)) if failed else "0",
        })
        if failed:
            failures.append(f"{notebook}: guard {lesson!r} ({op} {_number(threshold)}) failed on seed(s) "
                            f"{','.join(map(str, failed))}")
    failed_runs = {(r["notebook"], r["world_seed"]) for r in records if not r["holds"]}
    for run in sorted(runs, key=lambda r: (r["notebook"], r["seed"])):
        if run["status"] == "error":
            failures.append(f"{run['notebook']}: seed {run['seed']}: error (not a lesson): {run['error']}")
        elif run["status"] == "lesson-failed" and (run["notebook"], run["seed"]) not in failed_runs:
            failures.append(f"{run['notebook']}: seed {run['seed']}: {run['error']}")
    return rows, failures


# ---- what a lesson guard must be ---------------------------------------------------------------------
PAST_LIMIT = 3.0  # a lesson's worst value may be at most this many times past its threshold
LESSON_ID = re.compile(r"^(\d\d[ab]?)\.(\d+) ")  # "05.3 ...": notebook 05, lesson 3 (unique in the suite)


def times_past(row: dict) -> float | None:
    """How far a lesson's worst value over the worlds sits past its threshold, as a factor: 1 at the
    threshold, 3 for a "> 0.5" lesson whose worst world gives 1.5 (or a "< 0.6" one at 0.2). A value
    past zero on the far side ("< 0.5" at -5) is infinitely past. For a threshold of 0 the scale is
    the spread over the worlds: the worst value is (1 + worst / spread) times past. None when the
    factor is undefined (an exact ==, or a sign claim measured on one dataset only)."""
    op, threshold = row["check"].split(" ")[0], float(row["check"].split(" ")[1])
    low, high = float(row["min"]), float(row["max"])
    if op == EXACT:
        return None
    worst = low if op in (">", ">=") else high
    if threshold == 0:
        spread = high - low
        return None if spread == 0 and row["seeds"].startswith("1/") else (
            float("inf") if spread == 0 else 1 + abs(worst) / spread)
    if (worst > 0) != (threshold > 0):
        return float("inf") if worst != 0 else 1.0
    # past on the side that holds: a ">" value above, a "<" value below its threshold
    ratio = worst / threshold if op in (">", ">=") else threshold / worst
    return abs(ratio) if threshold > 0 else 1 / abs(ratio)


def lesson_problem(row: dict) -> str | None:
    """Why a lesson row cannot be a lesson as it stands, or None: the same value on every world (a
    property, or a guard that cannot fail), a threshold more than PAST_LIMIT times below its worst
    world (it could not fail either), or no id / no falsifying condition."""
    name = row["guard"]
    if not LESSON_ID.match(name):
        return f"{name!r}: no lesson id (\"NN.k \")"
    if not row.get("falsified by"):
        return f"{name!r}: says nothing of what would falsify it"
    many_worlds = not row["seeds"].startswith("1/")
    if many_worlds and row["min"] == row["max"]:
        return f"{name!r}: the same value ({row['min']}) on every world: a property (check), not a lesson"
    factor = times_past(row)
    if factor is not None and factor > PAST_LIMIT:
        return f"{name!r}: worst value {factor:.1f}x past its threshold ({row['check']}): tighten it"
    return None


def merge_with_previous(rows: list[dict], notebooks: set[str], name: str = NAME) -> list[dict]:
    """Keep earlier rows for notebooks this run did not execute (e.g. `--notebooks 00` keeps 03's rows),
    as long as those notebooks still exist (a renamed or split notebook's old rows go)."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return rows
    existing = {p.stem for p in walkthroughs(None)}
    previous = [row for row in json.loads(path.read_text())["rows"]
                if row["notebook"] not in notebooks and row["notebook"] in existing]
    return sorted(previous + rows, key=lambda row: row["notebook"])


# ---- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-9"),
                        help="world seeds: a range 0-9, a list 0,3,7, or both 0-2,5 (default 0-9)")
    parser.add_argument("--notebooks", type=parse_prefixes, default=None,
                        help="comma-separated name prefixes, e.g. 00,01 (default: every notebooks/*.ipynb)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at the same time (default 2)")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell time limit in seconds (default 600)")
    parser.add_argument("--no-report", action="store_true", help="print the table, leave benchmarks/REPORT.md alone")
    parser.add_argument("--execute-one", metavar="NOTEBOOK", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.execute_one:
        print(json.dumps(execute_notebook(args.execute_one, args.timeout)))
        return 0
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: expected at least 1")
    paths = walkthroughs(args.notebooks)
    if not paths:
        parser.error(f"--notebooks {','.join(args.notebooks or [])}: no notebook in notebooks/ matches")

    from tqdm import tqdm

    # a notebook on real data (it never asks for the world) gives the same numbers on every world seed:
    # it runs once, with the first seed
    tasks = [(path, seed) for path in paths for seed in (args.seeds if uses_world(path) else args.seeds[:1])]
    runs, records = [], []
    with tempfile.TemporaryDirectory(prefix="lesson-margins-") as log_dir, \
            ThreadPoolExecutor(max_workers=args.jobs) as pool, \
            tqdm(total=len(tasks), desc="notebook runs", unit="run") as bar:
        futures = {pool.submit(run_one, path, seed, Path(log_dir), args.timeout): (path, seed) for path, seed in tasks}
        for future in as_completed(futures):
            run, run_records = future.result()
            runs.append(run)
            records += run_records
            bar.set_postfix_str(f"{run['notebook'][:2]} seed {run['seed']}: {run['status']}")
            bar.update()
    order = {(p.stem, s): i for i, (p, s) in enumerate(tasks)}
    records.sort(key=lambda r: order[r["notebook"], r["world_seed"]])  # stable: guard order within a run kept
    rows, failures = summarise(records, runs)

    columns = list(rows[0]) if rows else []
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))
    if not args.no_report:
        seeds = ",".join(map(str, args.seeds))
        command = "python benchmarks/lesson_margins.py --seeds " + seeds + (
            f" --notebooks {','.join(args.notebooks)}" if args.notebooks else "")
        notes = ("Each walkthrough runs once per world seed (TT_WORLD_SEED) in a fresh kernel; every "
                 "`guard(...)` call is recorded. min / median / max: the guarded value over the seeds. Worst "
                 "margin: (value - threshold) / |threshold| for > and >=, the opposite for < and <= "
                 "(positive = holds), `exact` for an == check that held. Seeds: on how many seeds the guard "
                 "was reached, of those run. Rows of notebooks not run by the last command keep their earlier "
                 "values (their `seeds` column says how many seeds they had).")
        if failures:
            notes += "\n\nFailures in the last run:\n\n" + "\n".join(f"- {line}" for line in failures)
        ran = {p.stem for p in paths}
        lessons = [row for row in rows if row["kind"] == "lesson"]
        properties = [row for row in rows if row["kind"] == "property"]
        record(NAME, "Lesson margins over world seeds", command, merge_with_previous(lessons, ran), notes=notes)
        record(PROPERTIES, "Properties the walkthroughs check (the code does what the text says)", command,
               merge_with_previous(properties, ran, PROPERTIES),
               notes="Checks that follow from the code or the maths (`lineage.lessons.check`), not lessons about "
                     "the world; measured on the same runs as the lesson margins.")
        print(f"wrote {write_report().relative_to(ROOT)}")
    if failures:
        print("\nFAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    print(f"every guard held on seeds {','.join(map(str, args.seeds))} in {len(paths)} notebook(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
