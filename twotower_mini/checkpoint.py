"""Safe checkpoints: one safetensors file of plain tensors and JSON, so opening one can never run code.

Why not PyTorch's own save and load? They write and read a pickle, and unpickling may import and
call anything: opening a checkpoint from someone else could run their code. A safetensors file (the
format of the Hugging Face ecosystem: `safetensors.safe_open` in Python, or any program that reads
8 bytes and some JSON) holds only numbers and text:

    8 bytes    the length N of the header (little-endian)
    N bytes    a JSON header: each tensor's name, dtype, shape and byte range, and a free
               "__metadata__" table of strings; ours is {"twotower_mini": "<the JSON below>"}
    the rest   the tensor bytes, one tensor after another

Format "twotower_mini.checkpoint/4" (3 chose the loss by switches of TrainConfig and kept the
temperature in TowerConfig; 2 was a torch pickle: both are refused with how to retrain). The tensors
are the towers' `state_dict`, float32. The JSON in the metadata holds:
- `format` and `version`: refused with a clear message when they do not match this code;
- `config`: the TwoTowerConfig as a dict, rebuilt on load (the loss as {"kind": ..., its fields});
- `data`: how the training data was made (dataset, protocol, seed, csv options ...) and the
  `fingerprint` of the data the model saw (a SHA-256 of every event with its value, of the id
  vocabularies and of the side features), so the features can be rebuilt exactly and other data,
  even one changed rating, is refused;
- `checksums`: the SHA-256 of `config`, of `data` and of every tensor.

`load` checks everything before anything is used, each failure a one-line `CheckpointError` naming
the file, in this order:
1. the file is a safetensors file (an old torch/pickle checkpoint gets its own message);
2. the metadata is strict JSON (no NaN, no duplicate keys) with our format and version;
3. the schema: top-level keys and types; the checksum table (64 hex digits each, one per tensor);
   every tensor float32 with 1 or 2 dimensions of at most MAX_DIM (before any tensor is read);
4. the SHA-256 of the config, the data block and every tensor (a flipped bit anywhere is refused);
5. finite weights;
6. the config: every field's name and type, then the configs' own range checks (`__post_init__`),
   so an embedding_dim of -5 or 10**12 is one line and never reaches torch;
7. the data block: keys, types and values, csv_options included.
`restore` then checks the data fingerprint and compares the tensor shapes with the model the config
builds, built first on PyTorch's "meta" device (shapes without memory, so a config asking for a
huge model costs nothing before it is refused). The data block stores absolute paths, so a
checkpoint can be used from any folder; the fingerprint refuses other data (including data moved
with `--data-dir` / `--interactions`).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes  # the whole file, as bytes

import twotower_mini
from lineage.data import Interactions
from lineage.outputs import write_atomic
from twotower_mini.fitted import FittedTowers, build_towers, serving_features
from twotower_mini.checkpoint_schema import (CheckpointError, check_data, check_fields, config_from_dict,
                                             config_to_dict, first_line, plain, short)

__all__ = ["FORMAT", "CheckpointError", "save", "load", "restore", "fingerprint", "check_fields",
           "config_from_dict", "config_to_dict", "restore_towers"]

_HEX64 = re.compile(r"[0-9a-f]{64}")  # a SHA-256, as hexdigest() writes it

FORMAT = "twotower_mini.checkpoint/4"  # safetensors + JSON metadata, the loss a dict naming its kind
OLD_FORMATS = {  # an earlier safetensors format -> what changed since (refused with how to retrain; format 2,
    #   a torch pickle, is recognised by its first bytes: see _not_safetensors)
    "twotower_mini.checkpoint/3": "its config chose the loss by switches of TrainConfig (now TrainConfig.loss) and "
                                  "kept the temperature in TowerConfig (now in the loss)",
}
METADATA_KEY = "twotower_mini"  # the one key of the safetensors metadata: our JSON, as a string
MAX_DIM = 100_000_000  # no tensor dimension may be larger (checked before anything is built)
RETRAIN = "python -m twotower_mini train ... --out FILE"
_FIXED_DTYPES = {"b": "|b1", "i": "<i8", "u": "<u8", "f": "<f8"}  # numeric column kind -> one dtype to hash

_TOP_LEVEL = {"format": str, "version": str, "config": dict, "data": dict, "checksums": dict}
class _Damaged(Exception):
    """Inside `load`: the file is a twotower_mini checkpoint, but a check failed."""


# ---- fingerprint and checksums --------------------------------------------------------------------
def fingerprint(data: Interactions) -> str:
    """SHA-256 of what the model learned from: every event (user, item, time and value, e.g. the
    rating), the user and item id vocabularies and the side-feature columns. Fixed little-endian
    dtypes, so the same data gives the same hash on every machine; one changed rating changes it."""
    digest = hashlib.sha256(f"{len(data)} events\n".encode())
    for array, dtype in ((data.users, "<i8"), (data.items, "<i8"), (data.times, "<f8"), (data.values, "<f4")):
        digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    for ids in (data.user_ids, data.item_ids):
        digest.update(json.dumps([str(i) for i in ids.tolist()]).encode())
    for side, columns in (("user", data.user_features), ("item", data.item_features)):
        digest.update(f"{side} features\n".encode())
        _digest_columns(digest, columns)
    return digest.hexdigest()


def _digest_columns(digest, columns: dict) -> None:
    """Feature columns into a hash, by sorted name: numbers as fixed little-endian bytes, any other
    column (strings, lists of tokens) as JSON text."""
    for name in sorted(columns):
        column = columns[name]
        digest.update(json.dumps(str(name)).encode())
        kind = column.dtype.kind if isinstance(column, np.ndarray) else None
        if kind in _FIXED_DTYPES:
            digest.update(kind.encode() + np.ascontiguousarray(column, dtype=_FIXED_DTYPES[kind]).tobytes())
        else:
            digest.update(json.dumps(plain(list(column)), default=str).encode())


def _digest_block(block) -> str:
    """SHA-256 of a metadata block (plain values), over its canonical JSON form."""
    return hashlib.sha256(json.dumps(block, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _digest_tensor(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and values."""
    values = tensor.detach().cpu().contiguous().view(-1)
    digest = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
    if values.dtype == torch.float32:
        digest.update(values.numpy().astype("<f4").tobytes())  # little-endian, as in the file, on every machine
    else:  # other dtypes are refused by load before any checksum is compared
        digest.update(values.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def checksums(payload: dict) -> dict:
    """The SHA-256 of the config, of the data block and of every tensor of a payload."""
    return {"config": _digest_block(payload["config"]), "data": _digest_block(payload["data"]),
            "state_dict": {name: _digest_tensor(tensor) for name, tensor in payload["state_dict"].items()}}


# ---- save -----------------------------------------------------------------------------------------
def save(path, towers, data_spec: dict, train: Interactions, *, overwrite: bool = False,
         option: str = "--out") -> None:
    """Write FittedTowers (or a TwoTowerRecommender serving them) as one safetensors file: the float32
    weights, and as JSON metadata the config, the data description (with the data's fingerprint) and
    a SHA-256 of every block and tensor. Written atomically through lineage.outputs.write_atomic (`overwrite`, `option`: its
    policy for an existing file, and the option named in its messages)."""
    towers = getattr(towers, "towers_", towers)  # a recommender serves FittedTowers
    state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in towers.model.state_dict().items()}
    for name, tensor in state.items():
        if tensor.dtype != torch.float32:
            raise CheckpointError(f"{path}: not saved: the weights {name!r} are {tensor.dtype}, expected float32")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{path}: not saved: the weights {name!r} hold NaN or infinite values "
                                  f"(training diverged; lower the learning rate)")
    document = {"format": FORMAT, "version": twotower_mini.__version__, "config": config_to_dict(towers.config),
                "data": {**plain(data_spec), "fingerprint": fingerprint(train)}}
    try:  # never write a file that load would refuse
        config_from_dict(document["config"])
        check_data(document["data"])
    except CheckpointError as error:
        raise CheckpointError(f"{path}: not saved: {error}") from None
    document["checksums"] = checksums({**document, "state_dict": state})
    content = safetensors_bytes(state, metadata={METADATA_KEY: json.dumps(document, sort_keys=True, allow_nan=False)})

    def write(temporary: str) -> None:
        """Write the whole file at the temporary path write_atomic gives (it then publishes it). Plain
        Python I/O, so a full disk is an OSError with its errno, which write_atomic reports in one line."""
        with open(temporary, "wb") as handle:
            handle.write(content)

    write_atomic(path, write, overwrite=overwrite, option=option)


