"""Retrieval benchmark: exact top-k vs the plain matrix product, and faiss's recall/speed trade-off.

    python benchmarks/retrieval.py                 # the target shapes, N = 10^6, and the faiss sweeps
    python benchmarks/retrieval.py --no-approximate
    python benchmarks/retrieval.py --shapes 200000x64x2048x100
    python benchmarks/retrieval.py --quick          # tiny shapes, a smoke test: prints, records nothing

Target: exact top-100 within 2x of the matrix-multiply time at the same shapes,
i.e. ratio <= 2 at N=200,000 items, D=64, U=2,048 users, K=100. Each row is one
`python -m twotower_mini bench retrieval` run (twotower_mini/bench.py): best of --repeats after a
warm-up, search and product interleaved. The machine is shared: run it when `uptime` shows a low
load, the ratio is only meaningful then.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, record, write_report  # noqa: E402

sys.path.insert(0, str(ROOT))
TARGET = "200000x64x2048x100"
SHAPES = [TARGET, "1000000x64x2048x100", "200000x128x2048x100", "200000x64x256x100"]
# (method, shape, clusters): 0 = plain normal vectors (no structure: the worst case for ANN),
# 1000 = a mixture around 1,000 centres (closer to trained embeddings); see twotower_mini.bench
SWEEPS = [("ivf", TARGET, 0), ("ivf", TARGET, 1000), ("hnsw", TARGET, 1000), ("ivf", "1000000x64x2048x100", 1000)]


def parse_shape(text: str) -> tuple[int, int, int, int]:
    items, dim, users, k = (int(x) for x in text.lower().split("x"))
    return items, dim, users, k


def load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="*", default=SHAPES, help="ITEMSxDIMxUSERSxK for the exact rows")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each; the best is kept")
    parser.add_argument("--approximate", action=argparse.BooleanOptionalAction, default=True,
                        help="also sweep faiss (IVF nprobe, HNSW efSearch) when faiss-cpu is installed")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, one repeat, record nothing (a smoke test)")
    args = parser.parse_args()
    sweeps = SWEEPS
    if args.quick:
        args.shapes, args.repeats = ["20000x32x300x50"], 1
        sweeps = [(method, "20000x32x300x50", clusters) for method, _, clusters in SWEEPS[:3]]

    from twotower_mini.bench import random_vectors, run_retrieval, sweep_approximate
    from twotower_mini.retrieval import ExactIndex

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    rows = []
    for shape in args.shapes:
        items, dim, users, k = parse_shape(shape)
        before = load()
        result = run_retrieval(items, dim, users, k, repeats=args.repeats, log=log)
        rows.append({**result, "target_ratio": 2.0 if shape == TARGET else "", "load_avg": f"{before} -> {load()}"})
        print(rows[-1], flush=True)
    if not args.quick:
        record("retrieval", "Exact top-k retrieval vs the plain matrix product", "python benchmarks/retrieval.py",
               rows, notes="seconds: ExactIndex.search (defaults: item-major tiles of up to 2,048 items x 256 "
                           "queries, a threshold per query, lazy linear merges, one worker thread per core "
                           "with a single-threaded BLAS); gemm_seconds: the faster of numpy and torch "
                           "computing the (U, N) float32 score matrix into a preallocated array (in row "
                           "blocks of at most 2 GiB when the full matrix is larger); ratio = seconds / "
                           "gemm_seconds; best of 5 interleaved runs after a warm-up; standard normal "
                           "vectors. load_avg: 1/5/15-min load average before -> after (2 cores, shared).")

    try:
        import faiss
    except ImportError:
        faiss = None
        log("faiss-cpu is not installed: skipping the approximate sweep (pip install -e .[ann])")
    if args.approximate and faiss is not None:
        sweep_rows = []
        for method, shape, clusters in sweeps:
            items, dim, users, k = parse_shape(shape)
            item_vectors, queries = random_vectors(items, dim, users, clusters=clusters)
            index = ExactIndex(item_vectors)
            exact_ids, _ = index.search(queries, k)
            exact_seconds = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                index.search(queries, k)
                exact_seconds = min(exact_seconds, time.perf_counter() - start)
            for row in sweep_approximate(item_vectors, queries, k, exact_ids, exact_seconds, method,
                                         repeats=1 if args.quick else 3, log=log):
                knob = "nprobe" if method == "ivf" else "ef_search"
                sweep_rows.append({"items": items, "dim": dim, "users": users, "k": k,
                                   "data": f"{clusters} clusters" if clusters else "normal", "method": method,
                                   "knob": f"{knob}={row[knob]}", "seconds": row["seconds"],
                                   f"recall@{k}": row[f"recall@{k}"], "speedup_vs_exact": row["speedup"],
                                   "build_seconds": row["build_seconds"]})
                print(sweep_rows[-1], flush=True)
        if not args.quick:
            record("retrieval_approximate", "Approximate top-k with faiss: recall vs exact and speed-up",
                   "python benchmarks/retrieval.py", sweep_rows,
                   notes=f"faiss-cpu {faiss.__version__}, inner-product metric. data: 'normal' = standard "
                         "normal vectors (no structure: the worst case for approximate search), 'C clusters' = "
                         "each vector one of C standard normal centres plus standard normal noise. ivf: "
                         "IndexIVFFlat, nlist = 4 sqrt(N); hnsw: IndexHNSWFlat M=32, efConstruction=80, "
                         "efSearch >= k. recall = share of the exact top-k found; speedup over "
                         "ExactIndex.search on the same data (best of 3); build_seconds = training + adding "
                         "the items.")
    if not args.quick:
        print(f"wrote {write_report().relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
