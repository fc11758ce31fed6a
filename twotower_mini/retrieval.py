"""Retrieval, the first stage of a recommender: score a user against the whole catalogue, keep the best k.

    index = ExactIndex(model.item_vectors_)                        # (n_items, D) float32
    ids, scores = index.search(model.user_vectors(users), k=100)   # (U, k) each, best first
    ids, scores = filter_seen(ids, scores, seen, users, k=10)      # a business rule, after retrieval
    ids, scores = index.search(queries, k=10, exclude=seen[users]) # the same in one call (over-fetches)

Approximate search (faiss, an optional extra) and `recall_vs_exact` are in `twotower_mini.ann`.

How the exact search stays close to the cost of the matrix product (our target: within 2x)
------------------------------------------------------------------------------------------
The naive way builds the whole (U, N) score matrix and sorts every row. At U=2,048 users and
N=200,000 items that is a 1.6 GB matrix written to RAM and read back, and 400 million scores
sorted (or fed to torch.topk, which alone costs about as much as the product), when we only want
100 per row. `ExactIndex.search` instead:

1. cuts queries into blocks of `query_block` and items into chunks of at most `item_block`, and
   computes one (chunk, query block) tile of scores at a time, float32, with one BLAS GEMM into a
   reused buffer (2 MB at 2,048 x 256: it is still in cache when it is read; nothing is
   allocated). Item-major tiles (items @ queries.T) run at the speed of the full product;
   query-major ones measured ~20% slower with OpenBLAS at D=64;
2. never sorts a tile. Each query has a threshold, the k-th best score seen so far, and one
   vectorised comparison `tile > threshold` plus np.flatnonzero (both at memory speed) finds the
   few items that can still enter its top-k. The first chunk is small (2,048 items) and its k-th
   best (np.partition) is the first threshold: a lower bound of the final k-th best, so no true
   top-k item is ever skipped. Candidates are merged into the running top-k only each time the
   items seen grow by half (log N merges, each linear: np.partition, no sort), and the threshold
   then tightens; chunks double in size up to `item_block` so that it tightens early. For a
   catalogue in random order a query gathers a few times k (1 + ln(N / 2048)) candidates in
   total (measured: ~700 at N=200,000, k=100), against N scores computed;
3. runs query blocks on `threads` worker threads (default: every core), each with a
   single-threaded BLAS, so the selection runs on every core as well as the product (numpy
   releases the GIL in both). Multi-threaded BLAS on these small tiles was up to 5x slower on a
   busy machine (BLAS threads waiting for each other). The BLAS limit (threadpoolctl) is
   process-wide while a search runs.

Measured and dropped (2 cores, D=64): torch.topk per tile (costs more than the GEMM itself),
torch GEMM for the tiles (slower than numpy's OpenBLAS here, 2x for item-major tiles), a running
top-k kept sorted and merged after every chunk (the merges cost ~25% of the GEMM).

The result is exact: the same ids as a full `np.argsort(-scores, kind="stable")`, with equal
scores ordered by item id (lower first). `python -m twotower_mini bench retrieval` times it
against the plain matrix product; `benchmarks/retrieval.py` records the numbers.

Seen items: a business rule, not part of retrieval
--------------------------------------------------
Retrieval returns candidates; business rules (already seen, out of stock, not in the user's
region) filter them afterwards. `filter_seen` does that for the seen-items rule. So that k
candidates survive, retrieval over-fetches: `search(..., exclude=rows)` asks each query block for
k + (the largest number of excluded items of any query in that block) and then filters. Rows that
run out (a user who has seen almost everything) are padded with id -1 and score -inf, as
`lineage.models.base.top_k` does.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from lineage.topk import ranking, top_k_mask

__all__ = ["ExactIndex", "MissingDependencyError", "filter_seen"]


class MissingDependencyError(ImportError, ValueError):
    """An optional extra is not installed. A ValueError too, so the CLI reports it as one line."""


# ---- input checks (each a one-line ValueError) ----------------------------------------------------
def _as_matrix(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2:
        hint = " (for one vector use v.reshape(1, -1))" if array.ndim == 1 else ""
        raise ValueError(f"{what} must be a 2-D (rows, dim) array, got shape {array.shape}{hint}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise ValueError(f"{what} must hold real numbers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)  # no copy when it already is
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return array


def check_items(item_vectors) -> np.ndarray:
    items = _as_matrix(item_vectors, "item_vectors")
    if items.shape[0] == 0:
        raise ValueError("the catalogue is empty: item_vectors has 0 rows, there is nothing to search")
    if items.shape[1] == 0:
        raise ValueError("item_vectors have dimension 0")
    return items


def check_k(k, n_items: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be a whole number, got {k!r}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if k > n_items:
        raise ValueError(f"k={k} is larger than the catalogue ({n_items} items)")
    return k


def check_queries(queries, dim: int) -> np.ndarray:
    queries = _as_matrix(queries, "queries")
    if queries.shape[1] != dim:
        raise ValueError(f"queries have dimension {queries.shape[1]} but the index holds "
                         f"{dim}-dimensional item vectors")
    return queries


def _check_rows(matrix, n_rows: int, n_items: int, what: str) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise ValueError(f"{what} must be a scipy.sparse matrix (e.g. seen[users] of a CSR user x item matrix)")
    matrix = sp.csr_matrix(matrix)
    if matrix.shape[0] != n_rows:
        raise ValueError(f"{what} has {matrix.shape[0]} rows but there are {n_rows} queries")
    if matrix.shape[1] > n_items:
        raise ValueError(f"{what} has {matrix.shape[1]} columns but the catalogue has {n_items} items")
    return matrix


# ---- seen-item filtering: a business rule applied to retrieved candidates ------------------------
def filter_seen(ids: np.ndarray, scores: np.ndarray, seen: sp.spmatrix, users=None, k: int | None = None):
    """Drop each row's seen items from retrieved candidates, keep the order, return the first k.

    ids, scores: (U, k') candidates, best first (id -1 marks an empty slot).
    seen: (n_users, n_items) sparse matrix, nonzero = already seen.
    users: (U,) the row of `seen` for each query; None means row i of `seen` is query i.
    Returns (U, k) ids int64 and scores float32; rows with fewer than k survivors are padded with
    id -1 and score -inf. Over-fetch (k' = k + most seen items of any user) so that k survive."""
    ids = np.asarray(ids)
    scores = np.asarray(scores, dtype=np.float32)
    if ids.ndim != 2 or ids.shape != scores.shape:
        raise ValueError(f"ids and scores must be 2-D arrays of the same shape, got {ids.shape} and {scores.shape}")
    n_rows, fetched = ids.shape
    k = fetched if k is None else int(k)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not sp.issparse(seen):
        raise ValueError("seen must be a scipy.sparse matrix (users x items)")
    seen = sp.csr_matrix(seen)
    if users is None:
        if seen.shape[0] != n_rows:
            raise ValueError(f"seen has {seen.shape[0]} rows but there are {n_rows} rows of candidates; pass users")
        rows = seen
    else:
        users = np.asarray(users, dtype=np.int64)
        if users.shape != (n_rows,):
            raise ValueError(f"users must have one entry per row of candidates ({n_rows}), got shape {users.shape}")
        if n_rows and (users.min() < 0 or users.max() >= seen.shape[0]):
            raise ValueError(f"users must be rows of seen (0..{seen.shape[0] - 1})")
        rows = seen[users]
    # membership by (row, item) keys: one sorted search instead of a Python loop over users
    width = np.int64(max(seen.shape[1], int(ids.max(initial=-1)) + 1, 1))
    seen_keys = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(rows.indptr)) * width + rows.indices
    seen_keys = np.sort(seen_keys[rows.data != 0])  # stored zeros are not "seen"
    keys = np.arange(n_rows, dtype=np.int64)[:, None] * width + ids
    keep = ids >= 0
    if seen_keys.size:
        at = np.minimum(np.searchsorted(seen_keys, keys), seen_keys.size - 1)
        keep &= seen_keys[at] != keys
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # survivors first, in their order
    out_ids = np.take_along_axis(ids.astype(np.int64, copy=False), order, axis=1)
    out_scores = np.take_along_axis(scores, order, axis=1)
    dropped = ~np.take_along_axis(keep, order, axis=1)
    out_ids[dropped] = -1
    out_scores[dropped] = -np.inf
    if out_ids.shape[1] < k:  # asked for more than was fetched
        pad = k - out_ids.shape[1]
        out_ids = np.hstack([out_ids, np.full((n_rows, pad), -1, dtype=np.int64)])
        out_scores = np.hstack([out_scores, np.full((n_rows, pad), -np.inf, dtype=np.float32)])
    return out_ids, out_scores


def search_with_exclusion(search_block, queries: np.ndarray, k: int, exclude, n_items: int, block: int):
    """Over-fetch per block of queries (k + most excluded items in the block), then filter."""
    exclude = _check_rows(exclude, len(queries), n_items, "exclude")
    counts = np.diff(exclude.indptr)
    ids = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), block):
        stop = min(start + block, len(queries))
        fetch = min(n_items, k + int(counts[start:stop].max(initial=0)))
        got_ids, got_scores = search_block(queries[start:stop], fetch)
        ids[start:stop], scores[start:stop] = filter_seen(got_ids, got_scores, exclude[start:stop], None, k)
    return ids, scores


