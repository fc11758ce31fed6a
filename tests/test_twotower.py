"""The two-tower model: an id-only linear two-tower is matrix factorisation, training is
deterministic, fallbacks for unknown users and cold items, and safe checkpoints."""
import dataclasses
import json
import pickle
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lineage.metrics import evaluate
from lineage.models.popularity import Popularity
from lineage.splits import split, validation_split
from lineage.world import WorldConfig, generate_world
from twotower_mini import checkpoint, checkpoint_schema
from twotower_mini.config import (DenoisingUsers, FeatureConfig, FullSoftmax, SampledSoftmax, TimeSoftmax, TowerConfig,
                                  TrainConfig, TwoTowerConfig)
from twotower_mini.features import FeatureBuilder, FieldSpec, SideLog
from twotower_mini.fitted import fit_part
from twotower_mini.recommender import TwoTowerRecommender
from twotower_mini.towers import TwoTowerModel


@pytest.fixture(scope="module")
def tiny():
    world = generate_world(WorldConfig.sized("tiny"))
    return world, split(world.interactions(), "temporal", 0.2, seed=0)


def test_an_id_only_linear_two_tower_is_matrix_factorisation():
    model = TwoTowerModel([FieldSpec("user_id", "bag", 7)], [FieldSpec("item_id", "bag", 9)],
                          TowerConfig(linear_only=True, output_dim=4, l2_normalize=False))
    users, items = torch.tensor([[2], [5]]), torch.tensor([[3], [4], [8]])
    scores = model({"user_id": users}, {"item_id": items})  # (2, 3)
    P, Q = model.user_tower.bags["user_id"].weight, model.item_tower.bags["item_id"].weight
    assert torch.allclose(scores, P[users[:, 0]] @ Q[items[:, 0]].T, atol=1e-6)


def test_training_is_deterministic_on_cpu(tiny, quick_twotower_config):
    world, parts = tiny
    vectors = []
    for _ in range(2):
        model = TwoTowerRecommender(quick_twotower_config(), side=SideLog.from_world(world)).fit(parts.train)
        vectors.append(model.item_vectors_)
        # the refit runs for the epochs validation chose: the first best of the returned history
        assert model.best_epoch_ == 1 + int(np.argmax([row["val_recall@10"] for row in model.history_]))
        assert len(model.refit_history_) == model.best_epoch_
    assert np.array_equal(vectors[0], vectors[1])


def test_training_beats_popularity_on_validation_and_records_history(tiny):
    """Validation recall@10 of the towers (the world preset's features: counts dropped; 6 epochs) against
    popularity's on the same validation part. Measured on tiny worlds 0-5, towers / popularity was 1.67,
    1.48, 1.48, 2.11, 1.73 and 0.68 (world 5, where popularity wins at this size): the claim is checked
    on world 0 with the 1.2 margin, not as a law of every world."""
    world, parts = tiny
    config = TwoTowerConfig(features=FeatureConfig(history_length=10, drop=("counts",)),
                            towers=TowerConfig(embedding_dim=16, hidden=(32,), output_dim=16),
                            training=TrainConfig(epochs=6, batch_size=256, progress=False), refit=False)
    model = TwoTowerRecommender(config, side=SideLog.from_world(world)).fit(parts.train)
    inner = validation_split(parts.train, "temporal", 0.1, 0)  # the part the model validated on
    popularity = evaluate(Popularity().fit(inner.train), inner.train, inner.test, k=10)["recall@10"]
    best = max(row["val_recall@10"] for row in model.history_)
    assert best > 1.2 * popularity, (best, popularity)
    assert len(model.history_) >= 2 and model.history_[-1]["loss"] < model.history_[0]["loss"]


def test_unknown_and_historyless_users_and_cold_items_are_served(tiny, quick_twotower_config):
    world, parts = tiny
    model = TwoTowerRecommender(quick_twotower_config(), side=SideLog.from_world(world)).fit(parts.train)
    no_history = np.flatnonzero(parts.train.user_counts() == 0)
    lists = model.recommend(no_history[:5] if len(no_history) else np.array([0]), k=5)
    assert (lists >= 0).all()
    new_user = model.recommend_new_user(k=5)
    assert len(set(new_user.tolist())) == 5
    cold = parts.cold_items()
    assert cold.any() and np.isfinite(model.item_vectors_[cold]).all()


