"""twotower_mini.staged: random negatives until validation levels off, then an impression fine-tune."""
import numpy as np
import pytest
import torch

from lineage.splits import split
from lineage.world import WorldConfig, generate_world
from twotower_mini import FeatureConfig, SampledSoftmax, SideLog, TowerConfig, TrainConfig, TwoTowerConfig
from twotower_mini.staged import StagedSchedule, fine_tune, fit_stage_one, fit_staged, stage_two_loss


@pytest.fixture(scope="module")
def tiny():
    world = generate_world(WorldConfig.sized("tiny", seed=0))
    parts = split(world.interactions(), "temporal", test_fraction=0.2, seed=42)
    config = TwoTowerConfig(features=FeatureConfig(history_length=10, drop=("counts",)),
                            towers=TowerConfig(embedding_dim=8, output_dim=8, hidden=()),
                            training=TrainConfig(loss=SampledSoftmax(), progress=False, epochs=3, batch_size=256,
                                                 patience=1),
                            refit=False)
    return parts.train, config, SideLog.from_world(world)


def weights(model) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_weight_zero_keeps_stage_ones_loss_and_a_weight_adds_impressions():
    config = TwoTowerConfig(training=TrainConfig(loss=SampledSoftmax(logq="exact")))
    assert stage_two_loss(config, StagedSchedule(impression_weight=0)) == config.training.loss
    loss = stage_two_loss(config, StagedSchedule(impression_weight=0.3, impression_negatives=5))
    assert (loss.impression_weight, loss.impression_negatives, loss.logq) == (0.3, 5, "exact")


@pytest.mark.parametrize("bad", [dict(impression_weight=-1), dict(epochs=0), dict(learning_rate_factor=0),
                                 dict(impression_negatives=0)])
def test_schedule_refuses_bad_settings(bad):
    with pytest.raises(ValueError, match="StagedSchedule"):
        StagedSchedule(**bad)


def test_fine_tune_leaves_stage_one_alone_and_the_weight_changes_what_is_learned(tiny):
    train, config, side = tiny
    first = fit_stage_one(train, config, side)
    before = weights(first.run.model)
    plain = fine_tune(first, config, StagedSchedule(impression_weight=0), side)
    hard = fine_tune(first, config, StagedSchedule(impression_weight=1.0), side)
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(first.run.model)))  # stage 1 untouched
    assert any(not np.array_equal(a, b) for a, b in zip(before, weights(plain.model)))  # stage 2 trained
    assert any(not np.allclose(a, b) for a, b in zip(weights(plain.model), weights(hard.model)))
    assert [row.get("stage") for row in hard.history][-1] == 2 and hard.best_epoch == first.run.best_epoch


def test_fit_staged_is_both_stages_and_deterministic(tiny):
    train, config, side = tiny
    schedule = StagedSchedule(impression_weight=0.3)
    once = fit_staged(train, config, schedule, side)
    again = fine_tune(fit_stage_one(train, config, side), config, schedule, side)
    assert np.array_equal(once.item_vectors(), again.item_vectors())
    torch.testing.assert_close(torch.from_numpy(once.user_vectors(np.arange(5))),
                               torch.from_numpy(again.user_vectors(np.arange(5))))
