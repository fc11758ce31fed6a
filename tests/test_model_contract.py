"""The contract every recommender keeps (after implicit's RecommenderBaseTestMixin): each model of
the registry, and the two-tower through its class, fitted on the tiny world split by time:

- `fit` returns the model; `score` is (users, n_items); `recommend` is (users, k) of item indices,
  no repeats in a row, -1 only as trailing padding;
- no item the user has in train is recommended; a model with `scores_cold_items = False` never
  recommends an item without training events;
- the same seed gives the same lists (a second, fresh fit);
- users without training history: a model with `scores_cold_users = False` returns an empty list
  (all -1); `ColdUserFallback` gives them exactly the fallback's list and leaves the others alone;
  a model that scores them returns a full list.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lineage.models.cold_users import ColdUserFallback
from lineage.models.popularity import Popularity
from lineage.models.registry import MODELS, make_model
from lineage.splits import split

K = 10


@pytest.fixture(scope="module")
def parts(tiny_world):
    return split(tiny_world.interactions(), "temporal", 0.2, seed=0)


@pytest.fixture(scope="module")
def users(parts):
    """Every user: with history, and without (signed up late, or only active in the test period)."""
    users = np.arange(parts.train.n_users)
    without = parts.train.user_counts() == 0
    assert without.any() and (~without).any(), "the tiny world must have users of both kinds"
    return users


def build(name: str, world, quick_twotower_config):
    """A fresh, unfitted model: the registry's tuned world defaults; the two-tower small (2 epochs)."""
    if name == "twotower":
        from twotower_mini.features import SideLog
        from twotower_mini.recommender import TwoTowerRecommender

        return TwoTowerRecommender(quick_twotower_config(), side=SideLog.from_world(world))
    model = make_model(name, "world")
    if name in SMALLER:  # the same model at a smaller size, to keep the contract fast
        model = type(model)(config=replace(model.config, **SMALLER[name]))
    return model


SMALLER = {  # name -> config overrides on top of the tuned world defaults
    "deepwalk": dict(walks_per_node=4, walk_length=10, dim=16, epochs=1),
    "als-numpy": dict(factors=16, iterations=5),
}
NAMES = sorted(MODELS) + ["twotower"]


@pytest.fixture(scope="module")
def fitted(tiny_world, parts, users, quick_twotower_config):
    """name -> (model, lists), fitted once per module run; a second fit per model tests determinism."""
    cache = {}

    def get(name):
        if name not in cache:
            model = build(name, tiny_world, quick_twotower_config)
            assert model.fit(parts.train) is model
            cache[name] = model, model.recommend(users, k=K)
        return cache[name]
    return get


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_well_formed_lists(name, fitted, parts, users):
    model, lists = fitted(name)
    assert model.score(users[:7]).shape == (7, parts.train.n_items)
    assert lists.shape == (len(users), K) and np.issubdtype(lists.dtype, np.integer)
    assert lists.min() >= -1 and lists.max() < parts.train.n_items
    for row in lists:
        filled = row[row >= 0]
        assert len(set(filled.tolist())) == len(filled), f"{name}: an item repeats in a list"
        assert np.all(row[len(filled):] == -1), f"{name}: -1 must only pad the end of a list"


@pytest.mark.parametrize("name", NAMES)
def test_never_a_seen_item_nor_an_unscorable_cold_item(name, fitted, parts, users):
    model, lists = fitted(name)
    seen = parts.train.to_csr(binary=True)
    rows, cols = np.nonzero(lists >= 0)
    items = lists[rows, cols]
    assert np.asarray(seen[users[rows], items]).ravel().sum() == 0, f"{name} recommends items seen in train"
    if not model.scores_cold_items:
        cold = parts.train.item_counts() == 0
        assert cold.any()
        assert not cold[items].any(), f"{name} recommends an item without training events"


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_lists(name, fitted, tiny_world, parts, users, quick_twotower_config):
    _, lists = fitted(name)
    again = build(name, tiny_world, quick_twotower_config).fit(parts.train).recommend(users, k=K)
    assert np.array_equal(lists, again), f"{name}: two fits with the same seed disagree"


@pytest.mark.parametrize("name", NAMES)
def test_users_without_history(name, fitted, parts, users):
    model, lists = fitted(name)
    without = parts.train.user_counts()[users] == 0
    if model.scores_cold_users:
        assert np.all(lists[without, 0] >= 0), f"{name} says it scores users without history but returns nothing"
        return
    assert np.all(lists[without] == -1), f"{name} must return an empty list to a user without history"
    assert np.all(lists[~without, 0] >= 0), f"{name} returns nothing to a user with history"
    wrapped = ColdUserFallback(model, Popularity()).fit(parts.train)
    served = wrapped.recommend(users, k=K)
    fallback = Popularity().fit(parts.train).recommend(users[without], k=K)
    assert np.array_equal(served[without], fallback)
    assert np.array_equal(served[~without], lists[~without])


# ---- restored models: fit, save, load, and nothing changes ------------------------------------------
SAVABLE = {  # a model that can be saved, in each way its fitted state can be built
    "twotower (refit on all of train)": {},
    "twotower (fitted on a part, served on all of train)": dict(refit=False),
    "twotower (fitted on a part, served on that part)": dict(refit=False, serve_on_full_train=False),
    "twotower (an ensemble of 2)": dict(ensemble=2, validation_fraction=0.0),
}


@pytest.mark.parametrize("variant", sorted(SAVABLE))
def test_a_restored_model_recommends_exactly_what_the_fitted_one_did(variant, tiny_world, parts, users, tmp_path,
                                                                      quick_twotower_config):
    from twotower_mini import checkpoint
    from twotower_mini.features import SideLog
    from twotower_mini.recommender import TwoTowerRecommender

    side = SideLog.from_world(tiny_world)
    model = TwoTowerRecommender(replace(quick_twotower_config(), **SAVABLE[variant]), side=side).fit(parts.train)
    path = tmp_path / "model.safetensors"
    checkpoint.save(path, model, {"dataset": "world", "protocol": "temporal"}, parts.train)
    restored = checkpoint.restore(checkpoint.load(path), parts.train, side=side)
    assert np.array_equal(restored.score(users), model.score(users))  # every user, with history or without
    assert np.array_equal(restored.recommend(users, k=K), model.recommend(users, k=K))
    assert np.array_equal(restored.item_vectors_, model.item_vectors_)  # cold items: the same vectors
    assert np.array_equal(restored.recommend_new_user(k=K), model.recommend_new_user(k=K))
    assert restored.features_.now == model.features_.now
