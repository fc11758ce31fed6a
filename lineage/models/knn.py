"""Neighbourhood recommenders: user-user and item-item k-nearest neighbours (lesson L8).

The first personalised baselines, and still hard to beat on small data.

- user-kNN (Resnick et al. 1994, "GroupLens"; Herlocker et al. 1999, "An algorithmic framework
  for performing collaborative filtering"): find the k users most similar to you and recommend
  what they took, weighted by how similar they are.
- item-kNN (Sarwar et al. 2001, "Item-based collaborative filtering recommendation algorithms";
  Deshpande and Karypis 2004, "Item-based top-N recommendation algorithms"): for every item in
  your history, its k most similar items get a vote weighted by the similarity.

Similarity is cosine with *shrinkage* (Koren 2008 / Bell and Koren 2007): a pair seen together by
only a couple of users should not look perfectly similar, so a constant is added to the
denominator,

    sim(a, b) = <x_a, x_b> / (||x_a|| ||x_b|| + shrinkage)

where x_a is a's column (item-kNN: the item over users) or row (user-kNN: the user over items) of
the interaction matrix, optionally re-weighted first with TF-IDF or BM25 (Robertson et al. 1995;
the weighting `implicit.nearest_neighbours` offers, which down-weights very active users as
"stop words"). Each row keeps its top k neighbours (ties: the smaller index wins), never itself.

Scoring, for a user u with history row h_u (n_items,) (1s, or ratings when `binary=False`):

    item-kNN:  score_u = h_u @ S_items          S_items: (n_items, n_items), row j = neighbours of j
    user-kNN:  score_u = S_users[u] @ H         S_users: (n_users, n_users), H: (n_users, n_items)

Two small knobs that win on validation (both off by default, so the plain method stays the
default): `power` raises similarities to a power q > 1 so the closest neighbours dominate (the
"locality" exponent of Aiolli 2013, "Efficient top-N recommendation for very large scale binary
rated datasets"), and item-kNN's `normalize` rescales each item's neighbour row to sum 1, so
every history item casts one vote instead of items with many strong neighbours shouting loudest.

Checked in tests/test_knn.py against a dense brute-force implementation and against
`implicit.nearest_neighbours.CosineRecommender`. Convention difference worth knowing: implicit
keeps each item *itself* (similarity 1) as one of its K neighbours, so its K equals our
k_neighbours + 1; and it L2-normalises without shrinkage.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lineage.data import Interactions
from lineage.models.base import Recommender
from lineage.topk import keep_top_k  # the top-k per row of the graph (notebook 01 imports it from here)

WEIGHTINGS = ("none", "tfidf", "bm25")


# ---- the building blocks: weighting, cosine with shrinkage, top-k per row ------------------------
def tfidf_weight(rows: sp.csr_matrix) -> sp.csr_matrix:
    """TF-IDF on a (documents x terms) matrix: tf = sqrt(value), idf = log(n_docs / (1 + df)).

    For item-kNN the documents are items and the terms are users, so a user who took half the
    catalogue says little about any pair of items. idf is clipped at 0 (a term in every document)."""
    rows = sp.csr_matrix(rows, dtype=np.float64, copy=True)
    n_docs = rows.shape[0]
    df = np.bincount(rows.indices, minlength=rows.shape[1])  # (n_terms,) documents per term
    idf = np.maximum(np.log(n_docs) - np.log1p(df), 0.0)
    rows.data = np.sqrt(rows.data) * idf[rows.indices]
    return rows


def bm25_weight(rows: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Okapi BM25 on a (documents x terms) matrix: idf as in `tfidf_weight`, term frequency
    saturated by k1 and normalised by document length with strength b (the formula of
    `implicit.nearest_neighbours.bm25_weight`)."""
    rows = sp.csr_matrix(rows, dtype=np.float64, copy=True)
    n_docs = rows.shape[0]
    df = np.bincount(rows.indices, minlength=rows.shape[1])  # (n_terms,)
    idf = np.maximum(np.log(n_docs) - np.log1p(df), 0.0)
    length = np.asarray(rows.sum(axis=1)).ravel()  # (n_docs,)
    length_norm = (1.0 - b) + b * length / max(length.mean(), 1e-12)
    doc = np.repeat(np.arange(n_docs), np.diff(rows.indptr))
    rows.data = rows.data * (k1 + 1.0) / (k1 * length_norm[doc] + rows.data) * idf[rows.indices]
    return rows


