"""Off-policy evaluation: IPS is unbiased where its assumptions hold exactly (a tiny bandit of
independent item rewards, exact propensities); SNIPS, DR and the others match plain-loop
reference implementations; on a world log, a policy evaluated on its own log gets its online value."""
import numpy as np
import pytest

from lineage.offpolicy import (ESTIMATORS, OffPolicyData, clipped_ips, direct_method, doubly_robust, evaluate,
                               ips, logged_feeds, naive, off_policy_data, online_value, ratio_interval, snips)
from lineage.world import ModelPolicy, UniformFeed, WorldConfig, generate_world
from lineage.world.policies import epsilon_greedy_inclusion, plackett_luce_inclusion_exact, plackett_luce_sample


def value(estimator, d, *args):
    num, den = estimator(d, *args)
    return num.sum() / den.sum()


# ---- IPS is unbiased in a tiny world computed exactly -------------------------------------------------
def test_ips_and_dr_are_unbiased_where_the_value_is_known_exactly():
    """3 users, 6 items, feeds of 2. The logger draws feeds by Plackett-Luce (exact inclusion
    probabilities by enumeration), the target is epsilon-greedy (exact by formula), and each shown
    item is liked with a fixed probability q[user, item], whatever else is shown. The true value is
    mean_u sum_i pi_new(u, i) q(u, i). Over 400 simulated logs of 200 feeds, the mean IPS (and DR
    with a deliberately wrong reward model) lies in its 95% interval around the exact value; the
    naive estimate does not."""
    rng = np.random.default_rng(0)
    n_users, n_items, S, n_logs, n_feeds = 3, 6, 2, 400, 200
    logger_logits = rng.normal(size=(n_users, n_items))
    target_scores = rng.normal(size=(n_users, n_items))
    q = rng.uniform(0.05, 0.6, size=(n_users, n_items))
    pi_old = plackett_luce_inclusion_exact(logger_logits, S)  # (users, items)
    rank = np.argsort(np.argsort(-target_scores, axis=1), axis=1) + 1
    pi_new = epsilon_greedy_inclusion(rank, n_items, S, 0.3)
    np.testing.assert_allclose(pi_old.sum(axis=1), S)
    np.testing.assert_allclose(pi_new.sum(axis=1), S)
    truth = (pi_new * q).sum(axis=1).mean()

    n = n_logs * n_feeds
    users = rng.integers(0, n_users, n)
    feeds = plackett_luce_sample(logger_logits[users], S, rng)  # (n, S) items
    request = np.repeat(np.arange(n), S)
    user_of_item, item = users[request], feeds.ravel()
    reward = (rng.random(n * S) < q[user_of_item, item]).astype(float)
    wrong_model = np.full((n_users, n_items), 0.1)  # true rates are 0.05 to 0.6
    d = OffPolicyData(request=request, reward=reward, logging=pi_old[user_of_item, item],
                      target=pi_new[user_of_item, item], predicted=wrong_model[user_of_item, item],
                      direct=(pi_new * wrong_model).sum(axis=1)[users], target_size=np.full(n, float(S)),
                      users=users)
    log_of_request = np.arange(n) // n_feeds
    for estimator, unbiased in ((ips, True), (doubly_robust, True), (naive, False)):
        num, den = estimator(d)
        per_log = np.bincount(log_of_request, num) / np.bincount(log_of_request, den)  # one estimate per log
        mean, low, high = ratio_interval(per_log, np.ones(n_logs))
        assert (low <= truth <= high) == unbiased, (estimator.__name__, truth, mean, low, high)
    # the direct method with a wrong model is biased; clipping below the largest weight biases IPS down
    assert abs(value(direct_method, d) - truth) > 0.05
    assert value(clipped_ips, d, 1.0) < truth - 0.05


# ---- the estimators against plain loops ----------------------------------------------------------------
def random_data(seed, n=25):
    rng = np.random.default_rng(seed)
    per_request = rng.integers(0, 5, n)  # some requests show nothing
    request = np.repeat(np.arange(n), per_request)
    m = len(request)
    return OffPolicyData(request=request, reward=(rng.random(m) < 0.3).astype(float),
                         logging=rng.uniform(0.02, 1.0, m), target=rng.uniform(0.0, 1.0, m) * (rng.random(m) < 0.8),
                         predicted=rng.uniform(0, 0.6, m), direct=rng.uniform(0, 2, n),
                         target_size=rng.uniform(3.5, 4.0, n), users=rng.integers(0, 8, n))


