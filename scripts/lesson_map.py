"""The README's lesson map: every lesson of the walkthroughs, by id, with its section and its worst
margin over the ten worlds of the margins table.

    python scripts/lesson_map.py           # rewrite the map between the markers in README.md
    python scripts/lesson_map.py --check   # exit 1 if README.md's map is not what the sources and table give

The lessons come from the notebook sources (`guard("05.3 ...", ...)` calls: the id, the name and the
section heading above the call); the worst margins from `benchmarks/results/lesson_margins.json`,
written by `python benchmarks/lesson_margins.py --seeds 0-9`. A lesson the table has not measured yet
shows "not measured".
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "notebooks" / "src"
TABLE = ROOT / "benchmarks" / "results" / "lesson_margins.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- lesson map: begin (scripts/lesson_map.py writes it) -->", "<!-- lesson map: end -->"
GUARD_CALL = re.compile(r"""guard\(\s*f?(?P<quote>["'])(?P<id>\d\d[ab]?\.\d+) (?P<name>(?:(?!(?P=quote)).)*)""")
SECTION = re.compile(r"^# (## .+)$")


def lessons_in_sources() -> list[dict]:
    """One entry per guard call site: notebook, id, name (as written, up to the first quote), section."""
    found = []
    for source in sorted(SOURCES.glob("*.py")):
        text = source.read_text(encoding="utf-8")
        for match in GUARD_CALL.finditer(text):
            line_number = text.count("\n", 0, match.start()) + 1
            found.append({"notebook": source.stem, "id": match.group("id"), "name": match.group("name").strip(),
                          "section": section_at(text, line_number), "line": line_number})
    return found


def section_at(text: str, line_number: int) -> str:
    """The last '## ' heading above line `line_number` of a percent-format source."""
    section = "(introduction)"
    for line in text.splitlines()[:line_number]:
        heading = SECTION.match(line)
        if heading:
            section = heading.group(1).lstrip("# ").strip()
    return section


def worst_margins() -> dict[str, tuple[str, str]]:
    """Lesson id -> (worst margin over the table's worlds, worlds measured), from the margins table. A
    guard in a loop gives several rows under one id: the smallest margin stands for them all."""
    if not TABLE.exists():
        return {}
    margins: dict[str, tuple[str, str]] = {}
    for row in json.loads(TABLE.read_text())["rows"]:
        match = re.match(r"(\d\d[ab]?\.\d+) ", row["guard"])
        if not match or row.get("kind", "lesson") != "lesson":
            continue
        previous = margins.get(match.group(1))
        if previous is None or _as_number(row["worst margin"]) < _as_number(previous[0]):
            margins[match.group(1)] = (row["worst margin"], row["seeds"])
    return margins


def _as_number(margin: str) -> float:
    """'+12%' -> 0.12; '>+999%' -> 10; 'exact' -> 0."""
    if margin == "exact":
        return 0.0
    return float(margin.lstrip(">").rstrip("%")) / 100


def lesson_map() -> str:
    margins = worst_margins()
    lines = [BEGIN, "", "| id | notebook · section | lesson (guard) | worst margin | worlds |", "|---|---|---|---|---|"]
    for lesson in lessons_in_sources():
        name = lesson["name"].replace("|", "\\|")
        lines.append(f"| {lesson['id']} | {lesson['notebook'].split('_')[0]} · {lesson['section']} | {name} | "
                     f"{' | '.join(margins.get(lesson['id'], ('not measured', '')))} |")
    return "\n".join(lines + ["", END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's map is out of date")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    if BEGIN not in readme or END not in readme:
        print(f"{README.name}: the lesson-map markers are missing ({BEGIN} ... {END})", file=sys.stderr)
        return 1
    start, stop = readme.index(BEGIN), readme.index(END) + len(END)
    updated = readme[:start] + lesson_map() + readme[stop:]
    if args.check:
        if updated != readme:
            print("README.md's lesson map is out of date: run python scripts/lesson_map.py", file=sys.stderr)
            return 1
        return 0
    if updated != readme:  # only the section between the markers changes; written atomically (lineage.outputs
        #   refuses a README that is a symlink or not a regular file, and never leaves it half written)
        from lineage.outputs import write_text_atomic

        write_text_atomic(README, updated, overwrite=True)
    print(f"lesson map: {len(lessons_in_sources())} lessons in {README.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
