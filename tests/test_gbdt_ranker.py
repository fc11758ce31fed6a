"""The gradient-boosted-tree ranker: its training rows are point-in-time, it recovers a planted signal,
groups are whole requests, and reranking is a deterministic permutation of the candidates."""
import numpy as np
import pytest

pytest.importorskip("lightgbm")

from test_ranker import make_log, planted_world, scramble_from  # noqa: E402

from twotower_mini.gbdt_ranker import GBDTRanker, GBDTRankerConfig  # noqa: E402
from twotower_mini.ranker import Ranker, RankerConfig  # noqa: E402


def time_sorted(impressions):
    order = np.argsort(impressions["time"], kind="stable")
    return {name: np.asarray(values)[order] for name, values in impressions.items()}


@pytest.mark.parametrize("seed", range(3))
def test_training_rows_before_t_do_not_see_what_happens_after_t(seed):
    data, impressions = make_log(seed)
    impressions = time_sorted(impressions)
    t = float(np.quantile(data.times, 0.6))
    config = GBDTRankerConfig(unshown_negatives=0, label_window_seconds=0.0)
    x, labels, _ = GBDTRanker(config).training_data(data, impressions)
    scrambled, shown = scramble_from(data, impressions, t, np.random.default_rng(100 + seed))
    x_after, labels_after, _ = GBDTRanker(config).training_data(scrambled, shown)
    early = int((impressions["time"] < t).sum())  # rows are in impression order: the first `early` are before t
    assert early > 100 and len(x) == len(x_after)
    assert np.array_equal(x[:early], x_after[:early]) and np.array_equal(labels[:early], labels_after[:early])
    assert not np.array_equal(x[early:], x_after[early:])  # the later rows did change: the check is not vacuous


def test_the_gbdt_ranker_recovers_a_planted_signal():
    train, impressions, favourite, genre = planted_world()
    ranker = GBDTRanker(GBDTRankerConfig(n_estimators=50)).fit(train, impressions)
    importances = ranker.feature_importances
    assert max(importances, key=importances.get) == "genre_affinity", importances
    assert importances["genre_affinity"] > 0.5 and abs(sum(importances.values()) - 1) < 1e-9
    users = np.arange(len(favourite))
    candidates = np.tile(np.arange(len(genre)), (len(users), 1))
    top = ranker.rerank(users, candidates)[:, :5]
    assert (genre[top] == favourite[:, None]).mean() > 0.95
    # the same rows as the logistic ranker, grouped by request: one group per session of the planted world
    rows = ranker.training_rows(impressions)  # the impressions it learned from (outcome known by the end of train)
    sessions = np.unique(np.stack([impressions["user"][rows], impressions["time"][rows]]), axis=1).shape[1]
    assert ranker.n_groups_ == sessions
    assert ranker.n_examples_ == len(Ranker(RankerConfig()).training_data(train, impressions)[0])


def test_gbdt_rerank_only_permutes_the_candidates_and_is_deterministic():
    train, impressions, favourite, genre = planted_world(seed=1)
    fits = [GBDTRanker(GBDTRankerConfig(n_estimators=20)).fit(train, impressions) for _ in range(2)]
    rng = np.random.default_rng(0)
    users = rng.integers(0, len(favourite), 25)
    candidates = np.array([rng.permutation(len(genre))[:12] for _ in users])
    candidates[::3, -4:] = -1  # empty slots stay last
    reranked = [ranker.rerank(users, candidates) for ranker in fits]
    assert np.array_equal(reranked[0], reranked[1])
    assert np.array_equal(np.sort(reranked[0], axis=1), np.sort(candidates, axis=1))
    assert (reranked[0][::3, -4:] == -1).all()
    assert not np.array_equal(reranked[0], candidates)
