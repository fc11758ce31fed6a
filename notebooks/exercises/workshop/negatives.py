"""Checks and reference answers for the exercises of notebook 05 (negatives):

    05 · 1: negatives from skipped impressions
    05 · 2: mixing negatives (Yang et al. 2020)

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

import numpy as np


from workshop.checking import fail, not_answered, ok, to_numpy


# ---- 05 · 1: negatives from skipped impressions -------------------------------------------------
def reference_impression_negatives(positive_sessions, positive_items, impression_sessions, impression_items,
                                   impression_chosen, max_negatives: int) -> np.ndarray:
    """(n_positives, max_negatives): items shown in the positive's session and not chosen, in impression
    order, at most max_negatives, padded with -1."""
    positive_sessions = np.asarray(positive_sessions)
    out = np.full((len(positive_sessions), max_negatives), -1, dtype=np.int64)
    skipped = ~np.asarray(impression_chosen, dtype=bool)
    by_session: dict[int, list[int]] = {}
    for session, item in zip(np.asarray(impression_sessions)[skipped].tolist(),
                             np.asarray(impression_items)[skipped].tolist()):
        by_session.setdefault(session, []).append(item)
    for row, (session, item) in enumerate(zip(positive_sessions.tolist(), np.asarray(positive_items).tolist())):
        shown = [i for i in by_session.get(session, []) if i != item][:max_negatives]
        out[row, :len(shown)] = shown
    return out


def check_impression_negatives(negatives, positive_sessions, positive_items, impression_sessions,
                               impression_items, impression_chosen, max_negatives: int) -> bool:
    """Exercise 05 · 1: each positive's skipped impressions (same session, not chosen), padded with -1."""
    n = len(positive_sessions)
    if negatives is None:
        return not_answered(f"negatives should be an ({n}, {max_negatives}) int array: for each positive view, the "
                             "items shown in the same session and not chosen, padded with -1.")
    answer = to_numpy(negatives)
    expected = reference_impression_negatives(positive_sessions, positive_items, impression_sessions,
                                              impression_items, impression_chosen, max_negatives)
    if answer.shape != expected.shape:
        fail(f"negatives should have shape {expected.shape} (one row per positive, {max_negatives} slots); got "
              f"{answer.shape}.")
    if np.array_equal(answer.astype(np.int64), expected):
        return ok(f"negatives hold each positive's skipped impressions, {int((expected >= 0).sum())} in all.")
    positive_items = np.asarray(positive_items)
    if np.any(answer == positive_items[:, None]):
        row = int(np.argwhere(answer == positive_items[:, None])[0][0])
        fail(f"row {row} lists the positive item {int(positive_items[row])} itself as a negative: skip the items "
              "the user chose.")
    chosen_items = set(zip(np.asarray(impression_sessions)[np.asarray(impression_chosen, dtype=bool)].tolist(),
                           np.asarray(impression_items)[np.asarray(impression_chosen, dtype=bool)].tolist()))
    for row in range(n):
        for item in answer[row][answer[row] >= 0].tolist():
            if (int(np.asarray(positive_sessions)[row]), item) in chosen_items:
                fail(f"row {row} lists item {item}, which the user *chose* in that session (a second choice): "
                      "only skipped impressions (chosen == False) are negatives.")
    row = int(np.argwhere(np.any(answer != expected, axis=1))[0][0])
    fail(f"row {row}: expected {expected[row].tolist()}, got {answer[row].tolist()}. Take the impressions of the "
          f"positive's own session (session {int(np.asarray(positive_sessions)[row])}), not chosen, in the order "
          f"they were shown, keep the first {max_negatives} and pad with -1.")


# ---- 05 · 2: mixing negatives ---------------------------------------------------------------------
MIXED_UNIFORM_NEGATIVES = 256  # what exercise 05 · 2 asks for


def check_mixed_negatives(config, base) -> bool:
    """Exercise 05 · 2: `base` with 256 uniform catalogue negatives added to its loss (a SampledSoftmax), every
    other field unchanged (in-batch negatives with logQ kept; no impressions), compared field by field, the
    loss's fields included."""
    from dataclasses import fields, replace

    from twotower_mini.config import SampledSoftmax

    if config is None:
        return not_answered("mixed should be a TrainConfig whose loss has in-batch and some uniform negatives.")
    if type(config) is not type(base):
        fail(f"mixed should be a TrainConfig (twotower_mini.config), like base; got {type(config).__name__}")
    loss = config.loss
    if not isinstance(loss, SampledSoftmax):
        fail(f"Keep the loss of base, a SampledSoftmax, and add the negatives to it: loss=replace(base.loss, ...) "
             f"(got {type(loss).__name__}).")
    if not loss.in_batch:
        fail("Mixed negative sampling keeps the in-batch negatives: in_batch=True.")
    if loss.uniform_negatives != MIXED_UNIFORM_NEGATIVES:
        fail(f"Add {MIXED_UNIFORM_NEGATIVES} uniform catalogue negatives per batch to the loss: uniform_negatives="
             f"{MIXED_UNIFORM_NEGATIVES} (got {loss.uniform_negatives}).")
    if loss.logq == "none":
        fail("The in-batch negatives are drawn by popularity: keep their logQ correction (logq as in base.loss).")
    if loss.impression_negatives:
        fail("This exercise mixes in-batch and uniform negatives only: impression_negatives=0.")
    expected = replace(base, loss=replace(base.loss, uniform_negatives=MIXED_UNIFORM_NEGATIVES))
    for mine, theirs, prefix in ((config, expected, ""), (loss, expected.loss, "loss.")):
        for field in fields(theirs):
            if field.name != "loss" and getattr(mine, field.name) != getattr(theirs, field.name):
                fail(f"Change one thing only: {prefix}{field.name} is {getattr(mine, field.name)!r} where base has "
                     f"{getattr(theirs, field.name)!r} (start from dataclasses.replace(base, ...)), so the "
                     f"comparison with base measures the negatives and nothing else.")
    return ok(f"base plus {loss.uniform_negatives} uniform negatives per batch, everything else unchanged.")