# ---- load -----------------------------------------------------------------------------------------
def load(path) -> dict:
    """Read and check a checkpoint (module docstring, steps 1-7); returns its payload, a dict of
    format, version, config, data, state_dict (name -> float32 tensor) and checksums.
    Raises CheckpointError with one line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory; expected a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        metadata, specs = _read_header(path)
        document = _parse_metadata(metadata)
        _check_identity(document)
        _check_schema(document, specs)
        state = _read_tensors(path, specs)
        _check_contents(document, state)
    except _Damaged as error:
        raise CheckpointError(f"{path}: damaged checkpoint: {error}; retrain, or copy the file again") from None
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return {**document, "state_dict": state}


def _not_safetensors(path: Path, error: BaseException) -> CheckpointError:
    """The error for a file the safetensors library cannot read: an old torch checkpoint (a zip
    archive or a bare pickle) gets its own message, anything else says what the library said."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError:
        head = b""
    if _looks_like_pickle(head):
        return CheckpointError(f"refused to load: this is the old checkpoint format (a torch pickle, which "
                               f"can run code when opened), not a twotower_mini checkpoint of format {FORMAT}; "
                               f"retrain to write one: {RETRAIN}")
    return CheckpointError(f"not a readable twotower_mini checkpoint (not a safetensors file: {first_line(error)})")


