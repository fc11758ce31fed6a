"""The exercises of notebooks 03a (co-visitation relatedness) and 08 (a recency window chosen on
validation by time): each check passes the right answer, says "not answered" to a missing one, and
fails each named mistake with its message. Small synthetic logs only: no MovieLens, no twotower_mini."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from lineage.data import Interactions
from lineage.metrics import evaluate_lists, ndcg_at_k, users_with_test_events
from lineage.models.popularity import Popularity, RecentPopularity, RecentPopularityConfig
from lineage.splits import Split, split, validation_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks" / "exercises"))
from workshop import covisitation_graphs as covisit03a  # noqa: E402
from workshop import real_data_through_time as time08  # noqa: E402


def passes(check, *args, capsys):
    assert check(*args) is True
    assert "[ OK ]" in capsys.readouterr().out


def not_answered(check, *args, capsys):
    assert check(*args) is False
    assert "[ .. ] not answered yet:" in capsys.readouterr().out


def fails(check, *args, hint: str) -> str:
    """The check raises AssertionError, its message starts with [FAIL] and contains the hint."""
    with pytest.raises(AssertionError) as error:
        check(*args)
    message = str(error.value)
    assert message.startswith("[FAIL]"), message
    assert hint.lower() in message.lower(), f"expected {hint!r} in: {message}"
    return message


# ---- 03a · 1: from co-visitation counts to relatedness -----------------------------------------------
def _log(users, items, times, n_users, n_items) -> Interactions:
    return Interactions(users=np.array(users), items=np.array(items), times=np.array(times, dtype=float),
                        values=np.ones(len(users)), user_ids=np.arange(n_users).astype(str),
                        item_ids=np.arange(n_items).astype(str))


# 6 users, 7 items. Item 6 is taken only in the test period (no training views); user 0 takes item 0
# twice (c_i counts users, not events); the test period adds co-visits between old items too.
EVENTS = [  # (user, item, time)
    (0, 0, 1), (0, 1, 2), (0, 2, 3), (0, 0, 4),
    (1, 0, 1), (1, 1, 3), (1, 3, 5),
    (2, 1, 2), (2, 2, 4), (2, 4, 6), (2, 5, 7),
    (3, 3, 2), (3, 4, 3),
    (4, 0, 5), (4, 5, 6),
    (5, 2, 1),
    (5, 0, 20), (1, 6, 21), (2, 6, 22), (3, 0, 23), (4, 2, 24), (0, 3, 25),  # the test period (time >= 20)
]
FULL = _log(*zip(*EVENTS), n_users=6, n_items=7)
TRAIN = FULL.select(FULL.times < 20)
A, B = 1.0, 0.25


def slow_relatedness(log: Interactions, a: float, b: float) -> np.ndarray:
    """r(i -> j) = c_ij / (c_i^a c_j^b) with sets of users, loop by loop; 0 on the diagonal and where c_ij = 0."""
    takers = [set(log.users[log.items == i].tolist()) for i in range(log.n_items)]
    out = np.zeros((log.n_items, log.n_items))
    for i in range(log.n_items):
        for j in range(log.n_items):
            both = len(takers[i] & takers[j])
            if i != j and both:
                out[i, j] = both / (len(takers[i]) ** a * len(takers[j]) ** b)
    return out


def _variant(log, a, b, diagonal=False, by_events=False, transpose=False):
    """c_ij / (c_i^a c_j^b) computed the learner's way, with one of the classic slips."""
    x = log.to_csr(binary=True)
    counts = (x.T @ x).toarray()
    c = np.bincount(log.items, minlength=log.n_items).astype(float) if by_events else np.diag(counts).copy()
    c = np.maximum(c, 1.0)
    if not diagonal:
        np.fill_diagonal(counts, 0.0)
    out = counts / (c[:, None] ** a * c[None, :] ** b)
    return out.T if transpose else out


def test_relatedness_reference_is_the_loop():
    assert np.allclose(covisit03a.reference_relatedness(TRAIN, A, B), slow_relatedness(TRAIN, A, B))
    rng = np.random.default_rng(5)
    users, items = rng.integers(0, 30, 300), rng.integers(0, 25, 300)
    log = _log(users, items, np.arange(300), 30, 26)  # item 25 never taken
    for a, b in [(1.0, 0.25), (0.5, 0.5), (1.0, 1.0), (0.0, 0.0)]:
        assert np.allclose(covisit03a.reference_relatedness(log, a, b), slow_relatedness(log, a, b), rtol=1e-5)


