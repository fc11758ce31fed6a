"""The world as an environment: the built-in feed as a policy object (byte-identical logs),
`World.run_days` with any policy, `ModelPolicy`'s rules (never a viewed or unreleased item) and its
propensities (in [0, 1], summing to the feed size, equal to what the policy would give again)."""
import copy
import hashlib

import numpy as np
import pytest

from lineage.world import (DAY, LIKED_GENRES_FEED, FeedPolicy, FeedRequests, ModelPolicy, UniformFeed,
                           WorldConfig, generate_world)
from lineage.world.policies import (_epsilon_feed, epsilon_greedy_inclusion, plackett_luce_inclusion_exact,
                                    plackett_luce_inclusion_mc, plackett_luce_sample)


# ---- the built-in feed through the policy abstraction: byte-identical logs ---------------------------
def table_digest(table: dict) -> str:
    """SHA-256 over every column of a log table: name, dtype, shape and raw bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(table):
        column = np.ascontiguousarray(table[name])
        h.update(f"{name}|{column.dtype.str}|{column.shape}|".encode())
        h.update(column.tobytes())
    return h.hexdigest()


def world_digests(world) -> dict:
    log = world.interactions()
    return {"views": table_digest(world.views), "impressions": table_digest(world.impressions),
            "searches": table_digest(world.searches),
            "interactions": table_digest({"users": log.users, "items": log.items, "times": log.times,
                                          "values": log.values})}


# Computed on commit 5ab80d4 before the refactor (the feed inside simulation.py, no policy objects),
# with exactly the functions above.
DIGESTS_BEFORE_REFACTOR = {
    ("tiny", 0, False): {
        "views": "063c95bcb430d195c457063b5e3142d161d98475f3c0f6073ad16acb11a0ed94",
        "impressions": "d78a87d1c17aa773fc66f30d6badac70d7c1b673d1f79283dde4f4787f068ee6",
        "searches": "dc3d1193ee69532ea2cad3cff7a490a03dff74b30ce7a93b1bbdb785383c3f06",
        "interactions": "45d011dffce7f895bda1704b8d172a946b420e22f446418d9e8bd9b07c01a286"},
    ("tiny", 1, False): {
        "views": "3affd9bfd253bdc3f163dc9e6768400aa21967cc7d3b5195a82998b9e4709d53",
        "impressions": "880e5e6b01cfa2362a487fe034b05b570717977a311927529ef7918b6fe7387d",
        "searches": "f13b7ef68f65b1b97209ef06bef19b99b118eeb5f8a59b940f0a2a0b4660249f",
        "interactions": "85fe83f7276cb2d0eeef9f3e3d560b946e40a7fb88469d8a8e88a913497956db"},
    ("default", 0, False): {
        "views": "f45208177682e3097ec81e25df98231bcff85a6c16eb72647eb551467d0e8e90",
        "impressions": "74527ed598a041c728050d58fdddabcab4d5fb745291ceafd498fae757150007",
        "searches": "620866923db620fe7f27609691375f9dddf622e5e3f89aa7d6e2cf330f616d3d",
        "interactions": "11f56c71c161c11f1fe9b6c425be1f6d8790224f06925a46ca36e25722bb7c20"},
    ("default", 1, False): {
        "views": "488482e9c3301773902686929c507df0815f923a5eccf6b6eda4a7c37f0f2a26",
        "impressions": "cafbda4cd89150e8f8165dbed74732334c557355da3744c17165773fd889c518",
        "searches": "b89e0ef7b1aab530dc6a61043eae96a7fdc18e0a03a244d44292898b1abc19bc",
        "interactions": "cddc91b49e92d2328a01f62251bbe392c7c7baa0e376b262cd00f6d426c9ff8d"},
    ("tiny", 0, True): {  # LIKED_GENRES_FEED: every slot personalised
        "views": "a50d52093843436fe8fb0fa40b23fcd15d418acd9daf8a2786a6ee8dac0de044",
        "impressions": "a34fbc0349846cde397dc2fa3af8d01cb127318af441dee1d175e8b7aaccd1fc",
        "searches": "dc3d1193ee69532ea2cad3cff7a490a03dff74b30ce7a93b1bbdb785383c3f06",
        "interactions": "270a07dd56620d1ad5cee5162064a9d4fea927a87d97f6aed8ac937c72ddfb93"},
}


@pytest.mark.parametrize("size, seed, liked_feed", list(DIGESTS_BEFORE_REFACTOR))
def test_builtin_feed_through_the_policy_gives_byte_identical_logs(size, seed, liked_feed):
    world = generate_world(WorldConfig.sized(size, **(LIKED_GENRES_FEED if liked_feed else {})), seed=seed)
    assert world_digests(world) == DIGESTS_BEFORE_REFACTOR[(size, seed, liked_feed)]


# ---- helpers -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    return generate_world(WorldConfig.sized("tiny"))


@pytest.fixture(scope="module")
def tiny3():
    """Feeds of 3 slots: Plackett-Luce over a shortlist of 7 is enumerated exactly (7 * 6 * 5 feeds)."""
    return generate_world(WorldConfig.sized("tiny", impressions_per_session=3))


class TableModel:
    """A fitted 'model' whose scores are a fixed table (n_users, n_items)."""

    name = "table"

    def __init__(self, table):
        self.table = np.asarray(table, dtype=np.float32)

    def score(self, users):
        return self.table[np.asarray(users)]


class RankingOnly:
    """A model with `recommend` only."""

    name = "ranking"

    def __init__(self, table):
        self.table = table

    def recommend(self, users, k=10, exclude_seen=True):
        return np.argsort(-self.table[np.asarray(users)], axis=1, kind="stable")[:, :k]


def adversarial_scores(world, seed=0):
    """Scores that rank each user's viewed items and the unreleased items above everything else."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(world.n_users, world.n_items))
    table[world.views["user"], world.views["item"]] += 100.0
    table[:, world.items["release_time"] >= world.end_time] += 100.0
    return table


