import json

import pytest

from lineage.lessons import LessonFailed, guard, world_config, world_seed


def test_guard_passes_returns_the_value_and_fails_with_the_numbers():
    assert guard("L0 ratio", 2.5, ">", 2.0) == 2.5
    with pytest.raises(LessonFailed, match=r"L0 ratio.*1\.5 > 2 is false"):
        guard("L0 ratio", 1.5, ">", 2.0)
    with pytest.raises(ValueError, match="op must be one of"):
        guard("L0", 1.0, "=>", 0.0)


def test_guard_records_every_check_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "guards.jsonl"
    monkeypatch.setenv("TT_GUARD_LOG", str(log))
    monkeypatch.setenv("TT_WORLD_SEED", "7")
    guard("a", 0.3, "<", 0.5)
    with pytest.raises(LessonFailed):
        guard("b", 0.7, "<", 0.5)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["lesson"], r["holds"], r["world_seed"]) for r in records] == [("a", True, 7), ("b", False, 7)]


def test_world_seed_knob(monkeypatch):
    monkeypatch.delenv("TT_WORLD_SEED", raising=False)
    assert world_seed() == 0 and world_config("tiny").seed == 0
    monkeypatch.setenv("TT_WORLD_SEED", "3")
    assert world_config("tiny").seed == 3
    assert world_config("tiny", seed=5).seed == 5
    for bad in ("x", "-1", "1.5"):
        monkeypatch.setenv("TT_WORLD_SEED", bad)
        with pytest.raises(ValueError, match="TT_WORLD_SEED"):
            world_seed()


def test_keep_going_records_a_failure_without_raising_only_when_recording(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_GUARD_KEEP_GOING", "1")
    monkeypatch.delenv("TT_GUARD_LOG", raising=False)
    with pytest.raises(LessonFailed):  # not recording: a failure still stops the notebook
        guard("c", 0.7, "<", 0.5)
    log = tmp_path / "guards.jsonl"
    monkeypatch.setenv("TT_GUARD_LOG", str(log))
    assert guard("c", 0.7, "<", 0.5) == 0.7
    assert json.loads(log.read_text())["holds"] is False
