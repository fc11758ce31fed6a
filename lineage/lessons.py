"""Lesson guards, and the one knob that changes the world the notebooks run on.

A notebook teaches a claim ("item-kNN beats popularity") and guards it with a check, so CI fails
the day the claim stops being true. `guard` is that check. It names the lesson, the measured
quantity and the threshold, so a failure says what broke, and it can record every check it makes
(set `TT_GUARD_LOG` to a file path): `benchmarks/lesson_margins.py` runs every notebook on many
worlds and reads those records to show how far each guard is from failing.

    from lineage.lessons import guard, world_config
    world = generate_world(world_config())            # seed from TT_WORLD_SEED (default 0)
    guard("L8 item-kNN / popularity", ratio, ">", 2.0)

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


def guard(lesson: str, value: float, op: str, threshold: float) -> float:
    """Check `value op threshold` (op is one of > >= < <= ==) for the lesson named `lesson`.

    Raises LessonFailed with the lesson, the value and the threshold when the check fails; records
    the check to the file named by TT_GUARD_LOG, when set, either way. With TT_GUARD_KEEP_GOING=1 as
    well, a failed check is only recorded, so one run measures every guard of a notebook (the
    margins benchmark counts the failures from the records). Returns `value`."""
    if op not in _OPERATORS:
        raise ValueError(f"guard {lesson!r}: op must be one of {' '.join(_OPERATORS)}, got {op!r}")
    value = float(value)
    holds = bool(_OPERATORS[op](value, float(threshold)))
    path = os.environ.get(GUARD_LOG_VARIABLE)
    if path:
        record = {"lesson": lesson, "value": value, "op": op, "threshold": float(threshold), "holds": holds,
                  "world_seed": world_seed(), "notebook": os.environ.get(NOTEBOOK_VARIABLE, "")}
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")
    if not holds and not (path and os.environ.get(KEEP_GOING_VARIABLE) == "1"):
        raise LessonFailed(f"lesson {lesson!r} does not hold: {value:.6g} {op} {threshold:.6g} is false "
                           f"(world seed {world_seed()})")
    return value
