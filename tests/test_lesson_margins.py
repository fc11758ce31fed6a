"""benchmarks/lesson_margins.py: the seed list, the margin, the per-guard table, and the runner's
verdict on a notebook that fails a lesson vs one that crashes."""
import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("lesson_margins", ROOT / "benchmarks" / "lesson_margins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lm = load()


def rec(notebook, lesson, seed, value, op, threshold):
    holds = {">": value > threshold, "<": value < threshold, "==": value == threshold}[op]
    return {"notebook": notebook, "lesson": lesson, "world_seed": seed, "value": value, "op": op,
            "threshold": threshold, "holds": holds}


def test_parse_seeds():
    assert lm.parse_seeds("0-9") == list(range(10))
    assert lm.parse_seeds("0,3,7") == [0, 3, 7]
    assert lm.parse_seeds("5,0-2,2") == [0, 1, 2, 5]
    for bad in ("", "a", "3-1", "-1", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError, match="--seeds"):
            lm.parse_seeds(bad)


def test_margin_is_relative_and_positive_when_the_guard_holds():
    assert lm.margin(3.0, ">", 2.0) == pytest.approx(0.5)
    assert lm.margin(1.0, ">", 2.0) == pytest.approx(-0.5)
    assert lm.margin(0.05, "<", 0.1) == pytest.approx(0.5)
    assert lm.margin(0.15, "<=", 0.1) == pytest.approx(-0.5)
    assert lm.margin(0.3, ">", 0.0) == pytest.approx(0.3)  # threshold 0: absolute
    assert lm.margin(0.0, "==", 0.0) == 0.0 and lm.margin(0.2, "==", 0.0) == pytest.approx(-0.2)


def test_table_min_median_max_worst_margin_and_failed_seeds():
    records = [rec("00_a", "L1 ratio", s, v, ">", 2.0) for s, v in [(0, 3.0), (1, 2.5), (2, 1.8)]]
    records += [rec("00_a", "L2 small", s, v, "<", 0.1) for s, v in [(0, 0.02), (1, 0.05)]]  # seed 2 stopped before L2
    records += [rec("01_b", "L1 cold", s, 0.0, "==", 0.0) for s in (0, 1, 2)]
    runs = [{"notebook": "00_a", "seed": s, "status": "ok" if s < 2 else "lesson-failed", "error": ""} for s in range(3)]
    runs += [{"notebook": "01_b", "seed": s, "status": "ok", "error": ""} for s in range(3)]
    rows, failures = lm.summarise(records, runs)
    by_guard = {(r["notebook"], r["guard"]): r for r in rows}
    ratio = by_guard["00_a", "L1 ratio"]
    assert (ratio["check"], ratio["min"], ratio["median"], ratio["max"]) == ("> 2", "1.8", "2.5", "3")
    assert ratio["worst margin"] == "-10%" and ratio["failed seeds"] == "2" and ratio["seeds"] == "3/3"
    small = by_guard["00_a", "L2 small"]
    assert small["worst margin"] == "+50%" and small["failed seeds"] == "0" and small["seeds"] == "2/3"
    assert by_guard["01_b", "L1 cold"]["worst margin"] == "exact"
    huge, _ = lm.summarise([rec("02_c", "L3 tiny", 0, -1e-4, "<", 1e-9)], [])
    assert huge[0]["worst margin"] == ">+999%"
    assert [row["guard"] for row in rows] == ["L1 ratio", "L2 small", "L1 cold"]  # first-seen order
    assert failures == ["00_a: guard 'L1 ratio' (> 2) failed on seed(s) 2"]


def test_an_exception_that_is_not_a_lesson_is_reported_as_an_error():
    runs = [{"notebook": "02_c", "seed": 4, "status": "error", "error": "ZeroDivisionError: division by zero"}]
    rows, failures = lm.summarise([rec("02_c", "L1", 4, 1.0, ">", 0.5)], runs)
    assert rows[0]["failed seeds"] == "0"
    assert failures == ["02_c: seed 4: error (not a lesson): ZeroDivisionError: division by zero"]


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_runner_tells_a_failed_lesson_from_a_crash_and_passes_the_seed(tmp_path):
    setup = "from lineage.lessons import guard, world_seed"
    lesson = notebook(tmp_path / "90_lesson.ipynb", setup,
                      "guard('L1 seed + 1', world_seed() + 1, '>', 0)", "guard('L2 seed', world_seed(), '<', 3)")
    crash = notebook(tmp_path / "91_crash.ipynb", setup, "guard('L1 ok', 1.0, '>', 0)", "1 / 0")
    run, records = lm.run_one(lesson, 5, tmp_path, timeout=60)
    assert run["status"] == "lesson-failed" and "L2 seed" in run["error"]
    assert [(r["lesson"], r["value"], r["holds"], r["world_seed"], r["notebook"]) for r in records] == [
        ("L1 seed + 1", 6.0, True, 5, "90_lesson"), ("L2 seed", 5.0, False, 5, "90_lesson")]
    run, records = lm.run_one(crash, 0, tmp_path, timeout=60)
    assert run["status"] == "error" and run["error"].startswith("ZeroDivisionError")
    assert [r["lesson"] for r in records] == ["L1 ok"]
    rows, failures = lm.summarise(records, [run])
    assert failures == ["91_crash: seed 0: error (not a lesson): ZeroDivisionError: division by zero"]


def test_lessons_and_properties_are_recorded_apart_with_what_would_falsify_a_lesson(tmp_path, monkeypatch):
    from lineage import lessons

    log = tmp_path / "guards.jsonl"
    monkeypatch.setenv(lessons.GUARD_LOG_VARIABLE, str(log))
    monkeypatch.setenv(lessons.NOTEBOOK_VARIABLE, "00_a")
    lessons.guard("kNN beats popularity", 2.5, ">", 2.0, falsified_by="a world without shared taste")
    lessons.check("cosine by hand = library", 0.0, "<", 1e-12)
    with pytest.raises(lessons.PropertyFailed, match="property 'sum' does not hold"):
        lessons.check("sum", 1.0, "==", 2.0)
    with pytest.raises(lessons.LessonFailed, match="lesson 'ratio' does not hold"):
        lessons.guard("ratio", 1.0, ">", 2.0, falsified_by="anything")
    import json
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["lesson"], r["kind"], r["holds"]) for r in records] == [
        ("kNN beats popularity", "lesson", True), ("cosine by hand = library", "property", True),
        ("sum", "property", False), ("ratio", "lesson", False)]
    rows, _ = lm.summarise(records[:2], [])
    assert [(row["kind"], row["falsified by"]) for row in rows] == [("lesson", "a world without shared taste"),
                                                                   ("property", "")]


def test_merge_keeps_rows_of_notebooks_not_run_that_still_exist(tmp_path, monkeypatch):
    import json as json_module
    (tmp_path / "lesson_margins.json").write_text(json_module.dumps({"rows": [
        {"notebook": "00_content_app_and_evaluation", "guard": "kept"},
        {"notebook": "04_two_towers", "guard": "a notebook that was split: dropped"},
        {"notebook": "05_negatives", "guard": "rerun: replaced"}]}))
    monkeypatch.setattr(lm, "RESULTS", tmp_path)
    merged = lm.merge_with_previous([{"notebook": "05_negatives", "guard": "new"}], {"05_negatives"})
    assert [row["guard"] for row in merged] == ["kept", "new"]
