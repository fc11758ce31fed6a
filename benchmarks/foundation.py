"""Foundation benchmark: world generation time per size preset, and walkthrough notebook run times.

    python benchmarks/foundation.py                  # world sizes + every notebook in notebooks/
                                                     # and notebooks/exercises/
    python benchmarks/foundation.py --notebooks 00   # only notebooks whose name starts with 00

Targets: the default world generates in under 5 s; every walkthrough notebook
runs in under 90 s on 2 CPU cores. Notebooks are executed with nbclient in a fresh kernel, as
nbval does in CI.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, record, write_report  # noqa: E402


def time_worlds(presets: list[str], repeats: int = 3) -> list[dict]:
    from lineage.world import WorldConfig, generate_world

    rows = []
    for preset in presets:
        times = []
        for _ in range(repeats if preset != "large" else 1):
            start = time.perf_counter()
            world = generate_world(WorldConfig.sized(preset))
            times.append(time.perf_counter() - start)
        rows.append({"what": f"world '{preset}'", "seconds": min(times), "target_seconds": 5.0 if preset == "default" else "",
                     "users": world.n_users, "items": world.n_items, "views": len(world.views["user"]),
                     "impressions": len(world.impressions["user"])})
        print(rows[-1], flush=True)
    return rows


def time_notebooks(prefixes: list[str] | None, timeout: int = 600) -> list[dict]:
    import nbformat
    from nbclient import NotebookClient

    rows = []
    walkthroughs = sorted((ROOT / "notebooks").glob("*.ipynb"))
    workshop = sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb"))  # NN_name_ex_MM / _sol_MM
    for path in walkthroughs + workshop:
        if prefixes and not any(path.name.startswith(p) for p in prefixes):
            continue
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        limit = 90.0 if "_ex_" not in path.name and "_sol_" not in path.name else ""
        rows.append({"what": path.name, "seconds": seconds, "target_seconds": limit})
        print(rows[-1], flush=True)
    return rows


def merge_with_previous(rows: list[dict]) -> list[dict]:
    """Keep earlier rows for what this run did not measure (e.g. `--notebooks 03` keeps 00's time)."""
    path = ROOT / "benchmarks" / "results" / "foundation.json"
    if not path.exists():
        return rows
    measured = {row["what"] for row in rows}
    existing = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} | {
        p.name for p in (ROOT / "notebooks" / "exercises").glob("*.ipynb")}
    previous = [row for row in json.loads(path.read_text())["rows"] if row["what"] not in measured
                and (row["what"].startswith("world") or row["what"] in existing)]  # drop renamed or split notebooks
    return sorted(previous + rows, key=lambda row: (not row["what"].startswith("world"), row["what"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", nargs="*", default=None, help="name prefixes of notebooks to time (default: all)")
    parser.add_argument("--worlds", nargs="*", default=["tiny", "default", "large"], help="world presets to time")
    args = parser.parse_args()
    rows = time_worlds(args.worlds) + time_notebooks(args.notebooks)
    rows = merge_with_previous(rows)
    record("foundation", "World generation and notebook run times", "python benchmarks/foundation.py", rows,
           notes="World times are the best of 3 runs (1 for 'large'); notebooks run once each in a fresh kernel. "
                 "Rows not re-measured by the last run keep their earlier values.")
    print(f"wrote {write_report().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
