"""benchmarks/TUNING.md blocks written by the tuning scripts (`--write-tuning-md`): a fake result table goes
between the script's markers in a copy of the real file, every other byte stays, and a second write
replaces the block instead of adding one. No tuning run: only the writing."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUNING = ROOT / "benchmarks" / "TUNING.md"
START, END = "<!-- tune_twotower_per_item:start -->", "<!-- tune_twotower_per_item:end -->"


def load(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


per_item = load("tune_twotower_per_item")
report = load("report")


def fake_run(twotower: float, ease: float) -> list[dict]:
    """What `measure` returns for 2 outer seeds, EASE at one scale and one two-tower training seed of 2 pairs."""
    lines = []
    for outer, shift in ((42, 0.002), (1, -0.002)):
        where = {"outer": outer, "fraction": 0.25, "validation_seed": 0, "keep": 1.0, "n_train": 50000}
        lines.append({**where, "model": "ease scale 16", "ndcg@10": ease + shift})
        for member, extra in ((1, 0.0), (2, 0.003)):
            lines.append({**where, "model": "twotower", "set": [], "seed": member - 1, "members": member,
                          "ndcg@10 single": twotower + shift, "ndcg@10 ensemble": twotower + shift + extra,
                          "fit_seconds": 12.5})
    return lines


def outside(text: str, start: str = START, end: str = END) -> tuple[str, str]:
    """The bytes before the block (through its start marker) and after it (from its end marker)."""
    return text[:text.index(start) + len(start)], text[text.index(end):]


def test_the_real_file_has_the_block_once():
    text = TUNING.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1 and text.index(START) < text.index(END)


def test_write_replaces_the_block_and_leaves_the_rest(tmp_path):
    copy = tmp_path / "TUNING.md"
    copy.write_bytes(TUNING.read_bytes())
    before = outside(copy.read_bytes().decode("utf-8"))

    per_item.write_tuning_md(fake_run(0.2711, 0.2655), "python benchmarks/tune_twotower_per_item.py", "abc1234", copy)
    first = copy.read_bytes().decode("utf-8")
    assert outside(first) == before  # every byte outside the block as it was
    block = first[first.index(START):first.index(END)]
    assert "`python benchmarks/tune_twotower_per_item.py` on commit `abc1234`" in block
    assert "No run written yet" not in block
    rows = {line.split(" | ")[0].lstrip("| "): line for line in block.splitlines() if line.startswith("| ")}
    assert set(rows) == {"model", "ease scale 16", "twotower, 1 pair", "twotower, 2 pairs", "twotower, each pair"}
    assert "| 0.2655 | 0.2675 | 0.2635 | 2 |" in rows["ease scale 16"]  # mean, outer 42, outer 1, runs
    assert "| 0.2741 | 0.2761 | 0.2721 | 2 | 12.5 |" in rows["twotower, 2 pairs"]
    assert "| 0.2711 | 0.2731 | 0.2691 | 4 | 12.5 |" in rows["twotower, each pair"]

    per_item.write_tuning_md(fake_run(0.3000, 0.2500), "python benchmarks/tune_twotower_per_item.py --members 2",
                             "def5678", copy)
    second = copy.read_bytes().decode("utf-8")
    assert outside(second) == before
    assert second.count(START) == 1 and second.count(END) == 1  # replaced, not added
    assert second.count("| ease scale 16 |") == 1 and "abc1234" not in second and "0.2741" not in second
    assert "on commit `def5678`" in second and "| 0.2500 |" in second


def test_write_keeps_line_endings_and_appends_a_missing_block(tmp_path):
    copy = tmp_path / "TUNING.md"
    head = b"# Tuning\r\n\r\nhand-written\r\n"
    copy.write_bytes(head + f"{START}\r\nold\r\n{END}\r\ntail\r\n".encode())
    report.write_tuning_section("tune_twotower_per_item", "new\ntable", copy)
    written = head + f"{START}\r\nnew\r\ntable\r\n{END}\r\ntail\r\n".encode()
    assert copy.read_bytes() == written  # the block in the file's own line endings

    report.write_tuning_section("tune_graph/world/covisit", "grid rows", copy)  # no markers yet: appended
    text = copy.read_bytes()
    block = "\r\n<!-- tune_graph/world/covisit:start -->\r\ngrid rows\r\n<!-- tune_graph/world/covisit:end -->\r\n"
    assert text == written + block.encode()
    report.write_tuning_section("tune_graph/world/covisit", "grid rows, again", copy)
    assert copy.read_bytes().decode().count("tune_graph/world/covisit:start") == 1


def test_a_broken_block_is_refused_and_the_file_left_alone(tmp_path):
    copy = tmp_path / "TUNING.md"
    broken = f"{END}\nx\n{START}\n".encode()  # end before start
    copy.write_bytes(broken)
    with pytest.raises(ValueError, match="expected one"):
        report.write_tuning_section("tune_twotower_per_item", "table", copy)
    assert copy.read_bytes() == broken
    with pytest.raises(ValueError, match="its own marker"):
        report.write_tuning_section("tune_twotower_per_item", f"a {START} inside", copy)


def test_tune_graph_writes_its_own_block(tmp_path):
    tune_graph = load("tune_graph")
    copy = tmp_path / "TUNING.md"
    copy.write_bytes(TUNING.read_bytes())
    original = copy.read_bytes()
    stages = [{"grid": {"hops": [1, 2]}, "fixed": {}, "best": {"hops": 1}, "validation ndcg@10": 0.2123,
               "fit seconds": 1.25, "combinations": 2}]
    tune_graph.write_tuning_md("covisit", "world", stages, {"hops": 1}, "python benchmarks/tune_graph.py", "abc", copy)
    text = copy.read_bytes()
    assert text.startswith(original)  # appended after the hand-written file, nothing else touched
    assert b"#### covisit on world" in text and b"| 0.2123 |" in text and b"TUNED['world'] = {'hops': 1}" in text