def shown_items(d, j):
    return [k for k in range(len(d.request)) if d.request[k] == j]


def snips_reference(d):
    numerator = denominator = 0.0
    for j in range(d.n_requests):
        for k in shown_items(d, j):
            w = d.target[k] / d.logging[k]
            numerator += d.reward[k] * w
            denominator += w
    return (sum(d.target_size) / d.n_requests) * numerator / denominator


def dr_reference(d):
    total = 0.0
    for j in range(d.n_requests):
        total += d.direct[j]
        for k in shown_items(d, j):
            total += d.target[k] / d.logging[k] * (d.reward[k] - d.predicted[k])
    return total / d.n_requests


def ips_reference(d, cap=None):
    total = 0.0
    for k in range(len(d.request)):
        w = d.target[k] / d.logging[k]
        total += d.reward[k] * (w if cap is None else min(w, cap))
    return total / d.n_requests


@pytest.mark.parametrize("seed", range(5))
def test_estimators_match_plain_loop_references(seed):
    d = random_data(seed)
    assert value(snips, d) == pytest.approx(snips_reference(d), rel=1e-12)
    assert value(doubly_robust, d) == pytest.approx(dr_reference(d), rel=1e-12)
    assert value(ips, d) == pytest.approx(ips_reference(d), rel=1e-12)
    assert value(clipped_ips, d, 2.0) == pytest.approx(ips_reference(d, cap=2.0), rel=1e-12)
    assert value(naive, d) == pytest.approx(sum(d.reward * d.target) / d.n_requests, rel=1e-12)
    assert value(direct_method, d) == pytest.approx(np.mean(d.direct), rel=1e-12)
    results = evaluate(d, cap=2.0, resamples=200)
    assert list(results) == list(ESTIMATORS)
    assert results["snips"].value == pytest.approx(snips_reference(d), rel=1e-12)
    assert results["doubly_robust"].value == pytest.approx(dr_reference(d), rel=1e-12)
    for estimate in results.values():
        assert estimate.low <= estimate.value <= estimate.high or estimate.low == estimate.high


# ---- on a world log ------------------------------------------------------------------------------------
class TableModel:
    name = "table"

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float32)

    def score(self, users):
        return self.table[np.asarray(users)]


@pytest.fixture(scope="module")
def logged():
    world = generate_world(WorldConfig.sized("tiny"))
    noise = np.random.default_rng(0).normal(0, 1.0, (world.n_users, world.n_items))
    scores = world.utility(np.arange(world.n_users)) + noise  # a decent model
    logger = ModelPolicy(TableModel(scores), epsilon=0.3)
    online = world.run_days(logger, days=4, seed=0, append=False)
    part = world.run_days(logger, days=4, seed=0)
    return world, logger, part, online


def test_a_policy_on_its_own_log_gets_its_online_value(logged):
    """pi_new = pi_old on every logged item: IPS = SNIPS = the logged likes per feed, which is the
    online value of the very same run."""
    world, logger, part, online = logged
    log = logged_feeds(world, part)
    assert log.n_requests == (part.sessions["kind"] == "feed").sum() and len(log.item) > 0
    data = off_policy_data(log, logger)
    np.testing.assert_allclose(data.target, data.logging, rtol=1e-12)
    truth = online_value(online, resamples=200)
    results = evaluate(data, resamples=200)
    assert results["ips"].value == pytest.approx(truth.value, rel=1e-12)
    assert results["snips"].value == pytest.approx(truth.value, rel=1e-12)
    assert (results["ips"].low, results["ips"].high) == pytest.approx((truth.low, truth.high))
    assert str(results["ips"]).startswith("ips: ")


def test_other_policies_on_the_log(logged):
    world, logger, part, _ = logged
    log = logged_feeds(world, part)
    for target in (UniformFeed(), ModelPolicy(logger.model), ModelPolicy(logger.model, temperature=1.0)):
        data = off_policy_data(log, target, seed=0)
        assert np.all((data.target >= 0) & (data.target <= 1))
        assert abs(data.target_size.mean() - world.config.impressions_per_session) < 0.1
        for estimate in evaluate(data, resamples=100).values():
            assert np.isfinite(estimate.value) and estimate.value >= -0.5


def test_a_log_without_propensities_is_refused():
    world = generate_world(WorldConfig.sized("tiny"))
    with pytest.raises(ValueError, match="no propensities"):
        logged_feeds(world)
    part = world.run_days(days=1)  # the built-in feed: NaN propensities
    with pytest.raises(ValueError, match="no logged propensity"):
        logged_feeds(world, part)
