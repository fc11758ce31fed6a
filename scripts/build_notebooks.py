"""Build the notebooks from their percent-format sources, stored clean.

    python scripts/build_notebooks.py          # write notebooks/*.ipynb from notebooks/src/*.py
    python scripts/build_notebooks.py --check  # exit 1 if any notebook differs from its source

Sources live in notebooks/src/ (jupytext percent format: `# %%` starts a code cell,
`# %% [markdown]` a text cell). Notebooks are written without outputs or execution counts, with
the `python3` kernel, so diffs stay clean and nbval runs them in the current environment.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "src"
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
        cell.id = f"{source.stem[:2]}-{index:03d}"
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook, version=4) + "\n"


def build(check: bool = False) -> list[str]:
    """Write (or with check=True, compare) every notebook; returns the names that differ."""
    differing = []
    for source in sorted(SOURCES.glob("*.py")):
        target = NOTEBOOKS / f"{source.stem}.ipynb"
        text = render(notebook_from_source(source))
        if not target.exists() or target.read_text() != text:
            differing.append(target.name)
            if not check:
                target.write_text(text)
    return differing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ from their source")
    args = parser.parse_args()
    differing = build(check=args.check)
    verb = "differ from their source" if args.check else "written"
    print(f"{len(differing)} notebook(s) {verb}" + (": " + ", ".join(differing) if differing else ""))
    return 1 if (args.check and differing) else 0


if __name__ == "__main__":
    sys.exit(main())