def with_future_releases(world, n=30, seed=0):
    """A copy of the world where n items are (re)released during the next days (0.5 to 3.5 days on)."""
    world = copy.deepcopy(world)
    rng = np.random.default_rng(seed)
    late = rng.choice(world.n_items, n, replace=False)
    world.items["release_time"] = world.items["release_time"].copy()
    world.items["release_time"][late] = world.end_time + rng.uniform(0.5, 3.5, n) * DAY
    return world


def assert_never_viewed_or_unreleased(world, since=0.0):
    imp, views, n = world.impressions, world.views, world.n_items
    release = world.items["release_time"]
    new = imp["time"] >= since
    assert np.all(imp["time"][new] > release[imp["item"][new]]), "an item shown before its release"
    viewed = views["user"].astype(np.int64) * n + views["item"]
    order = np.argsort(viewed)
    shown = imp["user"].astype(np.int64) * n + imp["item"]
    pos = np.minimum(np.searchsorted(viewed[order], shown), len(viewed) - 1)
    was_viewed = viewed[order][pos] == shown
    assert not np.any(was_viewed & (imp["time"] > views["time"][order][pos])), "an item shown after its view"
    keys = imp["session"].astype(np.int64) * n + imp["item"]
    assert len(np.unique(keys)) == len(keys), "an item shown twice in one session"


# ---- run_days --------------------------------------------------------------------------------------
def test_run_days_appends_a_consistent_log(tiny):
    world = copy.deepcopy(tiny)
    sizes = {t: len(getattr(world, t)["user"]) for t in ("sessions", "impressions", "views", "searches")}
    end = world.end_time
    part = world.run_days(UniformFeed(), days=3, seed=0)
    assert world.end_time == end + 3 * DAY and part.start_time == end and part.policy == "uniform"
    for table in ("sessions", "impressions", "views", "searches"):
        log = getattr(world, table)
        assert len(log["user"]) == sizes[table] + len(getattr(part, table)["user"]), table
        assert len(getattr(part, table)["user"]) > 0, table
        assert np.all(np.diff(log["time"]) >= 0) and log["time"].max() < world.end_time, table
        new_times = getattr(part, table)["time"]
        assert new_times.min() >= end, table
    assert np.array_equal(part.session_ids, sizes["sessions"] + np.arange(len(part.sessions["user"])))
    for table in ("impressions", "views", "searches"):
        log = getattr(world, table)
        assert np.array_equal(world.sessions["user"][log["session"]], log["user"]), table
    imp = world.impressions
    old, new = np.arange(len(imp["user"])) < sizes["impressions"], imp["time"] >= end
    assert np.isnan(imp["propensity"][old]).all()
    feed = new & (imp["source"] == "feed")
    assert np.isfinite(imp["propensity"][feed]).all() and np.isnan(imp["propensity"][new & ~feed]).all()
    # views are the chosen impressions, liked from true utility
    chosen = imp["chosen"] & new
    assert np.array_equal(np.sort(imp["session"][chosen].astype(np.int64) * world.n_items + imp["item"][chosen]),
                          np.sort(part.views["session"] * world.n_items + part.views["item"]))
    assert_never_viewed_or_unreleased(world)
    assert f" {round(end / DAY) + 3} days" in world.summary()


