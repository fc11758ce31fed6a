"""Safe checkpoints: plain tensors and plain Python values, loaded with `weights_only=True`.

`torch.load` without `weights_only=True` unpickles arbitrary objects, so opening a checkpoint
from someone else could run their code. We store only a dict of tensors, strings, numbers, lists
and dicts, and load it with `weights_only=True`, which refuses anything else.

A checkpoint holds:
- `format` and `version`: refused with a clear message when they do not match this code;
- `config`: the TwoTowerConfig as a dict, rebuilt on load;
- `data`: how the training data was made (dataset, options, split) and a fingerprint of it, so the
  feature vocabularies can be rebuilt exactly; a different dataset is refused;
- `state_dict`: the towers' weights;
- `checksums`: the SHA-256 of `config`, of `data` and of every tensor of `state_dict`.

`load` verifies all of it before anything is used: the checksums (a flipped byte anywhere in the
weights or the metadata is refused), finite weights, and the schema (keys, types; shapes are
checked against the model rebuilt by `restore`), each failure a one-line `CheckpointError`.
The data block stores absolute paths, so a checkpoint can be used from any folder; its
fingerprint refuses other data (including data moved with `--data-dir` / `--interactions`).
"""
from __future__ import annotations

import hashlib
import json
import types
import typing
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import numpy as np
import torch

import twotower_mini
from lineage.data import Interactions
from lineage.outputs import write_atomic
from twotower_mini.features import FeatureConfig
from twotower_mini.recommender import TwoTowerConfig
from twotower_mini.towers import TowerConfig
from twotower_mini.train import TrainConfig

FORMAT = "twotower_mini.checkpoint/2"  # 2: SHA-256 checksums of every block and tensor


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupted, foreign, or made for other code or data."""


def fingerprint(data: Interactions) -> str:
    """A short hash of the training log (ids and events), to refuse a checkpoint on other data."""
    digest = hashlib.sha256()
    for array in (data.users, data.items, data.times):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\x1f".join(data.user_ids.tolist()).encode())
    digest.update("\x1f".join(data.item_ids.tolist()).encode())
    return digest.hexdigest()[:16]


def _plain(value):
    """Dataclasses, tuples and numpy scalars -> plain dicts, lists and Python numbers."""
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def config_to_dict(config: TwoTowerConfig) -> dict:
    return _plain(config)


def config_from_dict(values: dict) -> TwoTowerConfig:
    """Rebuild a TwoTowerConfig, checking every field's name and type (one-line CheckpointError)."""
    top = check_fields(TwoTowerConfig, values, "config")
    parts = {"features": FeatureConfig, "towers": TowerConfig, "training": TrainConfig}
    for name, cls in parts.items():
        if name not in top:
            raise CheckpointError(f"config has no {name!r} block")
        top[name] = cls(**check_fields(cls, top[name], f"config.{name}"))
    try:
        return TwoTowerConfig(**top)
    except (TypeError, ValueError) as error:  # a config's own validation
        raise CheckpointError(f"config is not valid ({str(error).splitlines()[0][:160]})") from None