def _looks_like_pickle(head: bytes) -> bool:
    """Whether a file's first bytes are a torch zip archive or a bare pickle (protocol 2 to 5:
    b"\x80" then the protocol), and not a safetensors file whose header length merely starts with
    the byte 0x80 (its JSON header starts at byte 8)."""
    if head.startswith(b"PK\x03\x04"):
        return True
    return head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and head[8:9] != b"{"


def _read_header(path: Path) -> tuple[dict, dict]:
    """(metadata, {tensor name: (dtype, shape)}) from the safetensors header; no tensor is read."""
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            specs = {}
            for name in handle.keys():
                view = handle.get_slice(name)
                specs[name] = (view.get_dtype(), list(view.get_shape()))
    except Exception as error:  # the library's SafetensorError, OSError ...: all mean "cannot read"
        raise _not_safetensors(path, error) from None
    return metadata, specs


def _read_tensors(path: Path, specs: dict) -> dict:
    """{name: tensor} for every tensor of the file (their dtypes and shapes already checked)."""
    try:
        with safe_open(path, framework="pt") as handle:
            return {name: handle.get_tensor(name).clone() for name in specs}
    except Exception as error:
        raise CheckpointError(f"not a readable twotower_mini checkpoint ({first_line(error)})") from None


def _parse_metadata(metadata: dict) -> dict:
    """Our JSON document from the safetensors metadata, parsed strictly: no NaN or infinite
    numbers, no key given twice, an object at the top."""
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"not a twotower_mini checkpoint (a safetensors file without "
                              f"{METADATA_KEY!r} metadata; expected format {FORMAT!r})")
    extra = sorted(set(metadata) - {METADATA_KEY})
    if extra:
        raise _Damaged(f"unexpected safetensors metadata keys {short(extra)}")
    try:
        document = json.loads(metadata[METADATA_KEY], object_pairs_hook=_unique_keys,
                              parse_constant=_refuse_constant, parse_float=_finite_float)
    except Exception as error:  # ValueError, RecursionError (deep nesting) ...
        raise _Damaged(f"its metadata is not valid JSON ({first_line(error)})") from None
    if not isinstance(document, dict):
        raise _Damaged(f"its metadata is a JSON {type(document).__name__}, expected an object")
    return document


def _unique_keys(pairs: list) -> dict:
    """json.loads hook: an object, refused when a key appears twice (which value would count?)."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"a key is given twice in one object: {short(sorted(keys))}")
    return dict(pairs)


def _refuse_constant(name: str):
    """json.loads hook: NaN, Infinity and -Infinity are not JSON, though Python's json accepts them."""
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    """json.loads hook: a number too large for a float (1e999) is refused, not read as infinity."""
    value = float(text)
    if not np.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _check_identity(document: dict) -> None:
    """Our format and this version of the code; anything else is refused with what to do."""
    found = document.get("format")
    if isinstance(found, str) and found in OLD_FORMATS:
        raise CheckpointError(f"an older twotower_mini checkpoint (format {found!r}: {OLD_FORMATS[found]}); "
                              f"retrain to write format {FORMAT!r}: {RETRAIN}")
    if found != FORMAT:
        raise CheckpointError(f"not a twotower_mini checkpoint (format {short(found)}, expected {FORMAT!r})")
    version = document.get("version")
    if version != twotower_mini.__version__:
        shown = version if isinstance(version, str) and len(version) <= 40 else short(version)
        raise CheckpointError(f"written by twotower_mini {shown}, this is {twotower_mini.__version__}; "
                              f"retrain ({RETRAIN}), or install the matching version")