def test_checkpoint_round_trip_and_refusals(tiny, tmp_path, quick_twotower_config):
    world, parts = tiny
    model = TwoTowerRecommender(quick_twotower_config(), side=SideLog.from_world(world)).fit(parts.train)
    path = tmp_path / "model.safetensors"
    checkpoint.save(path, model, {"dataset": "world"}, parts.train)
    payload = checkpoint.load(path)  # safetensors: tensors and JSON only, nothing unpickled
    restored = checkpoint.restore(payload, parts.train, side=SideLog.from_world(world))
    users = np.arange(10)
    assert np.allclose(restored.score(users), model.score(users), atol=1e-5)

    other = split(world.interactions(), "temporal", 0.3, seed=0).train
    with pytest.raises(checkpoint.CheckpointError, match="training data differs"):
        checkpoint.restore(payload, other)

    document = {key: value for key, value in payload.items() if key != "state_dict"}
    document["version"] = "0.0.1"
    save_file(payload["state_dict"], tmp_path / "old.safetensors",
              metadata={checkpoint.METADATA_KEY: json.dumps(document)})
    with pytest.raises(checkpoint.CheckpointError, match="written by twotower_mini 0.0.1"):
        checkpoint.load(tmp_path / "old.safetensors")

    (tmp_path / "garbage.pt").write_bytes(b"\x00not a checkpoint at all")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable twotower_mini checkpoint"):
        checkpoint.load(tmp_path / "garbage.pt")

    save_file({"w": torch.zeros(2)}, tmp_path / "foreign.safetensors", metadata={"format": "something/else"})
    with pytest.raises(checkpoint.CheckpointError, match="not a twotower_mini checkpoint"):
        checkpoint.load(tmp_path / "foreign.safetensors")
    torch.save({"format": "something/else"}, tmp_path / "old-format.pt")  # the pickle format of version 2
    with pytest.raises(checkpoint.CheckpointError, match="old"):
        checkpoint.load(tmp_path / "old-format.pt")


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoints_holding_arbitrary_objects_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": Exploit()}, path)
    with pytest.raises(checkpoint.CheckpointError, match="refused to load|not a readable"):
        checkpoint.load(path)
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("loss", [SampledSoftmax(uniform_negatives=7, logq="streaming", temperature=0.1),
                                  FullSoftmax(temperature=0.2), DenoisingUsers(history_negative_weight=0.0),
                                  TimeSoftmax(snapshot_days=3.0)])
def test_config_survives_the_dict_round_trip(loss):
    additive = isinstance(loss, TimeSoftmax)  # the time softmax needs additive, unnormalised towers
    config = TwoTowerConfig(features=FeatureConfig(drop=("counts",), count_windows_days=(2.0,)),
                            towers=TowerConfig(hidden=(8, 4), linear_only=additive, l2_normalize=not additive),
                            training=TrainConfig(loss=loss, history_dropout=0.5))
    values = checkpoint.config_to_dict(config)
    assert values["training"]["loss"]["kind"] in checkpoint_schema.LOSS_KINDS
    assert json.loads(json.dumps(values)) == values  # plain JSON
    assert checkpoint.config_from_dict(values) == config


def test_configs_are_frozen_and_changed_with_replace():
    config = TwoTowerConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.training.epochs = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.training.loss.temperature = 1.0
    shorter = replace(config, training=replace(config.training, epochs=3))
    assert shorter.training.epochs == 3 and config.training.epochs == 20


@pytest.mark.parametrize("build, field_name", [
    (lambda: SampledSoftmax(logq="exactly"), "SampledSoftmax.logq: expected one of none, exact, streaming"),
    (lambda: SampledSoftmax(in_batch=False), "SampledSoftmax.in_batch: no negatives"),
    (lambda: SampledSoftmax(temperature=0.0), "SampledSoftmax.temperature"),
    (lambda: DenoisingUsers(history_negative_weight=-1), "DenoisingUsers.history_negative_weight"),
    (lambda: TimeSoftmax(snapshot_days=0), "TimeSoftmax.snapshot_days"),
    (lambda: TrainConfig(loss="sampled"), "TrainConfig.loss: expected one of SampledSoftmax, FullSoftmax"),
    (lambda: TrainConfig(eval_metric="auc"), "TrainConfig.eval_metric: expected one of precision, recall"),
    (lambda: TrainConfig(optimiser="sgd"), "TrainConfig.optimiser: expected one of adam, adamw, adagrad"),
    (lambda: TrainConfig(lr_schedule="linear"), "TrainConfig.lr_schedule: expected one of constant, cosine"),
    (lambda: TrainConfig(loss=DenoisingUsers()), "TrainConfig.history_dropout"),
    (lambda: TrainConfig(loss=DenoisingUsers(), history_dropout=0.5, value_weights=True), "TrainConfig.value_weights"),
    (lambda: TrainConfig(loss=TimeSoftmax(), min_positive_value=4.0), "TrainConfig.min_positive_value"),
    (lambda: TrainConfig(loss=DenoisingUsers(), history_dropout=0.5, min_positive_value=0.0),
     "TrainConfig.min_positive_value"),
    (lambda: TrainConfig(id_dropout=1.0), "TrainConfig.id_dropout"),
    (lambda: TrainConfig(batch_size=0), "TrainConfig.batch_size"),
    (lambda: FeatureConfig(history_mode="after"), "FeatureConfig.history_mode: expected one of before, all-but-target"),
    (lambda: TwoTowerConfig(serve_at="later"), "TwoTowerConfig.serve_at: expected one of now, last-event"),
    (lambda: TwoTowerConfig(validation_protocol="k-fold"), "TwoTowerConfig.validation_protocol: expected one of"),
    (lambda: TwoTowerConfig(training=TrainConfig(loss=TimeSoftmax())), "TwoTowerConfig.towers: TimeSoftmax needs"),
])
def test_bad_or_contradictory_settings_are_refused_when_the_config_is_built(build, field_name):
    with pytest.raises(ValueError, match=f"^{re.escape(field_name)}") as caught:
        build()
    assert len(str(caught.value).splitlines()) == 1


