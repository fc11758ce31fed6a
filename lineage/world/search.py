"""Search sessions: the user types 1-3 words from the vocabulary of a genre they like, and the
engine returns released items sharing the most words with the query (equal matches: buzzier
first), from an index that keeps each word's buzziest items."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lineage.world.population import WordVocabulary
from lineage.world.truth import World


def make_queries(world: World, rng, vocab: WordVocabulary, users: np.ndarray, times: np.ndarray,
                  session_ids: np.ndarray) -> dict:
    """Every search (sessions `session_ids` of `users` at `times`): the user picks a genre they like
    (softmax of search_focus * taste) and types 1-3 words of its vocabulary. Returns the searches
    table plus a (n, n_words) query matrix."""
    cfg = world.config
    n = len(session_ids)
    intent = cfg.search_focus * world.taste[users]  # (n, g)
    genre = np.argmax(intent + rng.gumbel(size=intent.shape), axis=1)  # (n,)
    n_words = rng.integers(1, 4, n)
    distinct = np.argsort(rng.random((n, vocab.genre_word_ids.shape[1])), axis=1)[:, :3]  # 3 distinct words
    word_ids = vocab.genre_word_ids[genre[:, None], distinct]  # (n, 3)
    in_query = np.arange(3)[None, :] < n_words[:, None]  # (n, 3)
    query_matrix = sp.csr_matrix((np.ones(in_query.sum(), np.float32),
                                  (np.repeat(np.arange(n), n_words), word_ids[in_query])), shape=(n, len(vocab)))
    words = vocab.words[word_ids]  # (n, 3) str
    query = words[:, 0]
    for j in (1, 2):
        query = np.where(in_query[:, j], np.char.add(np.char.add(query, " "), words[:, j]), query)
    return {"user": users, "time": times,
            "session": session_ids.astype(np.int64), "query": query, "query_matrix": query_matrix}


def build_search_index(words_by_buzz: sp.csr_matrix, depth: int) -> sp.csr_matrix:
    """Keep, for each word, only the `depth` buzziest items containing it (rows are in buzz order)."""
    by_word = words_by_buzz.tocsc()
    by_word.sort_indices()
    word_of_entry = np.repeat(np.arange(by_word.shape[1]), np.diff(by_word.indptr))
    position = np.arange(by_word.nnz) - by_word.indptr[word_of_entry]  # rank within the word's items
    by_word.data[position >= depth] = 0.0
    by_word.eliminate_zeros()
    return by_word.tocsr()


def search_result_candidates(world, query_matrix: sp.csr_matrix, released: np.ndarray,
                       by_buzz: np.ndarray, words_by_buzz: sp.csr_matrix) -> np.ndarray:
    """(b, 2 * search_results) released items sharing the most words with each query, best first
    (equal matches: buzzier first), -1 padded. Spares replace results the user already viewed.

    by_buzz: item indices, buzziest first; words_by_buzz: the item x word matrix in that order.
    Columns of the match matrix are then buzz ranks, so within a row they are already in
    tie-break order and no sort over all matches is needed."""
    n_candidates = 2 * world.config.search_results
    b = query_matrix.shape[0]
    matches = (query_matrix @ words_by_buzz.T).tocsr()  # (b, n_items) shared words, columns = buzz rank
    matches.sort_indices()
    rows = np.repeat(np.arange(b), np.diff(matches.indptr))
    ranks, n_shared = matches.indices, matches.data
    ok = released[by_buzz[ranks]]
    rows, ranks, n_shared = rows[ok], ranks[ok], n_shared[ok]
    slot = np.empty(len(rows), dtype=np.int64)
    placed = np.zeros(b, dtype=np.int64)  # results already placed per query
    for shared in (3, 2, 1):  # queries have at most 3 words: most shared words first
        level = n_shared == shared
        level_rows = rows[level]  # ascending
        first_of_row = np.searchsorted(level_rows, np.arange(b))
        slot[level] = placed[level_rows] + np.arange(len(level_rows)) - first_of_row[level_rows]
        placed += np.bincount(level_rows, minlength=b)
    keep = slot < n_candidates
    out = np.full((b, n_candidates), -1, dtype=np.int64)
    out[rows[keep], slot[keep]] = by_buzz[ranks[keep]]
    return out