def weight(rows: sp.csr_matrix, weighting: str, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Apply one of `WEIGHTINGS` to a (documents x terms) matrix (documents = the things compared)."""
    if weighting == "none":
        return sp.csr_matrix(rows, dtype=np.float64, copy=True)
    if weighting == "tfidf":
        return tfidf_weight(rows)
    if weighting == "bm25":
        return bm25_weight(rows, k1, b)
    raise ValueError(f"unknown weighting {weighting!r}; expected one of {', '.join(WEIGHTINGS)}")


def cosine_neighbours(vectors: sp.csr_matrix, k: int, shrinkage: float = 0.0,
                      chunk_size: int | None = None) -> sp.csr_matrix:
    """(n, n) sparse matrix: row a holds a's k most similar rows of `vectors` (n, d).

    sim(a, b) = <v_a, v_b> / (||v_a|| ||v_b|| + shrinkage); only positive similarities count as
    neighbours and a row is never its own neighbour. Computed one block of rows at a time so the
    dense block stays small (chunk_size x n)."""
    vectors = sp.csr_matrix(vectors, dtype=np.float64)
    n = vectors.shape[0]
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())  # (n,)
    transposed = vectors.T.tocsc()  # (d, n)
    chunk_size = chunk_size or max(1, 4_000_000 // max(n, 1))
    out_rows, out_cols, out_vals = [], [], []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        dots = (vectors[start:stop] @ transposed).toarray()  # (c, n) co-occurrence weights
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for never-seen rows without shrinkage
            sim = dots / (norms[start:stop, None] * norms[None, :] + shrinkage)  # (c, n)
        sim[~np.isfinite(sim)] = 0.0
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0  # never your own neighbour
        r, c = np.nonzero(sim > 0)
        v = sim[r, c]
        keep = keep_top_k(r, c, v, k)
        out_rows.append(r[keep] + start)
        out_cols.append(c[keep])
        out_vals.append(v[keep])
    rows = np.concatenate(out_rows) if out_rows else np.zeros(0, dtype=np.int64)
    cols = np.concatenate(out_cols) if out_cols else np.zeros(0, dtype=np.int64)
    vals = np.concatenate(out_vals) if out_vals else np.zeros(0)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


# ---- the two models -------------------------------------------------------------------------------
@dataclass
class ItemKNNConfig:
    k_neighbours: int = 100  # neighbours kept per item (Deshpande and Karypis use 10-50; more helps on ML-100K)
    shrinkage: float = 10.0  # added to the norm product: damps similarities built on few co-occurrences
    binary: bool = True  # True: 1 per (user, item) pair; False: the summed event values (ratings) as weights
    weighting: str = "none"  # "none", "tfidf" or "bm25": re-weight the matrix before the cosine
    bm25_k1: float = 1.2  # BM25 term-frequency saturation (only for weighting="bm25")
    bm25_b: float = 0.75  # BM25 length-normalisation strength (only for weighting="bm25")
    power: float = 1.0  # similarities raised to this power: > 1 trusts the closest neighbours more
    normalize: bool = False  # rescale each item's neighbour row to sum 1: every history item casts one vote


@dataclass
class UserKNNConfig:
    k_neighbours: int = 50  # neighbours kept per user (Herlocker et al. found 20-60 a good range)
    shrinkage: float = 10.0  # added to the norm product: damps similarities built on few shared items
    binary: bool = True  # True: 1 per (user, item) pair; False: the summed event values (ratings) as weights
    weighting: str = "none"  # "none", "tfidf" or "bm25": re-weight the matrix before the cosine
    bm25_k1: float = 1.2  # BM25 term-frequency saturation (only for weighting="bm25")
    bm25_b: float = 0.75  # BM25 length-normalisation strength (only for weighting="bm25")
    power: float = 1.0  # similarities raised to this power: > 1 trusts the closest neighbours more


class ItemKNN(Recommender):
    """Item-item kNN: an item scores by how similar it is to the items in your history."""

    name = "itemknn"
    config_class = ItemKNNConfig
    # Chosen on a validation split carved from train (never test); the commands that found them:
    #   ml-100k: python benchmarks/tune_lineage.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k --models itemknn
    #   world:   python benchmarks/tune_lineage.py --dataset world --models itemknn
    TUNED: dict = {
        "ml-100k": dict(k_neighbours=300, shrinkage=50.0, binary=False, weighting="bm25", power=3.0, normalize=True),
        "world": dict(k_neighbours=300, shrinkage=50.0, binary=True, weighting="none", power=3.0, normalize=True),
    }

    def __init__(self, config: ItemKNNConfig | None = None):
        self.config = config or ItemKNNConfig()

    def _fit(self, train: Interactions) -> None:
        cfg = self.config
        self.history_ = train.to_csr(binary=cfg.binary).astype(np.float64)  # (n_users, n_items)
        item_vectors = weight(self.history_.T.tocsr(), cfg.weighting, cfg.bm25_k1, cfg.bm25_b)  # (n_items, n_users)
        similarity = cosine_neighbours(item_vectors, cfg.k_neighbours, cfg.shrinkage)  # (n_items, n_items)
        similarity.data **= cfg.power
        if cfg.normalize:
            row_sums = np.asarray(similarity.sum(axis=1)).ravel()  # (n_items,)
            similarity = sp.diags(1.0 / np.maximum(row_sums, 1e-12)) @ similarity
        self.similarity_ = sp.csr_matrix(similarity)

    def score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return (self.history_[users] @ self.similarity_).toarray().astype(np.float32)  # (len(users), n_items)


class UserKNN(Recommender):
    """User-user kNN: an item scores by how many of your most similar users took it, weighted by similarity."""

    name = "userknn"
    config_class = UserKNNConfig
    # Chosen on a validation split carved from train (never test); the commands that found them:
    #   ml-100k: python benchmarks/tune_lineage.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k --models userknn
    #   world:   python benchmarks/tune_lineage.py --dataset world --models userknn
    TUNED: dict = {
        "ml-100k": dict(k_neighbours=100, shrinkage=10.0, binary=False, weighting="bm25", power=1.0),
        "world": dict(k_neighbours=200, shrinkage=50.0, weighting="bm25", power=2.0),
    }

    def __init__(self, config: UserKNNConfig | None = None):
        self.config = config or UserKNNConfig()

    def _fit(self, train: Interactions) -> None:
        cfg = self.config
        self.history_ = train.to_csr(binary=cfg.binary).astype(np.float64)  # (n_users, n_items)
        user_vectors = weight(self.history_, cfg.weighting, cfg.bm25_k1, cfg.bm25_b)  # (n_users, n_items)
        self.similarity_ = cosine_neighbours(user_vectors, cfg.k_neighbours, cfg.shrinkage)  # (n_users, n_users)
        self.similarity_.data **= cfg.power

    def score(self, users: np.ndarray) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        return (self.similarity_[users] @ self.history_).toarray().astype(np.float32)  # (len(users), n_items)