def test_run_days_is_deterministic_and_append_false_leaves_the_world_alone(tiny):
    world = copy.deepcopy(tiny)
    policy = ModelPolicy(TableModel(adversarial_scores(world)), epsilon=0.2)
    a = world.run_days(policy, days=2, seed=5, append=False)
    assert world.end_time == tiny.end_time and len(world.views["user"]) == len(tiny.views["user"])
    b = world.run_days(policy, days=2, seed=5)
    for table in ("sessions", "impressions", "views", "searches"):
        for column, values in getattr(a, table).items():
            assert np.array_equal(values, getattr(b, table)[column], equal_nan=values.dtype.kind == "f"), column
    # another policy from the same state and seed meets the same sessions (common random numbers)
    c = copy.deepcopy(tiny).run_days(UniformFeed(), days=2, seed=5)
    assert np.array_equal(c.sessions["time"], a.sessions["time"])
    assert np.array_equal(c.sessions["user"], a.sessions["user"])


def test_run_days_default_is_the_builtin_feed_without_propensities(tiny):
    world = copy.deepcopy(tiny)
    part = world.run_days(days=2, seed=0)
    assert part.policy == "builtin" and np.isnan(part.impressions["propensity"]).all()
    assert 0.03 < part.impressions["chosen"].mean() < 0.2  # the same app, the same users
    assert_never_viewed_or_unreleased(world)
    with pytest.raises(ValueError, match="positive integer"):
        world.run_days(days=0)


@pytest.mark.parametrize("knobs", [dict(), dict(epsilon=0.3), dict(temperature=0.5),
                                   dict(temperature=0.5, shortlist=7)])
def test_model_policy_never_shows_viewed_or_unreleased_items(tiny, knobs):
    world = with_future_releases(tiny)  # items released 0.5 to 3.5 days into the run, scored highest
    late = world.items["release_time"] >= tiny.end_time
    policy = ModelPolicy(TableModel(adversarial_scores(world)), **knobs)
    part = world.run_days(policy, days=5, seed=1)
    assert_never_viewed_or_unreleased(world, since=tiny.end_time)
    feed = part.impressions["source"] == "feed"
    shown = part.impressions["item"][feed]
    assert np.isin(shown, np.flatnonzero(late)).any()  # released items do get shown once out (they score high)
    p = part.impressions["propensity"][feed]
    assert np.all((p > 0) & (p <= 1))


def test_ranking_only_models_and_refused_feeds(tiny):
    world = copy.deepcopy(tiny)
    table = adversarial_scores(world)
    part = world.run_days(ModelPolicy(RankingOnly(table)), days=1, seed=0)
    assert_never_viewed_or_unreleased(world)
    assert (part.impressions["propensity"][part.impressions["source"] == "feed"] == 1.0).all()

    class Cheater(FeedPolicy):  # shows each user the items they viewed
        name = "cheater"

        def feed(self, requests, rng):
            items = np.full((len(requests), requests.n_slots), -1)
            mask = requests.viewed_mask()
            for row in range(len(requests)):
                seen = np.flatnonzero(mask[row])[:requests.n_slots]
                items[row, :len(seen)] = seen
            return items, None

    with pytest.raises(ValueError, match="already viewed"):
        copy.deepcopy(tiny).run_days(Cheater(), days=1)
    with pytest.raises(ValueError, match="one exploration knob"):
        ModelPolicy(TableModel(table), temperature=1.0, epsilon=0.1)


# ---- propensities ------------------------------------------------------------------------------------
def logged_requests(world, part):
    sessions = part.session_ids[world.sessions["kind"][part.session_ids] == "feed"]
    return FeedRequests.from_log(world, sessions), sessions


