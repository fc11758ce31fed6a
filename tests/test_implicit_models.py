"""The implicit wrappers: seeded, so the same seed gives the same scores; and they learn something."""
import numpy as np
import pytest

from lineage.metrics import evaluate
from lineage.models.implicit_models import ImplicitALS, ImplicitALSConfig, ImplicitBPR, ImplicitBPRConfig
from lineage.models.popularity import Popularity
from lineage.models.registry import MODELS, make_model
from lineage.splits import split

SMALL = {
    "als": lambda seed: ImplicitALS(ImplicitALSConfig(factors=8, regularization=5.0, iterations=5, seed=seed)),
    "bpr": lambda seed: ImplicitBPR(ImplicitBPRConfig(factors=9, iterations=20, seed=seed)),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_same_seed_same_scores(name, planted_log):
    log = planted_log(n_users=100, n_items=80, per_user=12)
    users = np.arange(20)
    first = SMALL[name](seed=1).fit(log).score(users)
    again = SMALL[name](seed=1).fit(log).score(users)
    other = SMALL[name](seed=2).fit(log).score(users)
    assert first.shape == (20, log.n_items)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_bpr_score_includes_the_item_bias(planted_log):
    model = SMALL["bpr"](seed=0).fit(planted_log(n_users=60, n_items=40, per_user=10))
    assert np.all(model.user_factors_[:, -1] == 1.0)  # implicit's bias trick: a column of ones on the user side


@pytest.mark.parametrize("name", sorted(SMALL))
def test_beats_popularity_on_planted_structure(name, planted_log):
    parts = split(planted_log(seed=2), "per-user", 0.2, seed=0)
    model = (ImplicitALS(ImplicitALSConfig(factors=8, regularization=5.0, alpha=2.0)) if name == "als"
             else ImplicitBPR(ImplicitBPRConfig(factors=17, iterations=50, learning_rate=0.05)))
    recall = evaluate(model.fit(parts.train), parts.train, parts.test, k=10)["recall@10"]
    popularity = evaluate(Popularity().fit(parts.train), parts.train, parts.test, k=10)["recall@10"]
    assert recall > 1.5 * popularity


def test_registry_names():
    for name in ("userknn", "itemknn", "als", "als-numpy", "bpr"):
        assert name in MODELS
        model = make_model(name, "ml-100k")
        assert model.config_class is type(model.config)
