"""SnapshotSoftmax, the sampled softmax with every candidate of a row (its positive, the batch's other
positives, the uniform negatives) has its time-dependent item inputs as of that row's event, on a grid
of moments. Checked against a slow loop over rows that featurises each candidate at the row's moment;
the tower's many-moments forward against its ordinary forward; the moments against the events (never
after, at most one step before); the settings that cannot go with it refused; the default untouched; the
loss through a checkpoint's config and back."""
import numpy as np
import pytest
import torch

from lineage.data import Interactions
from twotower_mini.batches import BatchLoss
from twotower_mini.checkpoint_schema import config_from_dict, config_to_dict
from twotower_mini.config import (FeatureConfig, SampledSoftmax, SnapshotSoftmax, TowerConfig, TrainConfig,
                                  TwoTowerConfig)
from twotower_mini.features import DAY, FeatureBuilder
from twotower_mini.recommender import TwoTowerRecommender
from twotower_mini.towers import TwoTowerModel, as_tensors

TEMPERATURE = 0.1


def small_log(seed=0, n_events=120, n_users=8, n_items=10, days=12) -> Interactions:
    rng = np.random.default_rng(seed)
    return Interactions(users=rng.integers(0, n_users, n_events), items=rng.integers(0, n_items, n_events),
                        times=np.sort(rng.uniform(0, days, n_events)) * DAY, values=rng.choice([1.0, 2.0], n_events),
                        user_ids=np.array([f"u{u}" for u in range(n_users)]),
                        item_ids=np.array([f"i{i}" for i in range(n_items)]),
                        item_features={"genre": np.array(["a", "b", "c"] * 4)[:n_items],
                                       "release_time": rng.uniform(-5, days, n_items) * DAY})


def towers(features: FeatureBuilder, linear: bool = False) -> TwoTowerModel:
    torch.manual_seed(0)
    config = TowerConfig(embedding_dim=6, hidden=(7,), output_dim=5, linear_only=linear, l2_normalize=not linear,
                         bias=linear)
    return TwoTowerModel(features.user_fields(), features.item_fields(), config)


def builder(data: Interactions) -> FeatureBuilder:
    return FeatureBuilder(data, FeatureConfig(history_length=5, count_windows_days=(1.0, 3.0), item_age=True,
                                              min_token_count=1))


@pytest.mark.parametrize("linear", [False, True])
def test_forward_at_moments_equals_the_forward_at_each_moment(linear):
    data = small_log()
    features = builder(data)
    tower = towers(features, linear).item_tower
    items, moments = np.array([0, 3, 3, 7]), np.array([1.0, 4.5, 9.0]) * DAY
    at = [features.item_features(items, moment) for moment in moments]
    inputs = {name: values for name, values in at[0].items() if name not in tower.numeric_names}
    inputs.update({name: np.stack([a[name] for a in at], axis=1) for name in tower.numeric_names})  # (U, G, d)
    fast = tower.forward_at_moments(as_tensors(inputs), len(moments))  # (U, G, D)
    slow = torch.stack([tower(as_tensors(a)) for a in at], dim=1)
    assert fast.shape == (len(items), len(moments), 5)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


def slow_loss(model, features, data, rows, loss: SnapshotSoftmax, rng) -> torch.Tensor:
    """Row by row: the user as of the event, every candidate as of the latest grid moment at or before it."""
    grid = data.times.min() + loss.snapshot_days * DAY * np.arange(1000)
    frequency = np.bincount(data.items, minlength=data.n_items) / len(data)
    uniform = rng.integers(0, data.n_items, loss.uniform_negatives) if loss.uniform_negatives else np.zeros(0, int)
    losses = []
    for row in rows:
        user = model.user_tower(as_tensors(features.user_features(data.users[[row]], data.times[[row]],
                                                                  target_items=data.items[[row]])))[0]
        moment = grid[grid <= data.times[row]].max()
        batch = data.items[rows]
        logits = model.item_tower(as_tensors(features.item_features(batch, moment))) @ user / TEMPERATURE  # (B,)
        logits = logits - torch.from_numpy(np.log(frequency[batch] * len(rows))).float()
        own = int(np.flatnonzero(rows == row)[0])
        copies = (batch == data.items[row]) & (np.arange(len(rows)) != own)
        logits = logits.masked_fill(torch.from_numpy(copies), float("-inf"))  # accidental hits
        if len(uniform):
            extra = model.item_tower(as_tensors(features.item_features(uniform, moment))) @ user / TEMPERATURE
            extra = extra - float(np.log(len(uniform) / data.n_items))
            logits = torch.cat([logits, extra.masked_fill(torch.from_numpy(uniform == data.items[row]), float("-inf"))])
        losses.append(-torch.log_softmax(logits, dim=0)[own])
    return torch.stack(losses).mean()


