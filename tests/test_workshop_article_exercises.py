"""The three exercises on negatives, leaks and the GBDT ranker: each check passes the right answer,
stays quiet about a missing one and fails plausible wrong ones with a message that helps."""
from dataclasses import replace

import numpy as np
import pytest

import sys
from pathlib import Path

from lineage.world import WorldConfig, generate_world
from twotower_mini.config import FeatureConfig, FullSoftmax, TrainConfig
from twotower_mini.features import FeatureBuilder, SideLog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks" / "exercises"))
from workshop import cold_start_side_information_leakage as leak06  # noqa: E402
from workshop import negatives as negatives05  # noqa: E402
from workshop import serving_and_ranking as ranking07  # noqa: E402


def test_mixed_negatives_check():
    base = TrainConfig(progress=False, epochs=2, batch_size=512)

    def mixed(**loss):
        return replace(base, loss=replace(base.loss, **{"uniform_negatives": 256, **loss}))

    assert negatives05.check_mixed_negatives(mixed(), base)
    assert negatives05.check_mixed_negatives(None, base) is False
    for wrong, message in [(base, "uniform_negatives"), (mixed(in_batch=False), "in_batch"),
                           (mixed(logq="none"), "logQ"), (mixed(impression_negatives=7), "impression"),
                           (mixed(uniform_negatives=100), "256"), (mixed(temperature=0.1), "loss.temperature"),
                           (replace(base, loss=FullSoftmax()), "SampledSoftmax"),
                           (replace(mixed(), epochs=5), "epochs"), (replace(mixed(), batch_size=1024), "batch_size"),
                           (replace(mixed(), learning_rate=1e-2), "learning_rate")]:
        with pytest.raises(AssertionError, match=message):
            negatives05.check_mixed_negatives(wrong, base)


@pytest.fixture(scope="module")
def tiny():
    world = generate_world(WorldConfig.sized("tiny"))
    return world, world.interactions(), SideLog.from_world(world)


def test_leak_check_finds_the_planted_field_and_only_it(tiny):
    world, data, side = tiny
    config = FeatureConfig(history_length=10)
    t = float(np.quantile(data.times, 0.7))
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, data.n_users, 200), rng.integers(0, data.n_items, 200)
    found = leak06.reference_leaking_fields(leak06.MysteryFeatures, data, config, side, t, users, items)
    assert found == {"liked_history"}
    assert leak06.reference_leaking_fields(FeatureBuilder, data, config, side, t, users, items) == set()
    args = (leak06.MysteryFeatures, data, config, side, t, users, items)
    assert leak06.check_leaking_fields({"liked_history"}, *args)
    assert leak06.check_leaking_fields(None, *args) is False
    with pytest.raises(AssertionError, match="point-in-time"):
        leak06.check_leaking_fields({"liked_history", "history"}, *args)
    with pytest.raises(AssertionError, match="missing"):
        leak06.check_leaking_fields(set(), *args)


def test_genre_affinity_check(tiny):
    world, data, side = tiny
    rng = np.random.default_rng(1)
    rows = rng.choice(len(data), 100, replace=False)
    users, items, times = data.users[rows], rng.integers(0, data.n_items, 100), data.times[rows]
    genre = np.asarray(data.item_features["genre"]).astype(str)
    slow = np.array([np.mean(genre[data.items[(data.users == u) & (data.times < t)]] == genre[i])
                     if ((data.users == u) & (data.times < t)).any() else 0.0 for u, i, t in zip(users, items, times)])
    assert np.allclose(ranking07.reference_genre_affinity(data, users, items, times), slow)  # slow version
    assert ranking07.check_genre_affinity(slow, data, users, items, times)
    assert ranking07.check_genre_affinity(None, data, users, items, times) is False
    including = np.array([np.mean(genre[data.items[(data.users == u) & (data.times <= t)]] == genre[i])
                          for u, i, t in zip(users, items, times)])  # every row is one of the user's views
    with pytest.raises(AssertionError, match="<= t"):
        ranking07.check_genre_affinity(including, data, users, items, times)
