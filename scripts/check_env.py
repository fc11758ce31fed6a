"""Check that this machine can run the course: one [ OK ] or [FAIL] line per requirement.

    python scripts/check_env.py       (or: make check-env; or the first cells of notebook 00)

Checks the Python version and every package of pyproject.toml (its `dependencies` and the `dev`
extra) against the versions written there, so the two can never drift; then makes torch and
implicit do a tiny computation, and generates a tiny synthetic world. Each failure comes with a
suggested fix. Exits 1 if anything failed.

The requirements are read the standard way: the TOML with `tomllib`, each requirement string with
`packaging.requirements.Requirement` and each installed version compared with
`SpecifierSet.contains` (PEP 440: so 8.0rc1 is older than 8.0). A pyproject that is missing,
unreadable, not valid TOML or holds an invalid requirement is one line on stderr and exit 2:
checking against a file we could not read would prove nothing.

Written for old interpreters too (no match statements, no new typing syntax at run time), so that
an old Python gets a [FAIL] line instead of a SyntaxError. Python 3.10 has no `tomllib`, and a bare
interpreter may lack `packaging`: then `tomli`, or pip's own copies of both, are used instead.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# distribution -> module to import (None: do not import; jupyterlab takes seconds and is checked
# through its command instead)
IMPORT_NAMES = {"faiss-cpu": "faiss", "jupyterlab": None, "pytest-xdist": "xdist"}
OPTIONAL_EXTRAS = ("ann",)  # reported, never a failure

failures = []


class PyprojectError(Exception):
    """The pyproject.toml cannot be used: the message is one line that names the file."""


def import_first(*names):
    """The first of the modules `names` that imports, or None when none does."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


# The standard parsers; on Python 3.10 (no tomllib), or before `packaging` is installed, pip's copies.
toml = import_first("tomllib", "tomli", "pip._vendor.tomli")
requirements_module = import_first("packaging.requirements", "pip._vendor.packaging.requirements")
specifiers_module = import_first("packaging.specifiers", "pip._vendor.packaging.specifiers")
version_module = import_first("packaging.version", "pip._vendor.packaging.version")


def report(ok, what, fix=""):
    """Print one [ OK ] or [FAIL] line (and its fix); remember the failures; return `ok`."""
    if ok:
        print(f"[ OK ] {what}")
    else:
        failures.append(what)
        print(f"[FAIL] {what}" + (f"\n       fix: {fix}" if fix else ""))
    return ok


def first_line(error):
    """The first line of an exception's message (packaging adds a second line with a caret)."""
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


# ---- reading pyproject.toml ---------------------------------------------------------------------
def read_pyproject_text(path):
    """The text of `path` (UTF-8), or a PyprojectError saying why it cannot be read."""
    if not path.exists():
        raise PyprojectError(f"{path}: no such file (pass --pyproject PATH to a pyproject.toml)")
    if path.is_dir():
        raise PyprojectError(f"{path}: is a folder, not a file (pass --pyproject PATH to a pyproject.toml)")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise PyprojectError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8") from None
    except OSError as error:
        raise PyprojectError(f"{path}: cannot be read ({error.strerror or error})") from None


def checked_requirements(path, name, requirements):
    """`requirements` (a list of PEP 508 strings, as written), after checking each one parses."""
    if not isinstance(requirements, list) or not all(isinstance(r, str) for r in requirements):
        raise PyprojectError(f"{path}: {name} must be a list of requirement strings")
    for requirement in requirements:
        try:
            requirements_module.Requirement(requirement)
        except requirements_module.InvalidRequirement as error:
            raise PyprojectError(f"{path}: {name}: {requirement!r} is not a valid requirement "
                                 f"({first_line(error)})") from None
    return requirements


