"""The checkpoint file format: one safetensors file, no pickle, every field checked on load.

Each test starts from a small model trained once (a planted 60-user log, one epoch, 8-wide towers),
hand-makes a file the way an attacker or a damaged disk would, and checks that `load` or `restore`
refuses it with one line that names the file, or that a healthy file gives the same lists back.
Hand-made files get recomputed checksums, so the check under test is reached, not the SHA-256.
"""
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from lineage.data import Interactions
from lineage.outputs import OutputError
from twotower_mini import checkpoint
from twotower_mini.checkpoint import CheckpointError

REPO = Path(__file__).resolve().parents[1]
USERS = np.arange(60)
CSV_SPEC = {"dataset": "csv", "protocol": "temporal", "seed": 42, "test_fraction": None, "data_dir": None,
            "csv_options": {"interactions_path": "/data/log.csv", "items_path": None, "users_path": None,
                            "user_col": "user", "item_col": "item", "time_col": "time", "value_col": "rating",
                            "sep": ",", "encoding": "utf-8"},
            "world_size": "default", "world_seed": 0}


@pytest.fixture(scope="module")
def trained(small_twotower, tmp_path_factory):
    """(log, fitted model, path of its checkpoint): the session's small two-tower, saved once."""
    log, model = small_twotower
    path = tmp_path_factory.mktemp("checkpoint") / "model.pt"
    checkpoint.save(path, model, CSV_SPEC, log)
    return log, model, path


def read_document(path) -> tuple[dict, dict]:
    """(the JSON document of the metadata, the tensors) of a checkpoint file, read with safetensors alone."""
    with safe_open(path, framework="pt") as handle:
        document = json.loads(handle.metadata()["twotower_mini"])
    return document, load_file(path)


def write_document(path, document: dict, state: dict, rehash: bool = True) -> Path:
    """A hand-made checkpoint file; rehash: with checksums that match the (damaged) content."""
    if rehash:
        document["checksums"] = checkpoint.checksums({**document, "state_dict": state})
    save_file(state, path, metadata={"twotower_mini": json.dumps(document)})
    return path


def refused(path, *words) -> str:
    """load(path) raises CheckpointError with one line naming the file and holding every word."""
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1, message
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    return message


# ---- the healthy file ------------------------------------------------------------------------------
def test_round_trip_gives_identical_recommendations(trained):
    log, model, path = trained
    payload = checkpoint.load(path)
    assert set(payload) == {"format", "version", "config", "data", "state_dict", "checksums"}
    assert payload["format"] == checkpoint.FORMAT == "twotower_mini.checkpoint/4"
    assert all(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in payload["state_dict"].values())
    restored = checkpoint.restore(payload, log)
    assert np.array_equal(restored.recommend(USERS, k=10), model.recommend(USERS, k=10))
    assert np.array_equal(restored.score(USERS), model.score(USERS))
    assert restored.config == model.config


def test_the_file_is_a_plain_safetensors_file(trained):
    _, model, path = trained
    header_length = int.from_bytes(path.read_bytes()[:8], "little")
    assert path.read_bytes()[8:8 + header_length].startswith(b"{")  # a JSON header, no pickle
    with safe_open(path, framework="pt") as handle:
        assert set(handle.metadata()) == {"twotower_mini"}
        assert set(handle.keys()) == set(model.model_.state_dict())
    document, tensors = read_document(path)
    assert set(document) == {"format", "version", "config", "data", "checksums"}
    assert document["data"]["csv_options"] == CSV_SPEC["csv_options"] and len(document["data"]["fingerprint"]) == 64
    for name, tensor in model.model_.state_dict().items():
        assert torch.equal(tensors[name], tensor)


def test_save_refuses_to_replace_a_file_without_overwrite(trained, tmp_path):
    log, model, path = trained
    copy = tmp_path / "model.pt"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(OutputError, match="--out"):
        checkpoint.save(copy, model, CSV_SPEC, log)
    checkpoint.save(copy, model, CSV_SPEC, log, overwrite=True)
    checkpoint.load(copy)


