"""twotower_mini.selection: the time-ordered recipe's settings chosen on validation carved by time, and
the history weight (the gate between a user's own vector and the no-history one)."""
from dataclasses import replace

import numpy as np
import pytest

from lineage.splits import split
from lineage.world import WorldConfig, generate_world
from twotower_mini import TwoTowerConfig
from twotower_mini.fitted import fit_towers
from twotower_mini.presets import preset
from twotower_mini.recommender import TwoTowerRecommender
from lineage.models.popularity import RecentPopularity
from twotower_mini.selection import TimeOrderedSearch, history_weight_scores, segment_scores, select_time_ordered


@pytest.fixture(scope="module")
def log():
    world = generate_world(WorldConfig.sized("tiny", seed=0))
    return split(world.interactions(), "temporal", test_fraction=0.2, seed=42).train


@pytest.fixture(scope="module")
def small_recipe():
    config = preset("csv", "temporal")
    return replace(config, towers=replace(config.towers, output_dim=8),
                   training=replace(config.training, epochs=2, batch_size=256))


def test_presets_choose_on_validation_only_where_nothing_was_tuned():
    assert preset("csv", "temporal").select_on_validation and preset("ml-latest", "leave-last-out").select_on_validation
    assert not preset("ml-100k", "temporal").select_on_validation
    assert not preset("csv", "random").select_on_validation and not preset("world").select_on_validation
    assert TimeOrderedSearch.for_protocol("leave-last-out").history_gap_fractions == (0.0,)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_history_weight_is_a_share(bad):
    with pytest.raises(ValueError, match="history_weight"):
        TwoTowerConfig(history_weight=bad)


def test_the_history_weight_blends_each_user_with_the_no_history_vector(log, small_recipe):
    towers = fit_towers(log, replace(small_recipe, select_on_validation=False))
    users = np.arange(20)
    own, constant = towers.user_vectors(users), towers.new_user_vector()
    for weight in (0.0, 0.5):
        gated = replace(towers, config=replace(towers.config, history_weight=weight)).user_vectors(users)
        np.testing.assert_allclose(gated, constant + weight * (own - constant), rtol=1e-5, atol=1e-6)
    assert not np.allclose(own, constant)  # the users' histories do move their vectors


def test_weight_zero_scores_the_no_history_answer_for_everyone(log, small_recipe):
    inner = split(log, "temporal", test_fraction=0.2, seed=0)
    towers = fit_towers(inner.train, replace(small_recipe, select_on_validation=False))
    scores = history_weight_scores(towers, inner.test, (0.0, 1.0))
    constant = replace(towers, config=replace(towers.config, history_weight=0.0))
    vectors = constant.user_vectors(np.arange(3))
    np.testing.assert_allclose(vectors, np.repeat(towers.new_user_vector()[None], 3, axis=0), rtol=1e-5, atol=1e-6)
    assert set(scores) == {0.0, 1.0} and all(0 <= s <= 1 for s in scores.values())


def test_selection_chooses_among_its_candidates_and_reports_why(log, small_recipe):
    search = TimeOrderedSearch(history_gap_fractions=(0.1, 0.02), max_epochs=2)
    first = select_time_ordered(log, small_recipe, search)
    again = select_time_ordered(log, small_recipe, search)
    chosen = first.config
    assert not chosen.select_on_validation and chosen.history_weight in search.history_weights
    assert chosen.features.history_gap_fraction in search.history_gap_fractions
    assert 1 <= chosen.training.epochs <= 2 and chosen == again.config  # deterministic
    assert [c["history_gap_fraction"] for c in first.report["candidates"]] == [0.1, 0.02]
    best = max(first.report["candidates"], key=lambda c: (c["validation ndcg@10"], -c["history_gap_fraction"]))
    assert chosen.features.history_gap_fraction == best["history_gap_fraction"]
    gate = first.report["history weight (validation ndcg@10, users with history)"]
    assert gate[str(chosen.history_weight)] == max(gate.values())  # the weight validation liked best
    assert "history_weight=" in first.report["chosen"]
    segments = first.report["segments (validation ndcg@10)"]
    lost = {name for name, row in segments.items() if row["recent-popularity"] > row["towers"]}
    assert set(chosen.recent_popularity_for) == lost  # recent popularity serves exactly the segments it won


@pytest.mark.parametrize("bad", [("everyone",), ("with_history", "with_history")])
def test_recent_popularity_segments_are_named_once_each(bad):
    with pytest.raises(ValueError, match="recent_popularity_for"):
        TwoTowerConfig(recent_popularity_for=bad)


def test_a_segment_given_to_recent_popularity_gets_its_lists_and_only_that_segment(log, small_recipe):
    towers = fit_towers(log, replace(small_recipe, select_on_validation=False))
    gated = TwoTowerRecommender.serving(replace(towers, config=replace(towers.config,
                                                                       recent_popularity_for=("with_history",))), log)
    plain = TwoTowerRecommender.serving(towers, log)
    known = np.flatnonzero(log.user_counts() > 0)[:10]
    new = np.flatnonzero(log.user_counts() == 0)[:5]
    assert len(new)  # the tiny world's train has users whose first event comes after the cut
    np.testing.assert_array_equal(gated.recommend(known, k=5), RecentPopularity().fit(log).recommend(known, k=5))
    np.testing.assert_array_equal(gated.recommend(new, k=5), plain.recommend(new, k=5))
    assert not np.array_equal(plain.recommend(known, k=5), gated.recommend(known, k=5))


def test_segment_scores_compare_the_towers_with_recent_popularity_on_the_same_users(log, small_recipe):
    inner = split(log, "temporal", test_fraction=0.2, seed=0)
    towers = fit_towers(inner.train, replace(small_recipe, select_on_validation=False))
    rows = segment_scores(towers, inner.test, 1.0)
    with_history = (inner.test.user_counts() > 0) & (inner.train.user_counts() > 0)
    assert rows["with_history"]["users"] == with_history.sum()
    assert all(0 <= row[name] <= 1 for row in rows.values() for name in ("towers", "recent-popularity"))


def test_the_recommender_selects_then_fits_with_the_choice(log, small_recipe):
    model = TwoTowerRecommender(small_recipe).fit(log)
    assert model.selection_ is not None and model.config == model.selection_.config
    assert model.recommend(np.arange(5), k=5).shape == (5, 5)


def test_a_checkpoint_keeps_the_chosen_history_weight_and_segments(log, small_recipe, tmp_path):
    from twotower_mini import checkpoint

    towers = fit_towers(log, replace(small_recipe, select_on_validation=False, history_weight=0.25,
                                     recent_popularity_for=("without_history",)))
    path = tmp_path / "gated.safetensors"
    checkpoint.save(path, towers, {"dataset": "world", "protocol": "temporal", "seed": 42}, log)
    restored = checkpoint.restore_towers(checkpoint.load(path), log)
    assert restored.config.history_weight == 0.25 and restored.config.recent_popularity_for == ("without_history",)
    np.testing.assert_allclose(restored.user_vectors(np.arange(10)), towers.user_vectors(np.arange(10)), atol=1e-6)
