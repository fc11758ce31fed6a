"""The item-side bag of the users who liked the item (FeatureConfig.liked_by_length): off by default,
equal to a slow scan of the log (the last likers strictly before t, oldest first), point-in-time (changing
only the future moves nothing as of t; the all-time bag of a leaky builder does move), and usable in
training, except by the snapshot softmaxes, which take item bags as fixed in time."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage.data import Interactions, is_liked
from twotower_mini.checkpoint_schema import config_from_dict, config_to_dict
from twotower_mini.config import FeatureConfig, SnapshotSoftmax, TimeSoftmax, TowerConfig, TrainConfig, TwoTowerConfig
from twotower_mini.features import DAY, PAD, UNKNOWN, FeatureBuilder
from twotower_mini.leakage import fields_that_read_the_future
from twotower_mini.recommender import TwoTowerRecommender


def random_log(seed: int, n_events: int = 60, n_users: int = 5, n_items: int = 6, n_times: int = 10) -> Interactions:
    """A small log with many ties in time and about half of the views liked (value 2)."""
    rng = np.random.default_rng(seed)
    return Interactions(users=rng.integers(0, n_users, n_events), items=rng.integers(0, n_items, n_events),
                        times=rng.integers(0, n_times, n_events).astype(float) * DAY / 4,
                        values=rng.choice([1.0, 2.0], n_events),
                        user_ids=np.array([f"u{u}" for u in range(n_users)]),
                        item_ids=np.array([f"i{i}" for i in range(n_items)]))


def slow_liked_by(data: Interactions, item: int, t: float, length: int) -> list[int]:
    """The user rows (user + 2) of the last `length` likes of `item` strictly before t, oldest first,
    padded on the left; ties in time keep the log's order."""
    rows = np.flatnonzero((data.items == item) & is_liked(data.values) & (data.times < t))
    rows = rows[np.argsort(data.times[rows], kind="stable")][-length:] if length else rows[:0]
    return [PAD] * (length - len(rows)) + (data.users[rows] + 2).tolist()


def test_the_bag_is_off_by_default():
    data = random_log(0)
    assert FeatureConfig().liked_by_length == 0
    assert "liked_by" not in {spec.name for spec in FeatureBuilder(data).item_fields()}
    assert "liked_by" not in FeatureBuilder(data).item_features(np.arange(3), 5 * DAY)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), length=st.integers(1, 6))
def test_the_bag_equals_a_slow_scan_of_the_log(seed, length):
    data = random_log(seed)
    builder = FeatureBuilder(data, FeatureConfig(liked_by_length=length, count_windows_days=()))
    spec = {s.name: s for s in builder.item_fields()}["liked_by"]
    assert spec.kind == "bag" and spec.size == data.n_users + 2
    rng = np.random.default_rng(seed)
    items, times = rng.integers(0, data.n_items, 25), rng.integers(-1, 12, 25).astype(float) * DAY / 4
    bag = builder.item_features(items, times)["liked_by"]  # (25, length)
    assert bag.shape == (25, length)
    for row, (item, t) in enumerate(zip(items, times)):
        assert bag[row].tolist() == slow_liked_by(data, item, t, length)


@pytest.mark.parametrize("seed", range(6))
def test_the_bag_as_of_t_does_not_read_the_future(seed):
    data = random_log(seed, n_events=80)
    t = float(np.quantile(data.times, 0.5))
    config = FeatureConfig(liked_by_length=4, count_windows_days=(), min_token_count=1)
    users, items = np.arange(data.n_users), np.arange(data.n_items)
    assert fields_that_read_the_future(FeatureBuilder, data, config, None, t, users, items) == set()


def test_an_all_time_bag_reads_the_future():
    """The leaky builder's bag (the item's last likers in the whole log) moves when only the future changes."""
    config = FeatureConfig(liked_by_length=4, count_windows_days=(), min_token_count=1, leaky=True)
    caught = 0
    for seed in range(6):
        data = random_log(seed, n_events=80)
        t = float(np.quantile(data.times, 0.5))
        moved = fields_that_read_the_future(FeatureBuilder, data, config, None, t, np.arange(data.n_users),
                                            np.arange(data.n_items))
        caught += "liked_by" in moved
    assert caught >= 5


def test_a_liker_first_seen_after_the_fitted_part_stays_unknown():
    """Served on a longer log, a user without events in the fitted log has an untrained id row: UNKNOWN."""
    early = Interactions(users=[0, 1], items=[0, 0], times=[0.0, DAY], values=[2.0, 2.0],
                         user_ids=np.array(["a", "b", "c"]), item_ids=np.array(["x"]))
    later = Interactions(users=[0, 1, 2], items=[0, 0, 0], times=[0.0, DAY, 2 * DAY], values=[2.0, 2.0, 2.0],
                         user_ids=early.user_ids, item_ids=early.item_ids)
    builder = FeatureBuilder(early, FeatureConfig(liked_by_length=3, count_windows_days=())).extended_to(later)
    assert builder.item_features(np.array([0]), 3 * DAY)["liked_by"].tolist() == [[0 + 2, 1 + 2, UNKNOWN]]


def test_towers_train_and_serve_with_the_bag():
    data = random_log(1, n_events=200, n_users=12, n_items=15, n_times=40)
    config = TwoTowerConfig(features=FeatureConfig(history_length=5, liked_by_length=5, count_windows_days=()),
                            towers=TowerConfig(embedding_dim=8, hidden=(8,), output_dim=8),
                            training=TrainConfig(epochs=2, batch_size=32, progress=False), refit=False)
    model = TwoTowerRecommender(config).fit(data)
    assert "liked_by" in model.model_.item_tower.bags
    lists = model.recommend(np.arange(data.n_users), k=3)
    assert lists.shape == (data.n_users, 3)


def test_the_snapshot_softmaxes_refuse_the_bag():
    features = FeatureConfig(liked_by_length=5)
    with pytest.raises(ValueError, match="liked_by"):
        TwoTowerConfig(features=features, training=TrainConfig(loss=SnapshotSoftmax()))
    with pytest.raises(ValueError, match="liked_by"):
        TwoTowerConfig(features=features, towers=TowerConfig(linear_only=True, l2_normalize=False),
                       training=TrainConfig(loss=TimeSoftmax()))


def test_the_setting_survives_a_checkpoint_config():
    config = TwoTowerConfig(features=FeatureConfig(liked_by_length=7))
    assert config_from_dict(config_to_dict(config)) == config
