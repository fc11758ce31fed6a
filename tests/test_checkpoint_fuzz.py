"""Fuzzing the checkpoint loader: random damage must be refused in one line, or be harmless.

A small model is trained once; its checkpoint file is then damaged at random, seeded:
- single-bit flips anywhere in the file, and as many again in its header (where the JSON lives);
- mutations of the JSON metadata: a key dropped or added, a value's type changed, a number made
  negative, huge, NaN or infinite, a string replaced by a list, a key given twice, unparsable
  numbers, deep nesting. Half of them get checksums recomputed, so the checks behind the SHA-256
  (schema, types, ranges) are reached too.
Every case must end one of two ways: `load` (or `restore`) raises a CheckpointError whose message
is one line, or the file loads and restores to exactly the original recommendations. Any other
exception is a bug.
"""
import json
import re

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from twotower_mini import checkpoint
from twotower_mini.checkpoint import CheckpointError

USERS = np.arange(60)
BIT_FLIPS = 1000  # anywhere in the file, plus as many again inside the header
JSON_MUTATIONS = 600  # about 1 in 70 is harmless (loads and restores), so some always are among 600
SPEC = {"dataset": "csv", "protocol": "temporal", "seed": 42, "test_fraction": 0.2, "data_dir": None,
        "csv_options": {"interactions_path": "/data/log.csv", "items_path": None, "users_path": None,
                        "user_col": "user", "item_col": "item", "time_col": "time", "value_col": "rating",
                        "sep": ",", "encoding": "utf-8"},
        "world_size": "default", "world_seed": 0}
RAW_TOKENS = ["1e999", "-1e999", "NaN", "Infinity", "1" + "0" * 5000, "[" * 50_000 + "]" * 50_000]


@pytest.fixture(scope="module")
def saved(small_twotower, tmp_path_factory):
    """(log, checkpoint bytes, the original top-10 lists, a scratch folder): the session's small two-tower."""
    log, model = small_twotower
    folder = tmp_path_factory.mktemp("fuzz")
    checkpoint.save(folder / "model.pt", model, SPEC, log)
    return log, (folder / "model.pt").read_bytes(), model.recommend(USERS, k=10), folder


def check_outcome(path, log, expected_lists) -> str:
    """'refused' (one-line CheckpointError naming the file) or 'loaded' (identical lists); any other
    exception propagates and fails the test."""
    try:
        payload = checkpoint.load(path)
    except CheckpointError as error:
        assert len(str(error).splitlines()) == 1 and str(path) in str(error), str(error)
        return "refused"
    try:
        restored = checkpoint.restore(payload, log)
    except CheckpointError as error:
        assert len(str(error).splitlines()) == 1, str(error)
        return "refused"
    assert np.array_equal(restored.recommend(USERS, k=10), expected_lists), "a damaged file changed the lists"
    return "loaded"


def test_random_bit_flips_are_refused_or_harmless(saved):
    log, raw, expected, folder = saved
    header_end = 8 + int.from_bytes(raw[:8], "little")
    rng = np.random.default_rng(18)
    outcomes = {"refused": 0, "loaded": 0}
    for case in range(2 * BIT_FLIPS):
        position = int(rng.integers(len(raw) if case < BIT_FLIPS else header_end))
        damaged = bytearray(raw)
        damaged[position] ^= 1 << int(rng.integers(8))
        path = folder / "flipped.pt"
        path.write_bytes(bytes(damaged))
        outcomes[check_outcome(path, log, expected)] += 1
    assert outcomes["refused"] >= BIT_FLIPS, outcomes  # almost every flip is caught (SHA-256, JSON, header)


# ---- JSON mutations ---------------------------------------------------------------------------------------
def paths_in(value, prefix=()):
    """Every (path, value) inside a JSON value, the value itself included."""
    found = [(prefix, value)]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found += paths_in(child, prefix + (key,))
    return found


def replace_at(document, path, new):
    """The document with the value at `path` replaced (path () replaces the whole document)."""
    if not path:
        return new
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return document


