"""The helpers the walkthroughs call instead of plumbing: id embedding rows (the +2 rule), a profile's
user vector (equal to the hand-built one), the rank of an entry inside its group (equal to the
lexsort the notebook used), and the figures (smoke tests with Agg: what is drawn, not pixels)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402

from lineage import grouped_bars, plot_factors, plot_neighbourhood, rank_in_group, split  # noqa: E402
from twotower_mini import FeatureConfig, SideLog, TowerConfig, TrainConfig, TwoTowerConfig  # noqa: E402
from twotower_mini import TwoTowerRecommender, as_tensors  # noqa: E402
from twotower_mini.features import PAD, UNKNOWN  # noqa: E402


@pytest.fixture(scope="module")
def fitted(tiny_world):
    parts = split(tiny_world.interactions(), "temporal", test_fraction=0.2, seed=0)
    config = TwoTowerConfig(features=FeatureConfig(history_length=10, use_user_id=True),
                            towers=TowerConfig(embedding_dim=8, hidden=(), output_dim=8),
                            training=TrainConfig(epochs=1, batch_size=512, progress=False), refit=False)
    return TwoTowerRecommender(config, side=SideLog.from_world(tiny_world)).fit(parts.train)


def test_id_embeddings_follow_the_plus_two_rule(fitted):
    features = fitted.features_
    users, items = np.arange(features.train.n_users), np.arange(features.train.n_items)
    P = fitted.model_.user_tower.bags["user_id"].weight.detach().numpy()
    Q = fitted.model_.item_tower.bags["item_id"].weight.detach().numpy()
    # rows 0 and 1 are PAD and UNKNOWN, so index + 2; an id with no event in the log the towers were
    # fitted on (here: the fit part, validation carved out) is UNKNOWN
    user_rows = np.where(features.user_has_events, users + 2, UNKNOWN)
    item_rows = np.where(features.item_counts > 0, items + 2, UNKNOWN)
    assert PAD == 0 and UNKNOWN == 1 and (user_rows == UNKNOWN).any() and (user_rows > UNKNOWN).any()
    np.testing.assert_array_equal(features.user_id_rows(users), user_rows)
    np.testing.assert_array_equal(features.item_id_rows(items), item_rows)
    np.testing.assert_array_equal(fitted.user_id_embeddings(users), P[user_rows])
    np.testing.assert_array_equal(fitted.item_id_embeddings(items), Q[item_rows])
    # the same rows the towers read: the features' own id columns
    np.testing.assert_array_equal(features.user_features(users, features.now)["user_id"][:, 0], user_rows)
    np.testing.assert_array_equal(features.item_features(items, features.now)["item_id"][:, 0], item_rows)


def test_id_embeddings_refuse_towers_without_an_id_table(tiny_world):
    parts = split(tiny_world.interactions(), "temporal", test_fraction=0.2, seed=0)
    config = TwoTowerConfig(towers=TowerConfig(embedding_dim=8, hidden=(), output_dim=8),
                            training=TrainConfig(epochs=1, batch_size=512, progress=False), refit=False)
    model = TwoTowerRecommender(config).fit(parts.train)  # use_user_id is off by default
    with pytest.raises(ValueError, match="user_id"):
        model.user_id_embeddings([0, 1])


def hand_built_profile(model, picked=None, words=None) -> np.ndarray:
    """What notebooks 04 and 05 wrote by hand before embed_profile existed."""
    builder = model.features_
    profile = {name: np.zeros_like(values) for name, values in
               builder.user_features(np.array([0]), builder.now).items()}
    if picked is not None:
        profile["history"] = (picked + 2)[None, :]
        profile["history_weights"] = np.full((1, len(picked)), 1.0 / len(picked), dtype=np.float32)
        profile["liked_history"] = (picked + 2)[None, :]
    if words is not None:
        profile["search_words"] = np.array([[builder.search_vocab.index.get(word, 1) for word in words]])
    with torch.no_grad():
        return model.model_.user_tower(as_tensors(profile)).numpy()[0]


def test_embed_profile_equals_the_hand_built_user(fitted):
    picked = np.array([3, 17, 42])
    np.testing.assert_array_equal(fitted.embed_profile(items=picked), hand_built_profile(fitted, picked=picked))
    words = list(fitted.features_.search_vocab.index)[2:4] + ["no-such-word"]
    np.testing.assert_array_equal(fitted.embed_profile(search_words=words), hand_built_profile(fitted, words=words))
    np.testing.assert_array_equal(fitted.embed_profile(items=picked, search_words=words),
                                  hand_built_profile(fitted, picked=picked, words=words))
    np.testing.assert_array_equal(fitted.embed_profile(), fitted.new_user_vector())  # nothing known
    with pytest.raises(ValueError, match="item indices"):
        fitted.embed_profile(items=[fitted.features_.train.n_items])


def test_rank_in_group_equals_the_lexsort_it_replaces():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 30, 500)
    times = rng.integers(0, 40, 500).astype(float)  # many ties: broken by input order
    newest_first = np.lexsort((-times, users))  # what notebook 03a wrote by hand
    u_sorted = users[newest_first]
    starts = np.r_[0, np.flatnonzero(u_sorted[1:] != u_sorted[:-1]) + 1]
    by_hand = np.arange(len(u_sorted)) - np.repeat(starts, np.diff(np.r_[starts, len(u_sorted)]))
    expected = np.empty(len(users), dtype=np.int64)
    expected[newest_first] = by_hand
    np.testing.assert_array_equal(rank_in_group(users, times), expected)
    assert rank_in_group(np.array([], dtype=np.int64), np.array([])).shape == (0,)
    np.testing.assert_array_equal(rank_in_group([0, 0, 1, 0], [1.0, np.nan, 5.0, 3.0]), [1, 2, 0, 0])


def test_plot_factors_draws_an_arrow_per_vector_and_labels():
    X, Y = np.array([[1.0, 0.1], [0.1, 1.0]]), np.array([[0.9, 0.0], [0.0, 0.8], [0.9, 0.01]])
    ax = plot_factors(X, Y, ["Ann", "Ben"], ["Dune", "Bread", "Foundation"])
    arrows = [a for a in ax.texts if a.get_text() == ""]
    labels = sorted(a.get_text() for a in ax.texts if a.get_text())
    assert len(arrows) == 5
    assert labels == ["Ann", "Ben", "Bread", "Dune, Foundation"]  # coinciding points share one label
    assert ax.get_xlabel() == "latent dimension 1"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["books (item factors)", "readers (user factors)"]
    plt.close("all")


def test_plot_neighbourhood_draws_a_spoke_per_neighbour():
    rng = np.random.default_rng(1)
    dense = rng.random((20, 20)) * (rng.random((20, 20)) < 0.6)
    np.fill_diagonal(dense, 0)
    related = sp.csr_matrix(dense)
    groups, names = rng.integers(0, 3, 20), [f"title {i} word" for i in range(20)]
    ax = plot_neighbourhood(related, 0, groups=groups, group_names=["a", "b", "c"], names=names,
                            sizes=np.arange(20) + 1, n=6, title="panel")
    spokes = [line for line in ax.lines if line.get_color() == "gray"]
    assert len(spokes) == 6 and ax.get_title() == "panel"
    assert len([t for t in ax.texts if "views" in t.get_text()]) == 6
    assert {t.get_text() for t in ax.get_legend().get_texts()} <= {"a", "b", "c"}
    plt.close("all")


def test_grouped_bars_draws_one_bar_per_series_and_category():
    values = {"popularity": {"with history": 0.05, "without": 0.04},
              "two towers": {"with history": 0.12, "without": 0.03},
              "ALS": {"with history": 0.10}}  # no value for the second category
    ax = grouped_bars(values, ylabel="nDCG@10", title="by segment")
    assert len(ax.patches) == 6  # 3 series x 2 categories (a missing one is an empty bar)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["with history", "without"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(values)
    assert ax.get_ylabel() == "nDCG@10" and ax.get_title() == "by segment"
    assert "0.120" in [t.get_text() for t in ax.texts]
    plt.close("all")