def read_requirements(pyproject):
    """{"python": spec, "dependencies": [...], "<extra>": [...]} from a pyproject.toml.

    Raises PyprojectError (one line naming the file) when the file cannot be read, is not valid
    TOML, has no [project] table, or holds an invalid requirement or requires-python."""
    path = Path(pyproject)
    text = read_pyproject_text(path)
    try:
        project = toml.loads(text).get("project")
    except toml.TOMLDecodeError as error:
        raise PyprojectError(f"{path}: not valid TOML ({first_line(error)})") from None
    if not isinstance(project, dict):
        raise PyprojectError(f"{path}: has no [project] table, so there are no requirements to check")
    python = project.get("requires-python", "")
    try:
        specifiers_module.SpecifierSet(python)
    except (specifiers_module.InvalidSpecifier, TypeError) as error:
        raise PyprojectError(f"{path}: requires-python {python!r} is not a version specifier "
                             f"({first_line(error)})") from None
    extras = project.get("optional-dependencies", {})
    if not isinstance(extras, dict):
        raise PyprojectError(f"{path}: optional-dependencies must be a table of lists")
    found = {"python": python}
    for name, requirements in [("dependencies", project.get("dependencies", []))] + list(extras.items()):
        found[name] = checked_requirements(path, name, requirements)
    return found


def satisfies(version, spec):
    """Does installed `version` meet every clause of a spec like '>=2.2,<=2.13.0'? (PEP 440 rules;
    a pre-release such as 2.3rc1 counts, since it is what is installed; a local tag like +cpu is
    ignored.)"""
    try:
        return specifiers_module.SpecifierSet(spec).contains(version, prereleases=True)
    except version_module.InvalidVersion:  # a version PEP 440 cannot read (older packaging raises)
        return False


