"""Shared test fixtures.

MovieLens 100K is never part of the repository. Tests that need it read its folder from
`--ml100k-dir`, else the environment variable TT_ML100K_DIR, else ../shared/datasets/ml-100k next
to the repository, and skip with a clear reason when it is not there.
"""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--ml100k-dir", default=None, help="folder with MovieLens 100K (u.data, u.item, u.user)")


@pytest.fixture(scope="session")
def ml100k_dir(request) -> Path:
    directory = (request.config.getoption("--ml100k-dir") or os.environ.get("TT_ML100K_DIR")
                 or REPO_ROOT.parent / "shared" / "datasets" / "ml-100k")
    directory = Path(directory)
    if not (directory / "u.data").is_file():
        pytest.skip(f"MovieLens 100K not found in {directory} (pass --ml100k-dir or set TT_ML100K_DIR; see data/README.md)")
    return directory