# ---- files that are not checkpoints of this format ------------------------------------------------------
class RunsCode:
    """Unpickling this calls os.system: what a malicious pickle checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_old_torch_pickle_files_are_refused_with_how_to_retrain(trained, tmp_path):
    _, model, _ = trained
    marker = tmp_path / "the-code-ran"
    old = tmp_path / "old.pt"
    torch.save({"format": "twotower_mini.checkpoint/2", "state_dict": model.model_.state_dict(),
                "payload": RunsCode(marker)}, old)  # a torch zip file
    refused(old, "old checkpoint format", "python -m twotower_mini train", "--out FILE")
    bare = tmp_path / "bare.pkl"
    bare.write_bytes(pickle.dumps(RunsCode(marker), protocol=2))  # a bare pickle: starts with b"\x80"
    refused(bare, "old checkpoint format")
    assert not marker.exists()


@pytest.mark.parametrize("content, words", [
    (b"", ["not a readable"]),
    (b"\x00not a checkpoint at all", ["not a readable"]),
    (b"\xff" * 8 + b"{}", ["not a readable"]),
    (b"\x80" + b"\x00" * 7 + b"{" + b" " * 127, ["not a readable"]),  # a header length that starts like a pickle
])
def test_files_that_are_not_safetensors_are_one_line(tmp_path, content, words):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    refused(path, *words)


def test_a_truncated_file_is_refused(trained, tmp_path):
    _, _, path = trained
    raw = path.read_bytes()
    for length in (4, 12, len(raw) // 2, len(raw) - 1):
        (tmp_path / "cut.pt").write_bytes(raw[:length])
        refused(tmp_path / "cut.pt", "not a readable")


def test_a_safetensors_file_from_elsewhere_is_not_a_checkpoint(tmp_path):
    save_file({"weight": torch.zeros(2, 2)}, tmp_path / "other.safetensors", metadata={"format": "pt"})
    refused(tmp_path / "other.safetensors", "not a twotower_mini checkpoint")


# ---- weights ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.complex64, torch.float64, torch.bfloat16,
                                   torch.float16])
def test_weights_other_than_float32_are_refused(trained, tmp_path, dtype):
    _, _, path = trained
    document, state = read_document(path)
    name = sorted(state)[0]
    state[name] = state[name].to(dtype)
    refused(write_document(tmp_path / "dtype.pt", document, state), "damaged", name, "expected F32")


def test_nan_weights_and_a_flipped_weight_bit_are_refused(trained, tmp_path):
    _, _, path = trained
    document, state = read_document(path)
    name = sorted(state)[0]
    flipped = dict(state, **{name: state[name].clone()})
    flipped[name].view(-1).view(torch.int32)[3] ^= 1 << 20
    refused(write_document(tmp_path / "flip.pt", dict(document), flipped, rehash=False), "SHA-256", name)
    state[name][0, 0] = float("nan")
    refused(write_document(tmp_path / "nan.pt", document, state), "NaN or infinite", name)


def test_a_tensor_dimension_beyond_the_bound_is_refused_before_anything_is_built(trained, tmp_path):
    _, _, path = trained
    document, state = read_document(path)
    state["user_tower.extra"] = torch.empty(0, 10**12)  # no bytes at all, but a dimension of 10**12
    refused(write_document(tmp_path / "wide.pt", document, state), "user_tower.extra", "shape")


def test_a_huge_model_in_the_config_is_refused_without_allocating_it(trained, tmp_path):
    """hidden=(65536,)*4 is in range, but would be 16 GiB a layer: restore builds on the meta device
    first, so the shape mismatch is found at once, with no memory spent."""
    log, _, path = trained
    document, state = read_document(path)
    document["config"]["towers"]["hidden"] = [65536] * 4
    payload = checkpoint.load(write_document(tmp_path / "huge.pt", document, state))
    with pytest.raises(CheckpointError, match="do not fit the model"):
        checkpoint.restore(payload, log)


# ---- the config and the data block -------------------------------------------------------------------------
@pytest.mark.parametrize("value", [-5, 0, 10**12, 70000])
def test_an_out_of_range_embedding_dim_is_one_line(trained, tmp_path, value):
    _, _, path = trained
    document, state = read_document(path)
    document["config"]["towers"]["embedding_dim"] = value
    refused(write_document(tmp_path / "dim.pt", document, state), "TowerConfig.embedding_dim", str(value))


@pytest.mark.parametrize("block, field, value, words", [
    ("towers", "hidden", [8, -1], ["TowerConfig.hidden"]),
    ("features", "history_length", 10**12, ["FeatureConfig.history_length"]),
    ("features", "count_windows_days", [1.0, -7.0], ["FeatureConfig.count_windows_days"]),
    ("training", "seed", 2**40, ["TrainConfig.seed"]),
    ("training", "learning_rate", "0.01", ["learning_rate", "expected float"]),
    ("towers", "l2_normalize", 1, ["l2_normalize", "expected bool"]),
    ("towers", "field_dims", {"item_id": "8"}, ["field_dims"]),
])
def test_config_fields_out_of_range_or_of_the_wrong_type_are_one_line(trained, tmp_path, block, field, value, words):
    _, _, path = trained
    document, state = read_document(path)
    document["config"][block][field] = value
    refused(write_document(tmp_path / "config.pt", document, state), *words)


SAMPLED = {"kind": "sampled_softmax", "temperature": 0.05, "in_batch": True, "uniform_negatives": 0,
           "impression_negatives": 0, "impression_weight": 1.0, "logq": "exact", "mask_accidental_hits": True}


@pytest.mark.parametrize("loss, words", [
    (dict(SAMPLED, temperature=0.0), ["SampledSoftmax.temperature"]),
    (dict(SAMPLED, logq="exactly"), ["SampledSoftmax.logq", "none, exact, streaming"]),
    (dict(SAMPLED, in_batch="yes"), ["in_batch", "expected bool"]),
    (dict(SAMPLED, kind="softmax"), ["config.training.loss.kind", "sampled_softmax, full_softmax"]),
    ({k: v for k, v in SAMPLED.items() if k != "kind"}, ["config.training.loss.kind is None"]),
    (dict(SAMPLED, kind="full_softmax"), ["config.training.loss", "does not know"]),  # fields of another loss
    ({"kind": "denoising_users", "temperature": 0.05}, ["config.training.loss", "history_negative_weight"]),
    ("sampled_softmax", ["config.training.loss is a str, expected a dict"]),
])
def test_a_bad_loss_block_is_one_line(trained, tmp_path, loss, words):
    """The loss is stored as {"kind": ..., its fields}: an unknown kind, fields of another kind, a missing
    field, a bad value or no dict at all are refused in one line."""
    _, _, path = trained
    document, state = read_document(path)
    assert document["config"]["training"]["loss"] == SAMPLED
    document["config"]["training"]["loss"] = loss
    refused(write_document(tmp_path / "loss.pt", document, state), *words)


def test_a_missing_config_field_is_refused(trained, tmp_path):
    _, _, path = trained
    document, state = read_document(path)
    del document["config"]["towers"]["output_dim"]
    refused(write_document(tmp_path / "missing.pt", document, state), "config.towers", "output_dim")


@pytest.mark.parametrize("change, words", [
    (lambda data: data["csv_options"].update(evil="rm -rf"), ["csv_options", "'evil'"]),
    (lambda data: data["csv_options"].update(interactions_path=5), ["interactions_path", "expected"]),
    (lambda data: data["csv_options"].update(items_path=["a.csv"]), ["items_path"]),
    (lambda data: data.update(csv_options=["a"]), ["csv_options", "expected dict"]),
    (lambda data: data.update(dataset="mnist"), ["data.dataset"]),
    (lambda data: data.update(seed=-1), ["data.seed"]),
    (lambda data: data.update(test_fraction=1.5), ["data.test_fraction"]),
    (lambda data: data.update(fingerprint="abc"), ["data.fingerprint"]),
    (lambda data: data.pop("fingerprint"), ["fingerprint"]),
    (lambda data: data.update(extra=1), ["'extra'"]),
])
def test_a_bad_data_block_is_one_line(trained, tmp_path, change, words):
    _, _, path = trained
    document, state = read_document(path)
    change(document["data"])
    refused(write_document(tmp_path / "data.pt", document, state), "damaged", *words)


# ---- the metadata itself --------------------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (lambda c: c["state_dict"].update({next(iter(c["state_dict"])): 12345}), ["64 hexadecimal"]),
    (lambda c: c["state_dict"].update({next(iter(c["state_dict"])): ["a" * 64]}), ["64 hexadecimal"]),
    (lambda c: c.update(config="A" * 64), ["64 hexadecimal"]),
    (lambda c: c.update(state_dict=[1, "a"]), ["checksum table"]),
    (lambda c: c["state_dict"].pop(next(iter(c["state_dict"]))), ["no checksum"]),
])
def test_a_checksum_table_of_mixed_or_wrong_types_is_refused(trained, tmp_path, change, words):
    _, _, path = trained
    document, state = read_document(path)
    change(document["checksums"])
    refused(write_document(tmp_path / "sums.pt", document, state, rehash=False), *words)


@pytest.mark.parametrize("text, words", [
    ("{not json", ["not valid JSON"]),
    ("[1, 2]", ["expected an object"]),
    ('{"format": "twotower_mini.checkpoint/4", "format": "x"}', ["twice"]),
    ('{"a": NaN}', ["NaN"]),
    ('{"a": 1e999}', ["out of range"]),
    ("[" * 100_000 + "]" * 100_000, ["not valid JSON"]),
])
def test_bad_metadata_json_is_one_line(trained, tmp_path, text, words):
    _, _, path = trained
    _, state = read_document(path)
    save_file(state, tmp_path / "json.pt", metadata={"twotower_mini": text})
    refused(tmp_path / "json.pt", *words)


def test_format_and_version_are_checked(trained, tmp_path):
    _, _, path = trained
    document, state = read_document(path)
    refused(write_document(tmp_path / "f.pt", dict(document, format="twotower_mini.checkpoint/2"), state),
            "not a twotower_mini checkpoint", "format")
    old = dict(document, format="twotower_mini.checkpoint/3")  # the loss chosen by switches, as format 3 had it
    old["config"] = {**document["config"], "training": {**document["config"]["training"], "full_softmax": False}}
    refused(write_document(tmp_path / "3.pt", old, state), "older twotower_mini checkpoint",
            "'twotower_mini.checkpoint/3'", "TrainConfig.loss", "retrain", "python -m twotower_mini train")
    refused(write_document(tmp_path / "v.pt", dict(document, version="0.0.1"), state),
            "written by twotower_mini 0.0.1", "retrain")
    refused(write_document(tmp_path / "k.pt", dict(document, extra={"a": 1}), state), "unexpected ['extra']")


def test_a_line_break_in_the_file_never_makes_a_second_line(trained, tmp_path):
    _, _, path = trained
    document, state = read_document(path)
    document["config"]["towers"]["embedding_dim\nsecond line\u2028third"] = 1
    refused(write_document(tmp_path / "lines.pt", document, state), "does not know")


# ---- the data the model saw ----------------------------------------------------------------------------
def test_changed_ratings_are_refused_by_restore_through_the_fingerprint(trained):
    log, _, path = trained
    payload = checkpoint.load(path)
    same = Interactions(log.users.copy(), log.items.copy(), log.times.copy(), log.values.copy(),
                        log.user_ids.copy(), log.item_ids.copy(), item_features=dict(log.item_features))
    assert checkpoint.fingerprint(same) == checkpoint.fingerprint(log)
    values = log.values.copy()
    values[7] = 1.0 if values[7] > 1.0 else 2.0  # one rating changed
    changed = Interactions(log.users, log.items, log.times, values, log.user_ids, log.item_ids,
                           item_features=log.item_features)
    assert checkpoint.fingerprint(changed) != checkpoint.fingerprint(log)
    with pytest.raises(CheckpointError, match="training data differs"):
        checkpoint.restore(payload, changed)


def test_the_fingerprint_covers_ids_times_and_side_features(trained):
    log, _, _ = trained
    base = checkpoint.fingerprint(log)
    renamed = log.item_ids.copy()
    renamed[0] = "renamed"
    times = log.times.copy()
    times[0] += 1.0
    group = log.item_features["group"].copy()
    group[0] += 1
    for changed in (Interactions(log.users, log.items, log.times, log.values, log.user_ids, renamed,
                                 item_features=log.item_features),
                    Interactions(log.users, log.items, times, log.values, log.user_ids, log.item_ids,
                                 item_features=log.item_features),
                    Interactions(log.users, log.items, log.times, log.values, log.user_ids, log.item_ids,
                                 item_features={"group": group})):
        assert checkpoint.fingerprint(changed) != base


# ---- no pickle anywhere ---------------------------------------------------------------------------------
def test_no_module_of_the_package_or_harness_loads_or_saves_a_pickle_with_torch():
    for folder in ("twotower_mini", "harness"):
        for source in sorted((REPO / folder).rglob("*.py")):
            text = source.read_text(encoding="utf-8")
            assert "torch.load(" not in text and "torch.save(" not in text, source
