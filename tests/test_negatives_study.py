"""lineage.negatives_study: the split and the per-user scores agree with lineage.metrics' means and with
a hand count, and one_at_a_time visits the base, each setting alone, then all of them."""
import numpy as np
import pytest

from lineage.metrics import evaluate_lists, mean_popularity_at_k, true_recall_at_k, users_with_test_events
from lineage.negatives_study import HATED_TASTE, WorldStudy, one_at_a_time
from lineage.world import WorldConfig


@pytest.fixture(scope="module")
def study():
    return WorldStudy.of(WorldConfig.sized("tiny", seed=3))


def test_the_study_evaluates_every_test_user_against_their_unseen_released_best_items(study):
    assert np.array_equal(study.users, users_with_test_events(study.test))
    assert study.true_top.shape == (len(study.users), 10)
    seen = study.train.to_csr()
    released = study.world.items["release_time"] < study.test.times.max() + 1
    for row, user in enumerate(study.users):
        best = study.true_top[row][study.true_top[row] >= 0]
        assert seen[user, best].nnz == 0 and released[best].all()


def test_per_user_scores_average_to_the_library_means(study):
    rng = np.random.default_rng(0)
    lists = np.stack([rng.permutation(study.train.n_items)[:10] for _ in study.users])
    scores = study.score(lists, 10)
    means = evaluate_lists(lists, study.users, study.train, study.test, 10)
    assert scores["recall"].mean() == pytest.approx(means["recall@10"])
    assert scores["ndcg"].mean() == pytest.approx(means["ndcg@10"])
    assert len(scores["recall"]) == means["n_eval_users"]
    assert scores["true recall"].mean() == pytest.approx(true_recall_at_k(lists, study.true_top, 10))
    assert scores["popularity"].mean() == pytest.approx(mean_popularity_at_k(lists, study.train, 10))
    full = (study.true_top >= 0).all(axis=1)
    assert np.allclose(study.score(study.true_top, 10)["true recall"][full], 1.0)


def test_the_hated_share_counts_listed_items_from_a_genre_the_user_hates(study):
    genre, taste = study.world.items["genre_index"], study.world.taste
    lists = np.tile(np.arange(10), (len(study.users), 1))
    lists[0, 5:] = -1  # a short list: its empty slots count neither way
    by_hand = [np.mean([taste[u, genre[i]] < HATED_TASTE for i in row if i >= 0]) for u, row in zip(study.users, lists)]
    assert np.allclose(study.score(lists, 10)["hated"], by_hand)
    items = np.where(np.arange(len(study.users)) % 3 == 0, -1, study.users % study.train.n_items)
    pairs = [(u, i) for u, i in zip(study.users, items) if i >= 0]
    assert study.hated_share(study.users, items) == pytest.approx(np.mean([taste[u, genre[i]] < HATED_TASTE
                                                                           for u, i in pairs]))
    assert np.isnan(study.hated_share(np.array([0]), np.array([-1])))


def test_scores_need_one_list_per_user(study):
    with pytest.raises(ValueError, match="lists for"):
        study.score(np.zeros((len(study.users) + 1, 10), dtype=np.int64), 10)


def test_one_at_a_time_visits_the_base_each_setting_alone_then_all():
    changes = {"choice_noise": 0.25, "position_bias": 0.0}
    steps = one_at_a_time(changes)
    assert list(steps) == ["none", "choice_noise", "position_bias", "all"]
    assert steps["none"] == {} and steps["choice_noise"] == {"choice_noise": 0.25} and steps["all"] == changes
    steps["all"]["choice_noise"] = 1.0
    assert changes["choice_noise"] == 0.25  # the steps are copies
    assert one_at_a_time({}) == {"none": {}, "all": {}}


def test_one_at_a_time_can_change_named_groups_of_settings_together():
    changes = {"choice_noise": 0.25, "position_bias": 0.0, "policy_personal_share": 1.0}
    steps = one_at_a_time(changes, {"users": ["choice_noise", "position_bias"], "feed": ["policy_personal_share"]})
    assert steps == {"none": {}, "users": {"choice_noise": 0.25, "position_bias": 0.0},
                     "feed": {"policy_personal_share": 1.0}, "all": changes}
    with pytest.raises(ValueError, match="unknown \\['leave_utility'\\]"):
        one_at_a_time(changes, {"users": ["leave_utility"]})
    with pytest.raises(ValueError, match="repeated \\['choice_noise'\\]"):
        one_at_a_time(changes, {"a": ["choice_noise"], "b": ["choice_noise"]})
