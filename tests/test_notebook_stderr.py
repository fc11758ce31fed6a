"""Walkthroughs show no warnings and nothing on stderr.

nbval's --nbval-lax (how `make test` runs the notebooks) checks that every cell runs, not what it
prints, and nbval has no option to fail on stderr. The repository's root conftest.py adds that rule
to every nbval cell: a cell that writes to stderr or prints a warning fails. So the check covers
every notebook `make test` runs (all walkthroughs, on both world seeds, and every exercise and
solution notebook) at no extra run time: it reads the outputs nbval already collected.

This file proves the rule works, cheaply (two tiny notebooks, two kernels, a few seconds): it runs
nbval with the real conftest.py on a notebook that warns and writes to stderr (and imports tqdm.auto
with ipywidgets made unimportable: the "IProgress not found" warning learners saw before ipywidgets
became a dependency), and on a clean one that imports tqdm.auto and draws a progress bar the way
implicit does.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "conftest.py"

CLEAN = [
    'print("hello from stdout")',
    "from tqdm.auto import tqdm  # implicit imports it: 'IProgress not found' without ipywidgets\n"
    "total = sum(i for i in tqdm(range(3)))\ntotal",
]
NOISY = {  # cell source: does the check fail it?
    'print("a plain line")': False,
    'import warnings\nwarnings.warn("this API is going away", UserWarning)': True,
    'import sys\nprint("a library talking to itself", file=sys.stderr)': True,
    'print("x.py:3: RuntimeWarning: divide by zero")': True,  # a warning that reached stdout
    # without ipywidgets, tqdm.auto (imported by implicit) warns "IProgress not found"
    'import sys\nsys.modules["ipywidgets"] = None  # as if not installed\nimport tqdm.auto': True,
    "2 + 2": False,  # the cells after a failed one still run, and pass
}


def write_notebook(path: Path, sources: list[str]) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(notebook, path)


def test_the_nbval_check_is_where_make_test_finds_it():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pytest tests notebooks ", makefile), "make test must run nbval from the repository root"
    assert "--nbval-lax" in makefile
    assert "def pytest_runtest_call" in HOOK.read_text()


@pytest.mark.slow
def test_nbval_fails_cells_that_warn_or_write_to_stderr(tmp_path):
    pytest.importorskip("nbval")
    shutil.copyfile(HOOK, tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    write_notebook(tmp_path / "clean.ipynb", CLEAN)
    write_notebook(tmp_path / "noisy.ipynb", list(NOISY))
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "clean.ipynb", "noisy.ipynb", "--nbval-lax", "--nbval-current-env",
         "--nbval-cell-timeout=60", "-p", "no:cacheprovider", "-c", "pytest.ini", "--rootdir", ".",
         f"--junitxml={report}", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert report.exists(), result.stdout + result.stderr
    outcome = {}
    for case in ET.parse(report).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcome[(case.get("classname", "") + "::" + case.get("name", ""))] = failed
    clean = {name: failed for name, failed in outcome.items() if "clean" in name}
    noisy = [failed for name, failed in sorted(outcome.items(), key=lambda kv: int(kv[0].split()[-1]))
             if "noisy" in name]
    assert len(clean) == len(CLEAN) and not any(clean.values()), \
        f"clean cells (and tqdm.auto's progress bar) must pass:\n{result.stdout[-3000:]}"
    assert noisy == list(NOISY.values()), f"expected failures {list(NOISY.values())}, got {noisy}:\n{result.stdout[-3000:]}"
    assert "printed to stderr or warned" in result.stdout
    assert "this API is going away" in result.stdout  # the failure shows the learner's view
