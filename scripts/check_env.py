"""Check that this machine can run the course: one [ OK ] or [FAIL] line per requirement.

    python scripts/check_env.py       (or: make check-env; or the first cells of notebook 00)

Checks the Python version and every package of pyproject.toml (its `dependencies` and the `dev`
extra) against the minimum versions written there, so the two can never drift; then makes torch
and implicit do a tiny computation, and generates a tiny synthetic world. Each failure comes with
a suggested fix. Exits 1 if anything failed.

Written for old interpreters too (no match statements, no new typing syntax at run time), so that
an old Python gets a [FAIL] line instead of a SyntaxError.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# distribution -> module to import (None: do not import; jupyterlab takes seconds and is checked
# through its command instead)
IMPORT_NAMES = {"faiss-cpu": "faiss", "jupyterlab": None, "pytest-xdist": "xdist"}
OPTIONAL_EXTRAS = ("ann",)  # reported, never a failure

failures = []


def report(ok, what, fix=""):
    if ok:
        print(f"[ OK ] {what}")
    else:
        failures.append(what)
        print(f"[FAIL] {what}" + (f"\n       fix: {fix}" if fix else ""))
    return ok


# ---- reading pyproject.toml without tomllib (Python 3.10 has none) ------------------------------
def read_requirements(pyproject):
    """{"python": spec, "dependencies": [...], "<extra>": [...]} from a pyproject.toml.

    Only the simple layout this project uses: `requires-python = "..."`, and `name = [ "...", ... ]`
    arrays of quoted requirement strings."""
    text = Path(pyproject).read_text()
    found = {}
    match = re.search(r'^requires-python\s*=\s*"([^"]*)"', text, re.M)
    found["python"] = match.group(1) if match else ""
    for name, body in re.findall(r'^([A-Za-z0-9_-]+)\s*=\s*\[(.*?)\]', text, re.M | re.S):
        requirements = re.findall(r'"([^"]+)"', re.sub(r"#.*", "", body))
        if requirements and all(re.match(r"^[A-Za-z0-9_.\-]+\s*([<>=!~].*)?$", r) for r in requirements):
            found[name] = requirements
    return found


def split_requirement(requirement):
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$", requirement)
    return match.group(1), match.group(2).replace(" ", "")


def version_tuple(version):
    """'2.13.0+cpu' -> (2, 13, 0); '1.0rc1' -> (1, 0). Good enough for minimum-version checks."""
    parts = []
    for piece in re.split(r"[.+\-]", str(version)):
        digits = re.match(r"^\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group(0)))
        if digits.group(0) != piece:
            break
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def satisfies(version, spec):
    """Does `version` meet every clause of a spec like '>=2.2,<=2.13.0'?"""
    have = version_tuple(version)
    for clause in filter(None, spec.split(",")):
        match = re.match(r"^(>=|<=|==|!=|~=|>|<)(.+)$", clause)
        if not match:
            continue
        op, want = match.group(1), version_tuple(match.group(2))
        ok = {">=": have >= want, "<=": have <= want, "==": have == want, "!=": have != want,
              ">": have > want, "<": have < want, "~=": have >= want}[op]
        if not ok:
            return False
    return True


def installed_version(distribution):
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


def check_requirement(requirement, extra="", version_of=installed_version, optional=False):
    """One line for one requirement; True when installed, importable and recent enough."""
    name, spec = split_requirement(requirement)
    version = version_of(name)
    if optional and (version is None or (spec and not satisfies(version, spec))):
        state = "not installed" if version is None else f"{version} does not satisfy {spec}"
        print(f"[ -- ] {name} {state} (optional, only for the '{extra}' extra: pip install -e \".[{extra}]\")")
        return True
    if version is None:
        return report(False, f"{name} is not installed (need {spec or 'any version'})", install_fix(requirement, extra))
    if spec and not satisfies(version, spec):
        return report(False, f"{name} {version} does not satisfy {spec}", install_fix(requirement, extra))
    module = IMPORT_NAMES.get(name, name.replace("-", "_"))
    if module and version_of is installed_version:
        try:
            importlib.import_module(module)
        except Exception as error:  # a broken install: say so rather than crash
            return report(False, f"{name} {version} is installed but `import {module}` fails: "
                                 f"{type(error).__name__}: {error}", install_fix(requirement, extra))
    return report(True, f"{name} {version} ({spec or 'any version'})")


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pyproject", default=str(ROOT / "pyproject.toml"), help="where the requirements are read")
    parser.add_argument("--no-compute", action="store_true", help="skip the torch / implicit / world computations")
    args = parser.parse_args(argv)
    del failures[:]
    requirements = read_requirements(args.pyproject)
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
