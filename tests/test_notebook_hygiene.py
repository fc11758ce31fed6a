"""Notebooks (walkthroughs and workshop exercises) are stored clean, run in the python3 kernel, and
match their percent-format sources."""
import json
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


def test_every_walkthrough_guards_its_lessons_and_seeds_first():
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        code = "\n".join("".join(c["source"]) for c in cells)
        assert "guard(" in code or "assert " in code, f"{path.name} has no cell guarding its lessons"
        first = "".join(cells[0]["source"])
        assert "seed" in first, f"{path.name}: seeds must be set in the first code cell"