def _check_schema(document: dict, specs: dict) -> None:
    """Top-level keys and types, the checksum table, and every tensor's dtype and shape."""
    missing, extra = sorted(set(_TOP_LEVEL) - set(document)), sorted(set(document) - set(_TOP_LEVEL))
    if missing or extra:
        raise _Damaged(f"top-level keys missing {missing}, unexpected {short(extra)}")
    for key, kind in _TOP_LEVEL.items():
        if not isinstance(document[key], kind):
            raise _Damaged(f"{key!r} is a {type(document[key]).__name__}, expected a {kind.__name__}")
    sums = document["checksums"]
    if set(sums) != {"config", "data", "state_dict"} or not isinstance(sums["state_dict"], dict):
        raise _Damaged("the checksum table is malformed (expected config, data and a state_dict table)")
    entries = [("config", sums["config"]), ("data", sums["data"]), *sums["state_dict"].items()]
    for name, value in entries:
        if not (isinstance(value, str) and _HEX64.fullmatch(value)):
            raise _Damaged(f"the checksum of {short(name)} is {short(value)}, expected 64 hexadecimal digits")
    if set(sums["state_dict"]) != set(specs):
        unmatched = sorted(set(specs) ^ set(sums["state_dict"]))
        raise _Damaged(f"the tensors {short(unmatched)} have no checksum or no data")
    if not specs:
        raise _Damaged("it holds no weights")
    for name, (dtype, shape) in specs.items():
        if dtype != "F32":
            raise _Damaged(f"the weights {short(name)} are {dtype}, expected F32 (float32)")
        if not 1 <= len(shape) <= 2 or not all(1 <= size <= MAX_DIM for size in shape):
            raise _Damaged(f"the weights {short(name)} have shape {short(shape)}, expected 1 or 2 dimensions "
                           f"of 1 to {MAX_DIM:,}")


def _check_contents(document: dict, state: dict) -> None:
    """The SHA-256 of every block and tensor, finite weights, then the config and data blocks."""
    sums = document["checksums"]
    for block in ("config", "data"):
        if _digest_block(document[block]) != sums[block]:
            raise _Damaged(f"the SHA-256 of its {block!r} block does not match the one stored at save time")
    for name, tensor in state.items():
        if _digest_tensor(tensor) != sums["state_dict"][name]:
            raise _Damaged(f"the SHA-256 of the weights {short(name)} does not match the one stored at save time")
        if not torch.isfinite(tensor).all():
            raise _Damaged(f"the weights {short(name)} hold NaN or infinite values")
    try:
        config_from_dict(document["config"])
        check_data(document["data"])
    except CheckpointError as error:
        raise _Damaged(str(error)) from None


# ---- restore --------------------------------------------------------------------------------------
def restore_towers(payload: dict, train: Interactions, side=None) -> FittedTowers:
    """The FittedTowers of a checkpoint payload, rebuilt on the same training data: the serving
    features come from `fitted.serving_features`, the one rule fit_towers also follows."""
    expected, found = payload["data"]["fingerprint"], fingerprint(train)
    if found != expected:
        raise CheckpointError(f"the training data differs from the checkpoint's (fingerprint {found[:16]}..., "
                              f"expected {expected[:16]}...); use the same data files, dataset, protocol and seed")
    config = config_from_dict(payload["config"])
    features = serving_features(train, config, side)
    with torch.device("meta"):  # the model's shapes without its memory
        model = build_towers(features, config, config.ensemble)
    _check_shapes(model, payload["state_dict"])
    model = model.to_empty(device="cpu")  # real (uninitialised) memory, filled from the checkpoint
    model.load_state_dict(payload["state_dict"])
    return FittedTowers(config, model.eval(), features)


def restore(payload: dict, train: Interactions, side=None):
    """A TwoTowerRecommender serving the checkpoint's towers on the same training data."""
    from twotower_mini.recommender import TwoTowerRecommender

    return TwoTowerRecommender.serving(restore_towers(payload, train, side), train, side)


def _check_shapes(model: torch.nn.Module, state: dict) -> None:
    """The checkpoint's tensors must be exactly the model's: same names, same shapes."""
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in state.items()}
    if expected != found:
        name = sorted(name for name in set(expected) | set(found) if expected.get(name) != found.get(name))[0]
        raise CheckpointError(f"checkpoint weights do not fit the model built from its config: {short(name)} "
                              f"has shape {found.get(name)}, the model expects {expected.get(name)}")
