"""DeepWalk on the co-visitation graph: weighted random walks, then skip-gram with negative sampling.

Papers:
- Perozzi, Al-Rfou and Skiena 2014, "DeepWalk: Online Learning of Social Representations": treat
  short random walks over a graph as sentences and learn node vectors with word2vec.
- Mikolov et al. 2013, "Distributed Representations of Words and Phrases and their
  Compositionality": skip-gram with negative sampling (SGNS), the unigram^0.75 noise
  distribution, subsampling of frequent words, and (in the word2vec code) the dynamic window.
- Grover and Leskovec 2016, "node2vec": our walks are node2vec's with p = q = 1, i.e. a first
  order walk whose next step is drawn in proportion to the edge weights.

The pipeline, each step a function below and tested against a slow version in tests/test_graph.py:

1. graph: the co-visitation graph of `lineage.models.covisit` (training data only), edge weight
   c_ij / (c_i * c_j) ** edge_power (0 = raw co-visit counts, 0.5 = cosine), top-N per item.
2. walks: `walks_per_node` walks of `walk_length` nodes from every item with an edge. All walkers
   step at once: for walker at node v, draw u ~ U(0, total weight of v) and binary-search u in
   the cumulative weights of v's CSR row (one `np.searchsorted` over the whole graph).
3. per epoch: drop frequent nodes from the walks with probability 1 - sqrt(t / f(v)) (f = share
   of the walk corpus; the paper's formula), sample a window b in 1..window per centre position
   (word2vec's dynamic window, which weights near neighbours more), emit (centre, context) pairs.
4. SGNS: separate input (centre) and output (context) tables; for each pair and K noise nodes n
   drawn from P(v) ∝ count(v)^0.75,
       loss = -log σ(in_c · out_o) - sum_k log σ(-in_c · out_n_k),
   minimised with SparseAdam on sparse embedding gradients, or with plain Adam (dense gradients
   are cheaper than sparse bookkeeping for a catalogue of a few thousand items).
5. recommend: item vectors are the unit input vectors, or the normalised sum of the unit input
   and output vectors (w + c, which Levy, Goldberg and Dagan 2015, "Improving distributional
   similarity with lessons learned from word embeddings", found better for similarity). A user
   is scored against item j by the mean cosine similarity of j to their history items, plus a
   popularity prior:

       score(u, j) = mean_{i in H(u)} w_i cos(v_i, v_j) + popularity_weight * log(1 + n_j)

   (w_i = 1, or a recency decay; n_j = training events of j). The mean of cosines is the dot
   product of v_j with the mean of the history's unit vectors, so it costs one matrix product.
   The prior matters because SGNS factorises a *shifted PMI* matrix (Levy and Goldberg 2014),
   from which item popularity has been divided out, while top-k metrics reward popular items.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from lineage.data import Interactions
from lineage.models.base import Recommender
from lineage.models.covisit import covisitation_counts, relatedness, top_n_per_row


@dataclass
class DeepWalkConfig:
    # the graph (see lineage.models.covisit)
    window_seconds: float | None = None  # co-visit window; None = the whole user history
    edge_power: float = 0.5  # edge weight c_ij / (c_i c_j)^edge_power: 0 raw counts, 0.5 cosine, 1 YouTube 2010
    n_neighbours: int = 20  # keep the top-N edges of every item
    # the walks
    walks_per_node: int = 10  # DeepWalk's gamma: walks started from every item with an edge
    walk_length: int = 40  # DeepWalk's t: nodes per walk (shorter if a walk hits a dead end)
    # skip-gram with negative sampling
    window: int = 3  # max context distance; the actual one is drawn in 1..window per centre
    dim: int = 128  # embedding size of both tables
    negatives: int = 5  # noise nodes per (centre, context) pair
    neg_exponent: float = 0.75  # noise distribution ∝ count^neg_exponent (Mikolov et al. 2013)
    subsample: float = 1e-3  # t in keep probability min(1, sqrt(t / f)); 0 turns subsampling off
    epochs: int = 2  # passes over the walk corpus (new subsampling, windows, negatives each time)
    lr: float = 0.01  # Adam / SparseAdam learning rate
    sparse: bool = False  # True: sparse gradients + SparseAdam (large catalogues); False: dense Adam (faster when small)
    batch_size: int = 4096  # (centre, context) pairs per step
    seed: int = 0  # seeds numpy (walks, subsampling, windows, shuffling, negatives) and torch (initialisation)
    threads: int | None = 1  # torch threads while training (tiny ops lose time to more); None: leave as is
    # recommending
    vectors: str = "input+output"  # item vectors: "input" (unit input) or "input+output" (unit w + unit c, normalised)
    popularity_weight: float = 0.15  # lambda in score = mean cosine + lambda * log(1 + item count)
    recency_half_life_days: float | None = None  # weigh each history item by 0.5^(age / half-life); None: equal


# ---- 1-2: the graph and the walks --------------------------------------------------------------
def walk_graph(train: Interactions, config: DeepWalkConfig) -> sp.csr_matrix:
    """(n_items, n_items) CSR of edge weights c_ij / (c_i c_j)^edge_power, top n_neighbours per row."""
    counts = covisitation_counts(train, config.window_seconds)
    item_counts = np.asarray(train.to_csr(binary=True).sum(axis=0)).ravel()
    weights = relatedness(counts, item_counts, config.edge_power, config.edge_power)
    return top_n_per_row(weights, config.n_neighbours)


def random_walks(graph: sp.csr_matrix, starts: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """(len(starts), length) int64 weighted random walks; a walk that reaches a node without
    out-edges stops there and the rest of its row is -1.

    The next node of a walker at v is indices[k] for the first k in v's row with
    cumulative[k] > cumulative_before_row[v] + u * row_total[v], u ~ U(0, 1)."""
    graph = graph.tocsr()
    indptr, indices = graph.indptr, graph.indices
    cumulative = np.cumsum(graph.data, dtype=np.float64)  # (nnz,) running sum over the whole matrix
    before_row = np.r_[0.0, cumulative][indptr[:-1]]  # (n,) weight of all earlier rows
    row_total = np.r_[0.0, cumulative][indptr[1:]] - before_row  # (n,) out-weight of every node
    walks = np.full((len(starts), length), -1, dtype=np.int64)
    walks[:, 0] = starts
    alive = np.flatnonzero(row_total[starts] > 0)  # walkers that can still move
    for step in range(1, length):
        if len(alive) == 0:
            break
        here = walks[alive, step - 1]
        target = before_row[here] + rng.random(len(alive)) * row_total[here]
        k = np.searchsorted(cumulative, target, side="right")
        k = np.clip(k, indptr[here], indptr[here + 1] - 1)  # guard against float round-off at row ends
        walks[alive, step] = indices[k]
        alive = alive[row_total[walks[alive, step]] > 0]
    return walks


# ---- 3: the skip-gram corpus ----------------------------------------------------------------------
def node_counts(walks: np.ndarray, n_nodes: int) -> np.ndarray:
    """(n_nodes,) occurrences of every node in the walks (padding -1 ignored)."""
    return np.bincount(walks[walks >= 0], minlength=n_nodes)


def negative_distribution(counts: np.ndarray, exponent: float = 0.75) -> np.ndarray:
    """(n_nodes,) noise probabilities P(v) ∝ counts[v]^exponent (unseen nodes get 0)."""
    weights = np.where(counts > 0, np.asarray(counts, dtype=np.float64) ** exponent, 0.0)
    return weights / weights.sum()


def sample_negatives(noise_cdf: np.ndarray, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Node ids of the given shape drawn from the distribution whose cumulative sum is noise_cdf."""
    draws = np.searchsorted(noise_cdf, rng.random(shape) * noise_cdf[-1], side="right")
    return np.minimum(draws, len(noise_cdf) - 1)  # guard against float round-off at the top


