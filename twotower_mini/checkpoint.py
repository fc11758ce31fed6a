"""Safe checkpoints: plain tensors and plain Python values, loaded with `weights_only=True`.

`torch.load` without `weights_only=True` unpickles arbitrary objects, so opening a checkpoint
from someone else could run their code. We store only a dict of tensors, strings, numbers, lists
and dicts, and load it with `weights_only=True`, which refuses anything else.

A checkpoint holds:
- `format` and `version`: refused with a clear message when they do not match this code;
- `config`: the TwoTowerConfig as a dict, rebuilt on load;
- `data`: how the training data was made (dataset, options, split) and a fingerprint of it, so the
  feature vocabularies can be rebuilt exactly; a different dataset is refused;
- `state_dict`: the towers' weights.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import numpy as np
import torch

import twotower_mini
from lineage.data import Interactions
from twotower_mini.features import FeatureConfig
from twotower_mini.recommender import TwoTowerConfig
from twotower_mini.towers import TowerConfig
from twotower_mini.train import TrainConfig

FORMAT = "twotower_mini.checkpoint/1"


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
    def build(cls, raw):
        known = {f.name: f for f in fields(cls)}
        unknown = set(raw) - set(known)
        if unknown:
            raise CheckpointError(f"checkpoint config has fields this version does not know: {sorted(unknown)}")
        kwargs = {}
        for name, value in raw.items():
            default = getattr(cls(), name)
            kwargs[name] = tuple(value) if isinstance(default, tuple) and isinstance(value, list) else value
        return cls(**kwargs)

    return TwoTowerConfig(
        features=build(FeatureConfig, values["features"]),
        towers=build(TowerConfig, values["towers"]),
        training=build(TrainConfig, {k: v for k, v in values["training"].items()
                                     if k != "history"}),  # older checkpoints kept an empty training log here
        **{k: v for k, v in values.items() if k not in ("features", "towers", "training")},
    )


def save(path, model, data_spec: dict, train: Interactions) -> None:
    """Write a fitted TwoTowerRecommender's weights, config and data description."""
    payload = {
        "format": FORMAT,
        "version": twotower_mini.__version__,
        "config": config_to_dict(model.config),
        "data": {**_plain(data_spec), "fingerprint": fingerprint(train)},
        "state_dict": {name: tensor.detach().clone() for name, tensor in model.model_.state_dict().items()},
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load(path) -> dict:
    """Read and check a checkpoint; returns its payload. Raises CheckpointError with one clear line."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types; all mean "cannot use this file"
        message = str(error).strip()
        if "Weights only load failed" in message and "Unsupported global" in message:
            raise CheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain "
                                  f"values (loading it could run code)") from None
        reason = type(error).__name__ if (not message or "Weights only load failed" in message) \
            else message.splitlines()[0]
        raise CheckpointError(f"{path}: not a readable twotower_mini checkpoint ({reason[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not a twotower_mini checkpoint (format {found!r}, expected {FORMAT!r})")
    if payload.get("version") != twotower_mini.__version__:
        raise CheckpointError(f"{path}: written by twotower_mini {payload.get('version')}, this is "
                              f"{twotower_mini.__version__}; retrain, or install the matching version")
    return payload


def restore(payload: dict, train: Interactions, side=None):
    """A TwoTowerRecommender rebuilt from a checkpoint payload and the same training data."""
    from twotower_mini.recommender import TwoTowerRecommender

    expected = payload["data"]["fingerprint"]
    if fingerprint(train) != expected:
        raise CheckpointError(f"the training data differs from the checkpoint's (fingerprint {fingerprint(train)}, "
                              f"expected {expected}); use the same dataset, protocol and seed")
    recommender = TwoTowerRecommender(config_from_dict(payload["config"]), side=side)
    recommender.n_users_, recommender.n_items_ = train.n_users, train.n_items
    recommender.seen_ = train.to_csr(binary=True)
    recommender.known_items_ = train.item_counts() > 0
    features, model = recommender._build(train)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint weights do not fit the model built from its config "
                              f"({str(error).splitlines()[0][:160]})") from None
    model.eval()
    recommender.features_, recommender.model_ = features, model
    recommender._export()
    return recommender
