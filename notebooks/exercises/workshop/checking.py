"""What every workshop check shares: the three outcomes (right: `[ OK ]` and True; wrong: an
AssertionError whose message says what to fix; not answered yet: `[ .. ]` and False) and helpers
that turn a learner's answer into an array or call a learner's function safely."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def ok(message: str) -> bool:
    print(f"[ OK ] {message}")
    return True


def not_answered(hint: str) -> bool:
    print(f"[ .. ] not answered yet: {hint}")
    return False


def fail(message: str):
    raise AssertionError(f"[FAIL] {message}")


class NotAnswered(Exception):
    """A stub function returned None."""


def to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if sp.issparse(value):
        value = value.toarray()
    return np.asarray(value)


def as_array(answer, name: str, shape: tuple, what: str) -> np.ndarray:
    """The answer as a float array of the expected shape, or a helpful failure."""
    try:
        array = to_numpy(answer).astype(np.float64)
    except (TypeError, ValueError) as error:
        fail(f"{name} should be {what}, a numeric array of shape {shape}; got {type(answer).__name__} ({error}).")
    if array.shape != tuple(shape):
        fail(f"{name} should be {what}, shape {tuple(shape)}; got shape {array.shape}.")
    return array


def call_learner(function, name: str, *args):
    """Call the learner's function; None back means the stub is still there."""
    if not callable(function):
        fail(f"{name} should be a function (def {name}(...): ...); got {type(function).__name__}.")
    try:
        result = function(*args)
    except Exception as error:  # the learner's bug, reported with the inputs that triggered it
        raise AssertionError(f"[FAIL] {name} raised {type(error).__name__}: {error}") from error
    if result is None:
        raise NotAnswered
    return result


def is_close(a, b, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol, equal_nan=False))


def diagnose(answer: np.ndarray, mistakes: list[tuple[np.ndarray | None, str]]) -> str:
    """The hint of the first known mistake the answer matches, else ''."""
    for candidate, hint in mistakes:
        if candidate is not None and is_close(answer, candidate):
            return " " + hint
    return ""


def first_difference(answer: np.ndarray, expected: np.ndarray) -> str:
    where = np.unravel_index(np.argmax(np.abs(answer - expected)), expected.shape)
    index = ", ".join(str(int(i)) for i in where)
    return f"e.g. at [{index}] expected {expected[where]:.6g}, got {answer[where]:.6g}"
