"""The paired bootstrap (lineage.evidence): coverage on data with a known difference, the gain from
pairing, the seed level, and the weighted resampling against a slow loop over drawn indices."""
import numpy as np
import pytest

from lineage.evidence import Comparison, _resampled_means, _user_weights, compare, paired_bootstrap, unpaired_bootstrap

TRUE_DIFFERENCE = 0.05


def paired_scores(rng, n_users=150, difference=TRUE_DIFFERENCE, spread=1.0, noise=0.2):
    """Per-user scores of two models: a shared user difficulty (the pairing) plus independent noise.
    The population mean of a - b is exactly `difference`."""
    difficulty = rng.normal(0.0, spread, n_users)
    a = difficulty + difference + rng.normal(0.0, noise, n_users)
    b = difficulty + rng.normal(0.0, noise, n_users)
    return a, b


def test_the_95_percent_interval_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    draws = 300
    covered = 0
    for draw in range(draws):
        a, b = paired_scores(rng)
        _, low, high = paired_bootstrap(a, b, resamples=1000, seed=draw)
        covered += low <= TRUE_DIFFERENCE <= high
    coverage = covered / draws
    # binomial sd at 300 draws is 0.013; the percentile bootstrap runs slightly under nominal at n=150
    assert 0.91 <= coverage <= 0.99, coverage


def test_a_wrong_level_would_miss_the_coverage_the_test_checks():
    """The coverage test can fail: a 50% interval covers about half the time, far below 0.91."""
    rng = np.random.default_rng(1)
    covered = sum(
        (lambda low, high: low <= TRUE_DIFFERENCE <= high)(*paired_bootstrap(*paired_scores(rng), resamples=500,
                                                                              level=0.5, seed=d)[1:])
        for d in range(200))
    assert covered / 200 < 0.7


def test_pairing_narrows_the_interval_on_correlated_scores():
    rng = np.random.default_rng(2)
    a, b = paired_scores(rng, n_users=400, spread=1.0, noise=0.2)
    _, low_p, high_p = paired_bootstrap(a, b, seed=0)
    _, low_u, high_u = unpaired_bootstrap(a, b, seed=0)
    assert (high_p - low_p) * 3 < high_u - low_u  # the shared difficulty cancels only when paired
    assert low_p > 0 and low_u < 0  # so only the paired interval sees the difference


def test_resampled_means_match_a_slow_loop_over_drawn_indices():
    rng = np.random.default_rng(3)
    scores = rng.random((1, 30))
    weights = _user_weights(30, 50, np.random.default_rng(4))
    fast = _resampled_means(scores, weights, np.random.default_rng(5))
    for row, counts in enumerate(weights):
        indices = np.repeat(np.arange(30), counts.astype(int))  # the users drawn in this resample
        assert len(indices) == 30
        assert fast[row] == pytest.approx(scores[0, indices].mean(), rel=1e-12)


def test_seed_rows_widen_the_interval_by_the_seed_to_seed_noise():
    rng = np.random.default_rng(6)
    a, b = paired_scores(rng, n_users=300, noise=0.05)
    seed_offsets = np.array([-0.04, 0.0, 0.04])[:, None]  # three training seeds of a that disagree
    one = compare(a, b, seed=0)
    three = compare(a + seed_offsets, b, seed=0)
    assert three.n_seeds == 3 and three.estimate == pytest.approx(one.estimate)
    assert three.high - three.low > 1.5 * (one.high - one.low)


def test_verdicts_and_the_printed_form():
    rng = np.random.default_rng(7)
    a, b = paired_scores(rng, n_users=50, difference=0.0, noise=0.3)
    tie = compare(a, b, "two-tower", "recent-popularity")
    assert tie.low < 0 < tie.high and tie.verdict() == "no difference we can measure here"
    ahead = compare(b + 1.0, b, "x", "y")
    assert ahead.verdict() == "x ahead" and compare(b, b + 1.0, "x", "y").verdict() == "y ahead"
    assert str(ahead).startswith("x - y: +1.0000 [+1.0000, +1.0000] (95%, 50 users)")
    ratio = compare(b + 10.0, b + 5.0, "x", "y", ratio=True)
    assert ratio.kind == "ratio" and ratio.null == 1.0 and ratio.low > 1.0 and " / " in str(ratio)
    assert isinstance(ratio, Comparison)


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="same users"):
        paired_bootstrap(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        paired_bootstrap(np.array([0.0, np.nan]), np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        paired_bootstrap(np.zeros(0), np.zeros(0))


def test_per_user_scores_pair_two_models_and_average_to_evaluate():
    from lineage.data import Interactions
    from lineage.evidence import compare_to
    from lineage.metrics import evaluate, per_user_scores, true_recall_at_k, true_recall_per_user
    from lineage.models.popularity import Popularity

    rng = np.random.default_rng(0)
    n = 600
    events = Interactions(users=rng.integers(0, 40, n), items=rng.integers(0, 30, n), times=np.arange(n, dtype=float),
                          values=np.ones(n, np.float32), user_ids=np.arange(40).astype(str),
                          item_ids=np.arange(30).astype(str))
    train, test = events.select(np.arange(500)), events.select(np.arange(500, n))
    popularity = Popularity().fit(train)
    scores = per_user_scores(popularity, train, test)
    assert scores.shape == (evaluate(popularity, train, test)["n_eval_users"],)
    assert scores.mean() == pytest.approx(evaluate(popularity, train, test)["ndcg@10"])
    table = compare_to("popularity", {"popularity": scores, "same": scores.copy()})
    assert list(table) == ["same"] and table["same"].estimate == 0 and table["same"].low == table["same"].high == 0
    lists = np.array([[0, 1, 2], [3, 4, 5]])
    truth = np.array([[1, 9], [7, 8]])
    assert true_recall_per_user(lists, truth, 3).tolist() == [0.5, 0.0]
    assert true_recall_at_k(lists, truth, 3) == 0.25


def test_user_weights_count_the_draws_of_each_resample():
    weights = _user_weights(7, 5, np.random.default_rng(0))
    draws = np.random.default_rng(0).integers(0, 7, size=(5, 7))  # the same stream, counted row by row
    for row, drawn in zip(weights, draws):
        assert row.tolist() == np.bincount(drawn, minlength=7).tolist()
