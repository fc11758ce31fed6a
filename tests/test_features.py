"""Point-in-time features (lesson L6): no feature of an example may depend on an event at or
after the example's time. Checked as a property over random small logs: changing the log from time
t on (events removed and added, searches added: `twotower_mini.leakage`) must not change any
feature as of t. A deliberately leaky builder, and a leaky all-time count, must fail the same check
(the count passes a test that only shuffles the future, which keeps every total)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage.data import Interactions, is_liked
from lineage.world import WorldConfig, generate_world
from twotower_mini.config import FeatureConfig
from twotower_mini.features import DAY, EventIndex, FeatureBuilder, SideLog, Vocabulary
from twotower_mini.leakage import change_future, fields_that_read_the_future

WORDS = ["space", "ship", "love", "paris", "war", "chef", "goal", "song"]


def make_log(rng, n_events, n_users, n_items, n_times):
    times = rng.integers(0, n_times, n_events).astype(float) * DAY / 4  # many ties on purpose
    data = Interactions(
        users=rng.integers(0, n_users, n_events), items=rng.integers(0, n_items, n_events), times=times,
        values=rng.choice([1.0, 2.0], n_events),
        user_ids=np.array([f"u{u}" for u in range(n_users)]), item_ids=np.array([f"i{i}" for i in range(n_items)]),
        user_features={"region": np.array([["north", "south"][u % 2] for u in range(n_users)])},
        item_features={"genre": np.array([["scifi", "drama", "food"][i % 3] for i in range(n_items)]),
                       "release_time": rng.integers(-20, n_times, n_items).astype(float) * DAY / 4},
    )
    n_searches = max(1, n_events // 2)
    side = SideLog(search_users=rng.integers(0, n_users, n_searches),
                   search_times=rng.integers(0, n_times, n_searches).astype(float) * DAY / 4,
                   search_queries=[" ".join(rng.choice(WORDS, rng.integers(1, 3))) for _ in range(n_searches)])
    return data, side


def features_at(builder, user, item, t):
    return builder.user_features(np.array([user]), np.array([t])), builder.item_features(np.array([item]), np.array([t]))


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def check_point_in_time(config, seed, n_events, n_users, n_items, n_times):
    rng = np.random.default_rng(seed)
    data, side = make_log(rng, n_events, n_users, n_items, n_times)
    example = rng.integers(0, n_events)
    user, item, t = data.users[example], data.items[example], data.times[example]
    changed, changed_side = change_future(data, t, seed, side)
    original = FeatureBuilder(data, config, side)
    other = FeatureBuilder(changed, config, changed_side)
    u1, i1 = features_at(original, user, item, t)
    u2, i2 = features_at(other, user, item, t)
    return same(u1, u2) and same(i1, i2)


log_shapes = dict(seed=st.integers(0, 10_000), n_events=st.integers(2, 60), n_users=st.integers(1, 5),
                  n_items=st.integers(1, 8), n_times=st.integers(1, 12))


@settings(max_examples=150, deadline=None)
@given(**log_shapes)
def test_no_feature_depends_on_an_event_at_or_after_its_time(seed, n_events, n_users, n_items, n_times):
    config = FeatureConfig(min_token_count=1, item_age=True, recent_length=2)
    assert check_point_in_time(config, seed, n_events, n_users, n_items, n_times)


def test_a_leaky_builder_fails_the_same_check():
    config = FeatureConfig(min_token_count=1, leaky=True, item_age=True)
    failures = sum(not check_point_in_time(config, seed, 40, 3, 6, 8) for seed in range(30))
    assert failures >= 20, f"the leaky builder passed the point-in-time check {30 - failures} times out of 30"


def test_history_holds_exactly_the_items_before_t_most_recent_last():
    data = Interactions(users=[0, 0, 0, 0, 1], items=[3, 1, 2, 0, 3], times=[5, 1, 3, 3, 0], values=[1, 1, 1, 1, 1],
                        user_ids=np.array(["a", "b"]), item_ids=np.array(["w", "x", "y", "z"]))
    builder = FeatureBuilder(data, FeatureConfig(history_length=3, recency_half_life_days=None))
    history = builder.user_features(np.array([0, 0, 0]), np.array([3.0, 4.0, 100.0]))["history"]
    # token = item index + 2 (0 is padding). At t=3 only x (time 1) is strictly before; y and z
    # (time 3) are not. At t=4: x, then y and z. At t=100: the last three, w (time 5) last.
    assert history[0].tolist() == [0, 0, 1 + 2]
    assert history[1][0] == 1 + 2 and sorted(history[1][1:].tolist()) == [0 + 2, 2 + 2]
    assert history[2][-1] == 3 + 2 and sorted(history[2][:2].tolist()) == [0 + 2, 2 + 2]


def test_recent_history_holds_the_last_items_before_t_by_a_slow_scan():
    rng = np.random.default_rng(5)
    n = 300
    data = Interactions(users=rng.integers(0, 6, n), items=rng.integers(0, 20, n), times=np.arange(n) * 60.0,
                        values=np.ones(n), user_ids=np.array([f"u{u}" for u in range(6)]),
                        item_ids=np.array([f"i{i}" for i in range(20)]))
    builder = FeatureBuilder(data, FeatureConfig(history_length=10, recent_length=3, count_windows_days=()))
    users, times = rng.integers(0, 6, 50), rng.uniform(0, n * 60.0, 50)
    recent = builder.user_features(users, times)["recent_history"]  # (50, 3) item + 2, oldest first
    for row, (user, t) in enumerate(zip(users, times)):
        before = data.items[(data.users == user) & (data.times < t)][-3:] + 2  # times ascend: the last three
        expected = np.r_[np.zeros(3 - len(before), dtype=np.int64), before]  # padded on the left
        assert recent[row].tolist() == expected.tolist()


def test_recent_history_needs_point_in_time_histories():
    data = Interactions(users=[0, 1], items=[0, 1], times=[0, 1], values=[1, 1], user_ids=np.array(["a", "b"]),
                        item_ids=np.array(["x", "y"]))
    with pytest.raises(ValueError, match="recent_length=3: expected history_mode 'before'"):
        FeatureBuilder(data, FeatureConfig(recent_length=3, history_mode="all-but-target"))
    with pytest.raises(ValueError, match="at most history_length=2"):
        FeatureBuilder(data, FeatureConfig(recent_length=3, history_length=2))


def test_dynamic_counts_use_only_the_window_before_t():
    times = np.array([0.0, 0.5, 2.0, 9.0]) * DAY
    data = Interactions(users=[0, 1, 2, 3], items=[0, 0, 0, 0], times=times, values=[1, 2, 1, 1],
                        user_ids=np.array(["a", "b", "c", "d"]), item_ids=np.array(["x"]))
    builder = FeatureBuilder(data, FeatureConfig(count_windows_days=(1.0, 7.0)))
    counts = np.expm1(builder.item_features(np.array([0]), np.array([2.0 * DAY]))["counts"])[0]
    # views in [1d, 2d): none; likes none; views in [-5d, 2d): 2 (the one at 2d is not before); likes 1
    assert np.allclose(counts, [0, 0, 2, 1])


def test_event_index_agrees_with_a_slow_scan():
    rng = np.random.default_rng(3)
    groups, times = rng.integers(0, 4, 50), rng.integers(0, 10, 50).astype(float)
    index = EventIndex(groups, times, np.arange(50), 4)
    for g in range(4):
        for t in range(-1, 12):
            slow = np.sort(times[(groups == g) & (times < t)])
            fast = np.sort(times[index.values[index.position_before(np.array([g]), np.array([t]))[0] - len(slow):
                                              index.position_before(np.array([g]), np.array([t]))[0]]])
            assert np.array_equal(slow, fast)
            assert index.count_between(np.array([g]), np.array([t - 3.0]), np.array([float(t)]))[0] == \
                ((groups == g) & (times >= t - 3) & (times < t)).sum()


def test_vocabulary_pads_and_marks_unknown_tokens():
    vocab = Vocabulary(["a", "b", "b", "c"], min_count=2)
    assert vocab.encode([("b", "a", "zzz"), ()]).tolist() == [[2, 1, 1], [0, 0, 0]]
    assert len(vocab) == 3


def test_a_counter_over_large_keys_counts_a_window_strictly_before_its_end():
    counter = EventIndex.counter(np.array([3, 3, 3, 7]) * 10**9, np.array([1.0, 2.0, 5.0, 2.0]))
    assert counter.count(np.array([3, 3, 3, 7, 9]) * 10**9, np.array([0, 2, -np.inf, 0, 0]),
                         np.array([5, 5, 5.5, 2, 10])).tolist() == [2, 1, 3, 0, 0]


def test_a_counter_matches_counting_by_hand_on_ties():
    rng = np.random.default_rng(0)
    keys, times = rng.integers(0, 30, 400) * 1_000_003, rng.integers(0, 20, 400).astype(float) * DAY / 4
    queries, starts = rng.integers(0, 32, 300) * 1_000_003, rng.integers(-2, 20, 300) * DAY / 4
    ends = starts + rng.integers(0, 8, 300) * DAY / 4
    slow = [np.sum((keys == k) & (times >= s) & (times < e)) for k, s, e in zip(queries, starts, ends)]
    assert EventIndex.counter(keys, times).count(queries, starts, ends).tolist() == slow
    assert EventIndex.counter(keys[:0], times[:0]).count(queries, starts, ends).tolist() == [0] * 300


def test_a_like_has_one_definition_for_views_and_ratings():
    assert is_liked(np.array([1.0, 2.0, 1.0])).tolist() == [False, True, False]  # a view log: likes are 2
    assert is_liked(np.array([1.0, 3.0, 4.0, 5.0])).tolist() == [False, False, True, True]  # ratings: 4 and up
    world = generate_world(WorldConfig.sized("tiny"))
    log = world.interactions()
    assert is_liked(log.values).sum() == world.views["liked"].sum() > 0
    assert np.array_equal(FeatureBuilder(log).liked, is_liked(log.values))



class AllTimeViews(FeatureBuilder):
    """A deliberately leaky builder: each item's total views over the whole log, the future included."""

    def item_features(self, items, times):
        out = super().item_features(items, times)
        out["all_time_views"] = self.train.item_counts()[np.asarray(items)][:, None]
        return out


