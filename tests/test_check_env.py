"""scripts/check_env.py: passes here, and a missing or too-old package gives a [FAIL] line with a fix."""
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_env.py"


def load():
    spec = importlib.util.spec_from_file_location("check_env", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_env = load()


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_this_environment_passes():
    result = run()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith("[FAIL]")]
    for name in ["Python", "numpy", "torch", "implicit", "jupyterlab", "nbval", "synthetic world"]:
        assert any(line.startswith("[ OK ]") and name in line for line in lines), f"no [ OK ] line for {name}"


def test_minimum_versions_come_from_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    read = check_env.read_requirements(ROOT / "pyproject.toml")
    assert read["python"] == project["requires-python"]
    assert read["dependencies"] == project["dependencies"]
    for extra, requirements in project["optional-dependencies"].items():
        assert read[extra] == requirements, extra


def test_simulated_missing_and_too_old_packages_fail_with_a_fix(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nrequires-python = ">=3.10"\ndependencies = [\n'
                         '    "numpy>=99.0",  # far in the future: too old here\n'
                         '    "surely-not-an-installed-package>=1.0",\n'
                         '    "scipy>=1.10",\n]\n')
    result = run("--pyproject", str(pyproject), "--no-compute")
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    too_old = next(i for i, line in enumerate(lines) if line.startswith("[FAIL] numpy"))
    assert "does not satisfy >=99.0" in lines[too_old] and lines[too_old + 1].strip().startswith("fix:")
    missing = next(i for i, line in enumerate(lines) if line.startswith("[FAIL] surely-not-an-installed-package"))
    assert "not installed" in lines[missing] and "install" in lines[missing + 1]
    assert any(line.startswith("[ OK ] scipy") for line in lines)
    assert "2 check(s) failed" in result.stdout


def test_version_comparison():
    assert check_env.satisfies("2.13.0+cpu", ">=2.2,<=2.13.0")
    assert not check_env.satisfies("2.14.0", ">=2.2,<=2.13.0")
    assert check_env.satisfies("1.24", ">=1.24") and check_env.satisfies("1.24.0", ">=1.24")
    assert not check_env.satisfies("1.9.3", ">=1.10")
    assert check_env.satisfies("0.7.3", ">=0.7.2") and not check_env.satisfies("0.7.1", ">=0.7.2")
    assert not check_env.satisfies("8.0.0rc1", ">=8")  # PEP 440: a release candidate comes before 8.0
    assert check_env.satisfies("2.3.0rc1", ">=2.2")  # an installed pre-release still counts
    assert check_env.satisfies("1.0", "")


def test_an_optional_extra_never_fails(capsys):
    assert check_env.check_requirement("surely-not-an-installed-package>=1.0", extra="ann", optional=True)
    assert "[ -- ]" in capsys.readouterr().out


def test_a_too_old_python_fails(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nrequires-python = ">=3.99"\ndependencies = []\n')
    result = run("--pyproject", str(pyproject), "--no-compute")
    assert result.returncode == 1
    assert "[FAIL] Python" in result.stdout and "fix:" in result.stdout


UNUSABLE_PYPROJECTS = {
    "missing": lambda path: None,
    "a folder": lambda path: path.mkdir(),
    "not UTF-8": lambda path: path.write_bytes('[project]\ndescription = "caf\u00e9"\n'.encode("latin-1")),
    "malformed TOML": lambda path: path.write_text('[project\ndependencies = ["numpy>=99"]\n'),
    "an invalid requirement": lambda path: path.write_text('[project]\ndependencies = ["numpy>>1"]\n'),
}


@pytest.mark.parametrize("case", list(UNUSABLE_PYPROJECTS))
def test_an_unusable_pyproject_is_one_line_and_a_failure(tmp_path, case):
    pyproject = tmp_path / "pyproject.toml"
    UNUSABLE_PYPROJECTS[case](pyproject)
    result = run("--pyproject", str(pyproject), "--no-compute")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"check_env: {pyproject}: "), result.stderr


def test_a_direct_reference_does_not_hide_the_other_requirements(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = [\n    "numpy>=99",\n'
                         '    "scipy @ https://example.invalid/scipy.whl",\n]\n')
    result = run("--pyproject", str(pyproject), "--no-compute")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[FAIL] numpy") and "does not satisfy >=99" in line for line in lines)
    assert any(line.startswith("[ OK ] scipy") and "from https://example.invalid/scipy.whl" in line for line in lines)
    assert "1 check(s) failed" in result.stdout
