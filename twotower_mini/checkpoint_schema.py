"""Checkpoint contents as plain values, checked against the configs' type hints.

A checkpoint's JSON holds the model config and a description of its data as plain dicts, lists,
strings and numbers; the loss, one of several dataclasses, is a dict that names its kind,
{"kind": "sampled_softmax", "temperature": 0.05, ...} (`LOSS_KINDS`). Before any of it is used,
every key and every value is checked against the dataclass fields and type hints it claims to be
(`check_fields`, `check_schema`), then the configs' own range checks run (`config_from_dict`), so a
damaged or hand-made file is one line (`CheckpointError`), never a TypeError or a huge allocation
later on. Used by `checkpoint`.
"""
from __future__ import annotations

import re
import reprlib
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np

from lineage.datasets import DATASETS
from lineage.splits import PROTOCOLS
from twotower_mini.config import (SEED_MAX, DenoisingUsers, FeatureConfig, FullSoftmax, Loss, SampledSoftmax,
                                  SnapshotSoftmax, TimeSoftmax, TowerConfig, TrainConfig, TwoTowerConfig)

__all__ = ["CheckpointError", "check_fields", "check_schema", "check_data", "config_from_dict", "config_to_dict",
           "plain", "first_line", "short", "LOSS_KINDS"]

_HEX64 = re.compile(r"[0-9a-f]{64}")  # a SHA-256, as hexdigest() writes it
_LINE_BREAKS = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")  # what str.splitlines() splits on
_REPR = reprlib.Repr()  # a value from the file, in a message: long strings, lists and numbers cut short
_REPR.maxstring, _REPR.maxlist, _REPR.maxlong = 100, 6, 40
short = _REPR.repr
_PARTS = {"features": FeatureConfig, "towers": TowerConfig, "training": TrainConfig}
LOSS_KINDS = {"sampled_softmax": SampledSoftmax, "full_softmax": FullSoftmax, "denoising_users": DenoisingUsers,
              "time_softmax": TimeSoftmax, "snapshot_softmax": SnapshotSoftmax}  # loss["kind"] -> the loss's class
_KIND_OF = {cls: kind for kind, cls in LOSS_KINDS.items()}
DATA_FIELDS = {"dataset": str, "protocol": str, "seed": int, "test_fraction": float | None,
               "data_dir": str | None, "csv_options": dict, "world_size": str, "world_seed": int,
               "fingerprint": str}  # the data block (harness.options.data_spec, plus the fingerprint)
CSV_OPTIONS = {"interactions_path": str | None, "items_path": str | None, "users_path": str | None,
               "user_col": str, "item_col": str, "time_col": str | None, "value_col": str | None,
               "item_key": str | None, "user_key": str | None, "sep": str, "encoding": str,
               "list_columns": list[str] | None, "list_sep": str}  # load_csv's keyword arguments



