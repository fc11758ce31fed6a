"""Helpers of notebook 07 (serving): what one request costs, an approximate index in numpy, and the
per-user scores of ready-made lists that a paired comparison needs.

    best_time(lambda: index.search(q, 100))          # seconds: the best of a few runs
    score_every_pair(network, user, items)           # (n,) the heavy ranking network on every (user, item)
    multiply_adds(network)                           # its multiply-adds per (user, item) pair
    ivf = NumpyIVF(item_vectors, nlist=256)          # faiss's IndexIVFFlat idea, when faiss is missing
    ids, scores = ivf.search(queries, k=100, nprobe=16)
    quality = per_user_quality(lists, users, train, test, true_top)   # metric -> list name -> per-user values

`NumpyIVF` is the inverted file of Jegou et al. (2011) without the quantisation: k-means clusters the
item vectors into `nlist` lists; a query scores the list centres, then exactly the items of its
`nprobe` best lists. The lists of a larger nprobe hold those of a smaller one, so the recall against
exact search can only grow with nprobe, and nprobe = nlist is exact search. It is slower than faiss
(one Python step per query) and there for when faiss is not installed.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from lineage.metrics import per_user_metrics, relevance_matrix, true_recall_per_user
from lineage.topk import top_k

__all__ = ["NumpyIVF", "best_time", "multiply_adds", "per_user_quality", "score_every_pair"]


# ---- what one request costs -------------------------------------------------------------------------
def best_time(function: Callable[[], object], repeats: int = 3) -> float:
    """Wall time in seconds of the fastest of `repeats` calls of `function()` (the least disturbed run)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def pair_inputs(user, items, n_pair_features: int):
    """(n, 3D + n_pair_features) torch rows [user, item, user * item, pair features] for one user
    (1, D) and items (n, D); the pair features are zeros, stand-ins for crossed features."""
    import torch

    u, v = torch.as_tensor(np.asarray(user, dtype=np.float32)), torch.as_tensor(np.asarray(items, dtype=np.float32))
    if u.ndim != 2 or u.shape[0] != 1 or v.ndim != 2 or v.shape[1] != u.shape[1]:
        raise ValueError(f"expected user (1, D) and items (n, D), got {tuple(u.shape)} and {tuple(v.shape)}")
    return torch.cat([u.expand(len(v), -1), v, u * v, torch.zeros(len(v), n_pair_features)], 1)


def score_every_pair(network, user, items, n_pair_features: int = 16, chunk: int = 65_536) -> np.ndarray:
    """(n,) float32 scores of a ranking `network` (a torch module: rows of `pair_inputs` -> (rows, 1))
    on every (user, item) pair, `chunk` items at a time (bounded memory). Its cost is per pair."""
    import torch

    items = np.asarray(items, dtype=np.float32)
    out = np.empty(len(items), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(items), chunk):
            rows = pair_inputs(user, items[start:start + chunk], n_pair_features)
            out[start:start + chunk] = network(rows)[:, 0].numpy()
    return out


def multiply_adds(network) -> int:
    """Multiply-adds of one forward pass of one row through `network`: the sum of inputs x outputs
    of its linear layers (activations are a rounding error next to them)."""
    from torch import nn

    return int(sum(m.in_features * m.out_features for m in network.modules() if isinstance(m, nn.Linear)))


