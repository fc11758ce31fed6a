"""Distributed training benchmark: examples/second of the two-tower training with 1 and 2 processes.

    python benchmarks/distributed.py                        # default world, global batch 1024, 3 epochs
    python benchmarks/distributed.py --world-size tiny --epochs 2

Every configuration runs `harness.distributed` (torchrun for several processes, gloo backend on
CPU) with the same global batch, so the optimisation is comparable: one process with one thread, one
process with as many threads as the two processes have together, and two processes with one thread
each. Throughput is training examples per second of wall time, summed over the epochs (validation by
rank 0 not included). Results go to benchmarks/results/distributed.json and REPORT.md.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, record, write_report  # noqa: E402


def launch(processes: int, threads: int, args, out: Path) -> dict:
    common = ["--dataset", "world", "--world-size", args.world_size, "--epochs", str(args.epochs),
              "--batch-size", str(args.batch_size), "--patience", str(args.epochs), "--threads", str(threads),
              "--out", str(out)]
    if processes == 1:
        command = [sys.executable, "-m", "harness.distributed", *common]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   "-m", "harness.distributed", *common]
    process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS=str(threads)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = process.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise SystemExit(f"{processes} process(es) did not finish within {args.timeout} s")
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-3000:]}")
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world-size", default="default", help="world preset (tiny, default, large)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (no early stopping)")
    parser.add_argument("--batch-size", type=int, default=1024, help="global batch, the same in every run")
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per run")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for processes, threads in ((1, 1), (1, 2), (2, 1)):
            report = launch(processes, threads, args, Path(scratch) / f"{processes}x{threads}.json")
            rows.append({"processes": processes, "threads per process": threads,
                         "global batch": report["global_batch"], "per-process batch": report["per_process_batch"],
                         "examples/s": report["examples_per_second"], "val recall@10": report["val_recall@10"]})
            print(rows[-1], flush=True)
    base = rows[0]["examples/s"]
    for row in rows:
        row["speed-up vs 1 process"] = row["examples/s"] / base
    record("distributed", "Data-parallel two-tower training (DDP, gloo, CPU)",
           f"python benchmarks/distributed.py --world-size {args.world_size} --epochs {args.epochs} "
           f"--batch-size {args.batch_size}", rows,
           notes=f"World '{args.world_size}', {args.epochs} epochs, the same global batch in every run; examples/s "
                 "is wall-clock training throughput over all epochs (rank 0's validation excluded). With 2 "
                 "processes each softmax has half as many in-batch negatives (per-process batch). Small towers "
                 "gain little from intra-op threads, and when other jobs hold the cores, a process's threads "
                 "wait for each other (the 1 x 2 threads row can collapse). On a shared 2-core machine every "
                 "number moves with the load of other jobs.")
    print(f"wrote {write_report().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