# ---- exact search ----------------------------------------------------------------------------------
class VectorIndex:
    """What every index over (n_items, dim) item vectors answers about its size."""

    item_vectors: np.ndarray  # (n_items, dim) float32

    @property
    def n_items(self) -> int:
        return self.item_vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.item_vectors.shape[1]

    def __len__(self) -> int:
        return self.n_items


class ExactIndex(VectorIndex):
    """Exact maximum-inner-product top-k over a catalogue of item vectors.

    item_vectors: (N, D) array, kept as float32 (no copy when it already is C-contiguous float32).
    query_block: queries scored together (a tile's columns); item_block: the largest item chunk
        (a tile's rows). The defaults (256 x 2,048) were the fastest measured at D=64 on 2 cores.
    threads: worker threads, each searching whole query blocks with a single-threaded BLAS
        (default: the cores this process may use; 1 = single-threaded, in the caller's thread)."""

    def __init__(self, item_vectors, query_block: int = 256, item_block: int = 2048, threads: int | None = None):
        self.item_vectors = check_items(item_vectors)  # (N, D) float32
        if query_block < 1 or item_block < 1:
            raise ValueError("query_block and item_block must be at least 1")
        self.query_block = int(query_block)
        self.item_block = int(item_block)
        self.threads = max(1, int(threads) if threads is not None else _cores())

    def search(self, queries, k: int, exclude: sp.spmatrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(U, D) queries -> (ids (U, k) int64, scores (U, k) float32), best first, ties by lower id.

        exclude: optional (U, n_items) sparse matrix (row i = items to drop for query i, e.g.
        `seen[users]`); the search over-fetches and filters, see `filter_seen`."""
        k = check_k(k, self.n_items)
        queries = check_queries(queries, self.dim)
        if exclude is not None:
            return search_with_exclusion(self._search, queries, k, exclude, self.n_items,
                                          self.query_block * self.threads)
        return self._search(queries, k)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(queries)
        ids = np.empty((n, k), dtype=np.int64)
        scores = np.empty((n, k), dtype=np.float32)
        block = self.query_block
        if 1 < self.threads and n < block * self.threads:  # few queries: still give every worker some
            block = max(MIN_QUERY_BLOCK, -(-n // self.threads))
        starts = range(0, n, block)
        workers = min(self.threads, len(starts))

        def run(start: int) -> None:
            stop = min(start + block, n)
            ids[start:stop], scores[start:stop] = self._search_block(queries[start:stop], k)

        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):  # the workers are the parallelism
            if workers <= 1:
                for start in starts:
                    run(start)
            else:
                with ThreadPoolExecutor(workers) as pool:
                    for _ in pool.map(run, starts):  # re-raises a worker's error here
                        pass
        return ids, scores

    def _search_block(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """One block of queries (n, D) against every item chunk: tiles, thresholds, lazy merges."""
        items = self.item_vectors
        n, n_items = len(q), len(items)
        m_max = min(max(self.item_block, k), n_items)  # a chunk holds at least k items
        buffer = np.empty(m_max * n, dtype=np.float32)  # the score tile, reused
        # the running top-k, kept in item-id order (not score order) so that merging stays linear
        best = np.full((n, k), -np.inf, dtype=np.float32)
        best_ids = np.full((n, k), -1, dtype=np.int64)
        threshold = np.full(n, -np.inf, dtype=np.float32)  # (n,) each query's k-th best so far
        wide_threshold = np.tile(threshold, ROWS_PER_COMPARE)
        query_dtype = np.uint16 if n <= np.iinfo(np.uint16).max else np.int64  # uint16 sorts by radix
        pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (query, item, score) candidates
        pending_size = 0
        budget = 4 * n * max(k, 256)  # merge early when that many candidates wait (bounds memory)
        merged_at = 0  # items seen at the last merge
        first = 0
        m = min(m_max, max(k, FIRST_CHUNK))  # a small first chunk: its k-th best is the first threshold
        while first < n_items:
            m = min(m, n_items - first)
            tile = buffer[:m * n].reshape(m, n)  # scores of items first .. first + m - 1 (rows), each query
            np.matmul(items[first:first + m], q.T, out=tile)
            if first == 0 and m >= k:
                threshold = np.partition(np.ascontiguousarray(tile.T), m - k, axis=1)[:, m - k]
                wide_threshold = np.tile(threshold, ROWS_PER_COMPARE)
                hits = np.flatnonzero(tile >= threshold)  # >=: items tied with it may belong
            elif m % ROWS_PER_COMPARE == 0:
                # strictly better: an item tied with the k-th best comes later, so has a higher id.
                # Compared as (m / R, R * n) against the threshold repeated R times: the same
                # elementwise test with R times longer inner loops (numpy's per-row overhead dominates
                # at n = 256)
                hits = np.flatnonzero(tile.reshape(m // ROWS_PER_COMPARE, -1) > wide_threshold)
            else:
                hits = np.flatnonzero(tile > threshold)
            if hits.size:
                item = hits // n
                pending.append(((hits - item * n).astype(query_dtype), item + first, tile.ravel()[hits]))
                pending_size += hits.size
            first += m
            # merge when the items seen have grown by MERGE_GROWTH since the last merge: in between
            # the threshold is a bit stale, which lets a few more candidates through, but a search
            # needs only log(N) merges
            if pending and (first >= n_items or first >= MERGE_GROWTH * merged_at or pending_size > budget):
                best, best_ids = _merge(best, best_ids, pending)
                threshold = best.min(axis=1)
                wide_threshold = np.tile(threshold, ROWS_PER_COMPARE)
                pending, pending_size, merged_at = [], 0, first
            m = min(m_max, max(m, first))  # chunks double up to item_block: thresholds tighten early
        order = ranking(best)  # best first; ties stay in id order
        return np.take_along_axis(best_ids, order, axis=1), np.take_along_axis(best, order, axis=1)


FIRST_CHUNK = 2048  # items in the first chunk of a search (its k-th best is the first threshold)
MERGE_GROWTH = 1.5  # merge candidates into the running top-k each time the items seen grow by this
MIN_QUERY_BLOCK = 32  # smallest query block worth a worker thread
ROWS_PER_COMPARE = 32  # tile rows compared with the thresholds per numpy inner loop


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _merge(best: np.ndarray, best_ids: np.ndarray, pending) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of the running top-k and the pending candidates, in linear time (no sort of scores).

    pending: (query, item, score) arrays, one triple per chunk, in item order. The candidates are
    grouped by query (a stable radix sort keeps item order) and laid out after the running top-k
    of their query: every row is then in item-id order (the running top-k holds lower ids than
    any candidate). `lineage.topk.top_k_mask` keeps the scores above the row's k-th best value v,
    then the first (lowest-id) of those equal to v until k are kept: exactly the top-k of a stable
    sort, again in id order."""
    n, k = best.shape
    query, item, score = (np.concatenate(parts) for parts in zip(*pending))
    if n > 1:  # candidates come item by item; group them by query, items still ascending
        order = np.argsort(query, kind="stable")
        query, item, score = query[order], item[order], score[order]
    counts = np.bincount(query, minlength=n)
    width = k + int(counts.max())
    # destination of candidate i in the flat (n, width) layout: after its query's top-k, by rank
    shift = np.arange(n, dtype=np.int64) * width + k - (np.cumsum(counts) - counts)
    dest = np.arange(query.size, dtype=np.int64) + shift[query]
    scores = np.full((n, width), -np.inf, dtype=np.float32)
    ids = np.full((n, width), -1, dtype=np.int64)
    scores[:, :k], ids[:, :k] = best, best_ids
    scores.ravel()[dest], ids.ravel()[dest] = score, item
    keep = top_k_mask(scores, k)  # exactly k per row: the k best, ties by row (= id) order
    return scores[keep].reshape(n, k), ids[keep].reshape(n, k)