# ---- an inverted-file index in numpy --------------------------------------------------------------------
class NumpyIVF:
    """Approximate maximum-inner-product top-k: faiss's IndexIVFFlat idea in numpy (see the module doc).

    item_vectors: (N, D); nlist: number of lists (1..N); iterations: rounds of k-means (inner-product
    assignment, centres the mean of their items); seed: the first centres. `search` has the knob of
    faiss's IVF, `nprobe`; slots it cannot fill (the probed lists hold fewer than k items) hold id -1
    and score -inf."""

    def __init__(self, item_vectors, nlist: int, iterations: int = 10, seed: int = 0, block: int = 16_384):
        items = np.ascontiguousarray(item_vectors, dtype=np.float32)
        if items.ndim != 2 or len(items) == 0 or not np.isfinite(items).all():
            raise ValueError(f"item_vectors must be a non-empty 2-D array of finite numbers, got shape {items.shape}")
        if not 1 <= int(nlist) <= len(items):
            raise ValueError(f"nlist must be between 1 and the number of items ({len(items)}), got {nlist}")
        self.item_vectors, self.nlist, self.block = items, int(nlist), int(block)
        rng = np.random.default_rng(seed)
        self.centres = items[np.sort(rng.choice(len(items), self.nlist, replace=False))].copy()  # (nlist, D)
        for _ in range(iterations):
            counts, sums = self.list_sums(self.assign())
            filled = counts > 0
            self.centres[filled] = sums[filled] / counts[filled, None]  # an empty list keeps its centre
        assignment = self.assign()
        self.members = np.argsort(assignment, kind="stable")  # item ids grouped by list, ascending in each
        self.starts = np.r_[0, np.cumsum(np.bincount(assignment, minlength=self.nlist))]
        self.list_vectors = items[self.members]  # (N, D) the vectors in list order: each list is one slice

    def assign(self) -> np.ndarray:
        """(N,) the list of every item: the centre with its largest inner product (ties: lower list)."""
        return np.concatenate([np.argmax(self.item_vectors[s:s + self.block] @ self.centres.T, axis=1)
                               for s in range(0, len(self.item_vectors), self.block)])

    def list_sums(self, assignment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(items per list (nlist,), sum of their vectors (nlist, D))."""
        one_hot = sp.csr_matrix((np.ones(len(assignment), dtype=np.float32), (assignment, np.arange(len(assignment)))),
                                shape=(self.nlist, len(assignment)))
        return np.bincount(assignment, minlength=self.nlist), np.asarray(one_hot @ self.item_vectors)

    def search(self, queries, k: int, nprobe: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """(U, D) queries -> (ids (U, k) int64, scores (U, k) float32), best first among the items of
        each query's `nprobe` best lists (ties: lower id first, as exact search)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.item_vectors.shape[1]:
            raise ValueError(f"queries must be (U, {self.item_vectors.shape[1]}), got shape {queries.shape}")
        if not 1 <= int(k) <= len(self.item_vectors) or not 1 <= int(nprobe) <= self.nlist:
            raise ValueError(f"need 1 <= k <= {len(self.item_vectors)} and 1 <= nprobe <= {self.nlist}, "
                             f"got k={k}, nprobe={nprobe}")
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for row, (query, lists) in enumerate(zip(queries, top_k(queries @ self.centres.T, int(nprobe)))):
            slices = [slice(self.starts[c], self.starts[c + 1]) for c in lists]
            found, found_scores = self.best_of(np.concatenate([self.members[s] for s in slices]),
                                               np.concatenate([self.list_vectors[s] @ query for s in slices]), k)
            ids[row, :len(found)], scores[row, :len(found)] = found, found_scores
        return ids, scores

    @staticmethod
    def best_of(candidates: np.ndarray, candidate_scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best (id, score) of the candidates, best first, equal scores by lower id: the entries
        at least as good as the k-th best score (linear time), then in id order through lineage.topk."""
        if len(candidates) > k:
            keep = candidate_scores >= np.partition(candidate_scores, len(candidates) - k)[len(candidates) - k]
            candidates, candidate_scores = candidates[keep], candidate_scores[keep]
        order = np.argsort(candidates, kind="stable")  # id order, so that ties go to the lower id
        candidates, candidate_scores = candidates[order], candidate_scores[order]
        best = top_k(candidate_scores[None, :], k)[0]
        return candidates[best], candidate_scores[best]


# ---- per-user scores of ready-made lists: the paired input of lineage.evidence.compare ----------------
def per_user_quality(lists: dict[str, np.ndarray], users, train, test, true_top: np.ndarray,
                     k: int = 10) -> dict[str, dict[str, np.ndarray]]:
    """{"logged nDCG@k": {name: per-user nDCG}, "true recall@k": {name: per-user true recall}} of
    each list (name -> (len(users), >= k) item ids, best first). nDCG is over the users with a
    wanted (unseen) test item, true recall over every user: the same users for every list, so any
    two lists of one metric are paired (lineage.evidence.compare)."""
    relevant = relevance_matrix(test, np.asarray(users), train)
    has_wanted = np.diff(relevant.indptr) > 0
    return {f"logged nDCG@{k}": {name: per_user_metrics(ids, relevant, k)["ndcg"][has_wanted]
                                 for name, ids in lists.items()},
            f"true recall@{k}": {name: true_recall_per_user(ids, true_top, k) for name, ids in lists.items()}}