def keep_probability(counts: np.ndarray, threshold: float) -> np.ndarray:
    """(n_nodes,) probability of keeping an occurrence: min(1, sqrt(threshold / f)), f = counts / total.

    Mikolov et al. 2013 discard a word with probability 1 - sqrt(t / f); threshold 0 keeps all."""
    counts = np.asarray(counts, dtype=np.float64)
    if threshold <= 0:
        return np.ones_like(counts)
    freq = counts / counts.sum()
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, np.sqrt(threshold / freq))


def subsample(walks: np.ndarray, keep_prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The walks with each node occurrence dropped with probability 1 - keep_prob[node], the
    survivors moved left (so the window spans the gaps, as in word2vec), padded with -1."""
    valid = walks >= 0
    keep = valid & (rng.random(walks.shape) < keep_prob[np.where(valid, walks, 0)])
    order = np.argsort(~keep, axis=1, kind="stable")  # kept positions first, in walk order
    out = np.take_along_axis(walks, order, axis=1)
    out[np.arange(walks.shape[1])[None, :] >= keep.sum(axis=1, keepdims=True)] = -1
    return out


def skipgram_pairs(walks: np.ndarray, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) pairs: context within spans[w, p] positions of centre walks[w, p].

    walks: (n_walks, length) with -1 padding; spans: (n_walks, length) ints >= 1 (the dynamic
    window of each centre). Returns two (n_pairs,) arrays, grouped by distance d = 1, 2, ..."""
    centres, contexts = [], []
    for d in range(1, int(spans.max(initial=0)) + 1):
        for c_slice, o_slice in ((np.s_[:, :-d], np.s_[:, d:]), (np.s_[:, d:], np.s_[:, :-d])):
            c, o = walks[c_slice], walks[o_slice]  # centre at p, context at p + d (then p - d)
            ok = (c >= 0) & (o >= 0) & (spans[c_slice] >= d)
            centres.append(c[ok])
            contexts.append(o[ok])
    if not centres:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(centres), np.concatenate(contexts)


# ---- 4: skip-gram with negative sampling -----------------------------------------------------------
class SkipGram(nn.Module):
    """Two embedding tables: `inputs` for centres (the node vectors we keep), `outputs` for contexts."""

    def __init__(self, n_nodes: int, dim: int, sparse: bool = True):
        super().__init__()
        self.inputs = nn.Embedding(n_nodes, dim, sparse=sparse)
        self.outputs = nn.Embedding(n_nodes, dim, sparse=sparse)
        nn.init.uniform_(self.inputs.weight, -0.5 / dim, 0.5 / dim)  # word2vec's initialisation
        nn.init.zeros_(self.outputs.weight)

    def forward(self, centre: torch.Tensor, context: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Mean SGNS loss. centre, context: (B,) node ids; noise: (B, K) node ids."""
        v = self.inputs(centre)  # (B, dim)
        positive = (v * self.outputs(context)).sum(-1)  # (B,)
        negative = (self.outputs(noise) * v.unsqueeze(1)).sum(-1)  # (B, K); faster than bmm at these shapes
        loss = -nn.functional.logsigmoid(positive) - nn.functional.logsigmoid(-negative).sum(-1)
        return loss.mean()


def train_skipgram(walks: np.ndarray, n_nodes: int, config: DeepWalkConfig,
                   rng: np.random.Generator) -> tuple[SkipGram, list[float]]:
    """Fit SGNS on the walks; returns the model and the mean training loss of every epoch."""
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _train_skipgram(walks, n_nodes, config, rng)
    finally:
        torch.set_num_threads(previous_threads)


def _train_skipgram(walks: np.ndarray, n_nodes: int, config: DeepWalkConfig,
                    rng: np.random.Generator) -> tuple[SkipGram, list[float]]:
    torch.manual_seed(config.seed)
    counts = node_counts(walks, n_nodes)
    noise_cdf = np.cumsum(negative_distribution(counts, config.neg_exponent))  # (n_nodes,)
    keep_prob = keep_probability(counts, config.subsample)
    model = SkipGram(n_nodes, config.dim, sparse=config.sparse)
    optimiser = (torch.optim.SparseAdam if config.sparse else torch.optim.Adam)(model.parameters(), lr=config.lr)
    history = []
    for _ in range(config.epochs):
        corpus = subsample(walks, keep_prob, rng)
        spans = rng.integers(1, config.window + 1, size=corpus.shape)  # dynamic window per centre
        centres, contexts = skipgram_pairs(corpus, spans)
        order = rng.permutation(len(centres))
        centres, contexts = torch.from_numpy(centres[order]), torch.from_numpy(contexts[order])
        total, n_seen = 0.0, 0
        for start in range(0, len(centres), config.batch_size):
            c = centres[start:start + config.batch_size]  # (B,)
            o = contexts[start:start + config.batch_size]  # (B,)
            noise = torch.from_numpy(sample_negatives(noise_cdf, (len(c), config.negatives), rng))  # (B, K)
            loss = model(c, o, noise)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(c)
            n_seen += len(c)
        history.append(total / max(n_seen, 1))
    return model, history


# ---- 5: the recommender -------------------------------------------------------------------------
class DeepWalk(Recommender):
    """Items embedded by DeepWalk on the co-visitation graph; users scored by their history's vectors."""

    name = "deepwalk"
    config_class = DeepWalkConfig
    # chosen on a validation split carved from train (never test) by
    #   python benchmarks/tune_graph.py --dataset ml-100k --data-dir ../shared/datasets/ml-100k --models deepwalk
    #   python benchmarks/tune_graph.py --dataset world --models deepwalk
    TUNED: dict = {
        "ml-100k": {"n_neighbours": 20, "popularity_weight": 0.15, "dim": 128, "window": 3,
                    "vectors": "input+output", "epochs": 2},  # validation ndcg@10 0.1573 (per-item protocol)
        "world": {"window_seconds": None, "n_neighbours": 50, "popularity_weight": 0.1, "epochs": 2, "window": 3,
                  "recency_half_life_days": None},  # validation ndcg@10 0.2046 (temporal protocol)
    }

    def __init__(self, config: DeepWalkConfig | None = None):
        self.config = config or DeepWalkConfig()

    def _fit(self, train: Interactions) -> None:
        config = self.config
        rng = np.random.default_rng(config.seed)
        self.graph_ = walk_graph(train, config)  # (n_items, n_items)
        has_edges = np.flatnonzero(np.diff(self.graph_.indptr) > 0)
        starts = np.repeat(has_edges, config.walks_per_node)
        walks = random_walks(self.graph_, rng.permutation(starts), config.walk_length, rng)
        self.model_, self.loss_history_ = train_skipgram(walks, train.n_items, config, rng)
        in_walks = node_counts(walks, train.n_items) > 0  # (n_items,) the others were never trained
        with torch.no_grad():
            inputs = _unit(self.model_.inputs.weight.numpy())  # (n_items, dim)
            outputs = _unit(self.model_.outputs.weight.numpy())  # (n_items, dim)
        if config.vectors == "input":
            vectors = inputs
        elif config.vectors == "input+output":
            vectors = _unit(inputs + outputs)
        else:
            raise ValueError(f"vectors must be 'input' or 'input+output', got {config.vectors!r}")
        self.item_vectors_ = (vectors * in_walks[:, None]).astype(np.float32)  # (n_items, dim), 0 if untrained
        self.history_weights_ = self._history_weights(train)  # (n_users, n_items)
        self.prior_ = (config.popularity_weight * np.log1p(train.item_counts())).astype(np.float32)  # (n_items,)

    def _history_weights(self, train: Interactions) -> sp.csr_matrix:
        """(n_users, n_items) weight of every history item in the user vector (1, or recency-decayed)."""
        half_life = self.config.recency_half_life_days
        if half_life is None or len(train) == 0:
            return self.seen_.astype(np.float32)
        last = np.full(train.n_users, -np.inf)
        np.maximum.at(last, train.users, train.times)
        weight = 0.5 ** ((last[train.users] - train.times) / (half_life * 86400.0))
        matrix = sp.csr_matrix((weight, (train.users, train.items)), shape=(train.n_users, train.n_items))
        matrix.sum_duplicates()  # a repeated item counts with the sum of its weights
        return matrix.astype(np.float32)

    def user_vectors(self, users: np.ndarray) -> np.ndarray:
        """(len(users), dim) weighted mean of the users' unit item vectors (0 for an empty history)."""
        weights = self.history_weights_[np.asarray(users, dtype=np.int64)]  # (len(users), n_items)
        totals = np.asarray(weights.sum(axis=1)).ravel()  # (len(users),)
        return np.asarray(weights @ self.item_vectors_) / np.maximum(totals, 1e-12)[:, None]

    def score(self, users: np.ndarray) -> np.ndarray:
        similarity = self.user_vectors(users) @ self.item_vectors_.T  # (len(users), n_items) mean cosine
        return (similarity + self.prior_).astype(np.float32)


def _unit(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
