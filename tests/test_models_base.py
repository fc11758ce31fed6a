"""The shared recommend(): top-k selection and seen-item exclusion against a slow reference."""
import numpy as np

from lineage.data import Interactions
from lineage.models import Popularity, Recommender, top_k


def test_top_k_matches_a_full_sort():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(20, 50)).astype(np.float32)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    assert np.array_equal(top_k(scores, 7), expected)


def test_top_k_marks_masked_slots_with_minus_one():
    scores = np.array([[1.0, -np.inf, 3.0, -np.inf]])
    assert top_k(scores, 3).tolist() == [[2, 0, -1]]


class FixedScores(Recommender):
    scores_cold_items = True

    def __init__(self, scores):
        self.scores = scores

    def _fit(self, train):
        pass

    def score(self, users):
        return self.scores[users]


def test_recommend_excludes_training_items_only_when_asked():
    train = Interactions(users=[0, 0, 1], items=[2, 0, 1], times=[0, 1, 2], values=[1, 1, 1],
                         user_ids=np.array(["a", "b"]), item_ids=np.array(["x", "y", "z", "w"]))
    scores = np.array([[4.0, 3.0, 5.0, 1.0], [1.0, 9.0, 2.0, 3.0]], dtype=np.float32)
    model = FixedScores(scores).fit(train)
    assert model.recommend([0, 1], k=2).tolist() == [[1, 3], [3, 2]]
    assert model.recommend([0, 1], k=2, exclude_seen=False).tolist() == [[2, 0], [1, 3]]
    assert model.recommend([0], k=4).tolist() == [[1, 3, -1, -1]]


def test_popularity_counts_users_and_respects_the_window():
    day = 86400.0
    train = Interactions(users=[0, 1, 2, 0, 0, 1], items=[0, 0, 0, 1, 1, 1], times=[0, 0, 0, 9 * day, 9 * day, 9 * day],
                         values=np.ones(6), user_ids=np.array(["a", "b", "c"]), item_ids=np.array(["x", "y", "z"]))
    model = Popularity().fit(train)
    assert model.recommend([2], k=2, exclude_seen=False).tolist() == [[0, 1]]  # 3 users beat 2 users
    recent = Popularity(Popularity.config_class(window_days=2)).fit(train)
    assert recent.recommend([2], k=1, exclude_seen=False).tolist() == [[1]]


class FixedScoresWithoutItemFeatures(FixedScores):
    scores_cold_items = False  # like MF or kNN: nothing is known about an item without events


def test_models_without_item_features_never_recommend_cold_items():
    train = Interactions(users=[0, 1], items=[0, 1], times=[0, 1], values=[1, 1],
                         user_ids=np.array(["a", "b"]), item_ids=np.array(["x", "y", "z"]))
    scores = np.array([[1.0, 2.0, 9.0], [3.0, 1.0, 9.0]], dtype=np.float32)  # z (cold) scores highest
    assert FixedScoresWithoutItemFeatures(scores).fit(train).recommend([0, 1], k=2, exclude_seen=False).tolist() == \
        [[1, 0], [0, 1]]
    assert FixedScores(scores).fit(train).recommend([0, 1], k=1, exclude_seen=False).tolist() == [[2], [2]]


def test_recent_popularity_counts_the_last_share_of_the_training_period():
    from lineage.models import RecentPopularity, RecentPopularityConfig
    day = 86400.0
    # item 0: three users early; item 1: two users in the last 10% of a 100-day period
    train = Interactions(users=[0, 1, 2, 3, 4, 5], items=[0, 0, 0, 1, 1, 2], times=[0, 1, 2, 95 * day, 99 * day, 100 * day],
                         values=np.ones(6), user_ids=np.arange(7).astype(str), item_ids=np.array(["x", "y", "z"]))
    assert RecentPopularity().fit(train).recommend([6], k=3).tolist() == [[1, 2, 0]]
    assert RecentPopularity(RecentPopularityConfig(window_fraction=1.0)).fit(train).recommend([6], k=1).tolist() == [[0]]


def test_users_without_history_get_an_empty_list_or_the_policy_fallback():
    import pytest
    from lineage.models.cold_users import ColdUserFallback, with_cold_user_policy
    train = Interactions(users=[0, 0, 1, 2], items=[0, 1, 1, 2], times=[0, 1, 2, 3], values=np.ones(4),
                         user_ids=np.array(["a", "b", "c", "new"]), item_ids=np.array(["x", "y", "z"]))
    scores = np.zeros((4, 3), dtype=np.float32)  # a cold user's scores: all tied
    alone = FixedScoresWithoutItemFeatures(scores)
    alone.scores_cold_users = False
    assert alone.fit(train).recommend([3], k=2).tolist() == [[-1, -1]]  # defined: nothing, not a tie order
    wrapped = ColdUserFallback(alone, Popularity()).fit(train)
    assert wrapped.recommend([3, 0], k=2).tolist() == [[1, 0], [2, -1]]  # popularity for the new user only
    assert with_cold_user_policy(alone, "none") is alone
    assert with_cold_user_policy(Popularity(), "popularity").__class__ is Popularity  # it serves everyone itself
    with pytest.raises(ValueError, match="cold-user policy"):
        with_cold_user_policy(alone, "random")
