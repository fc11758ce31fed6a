"""Checks and reference answers for the exercise of notebook 09 (the loop):

    09 · 1: SNIPS and clipped IPS by hand

See `workshop/__init__.py` for how a check reports its three outcomes (`checking.py`)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from workshop.checking import NotAnswered, call_learner, diagnose, fail, not_answered, ok


# ---- the cases: each is (reward, p_new, p_old, n_requests, feed_size, cap) per shown item -------------
def _case(seed: int, m: int, n: int, feed_size: float, cap: float):
    rng = np.random.default_rng(seed)
    reward = (rng.random(m) < 0.35).astype(np.float64)
    reward[:2] = 1.0  # every case has a reward on a small and a large weight
    p_old = rng.uniform(0.02, 1.0, m)
    p_old[:2] = (0.03, 0.9)
    p_new = rng.uniform(0.0, 1.0, m) * (rng.random(m) < 0.85)  # some items the new feed never shows
    p_new[:2] = (0.6, 0.3)
    return reward, p_new, p_old, n, feed_size, cap


CASES = [
    # a small one to follow by hand: weights 2, 2, 2, 0.1 and 5
    (np.array([1.0, 0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.5, 0.2, 0.1, 0.5]), np.array([0.5, 0.25, 0.1, 1.0, 0.1]),
     2, 1.7, 3.0),
    _case(0, 40, 10, 6.5, 5.0),
    _case(1, 200, 30, 7.8, 10.0),
]


def _describe(case) -> str:
    reward, p_new, p_old, n, feed_size, cap = case
    if len(reward) > 8:
        return f"(a log of {len(reward)} shown items over {n} requests)"
    return (f"(reward={reward.tolist()}, p_new={p_new.tolist()}, p_old={p_old.tolist()}, n_requests={n}, "
            f"feed_size={feed_size}, cap={cap})")


def _library_value(estimator, case, *args) -> float:
    """An estimate by lineage.offpolicy: the items spread over n_requests requests (the value does not
    depend on which item belongs to which request)."""
    from lineage.offpolicy import OffPolicyData

    reward, p_new, p_old, n, feed_size, _ = case
    m = len(reward)
    data = OffPolicyData(request=np.arange(m) % n, reward=reward, logging=p_old, target=p_new,
                         predicted=np.zeros(m), direct=np.zeros(n), target_size=np.full(n, float(feed_size)),
                         users=np.arange(n))
    numerator, denominator = estimator(data, *args)
    return float(numerator.sum() / denominator.sum())


def reference_snips(reward, p_new, p_old, n_requests: int, feed_size: float) -> float:
    """SNIPS likes per feed (lineage.offpolicy.snips): feed_size * sum(r w) / sum(w), w = p_new / p_old."""
    from lineage.offpolicy import snips

    return _library_value(snips, (np.asarray(reward, float), np.asarray(p_new, float), np.asarray(p_old, float),
                                  int(n_requests), float(feed_size), None))


def reference_clipped_ips(reward, p_new, p_old, n_requests: int, cap: float) -> float:
    """Clipped IPS likes per feed (lineage.offpolicy.clipped_ips): sum(r min(w, cap)) / n_requests."""
    from lineage.offpolicy import clipped_ips

    return _library_value(clipped_ips, (np.asarray(reward, float), np.asarray(p_new, float), np.asarray(p_old, float),
                                        int(n_requests), 1.0, None), float(cap))


def _number(got, name: str) -> float:
    try:
        value = float(got)
    except (TypeError, ValueError):
        fail(f"{name} should return one number (likes per feed); got {type(got).__name__}.")
    return value


# ---- 09 · 1a: SNIPS ------------------------------------------------------------------------------------
def _snips_mistakes(reward, p_new, p_old, n, feed_size):
    w = p_new / p_old
    with np.errstate(divide="ignore", invalid="ignore"):
        inverted = np.where(p_new > 0, p_old / np.where(p_new > 0, p_new, 1.0), np.inf)
    finite = np.isfinite(inverted).all()
    return [
        ((reward * w).sum() / n,
         "That is plain IPS: you divided by the number of requests. SNIPS divides by the weights' own sum "
         "(and multiplies by the new feed's size): feed_size * sum(r * w) / sum(w)."),
        (feed_size * (reward * inverted).sum() / inverted.sum() if finite else None,
         "Your weights are upside down: w = p_new / p_old, the new policy's probability over the logged "
         "propensity (the log is re-weighted towards the new policy)."),
        ((reward * w).sum() / w.sum(),
         "That is likes per shown item, not per feed: sum(r * w) / sum(w) is a weighted like rate. Multiply it "
         "by feed_size, the number of items the new feed shows on average."),
        (feed_size * (reward * w).sum() / len(reward),
         "You divided by the number of shown items; SNIPS divides by the sum of the weights, sum(w)."),
    ]


def check_snips(my_snips: Callable | None) -> bool:
    """Exercise 09 · 1a: my_snips(reward, p_new, p_old, n_requests, feed_size) -> likes per feed."""
    hint = "write my_snips(reward, p_new, p_old, n_requests, feed_size): feed_size * sum(r * w) / sum(w)."
    if my_snips is None:
        return not_answered(hint)
    for case in CASES:
        reward, p_new, p_old, n, feed_size, _ = case
        try:
            got = call_learner(my_snips, "my_snips", reward.copy(), p_new.copy(), p_old.copy(), n, feed_size)
        except NotAnswered:
            return not_answered(hint)
        got = _number(got, "my_snips")
        expected = reference_snips(reward, p_new, p_old, n, feed_size)
        if not np.isfinite(got):
            fail(f"my_snips{_describe(case)} returned {got}. Did you divide by p_new? The new feed never shows "
                 "some logged items (p_new = 0): the weight is w = p_new / p_old, with the logged propensity "
                 "(always > 0) below.")
        if abs(got - expected) > 1e-9 * max(1.0, abs(expected)):
            mistakes = [(None if v is None else np.array(v), text)
                        for v, text in _snips_mistakes(reward, p_new, p_old, n, feed_size)]
            diagnosis = diagnose(np.array(got), mistakes)
            fail(f"my_snips{_describe(case)} returned {got:.6f}, expected {expected:.6f}."
                 f"{diagnosis or ' SNIPS = feed_size * sum(r * w) / sum(w), with w = p_new / p_old.'}")
    return ok(f"my_snips agrees with lineage.offpolicy.snips on {len(CASES)} logs.")


# ---- 09 · 1b: clipped IPS ------------------------------------------------------------------------------
def _clipped_mistakes(reward, p_new, p_old, n, cap):
    w = p_new / p_old
    return [
        ((reward * w).sum() / n,
         "Nothing was clipped: that is plain IPS. Cap each weight w = p_new / p_old at `cap`. (Clipping a "
         "propensity at the cap changes nothing: a probability is at most 1.)"),
        ((reward * p_new / np.maximum(p_old, 1.0 / cap)).sum() / n,
         "You clipped the propensity (p_old raised to at least 1 / cap) instead of the weight: then "
         "w <= cap * p_new, not w <= cap, and the two agree only where p_new = 1. Clip the weight itself: "
         "np.minimum(p_new / p_old, cap)."),
        ((reward * np.maximum(w, cap)).sum() / n,
         "You clipped from below: np.maximum(w, cap) raises every weight to at least the cap. Clipping caps "
         "large weights from above: np.minimum(w, cap)."),
        ((reward * np.minimum(w, cap)).sum() / np.minimum(w, cap).sum(),
         "You divided by the clipped weights' sum (self-normalising); clipped IPS divides by the number of "
         "requests, n_requests."),
    ]


def check_clipped_ips(my_clipped_ips: Callable | None) -> bool:
    """Exercise 09 · 1b: my_clipped_ips(reward, p_new, p_old, n_requests, cap) -> likes per feed."""
    hint = "write my_clipped_ips(reward, p_new, p_old, n_requests, cap): sum(r * min(w, cap)) / n_requests."
    if my_clipped_ips is None:
        return not_answered(hint)
    for case in CASES:
        reward, p_new, p_old, n, _, cap = case
        try:
            got = call_learner(my_clipped_ips, "my_clipped_ips", reward.copy(), p_new.copy(), p_old.copy(), n, cap)
        except NotAnswered:
            return not_answered(hint)
        got = _number(got, "my_clipped_ips")
        expected = reference_clipped_ips(reward, p_new, p_old, n, cap)
        if abs(got - expected) > 1e-9 * max(1.0, abs(expected)):
            mistakes = [(np.array(v), text) for v, text in _clipped_mistakes(reward, p_new, p_old, n, cap)]
            diagnosis = diagnose(np.array(got), mistakes)
            fail(f"my_clipped_ips{_describe(case)} returned {got:.6f}, expected {expected:.6f}."
                 f"{diagnosis or ' Clipped IPS = sum(r * min(p_new / p_old, cap)) / n_requests.'}")
    return ok(f"my_clipped_ips agrees with lineage.offpolicy.clipped_ips on {len(CASES)} logs.")