def _shuffled_future(data, t, rng):
    """The old test: future events shuffled among themselves (every item's future total kept)."""
    future = data.times >= t
    users, items = data.users.copy(), data.items.copy()
    users[future], items[future] = rng.permutation(users[future]), rng.permutation(items[future])
    return Interactions(users=users, items=items, times=data.times, values=data.values, user_ids=data.user_ids,
                        item_ids=data.item_ids)


def test_a_leaky_all_time_count_is_caught_by_changing_the_future_and_missed_by_shuffling_it():
    rng = np.random.default_rng(11)
    data, side = make_log(rng, 400, 12, 15, 40)
    t = float(np.quantile(data.times, 0.5))
    config = FeatureConfig(min_token_count=1)
    users, items = np.arange(12), np.arange(15)
    assert fields_that_read_the_future(AllTimeViews, data, config, side, t, users, items) == {"all_time_views"}
    assert fields_that_read_the_future(FeatureBuilder, data, config, side, t, users, items) == set()
    shuffled = AllTimeViews(_shuffled_future(data, t, rng), config, side).item_features(items, t)["all_time_views"]
    assert np.array_equal(shuffled, AllTimeViews(data, config, side).item_features(items, t)["all_time_views"])


def test_changing_the_future_keeps_the_past_and_the_vocabularies():
    rng = np.random.default_rng(12)
    data, side = make_log(rng, 300, 10, 12, 30)
    t = float(np.quantile(data.times, 0.4))
    changed, changed_side = change_future(data, t, seed=3, side=side, min_count=2)
    past = data.times < t
    order, changed_order = np.lexsort((data.items, data.users, data.times)), \
        np.lexsort((changed.items, changed.users, changed.times))
    before = np.c_[data.users, data.items, data.times][order][past[order]]
    after = np.c_[changed.users, changed.items, changed.times][changed_order][changed.times[changed_order] < t]
    assert np.array_equal(before, after)  # the past is untouched
    assert not np.array_equal(np.bincount(changed.items[changed.times >= t], minlength=12),
                              np.bincount(data.items[data.times >= t], minlength=12))  # the future's totals moved
    assert set(changed.users.tolist()) == set(data.users.tolist())
    assert set(changed.items.tolist()) == set(data.items.tolist())
    assert changed.times.max() == data.times.max()
    words = lambda s: {w for q in s.search_queries for w in str(q).split()}  # noqa: E731
    assert len(changed_side.search_times) > len(side.search_times) and words(changed_side) <= words(side)