def installed_version(distribution):
    """The installed version of `distribution`, or None when it is not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # Python < 3.8
        return None
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def in_conda():
    return (Path(sys.prefix) / "conda-meta").is_dir()


def install_fix(requirement, extra=""):
    if in_conda():
        return f"conda env update -f environment.yml  (or: conda install -c conda-forge \"{requirement}\")"
    target = f'-e ".[{extra}]"' if extra else f'"{requirement}"'
    return f"{sys.executable} -m pip install {target}   (from the repository root; `make setup` does it all)"


def wanted(parsed):
    """What a parsed requirement asks for, in words: '>=1.24', 'from <url>' or 'any version'."""
    if str(parsed.specifier):
        return str(parsed.specifier)
    return f"from {parsed.url}" if parsed.url else "any version"


def check_requirement(requirement, extra="", version_of=installed_version, optional=False):
    """One line for one requirement; True when installed, importable and recent enough."""
    parsed = requirements_module.Requirement(requirement)
    name, spec = parsed.name, str(parsed.specifier)
    if parsed.marker is not None and not parsed.marker.evaluate({"extra": extra}):
        print(f"[ -- ] {name} is not needed here ({parsed.marker})")
        return True
    version = version_of(name)
    if optional and (version is None or (spec and not satisfies(version, spec))):
        state = "not installed" if version is None else f"{version} does not satisfy {spec}"
        print(f"[ -- ] {name} {state} (optional, only for the '{extra}' extra: pip install -e \".[{extra}]\")")
        return True
    if version is None:
        return report(False, f"{name} is not installed (need {wanted(parsed)})", install_fix(requirement, extra))
    if spec and not satisfies(version, spec):
        return report(False, f"{name} {version} does not satisfy {spec}", install_fix(requirement, extra))
    module = IMPORT_NAMES.get(name, name.replace("-", "_"))
    if module and version_of is installed_version:
        try:
            importlib.import_module(module)
        except Exception as error:  # a broken install: say so rather than crash
            return report(False, f"{name} {version} is installed but `import {module}` fails: "
                                 f"{type(error).__name__}: {error}", install_fix(requirement, extra))
    return report(True, f"{name} {version} ({wanted(parsed)})")


# ---- tiny computations -------------------------------------------------------------------------
def check_torch():
    try:
        import torch

        x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        loss = (x @ x).sum()
        loss.backward()
        ok = float(loss.detach()) == 54.0 and x.grad is not None
        build = "CUDA build" if torch.version.cuda else "CPU build"
        return report(ok, f"torch computes a matrix product and its gradient ({build}, {torch.get_num_threads()} threads)",
                      "reinstall torch: make clean-venv && make setup")
    except Exception as error:
        return report(False, f"torch fails a tiny computation: {type(error).__name__}: {error}",
                      "reinstall the CPU build: pip install torch==2.13.0 (see README)")


def check_implicit():
    try:
        import numpy as np
        import scipy.sparse as sp
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        matrix = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1]], dtype=np.float32))
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(factors=2, iterations=3, use_gpu=False, random_state=0, num_threads=1)
            model.fit(matrix, show_progress=False)
        ok = model.item_factors.shape == (4, 2) and bool(np.all(np.isfinite(model.item_factors)))
        return report(ok, "implicit fits a tiny ALS model (CPU, one thread)",
                      "reinstall implicit: pip install --force-reinstall \"implicit>=0.7.2\"")
    except Exception as error:
        return report(False, f"implicit fails a tiny ALS fit: {type(error).__name__}: {error}",
                      "pip install --force-reinstall \"implicit>=0.7.2\" (conda: conda install -c conda-forge implicit)")


def check_jupyter_lab():
    import shutil

    here = Path(sys.executable).parent / ("jupyter-lab.exe" if os.name == "nt" else "jupyter-lab")
    found = str(here) if here.exists() else shutil.which("jupyter-lab")
    return report(found is not None, f"the jupyter-lab command is installed ({found})",
                  install_fix("jupyterlab>=4.0"))


def check_world():
    try:
        from lineage.world import WorldConfig, generate_world

        start = time.perf_counter()
        world = generate_world(WorldConfig.sized("tiny"))
        seconds = time.perf_counter() - start
        ok = len(world.views["user"]) > 0 and world.n_items > 0
        return report(ok, f"the synthetic world generates ({world.n_users} users, {world.n_items} items, "
                          f"{len(world.views['user']):,} views in {seconds:.1f} s)",
                      "the project's own code failed: run `make unit` and read the first error")
    except ImportError as error:
        return report(False, f"the course packages are not importable ({error})",
                      f"install the project itself: {sys.executable} -m pip install -e . (from the repository root)")
    except Exception as error:
        return report(False, f"generating the synthetic world failed: {type(error).__name__}: {error}",
                      "run `make unit` and read the first error")


def main(argv=None):
    """Run every check; 0 when all passed, 1 when one failed, 2 when pyproject.toml is unusable."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pyproject", default=str(ROOT / "pyproject.toml"), help="where the requirements are read")
    parser.add_argument("--no-compute", action="store_true", help="skip the torch / implicit / world computations")
    args = parser.parse_args(argv)
    del failures[:]
    if None in (toml, requirements_module, specifiers_module, version_module):
        print("check_env: cannot read pyproject.toml on this Python: install the 'packaging' and (before "
              "Python 3.11) 'tomli' packages, or use a newer pip", file=sys.stderr)
        return 2
    try:
        requirements = read_requirements(args.pyproject)
    except PyprojectError as error:
        print(f"check_env: {error}", file=sys.stderr)
        return 2
    print(f"Checking this environment against {args.pyproject}  (python: {sys.executable})")

    python_spec = requirements.get("python", "")
    here = ".".join(str(n) for n in sys.version_info[:3])
    report(satisfies(here, python_spec), f"Python {here} ({python_spec or 'any version'})",
           "install a newer Python (conda: conda env create -f environment.yml; else python.org or pyenv), "
           "then rebuild the environment (make clean-venv && make setup)")
    for requirement in requirements.get("dependencies", []):
        check_requirement(requirement)
    for requirement in requirements.get("dev", []):
        check_requirement(requirement, extra="dev")
    for extra in OPTIONAL_EXTRAS:
        for requirement in requirements.get(extra, []):
            check_requirement(requirement, extra=extra, optional=True)
    if installed_version("jupyterlab") is not None:
        check_jupyter_lab()
    if not args.no_compute:
        check_torch()
        check_implicit()
        check_world()
    if failures:
        print(f"\n{len(failures)} check(s) failed: fix them (see each 'fix:' line), then run this check again.")
        return 1
    print("\nAll checks passed: you are ready.")
    return 0


if __name__ == "__main__":
    code = main()
    if code:
        sys.exit(code)  # in a notebook (%run), success returns quietly instead of raising SystemExit
