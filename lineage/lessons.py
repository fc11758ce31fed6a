"""Lesson guards, property checks, and the one knob that changes the world the notebooks run on.

A notebook says two kinds of things, and this module keeps them apart:

- a **lesson** is an empirical claim another world, model or setting could make false ("item-kNN
  beats popularity here"). `guard` checks it, so CI fails the day the claim stops being true, and
  says what would falsify it (`falsified_by`);
- a **property** follows from the code or the maths ("our cosine equals the library's", "recall
  can only grow with more candidates"). `check` shows it: the code does what the text says. It is
  not a lesson, and the margins table lists it apart.

Both name the quantity and the threshold, so a failure says what broke, and both can record every
check they make (set `TT_GUARD_LOG` to a file path): `benchmarks/lesson_margins.py` runs every
notebook on many worlds and reads those records to show how far each guard is from failing.

    from lineage.lessons import check, guard, world_config
    world = generate_world(world_config())            # seed from TT_WORLD_SEED (default 0)
    guard("item-kNN / popularity", ratio, ">", 2.0, falsified_by="a world where taste is not shared")
    check("cosine by hand = lineage (max abs. difference)", difference, "<", 1e-12)

A lesson is a property of the kind of world, not of one sample: `TT_WORLD_SEED=3 make notebooks`
runs every notebook on another sample, and every guard must hold there too.
"""
from __future__ import annotations

import json
import operator
import os

WORLD_SEED_VARIABLE = "TT_WORLD_SEED"
GUARD_LOG_VARIABLE = "TT_GUARD_LOG"
KEEP_GOING_VARIABLE = "TT_GUARD_KEEP_GOING"  # "1": record a failed guard and go on (the margins benchmark)
NOTEBOOK_VARIABLE = "TT_NOTEBOOK"  # the notebook's name, written into each guard record

_OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}


def world_seed() -> int:
    """The world's seed: the integer in TT_WORLD_SEED, or 0."""
    raw = os.environ.get(WORLD_SEED_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        seed = int(raw)
    except ValueError:
        raise ValueError(f"{WORLD_SEED_VARIABLE}={raw!r}: expected a non-negative integer") from None
    if seed < 0:
        raise ValueError(f"{WORLD_SEED_VARIABLE}={raw!r}: expected a non-negative integer")
    return seed


def world_config(size: str = "default", **overrides):
    """`WorldConfig.sized(size)` with the seed from TT_WORLD_SEED (unless `seed=` is given)."""
    from lineage.world import WorldConfig
    overrides.setdefault("seed", world_seed())
    return WorldConfig.sized(size, **overrides)


class LessonFailed(AssertionError):
    """A notebook's lesson no longer holds on this data."""


class PropertyFailed(AssertionError):
    """Something that follows from the code or the maths did not hold: a bug, not a lesson."""


def guard(lesson: str, value: float, op: str, threshold: float, falsified_by: str | None = None) -> float:
    """Check the lesson `value op threshold` (op is one of > >= < <= ==); `falsified_by` names what
    would make it false (a world, a model, a setting). Raises LessonFailed when it does not hold;
    returns `value`. See `_verify` for the records."""
    return _verify("lesson", lesson, value, op, threshold, falsified_by, LessonFailed)


def check(claim: str, value: float, op: str, threshold: float) -> float:
    """Check a property that follows from the code or the maths (`value op threshold`). Raises
    PropertyFailed when it does not hold; returns `value`."""
    return _verify("property", claim, value, op, threshold, None, PropertyFailed)


def _verify(kind: str, name: str, value: float, op: str, threshold: float, falsified_by: str | None,
            failure: type) -> float:
    """Test `value op threshold`; record the check to the file named by TT_GUARD_LOG, when set, either
    way. With TT_GUARD_KEEP_GOING=1 as well, a failed check is only recorded, so one run measures
    every check of a notebook (the margins benchmark counts the failures from the records)."""
    if op not in _OPERATORS:
        raise ValueError(f"{kind} {name!r}: op must be one of {' '.join(_OPERATORS)}, got {op!r}")
    value = float(value)
    holds = bool(_OPERATORS[op](value, float(threshold)))
    path = os.environ.get(GUARD_LOG_VARIABLE)
    if path:
        record = {"lesson": name, "kind": kind, "falsified_by": falsified_by, "value": value, "op": op,
                  "threshold": float(threshold), "holds": holds, "world_seed": world_seed(),
                  "notebook": os.environ.get(NOTEBOOK_VARIABLE, "")}
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
    if not holds and not (path and os.environ.get(KEEP_GOING_VARIABLE) == "1"):
        raise failure(f"{kind} {name!r} does not hold: {value:.6g} {op} {threshold:.6g} is false "
                      f"(world seed {world_seed()})")
    return value