def mutated_value(value, rng):
    """A damaged version of one JSON value: another type, a negative, huge or NaN-like number, a list
    for a string, or a raw token that is not valid (strict) JSON."""
    kind = int(rng.integers(6))
    if kind == 1 and isinstance(value, (int, float)) and not isinstance(value, bool):  # negative
        return -abs(value) - 1 if isinstance(value, int) else -abs(value) or -1.0
    if kind == 2:  # huge, NaN or infinite (the last two written as NaN / Infinity)
        return [10**12, 1e300, -(10**12), float("nan"), float("inf")][int(rng.integers(5))]
    if kind == 3:  # NaN-like strings
        return ["NaN", "Infinity", "-1", "1e12", ""][int(rng.integers(5))]
    if kind == 4 and isinstance(value, str):
        return [value]
    if kind == 5:
        return f"@raw{int(rng.integers(len(RAW_TOKENS)))}@"  # replaced by a raw token in the text
    return {bool: int(bool(value)), int: str(value), float: str(value), str: 7, list: {"list": value},
            dict: [value], type(None): 0}[type(value)]  # another type


def mutate(document, rng) -> tuple[object, bool]:
    """(a damaged copy of the document, whether the checksums may be recomputed for it)."""
    document = json.loads(json.dumps(document))
    candidates = paths_in(document)
    path, value = candidates[int(rng.integers(len(candidates)))]
    operation = int(rng.integers(4))
    if operation == 0 and path and isinstance(value, (dict, list)) and value:  # drop a key or an element
        key = list(value)[int(rng.integers(len(value)))] if isinstance(value, dict) else int(rng.integers(len(value)))
        del value[key]
    elif operation == 1 and isinstance(value, dict):  # add a key: a new name, or one that is already there
        name = f"@dup@{next(iter(value))}" if value and rng.random() < 0.3 else f"unexpected_{int(rng.integers(100))}"
        value[name] = [1, "x", None, 3.5, {"a": 1}][int(rng.integers(5))]
    else:
        document = replace_at(document, path, mutated_value(value, rng))
    return document, not (path and path[0] == "checksums")


def to_text(document) -> str:
    """The JSON text, with the raw-token and duplicate-key markers put in (float NaN and infinity
    are written as the Python json module writes them: NaN, Infinity, which strict JSON refuses)."""
    text = json.dumps(document)
    for number, token in enumerate(RAW_TOKENS):
        text = text.replace(f'"@raw{number}@"', token)
    return re.sub(r'"@dup@([^"]*)"', r'"\1"', text)  # the same key a second time in its object


def test_random_json_mutations_are_refused_or_harmless(saved):
    log, raw, expected, folder = saved
    (folder / "original.pt").write_bytes(raw)
    with safe_open(folder / "original.pt", framework="pt") as handle:
        document = json.loads(handle.metadata()["twotower_mini"])
    state = load_file(folder / "original.pt")
    rng = np.random.default_rng(18)
    outcomes = {"refused": 0, "loaded": 0}
    for case in range(JSON_MUTATIONS):
        damaged, may_rehash = mutate(document, rng)
        if case % 2 and may_rehash and isinstance(damaged, dict) and {"config", "data"} <= set(damaged):
            damaged["checksums"] = checkpoint.checksums({**damaged, "state_dict": state})
        path = folder / "mutated.pt"
        save_file(state, path, metadata={"twotower_mini": to_text(damaged)})
        outcomes[check_outcome(path, log, expected)] += 1
    assert outcomes["refused"] > JSON_MUTATIONS // 2 and outcomes["loaded"] > 0, outcomes


def test_the_fuzzer_can_tell_a_healthy_file(saved):
    """The oracle itself: the undamaged file loads and gives the same lists."""
    log, raw, expected, folder = saved
    (folder / "healthy.pt").write_bytes(raw)
    assert check_outcome(folder / "healthy.pt", log, expected) == "loaded"