@pytest.mark.parametrize("uniform", [0, 6])
@pytest.mark.parametrize("step", [0.5, 2.0])
def test_the_loss_equals_a_slow_loop_over_rows(uniform, step):
    data = small_log()
    features = builder(data)
    model = towers(features)
    loss = SnapshotSoftmax(temperature=TEMPERATURE, snapshot_days=step, uniform_negatives=uniform)
    batch_loss = BatchLoss(features, TrainConfig(loss=loss))
    rows = np.array([3, 10, 11, 40, 41, 77, 90, 119, 5, 60])
    fast = batch_loss(model, rows, np.random.default_rng(0))
    slow = slow_loss(model, features, data, rows, loss, np.random.default_rng(0))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_without_in_batch_negatives_only_the_uniform_ones_are_negatives():
    data = small_log(1)
    features = builder(data)
    model = towers(features)
    loss = SnapshotSoftmax(temperature=TEMPERATURE, in_batch=False, uniform_negatives=5)
    rows = np.arange(0, 120, 7)
    with torch.no_grad():
        value = BatchLoss(features, TrainConfig(loss=loss))(model, rows, np.random.default_rng(0))
    assert torch.isfinite(value) and value > 0


def test_every_row_reads_the_latest_moment_at_or_before_its_event():
    data = small_log(2)
    loss = BatchLoss(builder(data), TrainConfig(loss=SnapshotSoftmax(snapshot_days=1.5)))
    moments = loss.snapshots.moments(np.arange(len(data)))
    assert (moments <= data.times).all() and (data.times - moments < 1.5 * DAY).all()


def test_positive_and_batch_times_differ_only_where_the_inputs_move():
    """With no time-dependent item input at all, both rules give the same loss."""
    data = small_log(3)
    features = FeatureBuilder(data, FeatureConfig(history_length=5, count_windows_days=(), drop=("release_time",)))
    model = towers(features)
    rows = np.arange(0, 120, 3)
    values = [BatchLoss(features, TrainConfig(loss=loss))(model, rows, np.random.default_rng(0))
              for loss in (SampledSoftmax(), SnapshotSoftmax())]
    torch.testing.assert_close(values[0], values[1], rtol=1e-5, atol=1e-6)


def test_the_default_keeps_each_negative_at_its_own_time():
    data = small_log()
    assert isinstance(TrainConfig().loss, SampledSoftmax) and not isinstance(TrainConfig().loss, SnapshotSoftmax)
    assert BatchLoss(builder(data), TrainConfig()).snapshots is None


def test_settings_that_cannot_go_with_it_are_refused():
    with pytest.raises(ValueError, match="SnapshotSoftmax.snapshot_days"):
        SnapshotSoftmax(snapshot_days=0.0)
    with pytest.raises(ValueError, match="SampledSoftmax.temperature"):  # every check of SampledSoftmax applies
        SnapshotSoftmax(temperature=-1.0)
    with pytest.raises(ValueError, match="id_dropout"):
        TrainConfig(loss=SnapshotSoftmax(), id_dropout=0.2)


def test_towers_train_and_serve_with_it():
    data = small_log(4, n_events=300, n_users=15, n_items=12, days=30)
    config = TwoTowerConfig(features=FeatureConfig(history_length=5, count_windows_days=(7.0,)),
                            towers=TowerConfig(embedding_dim=8, hidden=(8,), output_dim=8),
                            training=TrainConfig(epochs=2, batch_size=64, progress=False, loss=SnapshotSoftmax()),
                            refit=False)
    model = TwoTowerRecommender(config).fit(data)
    assert model.recommend(np.arange(data.n_users), k=3).shape == (data.n_users, 3)


def test_the_loss_survives_a_checkpoint_config():
    config = TwoTowerConfig(training=TrainConfig(loss=SnapshotSoftmax(snapshot_days=2.5, uniform_negatives=3)))
    stored = config_to_dict(config)
    assert stored["training"]["loss"]["kind"] == "snapshot_softmax"
    assert config_from_dict(stored) == config