def test_each_loss_holds_only_its_own_settings():
    """What a loss does not use cannot be set on it, so no two switches can contradict each other."""
    TrainConfig(loss=SampledSoftmax(in_batch=False, uniform_negatives=10))  # negatives from elsewhere: fine
    with pytest.raises(TypeError):
        FullSoftmax(uniform_negatives=5)  # the full softmax samples nothing
    with pytest.raises(TypeError):
        TimeSoftmax(temperature=0.05)  # unnormalised towers: no temperature
    assert TwoTowerConfig(training=TrainConfig(loss=FullSoftmax(temperature=0.1))).scale == 10.0
    unnormalised = TwoTowerConfig(towers=TowerConfig(l2_normalize=False), training=TrainConfig(loss=FullSoftmax(0.1)))
    assert unnormalised.scale == 1.0  # the temperature applies to cosines only


def test_towers_fitted_on_part_of_train_are_served_with_features_as_of_the_end_of_train(tiny):
    """refit=False: the towers train on train minus its validation part, but serve with histories and
    counts up to the end of train, like every other model; ids the towers never trained stay "unknown"."""
    world, parts = tiny
    side = SideLog.from_world(world)
    config = TwoTowerConfig(features=FeatureConfig(history_length=10, drop=("counts",)),
                            towers=TowerConfig(embedding_dim=16, hidden=(32,), output_dim=16),
                            training=TrainConfig(epochs=1, batch_size=256, progress=False), refit=False)
    model = TwoTowerRecommender(config, side=side).fit(parts.train)
    fitted_on = FeatureBuilder(fit_part(parts.train, config), config.features, side)  # what the towers trained on
    assert model.features_.now == parts.train.times.max() + 1 > fitted_on.now
    late_users = np.unique(parts.train.users[parts.train.times >= fitted_on.now - 1])  # active at the end
    fresh = model.user_vectors(late_users)
    from twotower_mini.towers import user_vectors
    stale = user_vectors(model.model_, fitted_on, late_users, fitted_on.now)
    assert not np.allclose(fresh, stale)  # their recent views now count
    new_items = np.flatnonzero((fitted_on.item_counts == 0) & (parts.train.item_counts() > 0))
    assert len(new_items)  # first viewed after the fitted part: the id the towers never trained is "unknown"
    assert (model.features_.item_features(new_items, model.features_.now)["item_id"][:, 0] == 1).all()
    old = TwoTowerRecommender(replace(config, serve_on_full_train=False), side=side).fit(parts.train)
    assert old.features_.now == fitted_on.now


def test_an_ensemble_scores_the_sum_of_its_independently_trained_members(tiny, tmp_path, quick_twotower_config):
    """TwoTowerConfig(ensemble=K): member k is the model a single fit with training seed + k gives, and the
    concatenated vectors score exactly the sum of the members' scores (one dot product); checkpoints keep it."""
    world, parts = tiny
    side = SideLog.from_world(world)
    config = replace(quick_twotower_config(), validation_fraction=0.0)
    ensemble = TwoTowerRecommender(replace(config, ensemble=3), side=side).fit(parts.train)
    singles = [TwoTowerRecommender(replace(config, training=replace(config.training, seed=seed)), side=side)
               .fit(parts.train) for seed in (0, 1, 2)]
    users = np.arange(20)
    assert ensemble.item_vectors_.shape == (parts.train.n_items, 3 * config.towers.output_dim)
    assert np.allclose(ensemble.score(users), sum(single.score(users) for single in singles), atol=1e-4)
    assert not np.allclose(singles[0].score(users), singles[1].score(users), atol=1e-2)  # members differ
    assert [row["member"] for row in ensemble.refit_history_] == [0, 0, 1, 1, 2, 2]  # 2 epochs each

    checkpoint.save(tmp_path / "ensemble.pt", ensemble, {"dataset": "world"}, parts.train)
    restored = checkpoint.restore(checkpoint.load(tmp_path / "ensemble.pt"), parts.train, side=side)
    assert np.allclose(restored.score(users), ensemble.score(users), atol=1e-5)
    assert ensemble.user_vectors(np.array([], dtype=np.int64)).shape == (0, 3 * config.towers.output_dim)
    with pytest.raises(ValueError, match="TwoTowerConfig.ensemble"):
        TwoTowerConfig(ensemble=0)