def test_relatedness_check_passes_the_right_answer(capsys):
    right = slow_relatedness(TRAIN, A, B)
    passes(covisit03a.check_relatedness, right, TRAIN, A, B, FULL, capsys=capsys)
    passes(covisit03a.check_relatedness, _variant(TRAIN, A, B), TRAIN, A, B, FULL, capsys=capsys)
    import scipy.sparse as sp
    passes(covisit03a.check_relatedness, sp.csr_matrix(right), TRAIN, A, B, capsys=capsys)  # sparse is fine


def test_relatedness_check_not_answered(capsys):
    not_answered(covisit03a.check_relatedness, None, TRAIN, A, B, FULL, capsys=capsys)


def test_relatedness_check_names_each_mistake():
    check = covisit03a.check_relatedness
    args = (TRAIN, A, B, FULL)
    message = fails(check, _variant(TRAIN, A, B, diagonal=True), *args, hint="diagonal of related is not 0")
    assert "Every other entry is right" in message
    fails(check, _variant(TRAIN, A, B, transpose=True), *args, hint="normalised by the wrong sides")
    fails(check, _variant(TRAIN, B, A), *args, hint="normalised by the wrong sides")  # powers swapped: the same
    fails(check, slow_relatedness(FULL, A, B), *args, hint="whole log, test period included")
    fails(check, _variant(FULL, A, B, diagonal=True), *args, hint="whole log, test period included")
    fails(check, slow_relatedness(TRAIN, 0.0, 0.0), *args, hint="raw counts")
    fails(check, slow_relatedness(TRAIN, B, B), *args, hint="seed too")
    fails(check, slow_relatedness(TRAIN, A, A), *args, hint="candidate too")
    fails(check, _variant(TRAIN, A, B, by_events=True), *args, hint="counts *users*")
    x = TRAIN.to_csr(binary=True)
    counts = (x.T @ x).toarray()
    c = np.diag(counts).copy()
    np.fill_diagonal(counts, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fails(check, counts / (c[:, None] ** A * c[None, :] ** B), *args, hint="NaN")
    fails(check, (x @ x.T).toarray(), *args, hint="per *user*")
    fails(check, slow_relatedness(TRAIN, A, B)[:, :5], *args, hint="shape (7, 7)")
    fails(check, slow_relatedness(TRAIN, A, B) * 1.1, *args, hint="differs from")


def test_relatedness_check_without_the_full_log_still_names_the_diagonal():
    fails(covisit03a.check_relatedness, _variant(TRAIN, A, B, diagonal=True), TRAIN, A, B, hint="diagonal")


# ---- 08 · 1: the recency window, chosen on validation carved by time ---------------------------------
K = 10


def right_window_scores(parts, fractions):
    inner = validation_split(parts.train, "temporal", fraction=0.2)
    users = users_with_test_events(inner.test)
    return [evaluate_lists(RecentPopularity(RecentPopularityConfig(window_fraction=f)).fit(inner.train)
                           .recommend(users, K), users, inner.train, inner.test, K)["ndcg@10"] for f in fractions]


def _scores(fit, held_out, fractions, model=None, scored_with=None, exclude_seen=True):
    """nDCG@10 on held_out for each window, fitted on `fit` (scored_with: the log the lists are fitted on)."""
    users = users_with_test_events(held_out)
    out = []
    for f in fractions:
        chosen = model() if model else RecentPopularity(RecentPopularityConfig(window_fraction=f))
        chosen.fit(scored_with if scored_with is not None else fit)
        out.append(evaluate_lists(chosen.recommend(users, K, exclude_seen=exclude_seen), users, fit, held_out,
                                  K)["ndcg@10"])
    return out


def on_test(parts, fractions):
    return _scores(parts.train, parts.test, fractions)


def random_validation(seed, carve="validation_split"):
    def scores(parts, fractions):
        inner = (validation_split(parts.train, "random", fraction=0.2, seed=seed) if carve == "validation_split"
                 else split(parts.train, "random", 0.2, seed))
        return _scores(inner.train, inner.test, fractions)
    return scores


def whole_train(exclude_seen):
    def scores(parts, fractions):
        inner = validation_split(parts.train, "temporal", fraction=0.2)
        return _scores(inner.train, inner.test, fractions, scored_with=parts.train, exclude_seen=exclude_seen)
    return scores


def all_time(parts, fractions):
    inner = validation_split(parts.train, "temporal", fraction=0.2)
    return _scores(inner.train, inner.test, fractions, model=Popularity)


def default_window(parts, fractions):
    inner = validation_split(parts.train, "temporal", fraction=0.2)
    return _scores(inner.train, inner.test, fractions, model=RecentPopularity)  # window_fraction never passed


def test_window_check_passes_the_right_answer(capsys):
    passes(time08.check_window_scores, right_window_scores, capsys=capsys)
    passes(time08.check_window_scores, time08.reference_window_scores, capsys=capsys)
    passes(time08.check_window_scores, lambda parts, fractions: np.array(right_window_scores(parts, fractions)),
           (0.02, 0.3, 1.0), 3, capsys=capsys)  # other windows, another log


def test_window_check_not_answered(capsys):
    not_answered(time08.check_window_scores, None, capsys=capsys)
    not_answered(time08.check_window_scores, lambda parts, fractions: None, capsys=capsys)


def test_window_check_names_each_mistake():
    check = time08.check_window_scores
    fails(check, on_test, hint="*test* scores")
    fails(check, lambda parts, fractions: _scores(validation_split(parts.train, "temporal", fraction=0.2).train,
                                                  parts.test, fractions), hint="scored on parts.test")
    for seed in (0, 1, 42):
        fails(check, random_validation(seed), hint="drawn at random")
        fails(check, random_validation(seed, carve="split"), hint="drawn at random")
    for exclude_seen in (True, False):
        fails(check, whole_train(exclude_seen), hint="at and after the validation cut")
    fails(check, all_time, hint="all-time popularity")
    fails(check, default_window, hint="the window is not used")
    message = fails(check, random_validation(7), hint="grow with the window")  # a seed the check does not try
    assert "last 20%" in message
    fails(check, lambda parts, fractions: right_window_scores(parts, fractions)[:-1], hint="shape (5,)")
    fails(check, lambda parts, fractions: [np.nan] * len(fractions), hint="NaN")
    fails(check, lambda parts, fractions: 1 / 0, hint="raised ZeroDivisionError")
    fails(check, lambda parts, fractions: "best", hint="numeric array")


def test_window_reference_never_reads_the_test_part():
    parts = time08.drifting_split()
    nothing = parts.test.select(np.zeros(len(parts.test), dtype=bool))
    fractions = list(time08.CHECK_FRACTIONS)
    assert np.allclose(time08.reference_window_scores(Split(parts.train, nothing, "temporal", 0), fractions),
                       time08.reference_window_scores(parts, fractions))


def slow_window_scores(train: Interactions, fractions, k: int = K) -> list[float]:
    """By hand: validation = events at or after the 80% time quantile of train; each window counts the
    distinct users of each item over the last share f of the fit period (ties: all-time events, then item
    index); unseen items with a fit event, best first; nDCG@k (lineage.metrics.ndcg_at_k, the definition)
    averaged over users with a validation item they had not taken before."""
    cut = np.quantile(train.times, 0.8, method="higher")
    fit = train.select(train.times < cut)
    held = train.select(train.times >= cut)
    first, end = fit.times.min(), fit.times.max()
    all_time = np.bincount(fit.items, minlength=fit.n_items)
    seen = {u: set(fit.items[fit.users == u].tolist()) for u in range(fit.n_users)}
    out = []
    for f in fractions:
        recent = fit.times >= end - f * (end - first)
        users_of = [len(set(fit.users[recent & (fit.items == i)].tolist())) for i in range(fit.n_items)]
        score = {i: users_of[i] + all_time[i] / (all_time.max() + 1.0) for i in range(fit.n_items) if all_time[i]}
        order = sorted(score, key=lambda i: (-np.float32(score[i]), i))
        values = []
        for u in np.unique(held.users):
            relevant = set(held.items[held.users == u].tolist()) - seen[u]
            if relevant:
                ranked = [i for i in order if i not in seen[u]][:k]
                values.append(ndcg_at_k(ranked, relevant, k))
        out.append(float(np.mean(values)))
    return out


def test_window_reference_is_the_definition():
    parts = time08.drifting_split(seed=2)
    fractions = [0.05, 0.2, 1.0]
    assert np.allclose(time08.reference_window_scores(parts, fractions), slow_window_scores(parts.train, fractions))


def test_drifting_log_is_time_ordered_and_drifts():
    """The check's log behaves like MovieLens through time: a recent window beats all-time popularity on
    validation by time, and the opposite holds on a validation part drawn at random (the lesson of 08 §1)."""
    parts = time08.drifting_split()
    assert parts.train.times.max() <= parts.test.times.min()
    by_time = time08.reference_window_scores(parts, [0.1, 1.0])
    at_random = random_validation(0)(parts, [0.1, 1.0])
    assert by_time[0] > 1.5 * by_time[1] and at_random[0] < at_random[1]
    assert len({tuple(np.round(time08.drifting_log(seed).times, 3)) for seed in (0, 1)}) == 2
