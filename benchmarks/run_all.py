"""Run every benchmark script in turn; each rewrites benchmarks/REPORT.md with its section.

    python benchmarks/run_all.py            # all of them: long (lesson_margins.py alone runs every world
                                            #   walkthrough on ten worlds, ten notebook runs' worth)
    python benchmarks/run_all.py --list     # what would run
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["foundation.py", "lineage_bench.py", "twotower_bench.py", "retrieval.py", "distributed.py", "lesson_margins.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true", help="print the scripts and exit")
    args = parser.parse_args()
    scripts = [name for name in SCRIPTS if (HERE / name).exists()]
    if args.list:
        print("\n".join(scripts))
        return 0
    failed = []
    for name in scripts:
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
