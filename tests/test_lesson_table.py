"""What a lesson must be, checked on the sources and on the margins table of ten worlds.

A lesson (`guard`) has a unique id, says what would falsify it, changes from world to world, and its
threshold is close enough to its worst world to fail on some plausible other one (at most 3x past).
What never changes, or follows from the code, is a property (`check`) and sits in its own table."""
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SOURCES = ROOT / "notebooks" / "src"


def load(name: str, path: Path):
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lm = load("lesson_margins", ROOT / "benchmarks" / "lesson_margins.py")
lesson_map = load("lesson_map", ROOT / "scripts" / "lesson_map.py")


def row(guard="05.1 a / b", check="> 1", low="1.5", high="2", seeds="10/10", falsified="a world without x"):
    return {"guard": guard, "check": check, "min": low, "max": high, "seeds": seeds, "falsified by": falsified}


# ---- the rule itself ------------------------------------------------------------------------------
def test_times_past_is_the_factor_between_the_worst_world_and_the_threshold():
    assert lm.times_past(row(check="> 0.5", low="1.5", high="2")) == pytest.approx(3.0)
    assert lm.times_past(row(check="< 0.6", low="0.1", high="0.2")) == pytest.approx(3.0)
    assert lm.times_past(row(check="< 0.5", low="-14", high="-5")) == float("inf")  # past zero on the far side
    assert lm.times_past(row(check="> 0", low="1", high="3")) == pytest.approx(1.5)  # threshold 0: the spread
    assert lm.times_past(row(check="> -0.04", low="-0.02", high="-0.01")) == pytest.approx(2.0)
    assert lm.times_past(row(check="== 0", low="0", high="0")) is None
    assert lm.times_past(row(check="> 0", low="0.01", high="0.01", seeds="1/1")) is None  # one dataset, a sign


def test_lesson_problem_names_each_way_a_guard_cannot_be_a_lesson():
    assert lm.lesson_problem(row()) is None
    assert "no lesson id" in lm.lesson_problem(row(guard="a / b"))
    assert "falsify" in lm.lesson_problem(row(falsified=""))
    assert "same value" in lm.lesson_problem(row(low="0", high="0", check="< 1e-12"))
    assert "3.4x past" in lm.lesson_problem(row(check="> 10", low="34", high="55"))
    assert lm.lesson_problem(row(low="7.4", high="7.4", check="> 3", seeds="1/1")) is None  # one dataset


# ---- the sources ----------------------------------------------------------------------------------
def test_every_lesson_in_the_walkthroughs_has_its_notebooks_id_once():
    lessons = lesson_map.lessons_in_sources()
    guards = sum(len(re.findall(r"\bguard\(", p.read_text())) for p in SOURCES.glob("*.py"))
    assert len(lessons) == guards, "a guard(...) call whose name does not start with an id like \"05.3 \""
    for lesson in lessons:
        number = lesson["notebook"].split("_")[0]
        assert lesson["id"].split(".")[0] == number, f"{lesson['notebook']}:{lesson['line']}: id {lesson['id']}"
    ids = [lesson["id"] for lesson in lessons]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    assert not repeated, f"lesson ids used twice: {repeated}"


def test_every_guard_says_what_would_falsify_it():
    missing = []
    for source in SOURCES.glob("*.py"):
        for call in re.split(r"\bguard\(", source.read_text())[1:]:
            depth, end = 1, 0
            for end, char in enumerate(call):  # the call's arguments, up to its closing parenthesis
                depth += {"(": 1, ")": -1}.get(char, 0)
                if depth == 0:
                    break
            if "falsified_by=" not in call[:end]:
                missing.append(f"{source.stem}: guard({call[:50]!r}...")
    assert not missing, "\n".join(missing)


# ---- the table ------------------------------------------------------------------------------------
def table(name: str) -> list[dict]:
    return json.loads((RESULTS / f"{name}.json").read_text())["rows"]


def test_the_margins_table_is_fresh_and_every_lesson_in_it_could_fail():
    rows = table("lesson_margins")
    notebooks = {p.stem for p in SOURCES.glob("*.py")}
    assert {r["notebook"] for r in rows} <= notebooks, "rows of a notebook that no longer exists: rerun the margins"
    measured = {r["guard"].split(" ")[0] for r in rows}
    unmeasured = [lesson["id"] for lesson in lesson_map.lessons_in_sources() if lesson["id"] not in measured]
    assert not unmeasured, f"lessons not in the margins table (rerun benchmarks/lesson_margins.py): {unmeasured}"
    problems = [f"{r['notebook']}: {problem}" for r in rows if (problem := lm.lesson_problem(r))]
    assert not problems, "\n".join(problems)
    assert all(r["failed seeds"] == "0" for r in rows), [r["guard"] for r in rows if r["failed seeds"] != "0"]
    assert all(r["seeds"] in ("10/10", "1/1") for r in rows), "every world notebook is measured on ten worlds"


def test_properties_have_their_own_table():
    properties = table("lesson_properties")
    assert properties and all(r["kind"] == "property" for r in properties)
    assert all(r["kind"] == "lesson" for r in table("lesson_margins"))


def test_the_readme_lesson_map_is_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lesson_map.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