def _digest_block(block) -> str:
    """SHA-256 of a metadata block (plain values), over its canonical JSON form."""
    return hashlib.sha256(json.dumps(block, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _digest_tensor(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes."""
    digest = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def checksums(payload: dict) -> dict:
    """The SHA-256 of every metadata block and every tensor of a payload."""
    return {"config": _digest_block(payload["config"]), "data": _digest_block(payload["data"]),
            "state_dict": {name: _digest_tensor(tensor) for name, tensor in payload["state_dict"].items()}}


def save(path, model, data_spec: dict, train: Interactions) -> None:
    """Write a fitted TwoTowerRecommender's weights, config and data description, with a SHA-256
    of every block and tensor; written atomically (a temporary file in the same folder, renamed)."""
    state = {name: tensor.detach().clone() for name, tensor in model.model_.state_dict().items()}
    bad = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise CheckpointError(f"{path}: not saved: the weights {bad[0]!r} hold NaN or infinite values "
                              f"(training diverged; lower the learning rate)")
    payload = {
        "format": FORMAT,
        "version": twotower_mini.__version__,
        "config": config_to_dict(model.config),
        "data": {**_plain(data_spec), "fingerprint": fingerprint(train)},
        "state_dict": state,
    }
    payload["checksums"] = checksums(payload)
    write_atomic(path, lambda temporary: torch.save(payload, temporary))


_TOP_LEVEL = {"format": str, "version": str, "config": dict, "data": dict, "state_dict": dict, "checksums": dict}


def load(path) -> dict:
    """Read and check a checkpoint; returns its payload. Raises CheckpointError with one clear line.

    Checks, in order: the file unpickles with `weights_only=True`; format and version; the schema
    (top-level keys and types, the checksum block); the SHA-256 of every block and tensor; the
    config's fields and types; the data block; every weight is finite."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types; all mean "cannot use this file"
        message = str(error).strip()
        if "weights only load failed" in message.lower() and "unsupported global" in message.lower():
            raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain "
                                  f"values (it tries to import code, so loading it could run code)") from None
        reason = type(error).__name__ if (not message or "Weights only load failed" in message) \
            else message.splitlines()[0]
        raise CheckpointError(f"{path}: not a readable twotower_mini checkpoint ({reason[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a twotower_mini checkpoint (format {found!r}, expected {FORMAT!r})")
    if payload.get("version") != twotower_mini.__version__:
        raise CheckpointError(f"{path}: written by twotower_mini {payload.get('version')}, this is "
                              f"{twotower_mini.__version__}; retrain, or install the matching version")
    _check_schema(path, payload)
    return payload


def _check_schema(path: Path, payload: dict) -> None:
    def refuse(message: str):
        raise CheckpointError(f"{path}: damaged checkpoint: {message}; retrain, or copy the file again")

    missing = sorted(set(_TOP_LEVEL) - set(payload))
    extra = sorted(set(payload) - set(_TOP_LEVEL))
    if missing or extra:
        refuse(f"top-level keys missing {missing}, unexpected {extra}")
    for key, kind in _TOP_LEVEL.items():
        if not isinstance(payload[key], kind):
            refuse(f"{key!r} is a {type(payload[key]).__name__}, expected a {kind.__name__}")
    state = payload["state_dict"]
    for name, tensor in state.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            refuse(f"state_dict entry {name!r} is a {type(tensor).__name__}, expected a tensor")
    sums = payload["checksums"]
    if set(sums) != {"config", "data", "state_dict"} or not isinstance(sums["state_dict"], dict):
        refuse("the checksum block is malformed")
    if set(sums["state_dict"]) != set(state):
        refuse(f"the tensors {sorted(set(state) ^ set(sums['state_dict']))} have no checksum or no data")
    for block in ("config", "data"):
        if _digest_block(payload[block]) != sums[block]:
            refuse(f"the SHA-256 of its {block!r} block does not match the one stored at save time")
    for name, tensor in state.items():
        if _digest_tensor(tensor) != sums["state_dict"][name]:
            refuse(f"the SHA-256 of the weights {name!r} does not match the one stored at save time")
    try:
        config_from_dict(payload["config"])
    except CheckpointError as error:
        refuse(str(error))
    data = payload["data"]
    if not isinstance(data.get("fingerprint"), str):
        refuse("the data block has no 'fingerprint' string")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            refuse(f"the weights {name!r} hold NaN or infinite values")


def check_fields(cls, raw, where: str) -> dict:
    """Check a dict against a dataclass's fields and types (one-line CheckpointError); returns
    the values with lists turned into tuples where the field is a tuple."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where} is a {type(raw).__name__}, expected a dict")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CheckpointError(f"{where} has fields this version does not know: {unknown}")
    values = {}
    for name, value in raw.items():
        if not _fits(value, hints[name]):
            raise CheckpointError(f"{where}.{name} is {value!r} ({type(value).__name__}), expected {hints[name]}")
        values[name] = tuple(value) if isinstance(value, list) and _is_tuple(hints[name]) else value
    return values


def _is_tuple(hint) -> bool:
    return hint is tuple or typing.get_origin(hint) is tuple


def _fits(value, hint) -> bool:
    """Whether a plain value (from a checkpoint) fits a type hint."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if _is_tuple(hint) or hint is list or origin is list:
        if not isinstance(value, (list, tuple)):
            return False
        element = args[0] if args else None
        return element is None or all(_fits(v, element) for v in value)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return True  # other types are not stored in configs


def restore(payload: dict, train: Interactions, side=None):
    """A TwoTowerRecommender rebuilt from a checkpoint payload and the same training data."""
    from twotower_mini.recommender import TwoTowerRecommender

    expected = payload["data"]["fingerprint"]
    if fingerprint(train) != expected:
        raise CheckpointError(f"the training data differs from the checkpoint's (fingerprint {fingerprint(train)}, "
                              f"expected {expected}); use the same data files, dataset, protocol and seed")
    recommender = TwoTowerRecommender(config_from_dict(payload["config"]), side=side)
    recommender.n_users_, recommender.n_items_ = train.n_users, train.n_items
    recommender.seen_ = train.to_csr(binary=True)
    recommender.known_items_ = train.item_counts() > 0
    features, model = recommender._build(train)
    expected_shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    found_shapes = {name: tuple(tensor.shape) for name, tensor in payload["state_dict"].items()}
    if expected_shapes != found_shapes:
        differ = sorted(name for name in set(expected_shapes) | set(found_shapes)
                        if expected_shapes.get(name) != found_shapes.get(name))
        name = differ[0]
        raise CheckpointError(f"checkpoint weights do not fit the model built from its config: {name!r} has shape "
                              f"{found_shapes.get(name)}, the model expects {expected_shapes.get(name)}")
    model.load_state_dict(payload["state_dict"])
    model.eval()
    recommender.features_, recommender.model_ = features, model
    recommender._export()
    return recommender
