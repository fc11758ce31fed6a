"""The two dependency lists (pip's pyproject.toml and conda's environment.yml) must not drift."""
import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch-cpu": "torch", "pytorch": "torch"}
CONDA_ONLY = {"python", "pip"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$", requirement)
    return match.group(1).lower(), match.group(2).replace(" ", "")


def pip_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return dict(_split(r) for r in requirements)


def conda_requirements() -> dict[str, str]:
    found, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#")[0].rstrip()
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and re.match(r"^  - [A-Za-z]", line):
            name, spec = _split(line[4:])
            name = CONDA_TO_PIP.get(name, name)
            if name not in CONDA_ONLY:
                found[name] = spec
    return found


def test_same_packages_and_versions_in_both_lists():
    pip, conda = pip_requirements(), conda_requirements()
    assert set(pip) == set(conda), f"only in pyproject: {set(pip) - set(conda)}; only in environment.yml: {set(conda) - set(pip)}"
    for name in pip:
        assert pip[name] == conda[name], f"{name}: pyproject says {pip[name]!r}, environment.yml says {conda[name]!r}"


def test_core_dependencies_present():
    core = {"jupyterlab", "numpy", "scipy", "implicit", "torch", "matplotlib", "nbval", "pytest"}
    assert core <= set(pip_requirements())


def test_torch_cannot_float_to_a_newer_release():
    spec = pip_requirements()["torch"]
    assert re.search(r"(<=|==|<)\d", spec), f"torch must be capped (an open range pulls a CUDA build): {spec!r}"


def test_environment_installs_the_project_itself():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- -e \.\s*$", text, re.M)
    assert "conda-forge" in text


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme.split("\n## ")[0], "README must open with the test command"
    assert re.search(r"^make test\s*$", ci, re.M), ".ci/run must run the README's test command"
