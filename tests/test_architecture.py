"""The shape of the code, checked by reading it (ast), not by running it.

- the modules of twotower_mini import each other without a cycle;
- harness (the leaderboard, the command line, the DDP launcher) sits on top: only
  `twotower_mini/__main__.py` imports it, never a library module of twotower_mini or lineage;
- no library function is longer than 50 lines (a reader can hold it), except the allow-listed
  ones that another engineer is splitting;
- one rule for each fact: a descending sort of scores is written only in lineage/topk.py, the
  MovieLens environment variables are read only by `lineage.datasets.movielens_dir` (whose order is
  checked here: given, then the environment variable, then the default folders), and the
  time-ordered protocols are defined once.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("twotower_mini", "lineage", "harness")
MAX_LINES = 50

# Functions over MAX_LINES that may stay so: none. (An entry names a file and its functions, with the
# reason; keep it empty.)
LONG_FUNCTIONS_ALLOWED: dict[str, set[str]] = {}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    """twotower_mini/features.py -> twotower_mini.features; twotower_mini/__init__.py -> twotower_mini."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of the file names, at module level or inside a function:
    `import a.b` -> a.b; `from a.b import c` -> a.b and a.b.c (c may be a module); relative
    imports are resolved against the file's package."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(package: str) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (itself excluded)."""
    modules = {module_name(path): path for path in python_files(package)}
    return {name: {other for other in imported_modules(path) if other in modules and other != name}
            for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_twotower_mini_has_no_import_cycle():
    graph = import_graph("twotower_mini")
    assert len(graph) > 10 and "twotower_mini.features" in graph["twotower_mini.ranker_features"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle among twotower_mini modules: " + " -> ".join(cycle)


def test_harness_is_imported_only_by_the_command_line_entry_point():
    allowed = {"twotower_mini/__main__.py"}
    importers = sorted(relative(path) for package in ("twotower_mini", "lineage") for path in python_files(package)
                       if any(name == "harness" or name.startswith("harness.") for name in imported_modules(path)))
    assert set(importers) <= allowed, f"library modules import harness (it sits on top of them): {importers}"


def long_functions() -> list[tuple[str, str, int]]:
    """(file, function, lines) of every def longer than MAX_LINES in the libraries: from the def line
    to the last line of the body, docstring included (decorators not counted)."""
    out = []
    for package in LIBRARIES:
        for path in python_files(package):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_LINES:
                        out.append((relative(path), node.name, length))
    return out


def test_no_library_function_is_longer_than_50_lines():
    too_long = [f"{file}:{name} ({length} lines)" for file, name, length in long_functions()
                if name not in LONG_FUNCTIONS_ALLOWED.get(file, set())]
    assert not too_long, f"functions over {MAX_LINES} lines (split them by what they do): {too_long}"


def descending_sorts(path: Path) -> list[int]:
    """Lines of hand-written descending sorts: np.argsort(-x ...) or np.lexsort((..., -x, ...))."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
            continue
        first = node.args[0]
        keys = first.elts if node.func.attr == "lexsort" and isinstance(first, ast.Tuple) else [first]
        if node.func.attr in ("argsort", "lexsort") and any(
                isinstance(key, ast.UnaryOp) and isinstance(key.op, ast.USub) for key in keys):
            lines.append(node.lineno)
    return lines


def test_every_top_k_goes_through_lineage_topk():
    """The tie rule (equal scores: lower index first) is written once. lineage/world is the
    simulator's own code (its feeds and users), another engineer's, and not a ranked list we serve."""
    found = [f"{relative(path)}:{line}" for package in LIBRARIES for path in python_files(package)
             if relative(path) != "lineage/topk.py" and not relative(path).startswith("lineage/world/")
             for line in descending_sorts(path)]
    assert not found, f"use lineage.topk (top_k, top_k_mask, ranking, keep_top_k) instead: {found}"


def test_the_time_ordered_protocols_are_defined_once():
    from harness import leaderboard
    from lineage.splits import PROTOCOLS, TIME_ORDERED
    from twotower_mini import presets

    assert set(TIME_ORDERED) <= set(PROTOCOLS)
    assert presets.TIME_ORDERED is TIME_ORDERED and leaderboard.TIME_ORDERED is TIME_ORDERED
    assert not hasattr(leaderboard, "TIME_PROTOCOLS")


# ---- where MovieLens is: one rule ---------------------------------------------------------------
def environment_reads(path: Path) -> list[str]:
    """Names of TT_ML* environment variables the file reads by name (os.environ[...], .get, getenv)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        key = None
        if isinstance(node, ast.Subscript) and getattr(node.value, "attr", None) == "environ":
            key = node.slice
        elif isinstance(node, ast.Call) and node.args and (
                getattr(node.func, "attr", None) == "getenv"
                or (getattr(node.func, "attr", None) in ("get", "pop")
                    and getattr(node.func.value, "attr", getattr(node.func.value, "id", None)) == "environ")):
            key = node.args[0]
        if isinstance(key, ast.Constant) and str(key.value).startswith("TT_ML"):
            names.append(key.value)
    return names


def test_only_movielens_dir_reads_the_movielens_variables():
    folders = ("lineage", "twotower_mini", "harness", "benchmarks", "scripts", "tests", "notebooks/src")
    readers = sorted({relative(path) for folder in folders for path in python_files(folder) if environment_reads(path)})
    assert readers == [], f"read the MovieLens folder with lineage.datasets.movielens_dir instead: {readers}"


@pytest.fixture
def movielens_places(tmp_path, monkeypatch):
    """A project root, a folder next to it (../shared/datasets) and a current folder elsewhere, all
    empty, with the environment variables unset."""
    from lineage.datasets import folders

    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setattr(folders, "PROJECT_ROOT", project)
    monkeypatch.chdir(tmp_path / "elsewhere")
    for variable in ("TT_ML100K_DIR", "TT_MLLATEST_DIR"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def put_dataset(folder: Path, ratings_file: str = "u.data") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ratings_file).write_text("1\t1\t5\t1\n")
    return folder


def test_movielens_dir_defaults_in_order(movielens_places, monkeypatch):
    from lineage.datasets import movielens_dir

    root = movielens_places
    assert movielens_dir("ml-100k") == root / "project" / "data" / "ml-100k"  # nothing anywhere: where to unzip it
    shared = put_dataset(root / "shared" / "datasets" / "ml-100k")
    assert movielens_dir("ml-100k") == shared
    (root / "project" / "data" / "ml-100k").mkdir(parents=True)  # an empty folder is not the data
    assert movielens_dir("ml-100k") == shared
    in_project = put_dataset(root / "project" / "data" / "ml-100k")
    assert movielens_dir("ml-100k") == in_project
    here = put_dataset(root / "elsewhere" / "data" / "ml-100k")
    assert movielens_dir("ml-100k").resolve() == here


def test_movielens_dir_given_beats_environment_beats_defaults(movielens_places, monkeypatch):
    from lineage.datasets import movielens_dir

    root = movielens_places
    put_dataset(root / "elsewhere" / "data" / "ml-100k")
    from_env = root / "from-env"  # need not exist: the error then names it
    monkeypatch.setenv("TT_ML100K_DIR", str(from_env))
    assert movielens_dir("ml-100k") == from_env
    assert movielens_dir("ml-100k", given=root / "given") == root / "given"
    assert movielens_dir("ml-100k", given=str(root / "given")) == root / "given"
    monkeypatch.setenv("TT_ML100K_DIR", "")  # empty counts as unset
    assert movielens_dir("ml-100k").resolve() == root / "elsewhere" / "data" / "ml-100k"


def test_movielens_dir_for_ml_latest_uses_its_own_variable_folder_and_file(movielens_places, monkeypatch):
    from lineage.datasets import movielens_dir

    root = movielens_places
    put_dataset(root / "shared" / "datasets" / "ml-100k")  # the other dataset's data is not this one
    assert movielens_dir("ml-latest") == root / "project" / "data" / "ml-latest-small"
    shared = put_dataset(root / "shared" / "datasets" / "ml-latest-small", "ratings.csv")
    assert movielens_dir("ml-latest") == shared
    monkeypatch.setenv("TT_ML100K_DIR", str(root / "not-this-one"))
    assert movielens_dir("ml-latest") == shared
    monkeypatch.setenv("TT_MLLATEST_DIR", str(root / "latest"))
    assert movielens_dir("ml-latest") == root / "latest"
    with pytest.raises(ValueError, match="unknown MovieLens dataset"):
        movielens_dir("netflix")


def test_load_dataset_and_input_files_use_the_same_folder(movielens_places):
    from lineage.data import DataError
    from lineage.datasets import input_files, load_dataset

    root = movielens_places
    with pytest.raises(DataError, match="the default location"):
        load_dataset("ml-100k")
    shared = put_dataset(root / "shared" / "datasets" / "ml-100k")
    assert input_files("ml-100k")[0] == shared / "u.data"
    with pytest.raises(DataError, match="u.item"):  # found the folder, which lacks the other files
        load_dataset("ml-100k")


# ---- the public face ---------------------------------------------------------------------------------
def test_no_private_name_is_imported_across_modules():
    """A name another module needs is public: no `from x import _name` between the suite's modules."""
    crossings = []
    for package in ("lineage", "twotower_mini", "harness", "benchmarks", "scripts"):
        for path in python_files(package):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and \
                        node.module.split(".")[0] in ("lineage", "twotower_mini", "harness"):
                    crossings += [f"{relative(path)}:{node.lineno} {node.module}.{alias.name}" for alias in node.names
                                  if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert crossings == [], "private names imported across modules:\n" + "\n".join(crossings)


@pytest.mark.parametrize("package", ["lineage", "twotower_mini"])
def test_every_name_of_a_package_face_resolves_to_its_home(package):
    import importlib

    face = importlib.import_module(package)
    assert len(set(face.__all__)) == len(face.__all__) and "__version__" in face.__all__
    for name in face.__all__:
        value = getattr(face, name)
        home = getattr(face, "_HOME_OF", {}).get(name)
        if home is not None:
            assert value is getattr(importlib.import_module(f"{package}.{home}"), name), name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        getattr(face, "nothing_here")
