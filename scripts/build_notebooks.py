"""Build the notebooks from their percent-format sources, stored clean.

    python scripts/build_notebooks.py          # write every notebook from its source
    python scripts/build_notebooks.py --check  # exit 1 if any notebook differs from its source

Sources are jupytext percent format (`# %%` starts a code cell, `# %% [markdown]` a text cell):

- walkthroughs: notebooks/src/NN_name.py -> notebooks/NN_name.ipynb (a notebook split in parts is
  numbered NNa, NNb: 03a_covisitation_graphs, 03b_deepwalk);
- workshop exercises: notebooks/exercises/src/NN_name_sol_MM.py -> two notebooks,
  notebooks/exercises/NN_name_sol_MM.ipynb (the solution) and NN_name_ex_MM.ipynb (the exercise).
  In the source, the answer sits between a `# BEGIN SOLUTION` and an `# END SOLUTION` line; the
  solution notebook keeps it (markers removed), the exercise notebook replaces it with the stub
  given by the `# STUB: <code>` line(s) right after `# BEGIN SOLUTION` (indented like the marker).
  One source, two notebooks: they never drift, and `--check` (run by the tests) proves it.

Notebooks are written without outputs or execution counts, with the `python3` kernel, so diffs
stay clean and nbval runs them in the current environment. Exercise notebooks carry no jupytext
pairing (notebooks/exercises/jupytext.toml turns it off): saving one in JupyterLab must never
overwrite the marked-up source.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
EXERCISES = NOTEBOOKS / "exercises"
EXERCISE_SOURCES = EXERCISES / "src"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def notebook_from_source(source: Path) -> nbformat.NotebookNode:
    notebook = jupytext.read(source)
    notebook.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "jupytext": {"formats": "ipynb,src//py:percent"},
    }
    for cell in notebook.cells:
        cell.metadata = {key: value for key, value in cell.metadata.items() if key in ("tags",)}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for index, cell in enumerate(notebook.cells):  # stable ids keep diffs quiet
        cell.id = f"{source.stem.split('_')[0]}-{index:03d}"  # 03a-000
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook, version=4) + "\n"


# ---- workshop exercises ---------------------------------------------------------------------------
BEGIN, END, STUB = "# BEGIN SOLUTION", "# END SOLUTION", "# STUB:"
EXERCISE_NAME = re.compile(r"^(?P<notebook>\d\d[a-z]?_[a-z0-9_]+)_sol_(?P<number>\d\d)$")  # 03b_deepwalk_sol_01


class MarkerError(ValueError):
    """A solution source whose markers do not pair up."""


def split_solution(text: str, name: str = "source") -> tuple[str, str]:
    """(solution text, exercise text) of a marked-up percent source.

    Solution: the marker and STUB lines dropped, the answer kept. Exercise: each marked block
    replaced by its STUB line(s), re-indented to the BEGIN marker's column; without a STUB line,
    `pass  # YOUR CODE HERE`."""
    solution, exercise = [], []
    inside, stub, block_start, indent = False, [], 0, ""
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise MarkerError(f"{name}:{number}: '{BEGIN}' inside the block opened on line {block_start}")
            inside, stub, block_start = True, [], number
            indent = line[: len(line) - len(line.lstrip())]
            continue
        if stripped.startswith(END):
            if not inside:
                raise MarkerError(f"{name}:{number}: '{END}' without a '{BEGIN}'")
            exercise.extend(indent + s for s in (stub or ["pass  # YOUR CODE HERE"]))
            inside = False
            continue
        if inside and stripped.startswith(STUB):
            if any(not previous.strip().startswith(STUB) for previous in lines[block_start:number - 1]):
                raise MarkerError(f"{name}:{number}: '{STUB}' lines must come right after '{BEGIN}'")
            code = stripped[len(STUB):].rstrip()
            stub.append(code[1:] if code.startswith(" ") else code)  # deeper indentation is kept
            continue
        if stripped.startswith(STUB):
            raise MarkerError(f"{name}:{number}: '{STUB}' outside a solution block")
        if stripped.startswith("# %%") and inside:
            raise MarkerError(f"{name}:{number}: a cell boundary inside the block opened on line {block_start}")
        solution.append(line)
        if not inside:
            exercise.append(line)
    if inside:
        raise MarkerError(f"{name}:{block_start}: '{BEGIN}' is never closed by '{END}'")
    if not block_start:
        raise MarkerError(f"{name}: no '{BEGIN}' block: an exercise needs something to solve")
    return "\n".join(solution) + "\n", "\n".join(exercise) + "\n"


def _exercise_notebook(text: str, source: Path, kind: str) -> nbformat.NotebookNode:
    match = EXERCISE_NAME.match(source.stem)
    notebook = jupytext.reads(text, fmt="py:percent")
    notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    exercise_name = source.stem.replace("_sol_", "_ex_")
    if kind == "sol":
        banner = (f"*Solution notebook, built from `exercises/src/{source.name}` by `scripts/build_notebooks.py`. "
                  f"The exercise version is [{exercise_name}.ipynb]({exercise_name}.ipynb).*")
    else:
        banner = ("*Exercise notebook: fill in the cells marked `YOUR CODE HERE`, then run the check below each "
                  f"one. The solution is in [{source.stem}.ipynb]({source.stem}.ipynb): try first!*")
    title = next((cell for cell in notebook.cells if cell.cell_type == "markdown"), None)
    if title is None or not title.source.startswith("# "):
        raise MarkerError(f"{source.name}: the first text cell must start with the exercise's '# ' title")
    heading, _, rest = title.source.partition("\n")
    title.source = f"{heading}\n\n{banner}\n{rest}"  # right under the title
    for cell in notebook.cells:
        cell.metadata = {key: value for key, value in cell.metadata.items() if key in ("tags",)}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{match['notebook'].split('_')[0]}-{kind}{match['number']}-{index:03d}"
    return notebook


def exercise_notebooks(source: Path) -> dict[str, nbformat.NotebookNode]:
    """{file name: notebook} for the solution and the exercise built from one marked-up source."""
    if not EXERCISE_NAME.match(source.stem):
        raise MarkerError(f"{source.name}: exercise sources are named NN_notebook_name_sol_MM.py (NN may be 03b)")
    solution, exercise = split_solution(source.read_text(), source.name)
    return {f"{source.stem}.ipynb": _exercise_notebook(solution, source, "sol"),
            f"{source.stem.replace('_sol_', '_ex_')}.ipynb": _exercise_notebook(exercise, source, "ex")}


def targets(exercises_only: bool = False) -> dict[Path, str]:
    """Every notebook the sources define, with its rendered text."""
    out = {}
    for source in [] if exercises_only else sorted(SOURCES.glob("*.py")):
        out[NOTEBOOKS / f"{source.stem}.ipynb"] = render(notebook_from_source(source))
    for source in sorted(EXERCISE_SOURCES.glob("*.py")):
        for name, notebook in exercise_notebooks(source).items():
            out[EXERCISES / name] = render(notebook)
    return out


def build(check: bool = False, exercises_only: bool = False) -> list[str]:
    """Write (or with check=True, compare) every notebook; returns the names that differ.

    Exercise notebooks without a source (a renamed or deleted exercise) count as differing and are
    removed by a build."""
    differing = []
    wanted = targets(exercises_only)
    for target, text in wanted.items():
        if not target.exists() or target.read_text() != text:
            differing.append(str(target.relative_to(NOTEBOOKS)))
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    for orphan in sorted(EXERCISES.glob("*.ipynb")):
        if orphan not in wanted:
            differing.append(f"{orphan.relative_to(NOTEBOOKS)} (no source)")
            if not check:
                orphan.unlink()
    if not check and not exercises_only:
        keep_sources_newest()
    return differing


def keep_sources_newest() -> None:
    """Give each walkthrough notebook that is newer than its source the source's time stamp.

    JupyterLab opens a walkthrough through jupytext's pairing, and jupytext refuses to open a paired
    notebook more than a second newer than its text source (the learner sees an error instead of
    the notebook). A build writes the notebook after its source was edited, so it would be newer.
    (A git clone or pull writes notebooks/NN.ipynb before notebooks/src/NN.py: already in order.)"""
    for source in sorted(SOURCES.glob("*.py")):
        notebook = NOTEBOOKS / f"{source.stem}.ipynb"
        if notebook.exists() and notebook.stat().st_mtime_ns > source.stat().st_mtime_ns:
            os.utime(notebook, ns=(notebook.stat().st_atime_ns, source.stat().st_mtime_ns))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ from their source")
    parser.add_argument("--exercises", action="store_true", help="only the workshop exercise notebooks")
    args = parser.parse_args()
    differing = build(check=args.check, exercises_only=args.exercises)
    verb = "differ from their source" if args.check else "written"
    print(f"{len(differing)} notebook(s) {verb}" + (": " + ", ".join(differing) if differing else ""))
    return 1 if (args.check and differing) else 0


if __name__ == "__main__":
    sys.exit(main())