class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupted, foreign, or made for other code or data.
    The message is always one line (line breaks from the file's contents become spaces)."""

    def __init__(self, message):
        """Keep the message on one line: the file's contents may hold line breaks."""
        super().__init__(_LINE_BREAKS.sub(" ", str(message)))


def first_line(error: BaseException) -> str:
    """An exception as a short single line: its first line of text, else its type's name."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:200]


# ---- configs as plain dicts -----------------------------------------------------------------------
def plain(value):
    """Dataclasses, tuples, paths and numpy scalars -> plain dicts, lists, strings and Python numbers."""
    if is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def config_to_dict(config: TwoTowerConfig) -> dict:
    """A TwoTowerConfig as nested plain dicts (what the checkpoint's JSON stores); the loss names its kind."""
    values = plain(config)
    loss = config.training.loss
    values["training"]["loss"] = {"kind": _KIND_OF[type(loss)], **plain(loss)}
    return values


def config_from_dict(values: dict) -> TwoTowerConfig:
    """Rebuild a TwoTowerConfig: every field present, of the right type, in range (one-line CheckpointError)."""
    top = check_fields(TwoTowerConfig, values, "config", complete=True)
    for name, cls in _PARTS.items():
        part = check_fields(cls, top[name], f"config.{name}", complete=True)
        if cls is TrainConfig:
            part["loss"] = _loss_from_dict(part["loss"])
        top[name] = _build(cls, part, f"config.{name}")
    return _build(TwoTowerConfig, top, "config")


def _loss_from_dict(values) -> Loss:
    """The loss of config.training from {"kind": ..., its fields}: a known kind, every field of that loss."""
    where = "config.training.loss"
    if not isinstance(values, dict):
        raise CheckpointError(f"{where} is a {type(values).__name__}, expected a dict")
    kind = values.get("kind")
    if not (isinstance(kind, str) and kind in LOSS_KINDS):
        raise CheckpointError(f"{where}.kind is {short(kind)}, expected one of {', '.join(LOSS_KINDS)}")
    cls = LOSS_KINDS[kind]
    rest = {name: value for name, value in values.items() if name != "kind"}
    return _build(cls, check_fields(cls, rest, where, complete=True), where)


def _build(cls, values: dict, where: str):
    """cls(**values), its own validation (__post_init__) turned into a one-line CheckpointError."""
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{where} is not valid ({first_line(error)})") from None


def check_fields(cls, raw, where: str, complete: bool = False) -> dict:
    """Check a dict against a dataclass's fields and types (one-line CheckpointError); returns the
    values with lists turned into tuples where the field is a tuple. complete: every field must be there."""
    required = [f.name for f in fields(cls)] if complete else []
    return check_schema(typing.get_type_hints(cls), raw, where, required)


def check_schema(schema: dict, raw, where: str, required=()) -> dict:
    """Check a dict against {key: type hint}: no unknown key, no missing required key, every value
    of its type (one-line CheckpointError); returns the values, lists made tuples for tuple hints."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where} is a {type(raw).__name__}, expected a dict")
    unknown = sorted(set(raw) - set(schema), key=str)
    if unknown:
        raise CheckpointError(f"{where} has fields this version does not know: {short(unknown)}")
    missing = [name for name in required if name not in raw]
    if missing:
        raise CheckpointError(f"{where} is missing the fields {missing}")
    values = {}
    for name, value in raw.items():
        if not _fits(value, schema[name]):
            raise CheckpointError(f"{where}.{name} is {short(value)} ({type(value).__name__}), "
                                  f"expected {_hint_name(schema[name])}")
        values[name] = tuple(value) if isinstance(value, list) and _is_tuple(schema[name]) else value
    return values


def _hint_name(hint) -> str:
    """A type hint as a reader writes it: int, str | None, tuple[int, ...]."""
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _is_tuple(hint) -> bool:
    """Whether a type hint is a tuple (JSON has only lists: they become tuples again on load)."""
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
    if origin is typing.Literal:  # a string setting: its allowed values are checked with the config's own messages
        return isinstance(value, str)
    if _is_tuple(hint) or hint is list or origin is list:
        if not isinstance(value, (list, tuple)):
            return False
        element = args[0] if args else None
        return element is None or all(_fits(v, element) for v in value)
    if hint is dict or origin is dict:
        return isinstance(value, dict)
    return True  # nested configs: checked by their own check_fields


def check_data(data: dict) -> dict:
    """The data block: known keys of the right types, known dataset and protocol, seeds and
    fraction in range, csv_options limited to load_csv's keywords (one-line CheckpointError)."""
    values = check_schema(DATA_FIELDS, data, "data", required=("dataset", "fingerprint"))
    if not _HEX64.fullmatch(values["fingerprint"]):
        raise CheckpointError(f"data.fingerprint is {short(values['fingerprint'])}, expected 64 hexadecimal digits")
    for name, allowed in (("dataset", DATASETS), ("protocol", PROTOCOLS)):
        if name in values and values[name] not in allowed:
            raise CheckpointError(f"data.{name} is {short(values[name])}, expected one of {', '.join(allowed)}")
    for name in ("seed", "world_seed"):
        if name in values and not 0 <= values[name] <= SEED_MAX:
            raise CheckpointError(f"data.{name} is {short(values[name])}, expected 0 to {SEED_MAX}")
    fraction = values.get("test_fraction")
    if fraction is not None and not 0 < fraction < 1:
        raise CheckpointError(f"data.test_fraction is {short(fraction)}, expected a share strictly between 0 and 1")
    check_schema(CSV_OPTIONS, values.get("csv_options", {}), "data.csv_options")
    return values
