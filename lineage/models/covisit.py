"""Co-visitation: the item graph of "people who took this also took that", and candidate expansion.

After Davidson et al. 2010, "The YouTube video recommendation system" (RecSys '10), section 4.1.

1. Co-visitation counts, from training data only. Two items i != j are co-visited by a user when
   the user has an event of i and an event of j at most `window_seconds` apart (or anywhere in
   their history when the window is None). We count *users*, not event pairs:

       c_ij = number of users who co-visited i and j        (symmetric, c_ii = 0)
       c_i  = number of users who have at least one event of i

   Whole history: with X the binary user x item matrix, C = X^T X with the diagonal removed.
   A time window: every user's events are sorted by time and each event is paired with the next
   1, 2, 3, ... events while they stay inside the window (one vectorised pass per offset); when
   a user repeats an item, the (user, i, j) triples are de-duplicated before counting. On
   MovieLens the timestamps are rating times (often a whole history typed in one evening), so
   "whole history" is the natural choice there; on the content-app world a window is a knob
   (whole history won on validation there too).

2. Relatedness (the paper's r(v_i, v_j) = c_ij / f(v_i, v_j)). We implement

       r(i -> j) = c_ij / (c_i ** seed_power * c_j ** candidate_power)

   seed_power = candidate_power = 1 is the paper's "simplest" f = c_i * c_j; powers of 0.5 give
   the cosine of the two item columns; candidate_power < seed_power is the "softened" f that
   lets popular candidates through (only the candidate power changes the order of one seed's
   neighbours; the seed power weighs seeds against each other when they are summed). Only pairs
   with c_ij >= min_count are kept, then the `n_neighbours` most related items j of every item i
   (row i of a sparse matrix R).

3. Candidate expansion: a user's seed items S (their training items) are expanded over the
   graph. One hop: score(j) = sum_{i in S} r(i -> j), i.e. the row vector s R. More hops add
   hop_decay ** (h - 1) * s R^h, the paper's C_n = related items of C_{n-1}. Items the graph
   never reaches come after all reached ones, by popularity, so every list is filled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lineage.data import Interactions
from lineage.models.base import Recommender
from lineage.topk import keep_top_k


@dataclass
class CoVisitConfig:
    window_seconds: float | None = None  # None: co-visit = anywhere in the user's history; else max seconds apart
    seed_power: float = 1.0  # a in r(i->j) = c_ij / (c_i^a * c_j^b); 1, 1 is YouTube 2010's f = c_i * c_j
    candidate_power: float = 0.25  # b in the same formula; < a softens the penalty on popular candidates
    min_count: int = 1  # drop pairs co-visited by fewer users (noise)
    n_neighbours: int = 200  # keep the top-N related items per item (the sparse graph)
    hops: int = 1  # candidate expansion depth: 1 = related items of the seeds
    hop_decay: float = 0.1  # weight of hop h is hop_decay ** (h - 1)


# ---- step 1: counts ------------------------------------------------------------------------------
def covisitation_counts(train: Interactions, window_seconds: float | None = None) -> sp.csr_matrix:
    """(n_items, n_items) symmetric int64 CSR of c_ij, the number of users who co-visited i and j.

    window_seconds=None counts the whole history; otherwise two events count only when they are at
    most window_seconds apart."""
    n_items = train.n_items
    if window_seconds is None:
        x = train.to_csr(binary=True).astype(np.int64)  # (n_users, n_items) 0/1
        counts = (x.T @ x).tocsr()  # (n_items, n_items), diagonal = c_i
        counts.setdiag(0)
        counts.eliminate_zeros()
        return counts.astype(np.int64)

    order = np.lexsort((train.times, train.users))  # events by user, then time
    users, items, times = train.users[order], train.items[order], train.times[order]
    n = len(users)
    pairs_u, pairs_lo, pairs_hi = [], [], []  # one (user, min item, max item) per co-visiting event pair
    offset = 1
    active = np.arange(max(n - 1, 0))  # events whose partner at `offset` may still be in the window
    while len(active):
        partner = active + offset
        inside = partner < n
        active, partner = active[inside], partner[inside]
        inside = (users[partner] == users[active]) & (times[partner] - times[active] <= window_seconds)
        active, partner = active[inside], partner[inside]  # later offsets only get further away
        a, b = items[active], items[partner]
        distinct = a != b
        pairs_u.append(users[active][distinct])
        pairs_lo.append(np.minimum(a, b)[distinct])
        pairs_hi.append(np.maximum(a, b)[distinct])
        offset += 1
    lo = np.concatenate(pairs_lo) if pairs_lo else np.zeros(0, dtype=np.int64)
    hi = np.concatenate(pairs_hi) if pairs_hi else np.zeros(0, dtype=np.int64)
    if train.to_csr(binary=True).nnz < len(train):
        # a user repeated an item, so a (user, i, j) triple may appear more than once: keep one
        if train.n_users * n_items * n_items >= 2 ** 63:
            raise ValueError("covisitation_counts: catalogue too large for int64 (user, i, j) keys")
        keys = (np.concatenate(pairs_u) * n_items + lo) * n_items + hi
        keys.sort()
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
        lo, hi = (keys // n_items) % n_items, keys % n_items
    ones = np.ones(len(lo), dtype=np.int64)
    counts = sp.coo_matrix((np.r_[ones, ones], (np.r_[lo, hi], np.r_[hi, lo])), shape=(n_items, n_items))
    return counts.tocsr()  # duplicates (the same pair from different users) are summed


# ---- step 2: relatedness and the sparse top-N graph ----------------------------------------------
def top_n_per_row(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the n largest entries of every row of a CSR matrix (ties: lower column first)."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    keep = keep_top_k(rows, matrix.indices, matrix.data, n)  # (nnz,) bool
    out = sp.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)
    out.sort_indices()
    return out


def relatedness(counts: sp.csr_matrix, item_counts: np.ndarray, seed_power: float = 1.0,
                candidate_power: float = 1.0, min_count: int = 1) -> sp.csr_matrix:
    """(n_items, n_items) float32 CSR, r(i -> j) = c_ij / (c_i^seed_power * c_j^candidate_power).

    counts: c_ij (see `covisitation_counts`); item_counts: (n_items,) c_i."""
    counts = counts.tocsr().astype(np.float64)
    counts.data[counts.data < min_count] = 0.0
    counts.eliminate_zeros()
    c = np.maximum(np.asarray(item_counts, dtype=np.float64), 1.0)  # (n_items,) guard: c_i >= c_ij >= 1 anyway
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    data = counts.data / (c[rows] ** seed_power * c[counts.indices] ** candidate_power)
    return sp.csr_matrix((data.astype(np.float32), counts.indices, counts.indptr), shape=counts.shape)


def covisitation_graph(train: Interactions, config: CoVisitConfig | None = None) -> sp.csr_matrix:
    """The pruned relatedness graph R: (n_items, n_items) CSR, row i = the top-N items related to i."""
    config = config or CoVisitConfig()
    counts = covisitation_counts(train, config.window_seconds)
    item_counts = np.asarray(train.to_csr(binary=True).sum(axis=0)).ravel()  # (n_items,) users per item
    related = relatedness(counts, item_counts, config.seed_power, config.candidate_power, config.min_count)
    return top_n_per_row(related, config.n_neighbours)


# ---- step 3: candidate expansion -------------------------------------------------------------------
def expand(seeds: sp.csr_matrix, graph: sp.csr_matrix, hops: int = 1, hop_decay: float = 0.1) -> sp.csr_matrix:
    """(n_users, n_items) candidate scores: sum over hops h of hop_decay^(h-1) * seeds @ graph^h.

    seeds: (n_users, n_items) seed weights (1 for every training item); graph: R."""
    if hops < 1:
        raise ValueError(f"hops must be at least 1, got {hops}")
    frontier = seeds.tocsr().astype(np.float32)
    total = None
    for hop in range(hops):
        frontier = frontier @ graph  # (n_users, n_items) relatedness summed over the previous hop
        part = frontier * (hop_decay ** hop)
        total = part if total is None else total + part
    return total.tocsr()


class CoVisitation(Recommender):
    """YouTube 2010 style recommendations: the user's items expanded over the co-visitation graph."""

    name = "covisit"
    config_class = CoVisitConfig
    # chosen on a validation split carved from train (never test) by
    #   python benchmarks/tune_graph.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k --models covisit
    #   python benchmarks/tune_graph.py --dataset world --models covisit
    TUNED: dict = {
        "ml-100k": {"window_seconds": None, "seed_power": 1.0, "candidate_power": 0.25, "n_neighbours": 200,
                    "min_count": 1, "hops": 1},  # validation ndcg@10 0.1524 (per-item protocol)
        "world": {"window_seconds": None, "seed_power": 1.0, "candidate_power": 0.25, "n_neighbours": 200,
                  "hops": 1},  # validation ndcg@10 0.2123 (temporal protocol)
    }

    def __init__(self, config: CoVisitConfig | None = None):
        self.config = config or CoVisitConfig()

    def _fit(self, train: Interactions) -> None:
        self.graph_ = covisitation_graph(train, self.config)  # (n_items, n_items) R
        counts = train.item_counts().astype(np.float64)
        self.unreached_ = (counts / (counts.max() + 1.0) - 1.0).astype(np.float32)  # (n_items,) in [-1, 0)

    def score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        scores = expand(self.seen_[users], self.graph_, self.config.hops, self.config.hop_decay).toarray()
        # items the graph never reaches (score 0) go after every reached one, most popular first
        unreached = scores <= 0
        scores[unreached] = np.broadcast_to(self.unreached_, scores.shape)[unreached]
        return scores  # (len(users), n_items)
