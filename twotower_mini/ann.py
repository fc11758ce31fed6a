"""Approximate retrieval with faiss (an optional extra), and how to measure what it costs.

    ann = ApproximateIndex(model.item_vectors_, method="ivf")      # needs `pip install faiss-cpu`
    approx_ids, _ = ann.search(queries, k=100, nprobe=16)
    exact_ids, _ = ExactIndex(model.item_vectors_).search(queries, k=100)
    recall_vs_exact(approx_ids, exact_ids)                         # share of the exact top-k it found

Two index families: IVF (Jegou et al. 2011, product quantization's inverted file: cluster the
items, scan only the clusters nearest the query) and HNSW (Malkov and Yashunin 2018, a navigable
small-world graph). Both trade recall for speed through one knob; the exact index of
`twotower_mini.retrieval` is the reference they are measured against.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from twotower_mini.retrieval import (MissingDependencyError, check_items, check_k, check_queries,
                                     search_with_exclusion, VectorIndex)

__all__ = ["ApproximateIndex", "recall_vs_exact"]


def import_faiss():
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError("approximate search needs faiss: pip install faiss-cpu "
                                     "(it is a dependency of this project: reinstall with pip install -e .)") from None
    return faiss


class ApproximateIndex(VectorIndex):
    """Approximate maximum-inner-product top-k with faiss (`pip install faiss-cpu`).

    method="ivf": IndexIVFFlat, inner-product metric. The items are clustered into `nlist` lists
        (k-means, default about 4 sqrt(N)); a query scans only its `nprobe` best lists.
        Knob: nprobe (more = slower, higher recall; nprobe = nlist is exact).
    method="hnsw": IndexHNSWFlat, inner-product metric, a navigable small-world graph with
        `hnsw_m` links per node. Knob: ef_search (size of the search frontier, >= k).
    Same `search(queries, k, exclude=None)` as ExactIndex; slots faiss could not fill hold id -1
    and score -inf. Measure what the approximation costs with `recall_vs_exact`."""

    METHODS = ("ivf", "hnsw")

    def __init__(self, item_vectors, method: str = "ivf", nlist: int | None = None, nprobe: int = 8,
                 hnsw_m: int = 32, ef_construction: int = 80, ef_search: int = 128, threads: int | None = None,
                 seed: int = 0):
        faiss = import_faiss()
        if method not in self.METHODS:
            raise ValueError(f"unknown method {method!r}: choose one of {', '.join(self.METHODS)}")
        self.item_vectors = check_items(item_vectors)
        self.method = method
        if threads is not None:
            faiss.omp_set_num_threads(int(threads))
        n, dim = self.item_vectors.shape
        if method == "ivf":
            self.nlist = int(nlist) if nlist else int(min(n, max(1, round(4 * np.sqrt(n)))))
            if not 1 <= self.nlist <= n:
                raise ValueError(f"nlist must be between 1 and the number of items ({n}), got {self.nlist}")
            self._quantizer = faiss.IndexFlatIP(dim)  # kept alive: the IVF index points to it
            self.index = faiss.IndexIVFFlat(self._quantizer, dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
            self.index.cp.seed = seed
            self.index.cp.min_points_per_centroid = 1  # small catalogues: no warning spam
            self.index.train(self.item_vectors)
            self.nprobe = nprobe
        else:
            self.index = faiss.IndexHNSWFlat(dim, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = int(ef_construction)
            self.ef_search = ef_search
        self.index.add(self.item_vectors)

    @property
    def knob(self) -> str:
        """The speed/recall knob of this method's `search`: "nprobe" or "ef_search"."""
        return "nprobe" if self.method == "ivf" else "ef_search"

    def search(self, queries, k: int, exclude: sp.spmatrix | None = None, nprobe: int | None = None,
               ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(U, D) queries -> (ids (U, k) int64, scores (U, k) float32), best first (approximately)."""
        k = check_k(k, self.n_items)
        queries = check_queries(queries, self.dim)
        if self.method == "ivf":
            value = int(self.nprobe if nprobe is None else nprobe)
            if not 1 <= value <= self.nlist:
                raise ValueError(f"nprobe must be between 1 and nlist={self.nlist}, got {value}")
            self.index.nprobe = value
        else:
            value = int(self.ef_search if ef_search is None else ef_search)
            if value < 1:
                raise ValueError(f"ef_search must be at least 1, got {value}")

        def search_block(q: np.ndarray, fetch: int):
            if self.method == "hnsw":
                self.index.hnsw.efSearch = max(value, fetch)  # HNSW returns at most efSearch results
            scores, ids = self.index.search(q, fetch)
            ids = ids.astype(np.int64, copy=False)
            scores = scores.astype(np.float32, copy=False)
            scores[ids < 0] = -np.inf
            return ids, scores

        if exclude is not None:
            return search_with_exclusion(search_block, queries, k, exclude, self.n_items, 4096)
        return search_block(queries, k)


# ---- measuring an approximation -----------------------------------------------------------------------
def recall_vs_exact(approx_ids, exact_ids) -> float:
    """Share of the exact top-k ids that the approximate search also returned (order ignored).

    Both (U, k') arrays of item ids; -1 slots are ignored. Averaged over all exact ids (micro)."""
    approx_ids = np.asarray(approx_ids, dtype=np.int64)
    exact_ids = np.asarray(exact_ids, dtype=np.int64)
    if approx_ids.ndim != 2 or exact_ids.ndim != 2 or len(approx_ids) != len(exact_ids):
        raise ValueError(f"approx_ids and exact_ids must be 2-D with the same number of rows, got "
                         f"{approx_ids.shape} and {exact_ids.shape}")
    valid = exact_ids >= 0
    total = int(valid.sum())
    if total == 0:
        raise ValueError("exact_ids holds no item ids: nothing to compare against")
    width = np.int64(max(int(approx_ids.max(initial=-1)), int(exact_ids.max(initial=-1))) + 2)
    rows = np.arange(len(exact_ids), dtype=np.int64)[:, None]
    approx_keys = np.unique((rows * width + approx_ids)[approx_ids >= 0])
    exact_keys = (rows * width + exact_ids)[valid]
    return float(np.isin(exact_keys, approx_keys).sum() / total)
