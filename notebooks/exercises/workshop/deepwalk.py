"""Checks and reference answers for the exercises of notebook 03b (DeepWalk):

    03b · 1: one step of a weighted random walk

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

from workshop.checking import NotAnswered, call_learner, fail, not_answered, ok


# ---- 03b · 1: one step of a weighted random walk ----------------------------------------------------
def reference_walk_step(graph: sp.csr_matrix, node: int, u: float) -> int:
    """The neighbour of `node` whose slice of [0, 1) contains u, slices proportional to edge weights
    in CSR order (lineage.models.deepwalk.random_walks draws the same way); -1 without out-edges."""
    graph = sp.csr_matrix(graph)
    lo, hi = graph.indptr[node], graph.indptr[node + 1]
    weights = graph.data[lo:hi].astype(np.float64)
    if hi == lo or weights.sum() <= 0:
        return -1
    cumulative = np.cumsum(weights)
    position = min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), hi - lo - 1)
    return int(graph.indices[lo + position])


def walk_graph_example() -> sp.csr_matrix:
    """A 5-node weighted graph with integer weights and one dead end (node 4)."""
    rows = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3]
    cols = [1, 2, 3, 0, 4, 0, 1, 3, 4, 2]
    weights = [1.0, 2.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0, 5.0, 2.0]
    return sp.csr_matrix((weights, (rows, cols)), shape=(5, 5))


def _walk_variant(graph: sp.csr_matrix, node: int, u: float, mistake: str) -> int:
    """The classic wrong versions of a walk step, to recognise them."""
    lo, hi = graph.indptr[node], graph.indptr[node + 1]
    if hi == lo:
        return -1
    neighbours, weights = graph.indices[lo:hi], graph.data[lo:hi]
    if mistake == "uniform":
        return int(neighbours[min(int(u * len(neighbours)), len(neighbours) - 1)])
    cumulative = np.cumsum(weights)
    side = "left" if mistake == "boundary" else "right"
    position = min(int(np.searchsorted(cumulative, u * cumulative[-1], side=side)), len(neighbours) - 1)
    return position if mistake == "position" else int(neighbours[position])


def check_walk_step(walk_step: Callable | None) -> bool:
    """Exercise 03 · 1: walk_step(graph, node, u) -> the next node (an id), -1 at a dead end."""
    hint = ("write walk_step(graph, node, u): the neighbour whose share of [0, 1) contains u, shares "
            "proportional to the edge weights; -1 if the node has no out-edges.")
    if walk_step is None:
        return not_answered(hint)
    graph = walk_graph_example()
    draws = [0.0, 0.1, 0.24, 0.25, 0.49, 0.5, 0.74, 0.75, 0.9, 0.999]  # 0.25, 0.5, 0.75 fall on boundaries
    cases = [(node, u) for node in range(graph.shape[0]) for u in draws]
    got = []
    for node, u in cases:
        try:
            answer = call_learner(walk_step, "walk_step", graph, node, u)
        except NotAnswered:
            return not_answered(hint)
        try:
            got.append(int(answer))
        except (TypeError, ValueError):
            fail(f"walk_step should return a node id (an int); got {type(answer).__name__}.")
    expected = [reference_walk_step(graph, node, u) for node, u in cases]
    if got == expected:
        return ok(f"walk_step picks the right neighbour for {len(cases)} (node, u) pairs, boundaries and the "
                   "dead end included.")
    wrong = [index for index in range(len(cases)) if got[index] != expected[index]]
    node, u = cases[wrong[0]]
    lo, hi = graph.indptr[node], graph.indptr[node + 1]
    neighbours, weights = graph.indices[lo:hi].tolist(), graph.data[lo:hi].tolist()
    where = f"walk_step(graph, node={node}, u={u:g}) returned {got[wrong[0]]}, expected {expected[wrong[0]]}"
    if all(expected[index] == -1 for index in wrong):
        fail(f"{where}: node {node} has no out-edges (an empty CSR row), so the walk stops there: return -1.")
    for mistake, explanation in [
        ("position", "you returned the *position* in the row; return the node id, "
                     "graph.indices[graph.indptr[node] + position]."),
        ("uniform", f"that is a uniform choice among the neighbours. Draw in proportion to the weights "
                    f"{weights} of {neighbours}: cumulative sums, then the first one above u * total."),
        ("boundary", "u * total lies exactly on a boundary of the cumulative weights "
                     f"{np.cumsum(weights).tolist()}. Each neighbour owns a half-open slice [start, end), so a value "
                     "equal to an end belongs to the *next* neighbour: take the first cumulative weight strictly "
                     "greater than u * total (np.searchsorted(..., side='right'))."),
    ]:
        if got == [_walk_variant(graph, n, v, mistake) for n, v in cases]:
            fail(f"{where}: {explanation}")
    fail(f"{where}. Neighbours {neighbours} with weights {weights}: take the first neighbour whose cumulative "
          "weight is strictly greater than u * total weight.")