@pytest.mark.parametrize("knobs", [dict(), dict(epsilon=0.25), dict(epsilon=1.0), dict(temperature=1.0, shortlist=7)])
def test_logged_propensities_are_the_policys_inclusion_probabilities(tiny, tiny3, knobs):
    """Exact policies: the propensity in the log is exactly pi(item in feed | request) recomputed
    from the log (the user's history rebuilt from earlier sessions), and each request's inclusion
    probabilities lie in [0, 1] and sum to the number of slots."""
    world = with_future_releases(tiny3 if "temperature" in knobs else tiny, seed=2)
    policy = ModelPolicy(TableModel(adversarial_scores(world, seed=3)), **knobs)
    part = world.run_days(policy, days=3, seed=2)
    requests, sessions = logged_requests(world, part)
    p = policy.inclusion(requests)
    assert p.shape == (len(sessions), world.n_items)
    assert np.all((p >= 0) & (p <= 1 + 1e-12))
    np.testing.assert_allclose(p.sum(axis=1), world.config.impressions_per_session, rtol=0, atol=1e-9)
    assert np.all(p[requests.viewed_mask()] == 0) and np.all(p[~requests.released_mask()] == 0)
    imp = world.impressions
    feed = np.flatnonzero((imp["time"] >= part.start_time) & (imp["source"] == "feed"))
    row = np.searchsorted(sessions, imp["session"][feed])
    np.testing.assert_allclose(imp["propensity"][feed], p[row, imp["item"][feed]], rtol=1e-12, atol=1e-12)


def test_uniform_feed_inclusion(tiny):
    world = copy.deepcopy(tiny)
    part = world.run_days(UniformFeed(), days=1, seed=0)
    requests, _ = logged_requests(world, part)
    p, allowed = UniformFeed().inclusion(requests), requests.allowed_mask()
    S = world.config.impressions_per_session
    np.testing.assert_allclose(p.sum(axis=1), S)
    np.testing.assert_allclose(p, allowed * (S / allowed.sum(axis=1, keepdims=True)))


def test_plackett_luce_monte_carlo_propensities(tiny):
    """Large shortlists use conditional Monte Carlo: values in [0, 1], rows summing to the slots on
    average, and close to exact enumeration where both can be computed."""
    world = copy.deepcopy(tiny)
    policy = ModelPolicy(TableModel(adversarial_scores(world)), temperature=1.0, shortlist=60)
    part = world.run_days(policy, days=2, seed=0)
    p = part.impressions["propensity"][part.impressions["source"] == "feed"]
    assert np.all((p > 0) & (p <= 1))
    requests, _ = logged_requests(world, part)
    rows = policy.inclusion(requests, np.random.default_rng(0)).sum(axis=1)
    S = world.config.impressions_per_session
    assert abs(rows.mean() - S) < 0.02 * S and np.all(np.abs(rows - S) < 0.3 * S)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(40, 7)) * 1.5
    logits[:4, 5:] = -np.inf
    exact = plackett_luce_inclusion_exact(logits, 3)
    np.testing.assert_allclose(exact.sum(axis=1), 3, atol=1e-12)
    estimate = np.mean([plackett_luce_inclusion_mc(logits, 3, rng, 32) for _ in range(20)], axis=0)
    np.testing.assert_allclose(estimate, exact, atol=0.03)
    assert np.all(estimate[:4, 5:] == 0)


def test_samplers_match_their_inclusion_formulas():
    """Frequencies of the feeds actually drawn match the recorded probabilities."""
    rng = np.random.default_rng(0)
    draws, S = 20_000, 3
    logits = np.array([[2.0, 1.0, 0.5, 0.0, -1.0, -np.inf]])
    picks = plackett_luce_sample(np.repeat(logits, draws, axis=0), S, rng)
    frequency = np.array([(picks == c).any(axis=1).mean() for c in range(logits.shape[1])])
    np.testing.assert_allclose(frequency, plackett_luce_inclusion_exact(logits, S)[0], atol=0.01)

    keys = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, -np.inf, 0.5]])  # item 5 not allowed
    top = np.array([[0, 1, 2]])
    items, p = _epsilon_feed(np.repeat(keys, draws, axis=0), np.repeat(top, draws, axis=0), S, 0.4, rng)
    frequency = np.array([(items == i).any(axis=1).mean() for i in range(keys.shape[1])])
    rank = np.array([1, 2, 3, 4, 5, 99, 6])
    expected = epsilon_greedy_inclusion(rank, 6, S, 0.4)
    np.testing.assert_allclose(frequency, expected, atol=0.01)
    assert abs(expected.sum() - S) < 1e-12 and expected[5] == 0
    shown = items >= 0
    np.testing.assert_allclose(p[shown], expected[items[shown]])
