"""Notebooks (walkthroughs and workshop exercises) are stored clean, run in the python3 kernel, and
match their percent-format sources."""
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))  # the walkthroughs
EXERCISE_NOTEBOOKS = sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb"))  # solutions and exercises


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


def test_there_are_exercise_notebooks():
    assert EXERCISE_NOTEBOOKS, "no exercise notebooks found in notebooks/exercises/"


def test_notebooks_are_stored_without_outputs_and_use_python3():
    for path in NOTEBOOKS + EXERCISE_NOTEBOOKS:
        notebook = json.loads(path.read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3", path.name
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name}: a cell has outputs (run scripts/build_notebooks.py)"
                assert cell["execution_count"] is None, f"{path.name}: a cell has an execution count"


def test_notebooks_match_their_sources():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def code_cells(path: Path) -> list[str]:
    """The source of every code cell, the environment check (notebook 00's first cell) left out."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in cells]
    return [s for s in sources if "check_env.py" not in s]


def test_every_walkthrough_guards_its_lessons_and_seeds_first():
    for path in NOTEBOOKS:
        cells = code_cells(path)
        code = "\n".join(cells)
        assert "guard(" in code or "assert " in code, f"{path.name} has no cell guarding its lessons"
        assert "seed" in cells[0], f"{path.name}: seeds must be set in the first code cell"


# Every notebook opens with its title (walkthroughs: and goals) before any setup code, and every
# lesson is checked by lineage.lessons.guard (which names the lesson and records the margin), never
# a bare assert.


def test_converted_notebooks_open_with_title_and_goals_and_use_guard_not_assert():
    paths = NOTEBOOKS + EXERCISE_NOTEBOOKS
    assert len(paths) >= 10
    for path in paths:
        cells = json.loads(path.read_text())["cells"]
        first = "".join(cells[0]["source"])
        number = path.name.split("_")[0]  # "00", "03a", ...
        assert cells[0]["cell_type"] == "markdown" and first.startswith(f"# {number} "), \
            f"{path.name}: the first cell must be the title (then the goals), before any setup code"
        if path.parent.name == "notebooks":
            assert "You will learn" in first, f"{path.name}: the goals belong in the title cell"
            for source in code_cells(path):
                assert not re.search(r"^\s*assert ", source, re.M), \
                    f"{path.name}: a bare assert; use lineage.lessons.guard(name, value, op, threshold)"


# A walkthrough cell shows one idea: at most MAX_CELL_LINES lines (plots included; plumbing lives in
# the packages as named, tested calls), and it never reaches into a private attribute (`obj._name`):
# what a notebook needs is public (lineage.plots, FittedTowers.embed_profile, ...).
MAX_CELL_LINES = 30
PRIVATE_ATTRIBUTE = re.compile(r"\._(?!_)[A-Za-z0-9]")  # obj._x, not obj.__len__


def code_only(source: str) -> str:
    """The cell's code with strings and comments blanked out (notebook magics dropped)."""
    import io
    import tokenize

    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    text = "\n".join(lines) + "\n"
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text
    kept = [t for t in tokens if t.type not in (tokenize.STRING, tokenize.COMMENT)
            and not getattr(tokenize, "FSTRING_MIDDLE", None) == t.type]
    return tokenize.untokenize((t.type, t.string) for t in kept)


def test_code_only_blanks_strings_and_comments():
    assert PRIVATE_ATTRIBUTE.search(code_only("model._fit(x)"))
    assert PRIVATE_ATTRIBUTE.search(code_only("y = a.b._cache[0]  # fine"))
    for clean in ('print("see obj._x")', "x = 1  # not obj._private", "len(x.__dict__)", "f'{a}._b'"):
        assert not PRIVATE_ATTRIBUTE.search(code_only(clean)), clean


def test_walkthrough_cells_are_short_and_touch_no_private_attribute():
    problems = []
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        for number, cell in enumerate(cells, start=1):
            source = "".join(cell["source"])
            lines = len(source.rstrip("\n").splitlines())
            if lines > MAX_CELL_LINES:
                problems.append(f"{path.name}, code cell {number} ({source.splitlines()[0][:50]!r}): {lines} lines "
                                f"> {MAX_CELL_LINES}; split it, or move plumbing into a named helper")
            found = PRIVATE_ATTRIBUTE.search(code_only(source))
            if found:
                problems.append(f"{path.name}, code cell {number}: touches a private attribute near {found.group()!r}")
    assert not problems, "\n".join(problems)
