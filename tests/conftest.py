"""Shared test fixtures.

MovieLens 100K is never part of the repository. Tests that need it read its folder from
`--ml100k-dir`, else the suite's one rule (`lineage.datasets.movielens_dir`: the environment
variable TT_ML100K_DIR, else data/ml-100k, else ../shared/datasets/ml-100k next to the
repository), and skip with a clear reason when it is not there.
"""
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--ml100k-dir", default=None, help="folder with MovieLens 100K (u.data, u.item, u.user)")


@pytest.fixture(scope="session")
def ml100k_dir(request) -> Path:
    from lineage.datasets import movielens_dir

    directory = movielens_dir("ml-100k", request.config.getoption("--ml100k-dir") or None)
    if not (directory / "u.data").is_file():
        pytest.skip(f"MovieLens 100K not found in {directory} (pass --ml100k-dir or set TT_ML100K_DIR; see data/README.md)")
    return directory


# ---- shared helpers (fixtures, so no test module imports another) -------------------------------
def _planted_log(n_users=300, n_items=200, rank=4, per_user=25, seed=0):
    """Users and items live in `rank` hidden groups; a user picks items mostly from their own group,
    with ratings 1..5. Item popularity is flat, so only the structure predicts the held-out items."""
    import numpy as np

    from lineage.data import Interactions

    rng = np.random.default_rng(seed)
    user_group = rng.integers(0, rank, n_users)
    item_group = rng.integers(0, rank, n_items)
    users, items = [], []
    for u in range(n_users):
        weights = np.where(item_group == user_group[u], 12.0, 1.0) * rng.uniform(0.5, 1.5, n_items)
        chosen = rng.choice(n_items, size=per_user, replace=False, p=weights / weights.sum())
        users += [u] * per_user
        items += list(chosen)
    values = rng.integers(1, 6, len(users))
    return Interactions(users, items, rng.random(len(users)), values,
                        np.arange(n_users).astype(str), np.arange(n_items).astype(str), name="planted",
                        item_features={"group": item_group})


@pytest.fixture(scope="session")
def planted_log():
    """A function: planted_log(n_users, n_items, rank, per_user, seed) -> Interactions with a planted
    group structure (ALS and BPR must find it)."""
    return _planted_log


def _quick_twotower_config(**training):
    from twotower_mini.config import TowerConfig, TrainConfig, TwoTowerConfig

    return TwoTowerConfig(towers=TowerConfig(embedding_dim=16, hidden=(32,), output_dim=16),
                          training=TrainConfig(epochs=2, batch_size=256, progress=False, **training),
                          validation_fraction=0.1)


@pytest.fixture(scope="session")
def quick_twotower_config():
    """A function: quick_twotower_config(**TrainConfig overrides) -> a small, 2-epoch TwoTowerConfig."""
    return _quick_twotower_config


@pytest.fixture(scope="session")
def tiny_world():
    """The "tiny" world (seed 0), generated once per test session."""
    from lineage.world import WorldConfig, generate_world

    return generate_world(WorldConfig.sized("tiny"))


@pytest.fixture(scope="session")
def small_twotower(planted_log):
    """(log, fitted TwoTowerRecommender): an 8-d, one-epoch two-tower on a small planted log, trained
    once per session (the checkpoint tests save and damage it)."""
    from twotower_mini.config import FeatureConfig, TowerConfig, TrainConfig, TwoTowerConfig
    from twotower_mini.recommender import TwoTowerRecommender

    log = planted_log(n_users=60, n_items=40, per_user=8)
    config = TwoTowerConfig(features=FeatureConfig(history_length=5),
                            towers=TowerConfig(embedding_dim=8, hidden=(8,), output_dim=8),
                            training=TrainConfig(epochs=1, batch_size=64, progress=False), validation_fraction=0.0)
    return log, TwoTowerRecommender(config).fit(log)
