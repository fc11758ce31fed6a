"""Checks and reference answers for the exercises of notebook 00 (the content app and how we evaluate):

    00 · 1: nDCG@k

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from workshop.checking import NotAnswered, call_learner, diagnose, fail, not_answered, ok


# ---- 00 · 1: nDCG@k -----------------------------------------------------------------------------
def reference_ndcg(ranked, relevant, k: int) -> float:
    """nDCG@k with binary gains (lineage.metrics.ndcg_at_k)."""
    from lineage.metrics import ndcg_at_k

    return ndcg_at_k(ranked, relevant, k)


NDCG_CASES = [  # (ranked, relevant, k): each case catches a different mistake
    (["a", "b", "c", "d", "e"], {"b", "e", "z"}, 5),  # notebook 00's example: hits at ranks 2 and 5
    (["a", "b", "c"], {"a"}, 3),  # a hit at rank 1: the discount of rank 1 is 1 / log2(2) = 1
    (list("abcdefghij"), set("acxyzuvwst"), 5),  # 10 relevant items, k = 5: the ideal has 5 hits, not 10
    (list("abcdefgh"), {"g", "q"}, 5),  # the only hit is below the cut-off: nDCG@5 = 0
    (["x", "y"], {"p"}, 5),  # no hit at all
    (["p", "q", "r"], {"p", "q", "r"}, 10),  # a short, perfect list: 1.0
]


def _ndcg_variant(ranked, relevant, k, ideal_over_all=False, no_cutoff=False, ideal_over_k=False) -> float:
    relevant = set(relevant)
    shown = list(ranked) if no_cutoff else list(ranked)[:k]
    dcg = sum(1.0 / np.log2(j + 2) for j, item in enumerate(shown) if item in relevant)
    n_ideal = len(relevant) if ideal_over_all else (k if ideal_over_k else min(len(relevant), k))
    idcg = sum(1.0 / np.log2(j + 2) for j in range(n_ideal))
    return dcg / idcg if idcg > 0 else 0.0


def check_ndcg(my_ndcg_at_k: Callable | None) -> bool:
    """Exercise 00 · 1: my_ndcg_at_k(ranked, relevant, k) -> float."""
    hint = "write my_ndcg_at_k(ranked, relevant, k): DCG of the first k items over the ideal DCG."
    if my_ndcg_at_k is None:
        return not_answered(hint)
    for ranked, relevant, k in NDCG_CASES:
        try:
            got = call_learner(my_ndcg_at_k, "my_ndcg_at_k", list(ranked), set(relevant), k)
        except NotAnswered:
            return not_answered(hint)
        expected = reference_ndcg(ranked, relevant, k)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail(f"my_ndcg_at_k should return a number; got {type(got).__name__}.")
        if not np.isfinite(got):
            fail(f"my_ndcg_at_k{(ranked, sorted(relevant), k)} returned {got}. A rank-1 hit is discounted by "
                  "1 / log2(1 + 1) = 1: with ranks counted from 1 the discount is log2(rank + 1), "
                  "with Python's 0-based positions j it is log2(j + 2).")
        if abs(got - expected) > 1e-9:
            mistakes = [
                (_ndcg_variant(ranked, relevant, k, ideal_over_all=True),
                 "Your ideal DCG sums over all relevant items; the ideal list has only k slots, so sum over "
                 "min(|relevant|, k) of them."),
                (_ndcg_variant(ranked, relevant, k, ideal_over_k=True),
                 "Your ideal DCG always has k hits; a user with fewer relevant items than k can have at most "
                 "|relevant| hits: sum over min(|relevant|, k)."),
                (_ndcg_variant(ranked, relevant, k, no_cutoff=True),
                 "You counted hits below rank k: only the first k items of the list count."),
            ]
            diagnosis = diagnose(np.array(got), [(np.array(value), text) for value, text in mistakes])
            fail(f"my_ndcg_at_k(ranked={list(ranked)}, relevant={sorted(relevant)}, k={k}) returned {got:.6f}, "
                  f"expected {expected:.6f}.{diagnosis or ' Check the discount 1 / log2(rank + 1), ranks counted from 1, and the ideal DCG over min(|relevant|, k) hits.'}")
    return ok(f"my_ndcg_at_k agrees with lineage.metrics.ndcg_at_k on {len(NDCG_CASES)} cases, "
               "including more relevant items than k and hits below the cut-off.")
