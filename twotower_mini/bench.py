"""Timing exact (and approximate) top-k retrieval against the plain matrix product of the same shapes.

    python -m twotower_mini bench retrieval --items 200000 --dim 64 --users 2048 --k 100 --json out.json
    python -m twotower_mini bench retrieval --items 200000 --dim 64 --users 2048 --k 100 --approximate ivf

The bound (our target: exact top-100 within 2x of the machine's matrix-multiply time): the
plain product queries @ items.T that produces the whole (U, N) float32 score matrix, into a
preallocated output (so allocation and page faults are not counted against it), timed with both
numpy's BLAS and torch and the faster of the two kept. When that matrix would not fit in
`full_gemm_bytes` (e.g. 2,048 x 10^6 = 8 GB), the same product is computed in row blocks into
one reused buffer: the same arithmetic, never slower than the full matrix.

Both are timed in the same run, interleaved (search, product, search, product, ...) after one
warm-up of each, and the best of `repeats` is kept, so load from other processes on a shared
machine hits both alike and the ratio stays meaningful.
"""
from __future__ import annotations

import time

import numpy as np

from twotower_mini.ann import ApproximateIndex, recall_vs_exact
from twotower_mini.retrieval import ExactIndex

FULL_GEMM_BYTES = 2 << 30  # above this the bound is computed in row blocks (see module docstring)
SWEEPS = {"ivf": (1, 2, 4, 8, 16, 32, 64, 128), "hnsw": (32, 64, 128, 256, 512)}


def random_vectors(items: int, dim: int, users: int, seed: int = 0,
                   clusters: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(items, dim) and (users, dim) float32 vectors: standard normal, or with `clusters` > 0 a
    mixture (each vector = one of `clusters` standard normal centres + standard normal noise).

    Plain normal vectors have no structure at all, the worst case for approximate search; trained
    embeddings are clustered (genres, languages), which the mixture imitates."""
    rng = np.random.default_rng(seed)
    if clusters <= 0:
        return (rng.standard_normal((items, dim), dtype=np.float32),
                rng.standard_normal((users, dim), dtype=np.float32))
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)

    def draw(n: int) -> np.ndarray:
        noise = rng.standard_normal((n, dim), dtype=np.float32)
        noise += centres[rng.integers(0, clusters, n)]
        return noise

    return draw(items), draw(users)


def _gemm_functions(queries: np.ndarray, items: np.ndarray, full_gemm_bytes: int) -> dict:
    import torch

    n_users, n_items = len(queries), len(items)
    rows = n_users if n_users * n_items * 4 <= full_gemm_bytes else max(1, full_gemm_bytes // (4 * n_items))
    out = np.empty((rows, n_items), dtype=np.float32)  # (U, N) score matrix, or a block of its rows
    out_t = torch.from_numpy(out)
    items_t = torch.from_numpy(items)
    queries_t = torch.from_numpy(queries)

    def numpy_gemm() -> None:
        for start in range(0, n_users, rows):
            q = queries[start:start + rows]
            np.matmul(q, items.T, out=out[:len(q)])

    def torch_gemm() -> None:
        for start in range(0, n_users, rows):
            q = queries_t[start:start + rows]
            torch.mm(q, items_t.T, out=out_t[:len(q)])

    return {"numpy": numpy_gemm, "torch": torch_gemm}


def _best_of(functions: dict, repeats: int) -> dict:
    """Best wall time of each function over `repeats` interleaved rounds, after one warm-up each."""
    for function in functions.values():
        function()
    best = {name: float("inf") for name in functions}
    for _ in range(max(1, repeats)):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def run_retrieval(items: int, dim: int, users: int, k: int, repeats: int = 5, seed: int = 0,
                  approximate: str | None = None, threads: int | None = None, nlist: int | None = None,
                  clusters: int = 0, full_gemm_bytes: int = FULL_GEMM_BYTES, log=None) -> dict:
    """Time exact top-k of `users` random queries over `items` random items against the plain
    matrix product; with `approximate` ("ivf" or "hnsw"), also sweep faiss's speed/recall knob.

    Returns {"items", "dim", "users", "k", "seconds", "gemm_seconds", "ratio"} (+ "approximate":
    a list of {"method", knob, "seconds", "recall@k", "speedup"} rows, speed-up over exact)."""
    for name, value in (("items", items), ("dim", dim), ("users", users), ("repeats", repeats)):
        if value < 1:
            raise ValueError(f"--{name} must be at least 1, got {value}")
    if clusters < 0:
        raise ValueError(f"--clusters must be 0 (plain normal vectors) or more, got {clusters}")
    item_vectors, queries = random_vectors(items, dim, users, seed, clusters)
    index = ExactIndex(item_vectors, threads=threads)
    index.search(queries[:1], k)  # checks k against the catalogue before any timing
    exact = {}

    def search() -> None:
        exact["ids"] = index.search(queries, k)[0]

    times = _best_of({"search": search, **_gemm_functions(queries, item_vectors, full_gemm_bytes)}, repeats)
    gemm_seconds = min(times["numpy"], times["torch"])
    result = {"items": items, "dim": dim, "users": users, "k": k, "seconds": times["search"],
              "gemm_seconds": gemm_seconds, "ratio": times["search"] / gemm_seconds}
    if log:
        log(f"exact top-{k}: {times['search']:.3f} s; matrix product: numpy {times['numpy']:.3f} s, "
            f"torch {times['torch']:.3f} s")
    if approximate:
        result["approximate"] = sweep_approximate(item_vectors, queries, k, exact["ids"], times["search"],
                                                  approximate, repeats, nlist=nlist, seed=seed, log=log)
    return result


def sweep_approximate(item_vectors: np.ndarray, queries: np.ndarray, k: int, exact_ids: np.ndarray,
                      exact_seconds: float, method: str = "ivf", repeats: int = 5, nlist: int | None = None,
                      seed: int = 0, values=None, log=None) -> list[dict]:
    """Recall@k against the exact ids and speed-up over the exact search, for each knob value."""
    start = time.perf_counter()
    index = ApproximateIndex(item_vectors, method=method, nlist=nlist, seed=seed)
    build_seconds = time.perf_counter() - start
    knob = index.knob
    values = values or SWEEPS[method]
    if method == "ivf":
        values = sorted({min(v, index.nlist) for v in values})
    else:
        values = sorted({max(v, k) for v in values})  # HNSW needs a frontier of at least k
    rows = []
    for value in values:
        found = {}

        def search() -> None:
            found["ids"] = index.search(queries, k, **{knob: value})[0]

        seconds = _best_of({"search": search}, repeats)["search"]
        rows.append({"method": method, knob: value, "seconds": seconds,
                     f"recall@{k}": recall_vs_exact(found["ids"], exact_ids), "speedup": exact_seconds / seconds,
                     "build_seconds": build_seconds})
        if log:
            log(f"{method} {knob}={value}: {seconds:.3f} s, recall@{k} {rows[-1][f'recall@{k}']:.3f}, "
                f"speed-up {rows[-1]['speedup']:.1f}x")
    return rows
